package apiserver

import (
	"bytes"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffk8s/skiff/apiserver/registry"
	"github.com/skiffk8s/skiff/apiserver/storage"
)

// TestFastListEncodingMatchesTypedEncoding checks that lists written from
// memoized item encodings are byte for byte the typed list's encoding.
func TestFastListEncodingMatchesTypedEncoding(t *testing.T) {
	var cmRes *resource
	for _, r := range registry.All() {
		if r.Resource == "configmaps" {
			cmRes = &resource{resourceDef: r}
		}
	}
	s := &server{codecs: newCodecs(registry.NewScheme())}
	n := int64(3)
	for _, tc := range []struct {
		name  string
		items int
		lm    metav1.ListMeta
	}{
		{"an empty list", 0, metav1.ListMeta{ResourceVersion: "7"}},
		{"a list of many items with a continue token", 50, metav1.ListMeta{ResourceVersion: "42", Continue: "abc", RemainingItemCount: &n}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := &storage.ListResult{}
			for i := 0; i < tc.items; i++ {
				res.Items = append(res.Items, &corev1.ConfigMap{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", i), Namespace: "ns", ResourceVersion: fmt.Sprint(i + 10),
						Labels: map[string]string{"i": fmt.Sprint(i)}},
					Data: map[string]string{"k": "v", "n": fmt.Sprint(i)},
				})
				res.Encodings = append(res.Encodings, &storage.Encodings{})
			}
			list := &corev1.ConfigMapList{ListMeta: tc.lm}
			if err := meta.SetList(list, res.Items); err != nil {
				t.Fatal(err)
			}
			for _, mt := range []string{mediaJSON, mediaProtobuf} {
				want, err := s.codecs.encode(list, cmRes.GVK().GroupVersion().WithKind("ConfigMapList"), mt, false)
				if err != nil {
					t.Fatal(err)
				}
				for round := 0; round < 2; round++ { // second round uses the memos
					got, err := s.encodeListFast(cmRes, res, tc.lm, mt)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want) {
						t.Errorf("%s round %d: fast encoding differs:\n got %q\nwant %q", mt, round, trunc(got), trunc(want))
					}
				}
			}
		})
	}
}

func trunc(b []byte) []byte {
	if len(b) > 300 {
		return b[:300]
	}
	return b
}
