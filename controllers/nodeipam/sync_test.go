package nodeipam

import (
	"context"
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/controllers/internal/ctrltest"
)

func TestSyncPatchesTheNextFreeCIDRAfterTheExistingOnes(t *testing.T) {
	held := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "held", UID: "u1"}, Spec: corev1.NodeSpec{PodCIDR: "10.244.0.0/24", PodCIDRs: []string{"10.244.0.0/24"}}}
	fresh := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "fresh", UID: "u2"}}
	client := fake.NewClientset(held, fresh)
	c := ctrltest.Context(t, client, Name, clock.RealClock{}, nil)
	ctl, err := New(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	idx := c.Informers.Core().V1().Nodes().Informer().GetIndexer()
	_ = idx.Add(held)
	_ = idx.Add(fresh)
	x := ctl.(*Controller)
	if err := x.occupyExisting(); err != nil {
		t.Fatal(err)
	}
	client.ClearActions()
	if err := x.sync(context.Background(), "fresh"); err != nil {
		t.Fatal(err)
	}
	acts := client.Actions()
	if len(acts) != 1 || !acts[0].Matches("patch", "nodes") {
		t.Fatalf("actions: %v", acts)
	}
	if got := string(acts[0].(k8stesting.PatchAction).GetPatch()); got != `{"spec":{"podCIDR":"10.244.1.0/24","podCIDRs":["10.244.1.0/24"]}}` {
		t.Errorf("patch: %s", got)
	}
}

func TestCIDRSetGoesRoundTheRange(t *testing.T) {
	s, err := newCIDRSet(netip.MustParsePrefix("10.0.0.0/30"), 31)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := s.allocate()
	b, _ := s.allocate()
	if a.String() != "10.0.0.0/31" || b.String() != "10.0.0.2/31" {
		t.Errorf("got %s, %s", a, b)
	}
	if _, err := s.allocate(); err == nil {
		t.Error("allocated from a full range")
	}
	_ = s.release(a)
	if c, _ := s.allocate(); c != a {
		t.Errorf("after release got %s, want %s", c, a)
	}
	if err := s.occupy(netip.MustParsePrefix("10.1.0.0/31")); err == nil {
		t.Error("occupied a CIDR outside the range")
	}
	v6, err := newCIDRSet(netip.MustParsePrefix("fd00::/48"), 64)
	if err != nil {
		t.Fatal(err)
	}
	v6.allocate()
	if p, _ := v6.allocate(); p.String() != "fd00:0:0:1::/64" {
		t.Errorf("second IPv6 subnet %s", p)
	}
}
