package nodeipam_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/controllers/internal/ctrltest"
	"github.com/skiffk8s/skiff/controllers/nodeipam"
)

func createNode(t *testing.T, client kubernetes.Interface, name string, podCIDR string) {
	t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{PodCIDR: podCIDR}}
	if _, err := client.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// cidrOf waits for node name to have a podCIDR and returns it.
func cidrOf(t *testing.T, client kubernetes.Interface, name string) string {
	t.Helper()
	var got string
	ctrltest.EventuallyNil(t, 10*time.Second, func() error {
		n, err := client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if n.Spec.PodCIDR == "" || len(n.Spec.PodCIDRs) != 1 || n.Spec.PodCIDRs[0] != n.Spec.PodCIDR {
			return fmt.Errorf("node %s: podCIDR %q podCIDRs %v", name, n.Spec.PodCIDR, n.Spec.PodCIDRs)
		}
		got = n.Spec.PodCIDR
		return nil
	})
	return got
}

func TestNodesGetDistinctCIDRsFromTheDefaultRange(t *testing.T) {
	srv := apitest.Start(t)
	client := srv.Client
	ctrltest.Start(t, nodeipam.New, ctrltest.Context(t, client, nodeipam.Name, clock.RealClock{}, nil))
	createNode(t, client, "n1", "")
	createNode(t, client, "n2", "")
	a, b := cidrOf(t, client, "n1"), cidrOf(t, client, "n2")
	if !(a == "10.244.0.0/24" && b == "10.244.1.0/24") && !(a == "10.244.1.0/24" && b == "10.244.0.0/24") {
		t.Errorf("n1 %s, n2 %s; want 10.244.0.0/24 and 10.244.1.0/24", a, b)
	}
	// The API server keeps a set podCIDR.
	n, _ := client.CoreV1().Nodes().Get(context.Background(), "n1", metav1.GetOptions{})
	n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.244.9.0/24", []string{"10.244.9.0/24"}
	if _, err := client.CoreV1().Nodes().Update(context.Background(), n, metav1.UpdateOptions{}); err == nil {
		t.Error("changing a set podCIDR was accepted")
	}
}

func TestExhaustionReuseAndRestart(t *testing.T) {
	srv := apitest.Start(t)
	client := srv.Client
	ctx := context.Background()
	// Room for two nodes.
	opts := map[string]string{"cluster-cidr": "10.250.0.0/23", "node-cidr-mask-size": "24"}
	// A node that already holds 10.250.1.0/24 and one outside the range.
	createNode(t, client, "old", "10.250.1.0/24")
	createNode(t, client, "outside", "192.168.7.0/24")
	stop := ctrltest.Start(t, nodeipam.New, ctrltest.Context(t, client, nodeipam.Name, clock.RealClock{}, opts))
	createNode(t, client, "n1", "")
	if got := cidrOf(t, client, "n1"); got != "10.250.0.0/24" {
		t.Fatalf("n1 got %s, want the one free CIDR 10.250.0.0/24", got)
	}
	if got := cidrOf(t, client, "outside"); got != "192.168.7.0/24" {
		t.Errorf("outside node changed to %s", got)
	}

	// The range is used up: n2 gets an event and NetworkUnavailable.
	createNode(t, client, "n2", "")
	ctrltest.EventuallyNil(t, 10*time.Second, func() error {
		n, err := client.CoreV1().Nodes().Get(ctx, "n2", metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeNetworkUnavailable && c.Status == corev1.ConditionTrue {
				goto event
			}
		}
		return fmt.Errorf("no NetworkUnavailable=True on n2: %+v", n.Status.Conditions)
	event:
		evs, err := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=n2"})
		if err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.Reason == "CIDRNotAvailable" && e.Message == "Node n2 status is now: CIDRNotAvailable" {
				return nil
			}
		}
		return fmt.Errorf("no CIDRNotAvailable event: %+v", evs.Items)
	})

	// Deleting a node frees its CIDR for the waiting one.
	if err := client.CoreV1().Nodes().Delete(ctx, "old", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := cidrOf(t, client, "n2"); got != "10.250.1.0/24" {
		t.Errorf("n2 got %s, want the freed 10.250.1.0/24", got)
	}
	ctrltest.EventuallyNil(t, 10*time.Second, func() error {
		n, _ := client.CoreV1().Nodes().Get(ctx, "n2", metav1.GetOptions{})
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeNetworkUnavailable && c.Status != corev1.ConditionFalse {
				return fmt.Errorf("NetworkUnavailable still %s", c.Status)
			}
		}
		return nil
	})

	// A new instance learns the used CIDRs from the nodes: with n1 gone
	// it hands n3 n1's CIDR, never n2's.
	stop()
	if err := client.CoreV1().Nodes().Delete(ctx, "n1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Start(t, nodeipam.New, ctrltest.Context(t, client, nodeipam.Name, clock.RealClock{}, opts))
	createNode(t, client, "n3", "")
	if got := cidrOf(t, client, "n3"); got != "10.250.0.0/24" {
		t.Errorf("n3 got %s after restart, want 10.250.0.0/24 (n2 holds 10.250.1.0/24)", got)
	}
}

func TestOptionsAreValidated(t *testing.T) {
	for _, opts := range []map[string]string{
		{"cluster-cidr": "nonsense"},
		{"cluster-cidr": "10.0.0.0/8", "node-cidr-mask-size": "30"},
		{"node-cidr-mask-size": "12"},
		{"cluster-cidr": "10.0.0.0/16,10.1.0.0/16"},
	} {
		c := ctrltest.Context(t, fake.NewClientset(), nodeipam.Name, clock.RealClock{}, opts)
		if _, err := nodeipam.New(context.Background(), c); err == nil {
			t.Errorf("options %v accepted", opts)
		}
	}
}
