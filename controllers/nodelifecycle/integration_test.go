package nodelifecycle_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	testclock "k8s.io/utils/clock/testing"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/controllers/internal/ctrltest"
	"github.com/skiffk8s/skiff/controllers/nodelifecycle"
)

// cluster is an API server with nodes whose kubelets the test plays.
type cluster struct {
	t      *testing.T
	client kubernetes.Interface
	clk    *testclock.FakeClock
	// alive are the nodes whose kubelet is "running": step renews
	// their Leases and Ready heartbeats.
	alive map[string]bool
}

func (c *cluster) ctx() context.Context { return context.Background() }

// addNode creates a Ready node with a fresh Lease.
func (c *cluster) addNode(name string) {
	c.t.Helper()
	n, err := c.client.CoreV1().Nodes().Create(c.ctx(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	c.heartbeat(n.Name)
	c.alive[name] = true
}

// heartbeat is what a kubelet does: renew the Lease and post Ready=True.
func (c *cluster) heartbeat(name string) {
	c.t.Helper()
	now := c.clk.Now()
	l, err := c.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(c.ctx(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		secs := int32(40)
		l = &coordv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease},
			Spec: coordv1.LeaseSpec{HolderIdentity: &name, LeaseDurationSeconds: &secs}}
		l.Spec.RenewTime = &metav1.MicroTime{Time: now}
		_, err = c.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(c.ctx(), l, metav1.CreateOptions{})
	} else if err == nil {
		l.Spec.RenewTime = &metav1.MicroTime{Time: now}
		_, err = c.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Update(c.ctx(), l, metav1.UpdateOptions{})
	}
	if err != nil {
		c.t.Fatal(err)
	}
	n, err := c.client.CoreV1().Nodes().Get(c.ctx(), name, metav1.GetOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	ready := nodeCond(n, corev1.NodeReady)
	if ready != nil && ready.Status == corev1.ConditionTrue {
		return // a kubelet posts status every few minutes; the Lease is the heartbeat
	}
	mnow := metav1.NewTime(now)
	n.Status.Conditions = []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: mnow, LastTransitionTime: mnow},
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", LastHeartbeatTime: mnow, LastTransitionTime: mnow},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", LastHeartbeatTime: mnow, LastTransitionTime: mnow},
		{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID", LastHeartbeatTime: mnow, LastTransitionTime: mnow},
	}
	if _, err := c.client.CoreV1().Nodes().UpdateStatus(c.ctx(), n, metav1.UpdateOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

// step moves the fake clock by d in steps of the monitor period; live nodes
// heartbeat before each step.
func (c *cluster) step(d time.Duration) {
	c.t.Helper()
	for d > 0 {
		s := min(d, 5*time.Second)
		for name := range c.alive {
			c.heartbeat(name)
		}
		time.Sleep(15 * time.Millisecond) // let the informers see it
		c.clk.Step(s)
		time.Sleep(15 * time.Millisecond) // let the controller act
		d -= s
	}
}

// eventually polls f, moving the clock 100ms (the tainting period) per try.
func (c *cluster) eventually(f func() error) {
	c.t.Helper()
	ctrltest.EventuallyNil(c.t, 15*time.Second, func() error {
		c.clk.Step(100 * time.Millisecond)
		return f()
	})
}

func nodeCond(n *corev1.Node, t corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == t {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

func hasTaint(n *corev1.Node, key string, effect corev1.TaintEffect) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key && t.Effect == effect {
			return true
		}
	}
	return false
}

func (c *cluster) createPod(name, node string, tolerationSeconds *int64) {
	c.t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if tolerationSeconds != nil {
		p.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists,
			Effect: corev1.TaintEffectNoExecute, TolerationSeconds: tolerationSeconds}}
	}
	got, err := c.client.CoreV1().Pods("default").Create(c.ctx(), p, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	got.Status.Phase = corev1.PodRunning
	got.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	if _, err := c.client.CoreV1().Pods("default").UpdateStatus(c.ctx(), got, metav1.UpdateOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

// deleted reports whether the pod is gone or being deleted.
func (c *cluster) deleted(name string) bool {
	p, err := c.client.CoreV1().Pods("default").Get(c.ctx(), name, metav1.GetOptions{})
	return apierrors.IsNotFound(err) || (err == nil && p.DeletionTimestamp != nil)
}

func (c *cluster) hasEvent(object, reason, message string) error {
	evs, err := c.client.CoreV1().Events("").List(c.ctx(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + object})
	if err != nil {
		return err
	}
	for _, e := range evs.Items {
		if e.Reason == reason && e.Message == message {
			return nil
		}
	}
	return fmt.Errorf("no %s event %q on %s among %d", reason, message, object, len(evs.Items))
}

func TestSilentNodeIsTaintedAndItsPodsEvicted(t *testing.T) {
	srv := apitest.Start(t)
	c := &cluster{t: t, client: srv.Client, clk: testclock.NewFakeClock(time.Now()), alive: map[string]bool{}}
	c.addNode("bad")
	c.addNode("good")
	thirty, zero := int64(30), int64(0)
	c.createPod("p-default", "bad", nil) // gets the API server's 300 s tolerations
	c.createPod("p-30", "bad", &thirty)
	c.createPod("p-0", "bad", &zero)
	c.createPod("p-good", "good", nil)
	ctrltest.Start(t, nodelifecycle.New, ctrltest.Context(t, srv.Client, nodelifecycle.Name, c.clk, nil))
	time.Sleep(200 * time.Millisecond)

	// The kubelet of "bad" stops; 40 s of silence is still fine.
	delete(c.alive, "bad")
	c.step(35 * time.Second)
	if n, _ := c.client.CoreV1().Nodes().Get(c.ctx(), "bad", metav1.GetOptions{}); nodeCond(n, corev1.NodeReady).Status != corev1.ConditionTrue {
		t.Fatalf("bad is %s after 35 s", nodeCond(n, corev1.NodeReady).Status)
	}
	c.step(10 * time.Second)
	c.eventually(func() error {
		n, err := c.client.CoreV1().Nodes().Get(c.ctx(), "bad", metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, ct := range []corev1.NodeConditionType{corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure} {
			cd := nodeCond(n, ct)
			if cd.Status != corev1.ConditionUnknown || cd.Reason != "NodeStatusUnknown" || cd.Message != "Kubelet stopped posting node status." {
				return fmt.Errorf("%s: %+v", ct, cd)
			}
		}
		if !hasTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute) || !hasTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoSchedule) {
			return fmt.Errorf("taints: %+v", n.Spec.Taints)
		}
		return nil
	})
	if n, _ := c.client.CoreV1().Nodes().Get(c.ctx(), "good", metav1.GetOptions{}); len(n.Spec.Taints) != 0 || nodeCond(n, corev1.NodeReady).Status != corev1.ConditionTrue {
		t.Errorf("good node: taints %v, conditions %+v", n.Spec.Taints, n.Status.Conditions)
	}
	c.eventually(func() error {
		if err := c.hasEvent("bad", "NodeNotReady", "Node bad status is now: NodeNotReady"); err != nil {
			return err
		}
		if err := c.hasEvent("p-30", "NodeNotReady", "Node is not ready"); err != nil {
			return err
		}
		if !c.deleted("p-0") {
			return fmt.Errorf("p-0 (tolerationSeconds 0) not deleted at once")
		}
		return c.hasEvent("p-0", "TaintManagerEviction", "Marking for deletion Pod default/p-0")
	})
	p, _ := c.client.CoreV1().Pods("default").Get(c.ctx(), "p-30", metav1.GetOptions{})
	if p.DeletionTimestamp != nil || p.Status.Conditions[0].Status != corev1.ConditionFalse {
		t.Errorf("p-30 right after the taint: deleting %v, conditions %+v", p.DeletionTimestamp, p.Status.Conditions)
	}

	// After 30 s p-30 goes; p-default (300 s) stays; p-good is untouched.
	c.step(31 * time.Second)
	c.eventually(func() error {
		if !c.deleted("p-30") {
			return fmt.Errorf("p-30 not deleted after 30 s")
		}
		return nil
	})
	if c.deleted("p-default") || c.deleted("p-good") {
		t.Fatal("p-default or p-good deleted early")
	}
	c.step(270 * time.Second)
	c.eventually(func() error {
		if !c.deleted("p-default") {
			return fmt.Errorf("p-default not deleted after 300 s")
		}
		return nil
	})
	if c.deleted("p-good") {
		t.Error("p-good deleted")
	}

	// The kubelet comes back: the taints go.
	c.alive["bad"] = true
	c.step(6 * time.Second)
	c.eventually(func() error {
		n, err := c.client.CoreV1().Nodes().Get(c.ctx(), "bad", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(n.Spec.Taints) != 0 {
			return fmt.Errorf("taints after recovery: %+v", n.Spec.Taints)
		}
		return nil
	})

	// A deleted node's pods are deleted.
	if err := c.client.CoreV1().Nodes().Delete(c.ctx(), "good", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	delete(c.alive, "good")
	c.eventually(func() error {
		_, err := c.client.CoreV1().Pods("default").Get(c.ctx(), "p-good", metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("p-good still there: %v", err)
		}
		return nil
	})
}

func TestAllNodesDownStopsEvictions(t *testing.T) {
	srv := apitest.Start(t)
	c := &cluster{t: t, client: srv.Client, clk: testclock.NewFakeClock(time.Now()), alive: map[string]bool{}}
	c.addNode("only")
	zero := int64(0)
	c.createPod("p", "only", &zero)
	ctrltest.Start(t, nodelifecycle.New, ctrltest.Context(t, srv.Client, nodelifecycle.Name, c.clk, nil))
	time.Sleep(200 * time.Millisecond)
	delete(c.alive, "only")
	c.step(50 * time.Second)
	c.eventually(func() error {
		n, err := c.client.CoreV1().Nodes().Get(c.ctx(), "only", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if nodeCond(n, corev1.NodeReady).Status != corev1.ConditionUnknown {
			return fmt.Errorf("ready: %+v", nodeCond(n, corev1.NodeReady))
		}
		return nil
	})
	c.step(10 * time.Second)
	n, _ := c.client.CoreV1().Nodes().Get(c.ctx(), "only", metav1.GetOptions{})
	if hasTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute) || c.deleted("p") {
		t.Errorf("with every node of the only zone down: taints %v, pod deleted %v", n.Spec.Taints, c.deleted("p"))
	}
}
