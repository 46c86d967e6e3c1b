package controllerutil

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSlowStartBatchDoublesBatchesAndStopsAfterAFailedOne(t *testing.T) {
	tests := []struct {
		name              string
		count, failFrom   int
		wantCalls, wantOK int
		wantErr           bool
	}{
		{"all 500 succeed in batches 1,2,4,...,245", 500, 0, 500, 500, false},
		{"a failure in the batch of 4 stops there", 100, 5, 7, 4, true},
		{"a failure in the first call stops everything", 100, 1, 1, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			ok, err := SlowStartBatch(tt.count, 1, 8, func() error {
				if n := calls.Add(1); tt.failFrom > 0 && int(n) >= tt.failFrom {
					return errors.New("quota")
				}
				return nil
			})
			if int(calls.Load()) != tt.wantCalls || ok != tt.wantOK || (err != nil) != tt.wantErr {
				t.Errorf("calls %d, successes %d, err %v; want %d, %d, err %v", calls.Load(), ok, err, tt.wantCalls, tt.wantOK, tt.wantErr)
			}
		})
	}
}

func TestExpectationsAreSatisfiedByObservationsOrExpiry(t *testing.T) {
	now := time.Unix(0, 0)
	e := NewExpectations(func() time.Time { return now })
	e.ExpectCreations("k", 2)
	e.CreationObserved("k")
	if e.Satisfied("k") {
		t.Fatal("satisfied with one creation unobserved")
	}
	now = now.Add(ExpectationsTimeout + time.Second)
	if !e.Satisfied("k") {
		t.Fatal("not satisfied after the timeout")
	}
	e.ExpectDeletions("k", []string{"ns/a"})
	e.DeletionObserved("k", "ns/b")
	if e.Satisfied("k") {
		t.Fatal("satisfied by the deletion of another pod")
	}
	e.DeletionObserved("k", "ns/a")
	if !e.Satisfied("k") || !e.Satisfied("unknown") {
		t.Fatal("not satisfied after the deletion was observed")
	}
}

func TestComputeHashDependsOnTemplateAndCollisionCount(t *testing.T) {
	tmpl := &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}}}
	h := ComputeHash(tmpl, nil)
	if h != ComputeHash(tmpl.DeepCopy(), nil) {
		t.Error("equal templates hash differently")
	}
	one := int32(1)
	if h == ComputeHash(tmpl, &one) {
		t.Error("a collision count does not change the hash")
	}
	other := tmpl.DeepCopy()
	other.Spec.Containers[0].Image = "nginx:2"
	if h == ComputeHash(other, nil) {
		t.Error("different templates hash alike")
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			t.Errorf("hash %q is not safe-encoded", h)
		}
	}
}

func TestPodsPrefixFallsBackToTheNameWhenTooLong(t *testing.T) {
	if got := PodsPrefix("web"); got != "web-" {
		t.Errorf("PodsPrefix(web) = %q", got)
	}
}
