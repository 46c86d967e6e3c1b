package pluginargs

import (
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
	configv1 "k8s.io/kube-scheduler/config/v1"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name, kind, data, wantErr string
		wantWeight                int32
	}{
		{name: "no data leaves args as they are", kind: "InterPodAffinityArgs", wantWeight: 7},
		{name: "blank data leaves args as they are", kind: "InterPodAffinityArgs", data: " \n", wantWeight: 7},
		{name: "apiVersion and kind are accepted", kind: "InterPodAffinityArgs",
			data: `{"apiVersion":"kubescheduler.config.k8s.io/v1","kind":"InterPodAffinityArgs","hardPodAffinityWeight":3}`, wantWeight: 3},
		{name: "another kind is an error", kind: "InterPodAffinityArgs", data: `{"kind":"NodeAffinityArgs"}`,
			wantErr: `P args: kind "NodeAffinityArgs", want InterPodAffinityArgs`},
		{name: "any kind is accepted without a kind to check", data: `{"kind":"NodeAffinityArgs"}`, wantWeight: 7},
		{name: "an unknown field is an error naming it", kind: "InterPodAffinityArgs", data: `{"hardPodAffinityWeigth":1}`,
			wantErr: `P args: unknown field "hardPodAffinityWeigth"`},
		{name: "a duplicate field is an error naming it", data: `{"hardPodAffinityWeight":1,"hardPodAffinityWeight":2}`,
			wantErr: `P args: duplicate field "hardPodAffinityWeight"`},
		{name: "a wrong type is an error naming the field", data: `{"hardPodAffinityWeight":"x"}`,
			wantErr: "P args: json: cannot unmarshal string into Go struct field InterPodAffinityArgs.hardPodAffinityWeight of type int32"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := int32(7)
			args := configv1.InterPodAffinityArgs{HardPodAffinityWeight: &w}
			err := Decode("P", tc.kind, []byte(tc.data), &args)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("got error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if *args.HardPodAffinityWeight != tc.wantWeight {
				t.Errorf("got weight %d, want %d", *args.HardPodAffinityWeight, tc.wantWeight)
			}
		})
	}
}

func TestError(t *testing.T) {
	inner := field.Invalid(field.NewPath("hardPodAffinityWeight"), 101, "not in valid range [0, 100]")
	err := Error("InterPodAffinity", inner)
	if want := "InterPodAffinity args: hardPodAffinityWeight: Invalid value: 101: not in valid range [0, 100]"; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	if !errors.Is(err, inner) {
		t.Error("the field error is not wrapped")
	}
}
