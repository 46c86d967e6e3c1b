package apiserver_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"

	"github.com/skiffk8s/skiff/apiserver/apitest"
)

// TestClientGoSemantics checks the object life-cycle rules users rely on:
// server-set metadata, generation, the status split, finalizers, graceful
// and conditional deletion, namespaces, and optimistic concurrency.
func TestClientGoSemantics(t *testing.T) {
	srv := apitest.Start(t)
	cs := srv.Client
	ns := cgNamespace(t, cs, "sem")
	cms := cs.CoreV1().ConfigMaps(ns)

	t.Run("generateName", func(t *testing.T) {
		ctx := cgCtx(t)
		seen := map[string]bool{}
		for i := 0; i < 3; i++ {
			c := cgConfigMap("", nil)
			c.GenerateName = "generated-"
			got, err := cms.Create(ctx, c, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("create with generateName: %v", err)
			}
			if !strings.HasPrefix(got.Name, "generated-") || len(got.Name) <= len("generated-") || got.GenerateName != "generated-" {
				t.Fatalf("name %q generateName %q, want generated-<suffix>", got.Name, got.GenerateName)
			}
			if seen[got.Name] {
				t.Fatalf("generateName gave %q twice", got.Name)
			}
			seen[got.Name] = true
		}
	})

	t.Run("server-set metadata", func(t *testing.T) {
		ctx := cgCtx(t)
		c := cgConfigMap("meta", nil)
		c.UID = "client-chosen-uid"
		got, err := cms.Create(ctx, c, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.UID == "" || got.UID == "client-chosen-uid" {
			t.Fatalf("uid %q, want one the server chose", got.UID)
		}
		if got.CreationTimestamp.IsZero() || got.ResourceVersion == "" {
			t.Fatalf("creationTimestamp %v resourceVersion %q, want both set", got.CreationTimestamp, got.ResourceVersion)
		}
		withRV := cgConfigMap("meta-rv", nil)
		withRV.ResourceVersion = "12"
		_, err = cms.Create(ctx, withRV, metav1.CreateOptions{})
		cgWantCode(t, err, 400, "create with a resourceVersion")
	})

	t.Run("generation counts spec changes only", func(t *testing.T) {
		ctx := cgCtx(t)
		deps := cs.AppsV1().Deployments(ns)
		d, err := deps.Create(ctx, cgDeployment("gen", 1), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Generation != 1 {
			t.Fatalf("new deployment generation %d, want 1", d.Generation)
		}
		d.Labels["extra"] = "label"
		if d, err = deps.Update(ctx, d, metav1.UpdateOptions{}); err != nil || d.Generation != 1 {
			t.Fatalf("label update: err %v generation %d, want 1", err, d.Generation)
		}
		d.Status.ObservedGeneration = 1
		d.Status.Replicas = 1
		if d, err = deps.UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil || d.Generation != 1 {
			t.Fatalf("status update: err %v generation %d, want 1", err, d.Generation)
		}
		d.Spec.Replicas = cgPtr[int32](4)
		if d, err = deps.Update(ctx, d, metav1.UpdateOptions{}); err != nil || d.Generation != 2 {
			t.Fatalf("spec update: err %v generation %d, want 2", err, d.Generation)
		}
		if d, err = deps.Patch(ctx, "gen", types.StrategicMergePatchType, []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"busybox:1.37"}]}}}}`), metav1.PatchOptions{}); err != nil || d.Generation != 3 {
			t.Fatalf("spec patch: err %v generation %d, want 3", err, d.Generation)
		}
		if d, err = deps.Patch(ctx, "gen", types.MergePatchType, []byte(`{"metadata":{"annotations":{"note":"x"}}}`), metav1.PatchOptions{}); err != nil || d.Generation != 3 {
			t.Fatalf("annotation patch: err %v generation %d, want 3", err, d.Generation)
		}
	})

	t.Run("status subresource split", func(t *testing.T) {
		ctx := cgCtx(t)
		deps := cs.AppsV1().Deployments(ns)
		d, err := deps.Create(ctx, cgDeployment("split", 2), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// A status write that also changes the spec changes only status.
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, ReadyReplicas: 2}
		d.Spec.Replicas = cgPtr[int32](9)
		st, err := deps.UpdateStatus(ctx, d, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if st.Status.ReadyReplicas != 2 || *st.Spec.Replicas != 2 {
			t.Fatalf("after UpdateStatus: readyReplicas %d replicas %d, want 2 and 2 (spec untouched)", st.Status.ReadyReplicas, *st.Spec.Replicas)
		}
		// A main-resource write that also changes status keeps the stored
		// status.
		st.Status.ReadyReplicas = 0
		st.Status.Replicas = 7
		st.Spec.Replicas = cgPtr[int32](3)
		upd, err := deps.Update(ctx, st, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if upd.Status.ReadyReplicas != 2 || upd.Status.Replicas != 2 || *upd.Spec.Replicas != 3 {
			t.Fatalf("after Update: status %+v replicas %d, want the stored status and replicas 3", upd.Status, *upd.Spec.Replicas)
		}
		// Status written at create is dropped too.
		withStatus := cgDeployment("split-create", 1)
		withStatus.Status.Replicas = 5
		created, err := deps.Create(ctx, withStatus, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if created.Status.Replicas != 0 {
			t.Fatalf("status.replicas %d on create, want 0 (status is not writable on create)", created.Status.Replicas)
		}
	})

	t.Run("finalizers hold deletion", func(t *testing.T) {
		ctx := cgCtx(t)
		c := cgConfigMap("held", nil)
		c.Finalizers = []string{"skiff.test/hold"}
		c, err := cms.Create(ctx, c, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		w, err := cms.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=held", ResourceVersion: c.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		if err := cms.Delete(ctx, "held", metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete: %v", err)
		}
		got, err := cms.Get(ctx, "held", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get after delete of an object with a finalizer: %v", err)
		}
		if got.DeletionTimestamp == nil || !slices.Equal(got.Finalizers, []string{"skiff.test/hold"}) {
			t.Fatalf("deletionTimestamp %v finalizers %v, want set and kept", got.DeletionTimestamp, got.Finalizers)
		}
		cgExpectEvent(t, w, watch.Modified, "held")
		// No new finalizers on an object being deleted.
		more := got.DeepCopy()
		more.Finalizers = append(more.Finalizers, "skiff.test/another")
		_, err = cms.Update(ctx, more, metav1.UpdateOptions{})
		cgWantCode(t, err, 422, "adding a finalizer while deleting")
		// Removing the last finalizer deletes it.
		got.Finalizers = nil
		if _, err := cms.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("remove finalizer: %v", err)
		}
		_, err = cms.Get(ctx, "held", metav1.GetOptions{})
		cgNotFound(t, err, "get after the last finalizer went")
		cgExpectEvent(t, w, watch.Modified, "held")
		cgExpectEvent(t, w, watch.Deleted, "held")
	})

	t.Run("graceful pod deletion", func(t *testing.T) {
		ctx := cgCtx(t)
		pods := cs.CoreV1().Pods(ns)
		bound := cgPod("bound", nil)
		bound.Spec.NodeName = "node-1"
		if _, err := pods.Create(ctx, bound, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := pods.Delete(ctx, "bound", metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete: %v", err)
		}
		got, err := pods.Get(ctx, "bound", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("a bound pod must stay until its kubelet confirms: %v", err)
		}
		if got.DeletionTimestamp == nil || got.DeletionGracePeriodSeconds == nil || *got.DeletionGracePeriodSeconds != 30 {
			t.Fatalf("deletionTimestamp %v grace %v, want set with the pod's 30s", got.DeletionTimestamp, got.DeletionGracePeriodSeconds)
		}
		// Deleting again with the default grace period changes nothing.
		if err := pods.Delete(ctx, "bound", metav1.DeleteOptions{}); err != nil {
			t.Fatalf("second delete: %v", err)
		}
		if _, err := pods.Get(ctx, "bound", metav1.GetOptions{}); err != nil {
			t.Fatalf("after second delete: %v", err)
		}
		// The kubelet's confirmation: grace period 0.
		if err := pods.Delete(ctx, "bound", metav1.DeleteOptions{GracePeriodSeconds: cgPtr[int64](0)}); err != nil {
			t.Fatalf("delete with grace 0: %v", err)
		}
		_, err = pods.Get(ctx, "bound", metav1.GetOptions{})
		cgNotFound(t, err, "get after grace-0 delete")

		if _, err := pods.Create(ctx, cgPod("unbound", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := pods.Delete(ctx, "unbound", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err = pods.Get(ctx, "unbound", metav1.GetOptions{})
		cgNotFound(t, err, "an unbound pod goes at once")
	})

	t.Run("delete preconditions", func(t *testing.T) {
		ctx := cgCtx(t)
		c, err := cms.Create(ctx, cgConfigMap("guarded", nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		err = cms.Delete(ctx, "guarded", metav1.DeleteOptions{Preconditions: metav1.NewUIDPreconditions("0d9f0c7e-0000-0000-0000-000000000000")})
		cgWantCode(t, err, 409, "delete with a wrong uid")
		old := c.ResourceVersion
		c.Data["k2"] = "v2"
		if _, err := cms.Update(ctx, c, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		err = cms.Delete(ctx, "guarded", metav1.DeleteOptions{Preconditions: metav1.NewRVDeletionPrecondition(old).Preconditions})
		cgWantCode(t, err, 409, "delete with a stale resourceVersion")
		if _, err := cms.Get(ctx, "guarded", metav1.GetOptions{}); err != nil {
			t.Fatalf("a failed precondition deleted the object: %v", err)
		}
		if err := cms.Delete(ctx, "guarded", metav1.DeleteOptions{Preconditions: metav1.NewUIDPreconditions(string(c.UID))}); err != nil {
			t.Fatalf("delete with the right uid: %v", err)
		}
		_, err = cms.Get(ctx, "guarded", metav1.GetOptions{})
		cgNotFound(t, err, "get after delete")
	})

	t.Run("propagation policies", func(t *testing.T) {
		ctx := cgCtx(t)
		deps := cs.AppsV1().Deployments(ns)
		if _, err := deps.Create(ctx, cgDeployment("fg", 1), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		fg := metav1.DeletePropagationForeground
		if err := deps.Delete(ctx, "fg", metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
			t.Fatalf("foreground delete: %v", err)
		}
		d, err := deps.Get(ctx, "fg", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("foreground delete must keep the owner until its dependents are gone: %v", err)
		}
		if d.DeletionTimestamp == nil || !slices.Contains(d.Finalizers, metav1.FinalizerDeleteDependents) {
			t.Fatalf("deletionTimestamp %v finalizers %v, want set and foregroundDeletion", d.DeletionTimestamp, d.Finalizers)
		}
		// The garbage collector removes the finalizer when done.
		if _, err := deps.Patch(ctx, "fg", types.JSONPatchType, []byte(`[{"op":"remove","path":"/metadata/finalizers"}]`), metav1.PatchOptions{}); err != nil {
			t.Fatalf("remove finalizer: %v", err)
		}
		_, err = deps.Get(ctx, "fg", metav1.GetOptions{})
		cgNotFound(t, err, "get after the foreground finalizer went")

		if _, err := deps.Create(ctx, cgDeployment("orphan", 1), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		orphan := metav1.DeletePropagationOrphan
		if err := deps.Delete(ctx, "orphan", metav1.DeleteOptions{PropagationPolicy: &orphan}); err != nil {
			t.Fatal(err)
		}
		if d, err = deps.Get(ctx, "orphan", metav1.GetOptions{}); err != nil || !slices.Contains(d.Finalizers, metav1.FinalizerOrphanDependents) {
			t.Fatalf("orphan delete: err %v finalizers %v, want the orphan finalizer", err, d.Finalizers)
		}

		if _, err := deps.Create(ctx, cgDeployment("bg", 1), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		bg := metav1.DeletePropagationBackground
		if err := deps.Delete(ctx, "bg", metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
			t.Fatal(err)
		}
		_, err = deps.Get(ctx, "bg", metav1.GetOptions{})
		cgNotFound(t, err, "background delete goes at once")

		bad := metav1.DeletionPropagation("Sideways")
		cgWantCode(t, deps.Delete(ctx, "orphan", metav1.DeleteOptions{PropagationPolicy: &bad}), 400, "unknown propagation policy")
	})

	t.Run("deletecollection with a label selector", func(t *testing.T) {
		ctx := cgCtx(t)
		for i := 0; i < 5; i++ {
			tier := "cache"
			if i >= 3 {
				tier = "db"
			}
			if _, err := cms.Create(ctx, cgConfigMap(fmt.Sprintf("dc-%d", i), map[string]string{"tier": tier, "group": "dc"}), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := cms.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "group=dc,tier=cache"}); err != nil {
			t.Fatalf("deletecollection: %v", err)
		}
		left, err := cms.List(ctx, metav1.ListOptions{LabelSelector: "group=dc"})
		if err != nil {
			t.Fatal(err)
		}
		if got := cgNames(t, left); !slices.Equal(got, []string{"dc-3", "dc-4"}) {
			t.Fatalf("left after deletecollection: %v, want dc-3 dc-4", got)
		}
	})

	t.Run("optimistic concurrency", func(t *testing.T) {
		ctx := cgCtx(t)
		c, err := cms.Create(ctx, cgConfigMap("occ", nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		first, second := c.DeepCopy(), c.DeepCopy()
		first.Data["writer"] = "first"
		if _, err := cms.Update(ctx, first, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		second.Data["writer"] = "second"
		_, err = cms.Update(ctx, second, metav1.UpdateOptions{})
		if !apierrors.IsConflict(err) {
			t.Fatalf("update with a stale resourceVersion: %v, want Conflict", err)
		}
		got, err := cms.Get(ctx, "occ", metav1.GetOptions{})
		if err != nil || got.Data["writer"] != "first" {
			t.Fatalf("after the conflict: %v %v, want the first write kept", err, got.Data)
		}
		// Without a resourceVersion an update is unconditional.
		second.ResourceVersion = ""
		if got, err = cms.Update(ctx, second, metav1.UpdateOptions{}); err != nil || got.Data["writer"] != "second" {
			t.Fatalf("unconditional update: %v %v", err, got.Data)
		}
		// Concurrent read-modify-write loops with retry on conflict lose
		// no increment.
		if _, err := cms.Create(ctx, cgConfigMap("counter", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		const writers, each = 8, 10
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					err := retry.RetryOnConflict(wait.Backoff{Steps: 200, Duration: 2 * time.Millisecond, Factor: 1, Jitter: 2}, func() error {
						c, err := cms.Get(ctx, "counter", metav1.GetOptions{})
						if err != nil {
							return err
						}
						n, _ := strconv.Atoi(c.Data["n"])
						c.Data["n"] = strconv.Itoa(n + 1)
						_, err = cms.Update(ctx, c, metav1.UpdateOptions{})
						return err
					})
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("increment: %v", err)
		}
		if c, err := cms.Get(ctx, "counter", metav1.GetOptions{}); err != nil || c.Data["n"] != strconv.Itoa(writers*each) {
			t.Fatalf("counter after %d concurrent increments: %v %v", writers*each, err, c.Data)
		}
	})

	t.Run("namespace must exist and be active", func(t *testing.T) {
		ctx := cgCtx(t)
		_, err := cs.CoreV1().ConfigMaps("no-such-namespace").Create(ctx, cgConfigMap("x", nil), metav1.CreateOptions{})
		cgWantCode(t, err, 404, "create in a missing namespace")

		doomed := cgNamespace(t, cs, "doomed")
		if _, err := cs.CoreV1().ConfigMaps(doomed).Create(ctx, cgConfigMap("before", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := cs.CoreV1().Namespaces().Delete(ctx, doomed, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err = cs.CoreV1().ConfigMaps(doomed).Create(ctx, cgConfigMap("after", nil), metav1.CreateOptions{})
		cgWantCode(t, err, 403, "create in a terminating namespace")
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			t.Errorf("error %v has no NamespaceTerminating cause", err)
		}
		// Existing content can still be read and deleted.
		if err := cs.CoreV1().ConfigMaps(doomed).Delete(ctx, "before", metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete in a terminating namespace: %v", err)
		}
	})

	t.Run("leader election on a lease", func(t *testing.T) {
		ctx := klog.NewContext(cgCtx(t), logr.Discard()) // quiet: the election logs every step
		leaders := make(chan string, 4)
		run := func(ctx context.Context, id string) {
			lock := &resourcelock.LeaseLock{
				LeaseMeta:  metav1.ObjectMeta{Name: "controller-manager", Namespace: ns},
				Client:     cs.CoordinationV1(),
				LockConfig: resourcelock.ResourceLockConfig{Identity: id},
			}
			leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
				Lock: lock, ReleaseOnCancel: true,
				LeaseDuration: 2 * time.Second, RenewDeadline: time.Second, RetryPeriod: 50 * time.Millisecond,
				Callbacks: leaderelection.LeaderCallbacks{
					OnStartedLeading: func(context.Context) { leaders <- id },
					OnStoppedLeading: func() {},
				},
			})
		}
		leader := func() string {
			t.Helper()
			select {
			case id := <-leaders:
				return id
			case <-time.After(15 * time.Second):
				t.Fatalf("no leader elected")
			}
			return ""
		}
		ctxA, stopA := context.WithCancel(ctx)
		doneA := make(chan struct{})
		go func() { defer close(doneA); run(ctxA, "candidate-a") }()
		if id := leader(); id != "candidate-a" {
			t.Fatalf("leader %s, want candidate-a (the only candidate)", id)
		}
		ctxB, stopB := context.WithCancel(ctx)
		defer stopB()
		go run(ctxB, "candidate-b")
		l, err := cs.CoordinationV1().Leases(ns).Get(ctx, "controller-manager", metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != "candidate-a" {
			t.Fatalf("lease %v %+v, want held by candidate-a", err, l.Spec)
		}
		// The leader steps down; the other takes over.
		stopA()
		<-doneA
		if id := leader(); id != "candidate-b" {
			t.Fatalf("leader %s after candidate-a stepped down, want candidate-b", id)
		}
	})

	t.Run("cluster defaults", func(t *testing.T) {
		ctx := cgCtx(t)
		for _, name := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
			n, err := cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("namespace %s: %v", name, err)
			}
			if n.Status.Phase != corev1.NamespaceActive {
				t.Errorf("namespace %s phase %q, want Active", name, n.Status.Phase)
			}
		}
		svc, err := cs.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("service default/kubernetes: %v", err)
		}
		if svc.Spec.ClusterIP != "10.96.0.1" || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 443 || svc.Spec.Type != corev1.ServiceTypeClusterIP {
			t.Fatalf("kubernetes service spec %+v, want ClusterIP 10.96.0.1 port 443", svc.Spec)
		}
		ep, err := cs.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("endpoints default/kubernetes: %v", err)
		}
		if len(ep.Subsets) != 1 || len(ep.Subsets[0].Addresses) == 0 || ep.Subsets[0].Addresses[0].IP != "127.0.0.1" {
			t.Fatalf("kubernetes endpoints %+v, want the server's address 127.0.0.1", ep.Subsets)
		}
	})
}

// cgFreeNodePorts returns n node ports no service holds now, so that
// tests asking for explicit ports do not collide with random allocations.
func cgFreeNodePorts(t *testing.T, cs kubernetes.Interface, n int) []int32 {
	t.Helper()
	l, err := cs.CoreV1().Services("").List(cgCtx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	used := map[int32]bool{}
	for _, s := range l.Items {
		for _, p := range s.Spec.Ports {
			used[p.NodePort] = true
		}
	}
	var out []int32
	for p := int32(32767); len(out) < n; p-- {
		if !used[p] {
			out = append(out, p)
		}
	}
	return out
}

// TestClientGoServiceAllocation checks cluster IPs and node ports: from the
// configured ranges, never handed out twice, released on delete, and a
// requested taken value is refused with 422.
func TestClientGoServiceAllocation(t *testing.T) {
	srv := apitest.Start(t)
	cs := srv.Client
	ns := cgNamespace(t, cs, "alloc")
	svcs := cs.CoreV1().Services(ns)
	_, svcNet, _ := net.ParseCIDR("10.96.0.0/12")

	t.Run("allocated from the ranges, never twice", func(t *testing.T) {
		ctx := cgCtx(t)
		ips, ports := map[string]string{"10.96.0.1": "kubernetes"}, map[int32]string{}
		for i := 0; i < 30; i++ {
			s := cgService(fmt.Sprintf("np-%d", i))
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "metrics", Port: 9090, Protocol: corev1.ProtocolTCP})
			got, err := svcs.Create(ctx, s, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("create %s: %v", s.Name, err)
			}
			ip := net.ParseIP(got.Spec.ClusterIP)
			if ip == nil || !svcNet.Contains(ip) {
				t.Fatalf("%s clusterIP %q, want one in 10.96.0.0/12", got.Name, got.Spec.ClusterIP)
			}
			if !slices.Equal(got.Spec.ClusterIPs, []string{got.Spec.ClusterIP}) {
				t.Fatalf("%s clusterIPs %v, want [%s]", got.Name, got.Spec.ClusterIPs, got.Spec.ClusterIP)
			}
			if other, dup := ips[got.Spec.ClusterIP]; dup {
				t.Fatalf("%s got clusterIP %s, already %s's", got.Name, got.Spec.ClusterIP, other)
			}
			ips[got.Spec.ClusterIP] = got.Name
			for _, p := range got.Spec.Ports {
				if p.NodePort < 30000 || p.NodePort > 32767 {
					t.Fatalf("%s nodePort %d, want 30000-32767", got.Name, p.NodePort)
				}
				if other, dup := ports[p.NodePort]; dup {
					t.Fatalf("%s got nodePort %d, already %s's", got.Name, p.NodePort, other)
				}
				ports[p.NodePort] = got.Name
			}
		}
		// Taken values requested explicitly: 422.
		taken := cgService("wants-taken-ip")
		taken.Spec.ClusterIP = "10.96.0.1"
		_, err := svcs.Create(ctx, taken, metav1.CreateOptions{})
		cgWantCode(t, err, 422, "create with the kubernetes service's IP")
		var usedPort int32
		for p := range ports {
			usedPort = p
			break
		}
		takenPort := cgService("wants-taken-port")
		takenPort.Spec.Type = corev1.ServiceTypeNodePort
		takenPort.Spec.Ports[0].NodePort = usedPort
		_, err = svcs.Create(ctx, takenPort, metav1.CreateOptions{})
		cgWantCode(t, err, 422, "create with a taken node port")
		outside := cgService("wants-outside-ip")
		outside.Spec.ClusterIP = "10.200.0.10"
		_, err = svcs.Create(ctx, outside, metav1.CreateOptions{})
		cgWantCode(t, err, 422, "create with an IP outside the range")
		// A failed create holds nothing: the IP it asked for stays free.
		outside.Spec.ClusterIP = "10.96.200.10"
		outside.Spec.Type = corev1.ServiceTypeNodePort
		outside.Spec.Ports[0].NodePort = usedPort
		_, err = svcs.Create(ctx, outside, metav1.CreateOptions{})
		cgWantCode(t, err, 422, "create with a free IP and a taken port")
		outside.Spec.Ports[0].NodePort = 0
		if got, err := svcs.Create(ctx, outside, metav1.CreateOptions{}); err != nil || got.Spec.ClusterIP != "10.96.200.10" {
			t.Fatalf("the IP of a refused create was not released: %v", err)
		}
	})

	t.Run("released on delete", func(t *testing.T) {
		ctx := cgCtx(t)
		port := cgFreeNodePorts(t, cs, 1)[0]
		s := cgService("reuse-a")
		s.Spec.Type = corev1.ServiceTypeNodePort
		s.Spec.ClusterIP = "10.96.100.100"
		s.Spec.Ports[0].NodePort = port
		got, err := svcs.Create(ctx, s, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create with a chosen IP and port: %v", err)
		}
		if got.Spec.ClusterIP != "10.96.100.100" || got.Spec.Ports[0].NodePort != port {
			t.Fatalf("got %s:%d, want 10.96.100.100:%d", got.Spec.ClusterIP, got.Spec.Ports[0].NodePort, port)
		}
		s2 := s.DeepCopy()
		s2.Name = "reuse-b"
		_, err = svcs.Create(ctx, s2, metav1.CreateOptions{})
		cgWantCode(t, err, 422, "second service with the same IP and port")
		if err := svcs.Delete(ctx, "reuse-a", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if got, err = svcs.Create(ctx, s2, metav1.CreateOptions{}); err != nil {
			t.Fatalf("IP and port of a deleted service must be free again: %v", err)
		}
		// Changing the type to ClusterIP gives the node port back.
		got.Spec.Type = corev1.ServiceTypeClusterIP
		got.Spec.Ports[0].NodePort = 0
		if got, err = svcs.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("NodePort → ClusterIP: %v", err)
		}
		if got.Spec.Ports[0].NodePort != 0 || got.Spec.ClusterIP != "10.96.100.100" {
			t.Fatalf("after type change: %+v, want no node port and the same IP", got.Spec)
		}
		s3 := cgService("reuse-c")
		s3.Spec.Type = corev1.ServiceTypeNodePort
		s3.Spec.Ports[0].NodePort = port
		if _, err := svcs.Create(ctx, s3, metav1.CreateOptions{}); err != nil {
			t.Fatalf("node port given back by a type change must be free: %v", err)
		}
	})

	t.Run("cluster IP is immutable", func(t *testing.T) {
		ctx := cgCtx(t)
		s, err := svcs.Create(ctx, cgService("fixed"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		orig := s.Spec.ClusterIP
		s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.222.222", []string{"10.96.222.222"}
		_, err = svcs.Update(ctx, s, metav1.UpdateOptions{})
		cgWantCode(t, err, 422, "changing a service's cluster IP")
		// An update that leaves the IP out keeps it (kubectl replace).
		s.Spec.ClusterIP, s.Spec.ClusterIPs = "", nil
		s.Labels = map[string]string{"replaced": "yes"}
		got, err := svcs.Update(ctx, s, metav1.UpdateOptions{})
		if err != nil || got.Spec.ClusterIP != orig {
			t.Fatalf("update without clusterIP: %v, IP %q want %q", err, got.Spec.ClusterIP, orig)
		}
	})

	t.Run("dry run claims nothing", func(t *testing.T) {
		ctx := cgCtx(t)
		dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
		s := cgService("dry")
		s.Spec.Type = corev1.ServiceTypeNodePort
		got, err := svcs.Create(ctx, s, dry)
		if err != nil {
			t.Fatalf("dry-run create: %v", err)
		}
		if got.Spec.ClusterIP == "" || got.Spec.Ports[0].NodePort == 0 {
			t.Fatalf("dry-run create shows %+v, want the IP and port it would get", got.Spec)
		}
		_, err = svcs.Get(ctx, "dry", metav1.GetOptions{})
		cgNotFound(t, err, "get after a dry-run create")
		// What the dry run showed is still free.
		s.Spec.ClusterIP, s.Spec.Ports[0].NodePort = got.Spec.ClusterIP, got.Spec.Ports[0].NodePort
		real, err := svcs.Create(ctx, s, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create with the dry run's IP and port: %v", err)
		}
		// A dry run with a taken IP fails as the real create would.
		s2 := cgService("dry-2")
		s2.Spec.ClusterIP = real.Spec.ClusterIP
		_, err = svcs.Create(ctx, s2, dry)
		cgWantCode(t, err, 422, "dry-run create with a taken IP")
		if err := svcs.Delete(ctx, "dry", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			t.Fatalf("dry-run delete: %v", err)
		}
		if _, err := svcs.Get(ctx, "dry", metav1.GetOptions{}); err != nil {
			t.Fatalf("get after a dry-run delete: %v", err)
		}
		_, err = svcs.Create(ctx, s2, metav1.CreateOptions{})
		cgWantCode(t, err, 422, "the IP of a service kept by a dry-run delete is still taken")
	})

	t.Run("a refused update holds nothing", func(t *testing.T) {
		ctx := cgCtx(t)
		ports := cgFreeNodePorts(t, cs, 2)
		holder := cgService("port-holder")
		holder.Spec.Type = corev1.ServiceTypeNodePort
		holder.Spec.Ports[0].NodePort = ports[0]
		if _, err := svcs.Create(ctx, holder, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		s, err := svcs.Create(ctx, cgService("grows"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// ClusterIP → NodePort asking for a free port and a taken one.
		s.Spec.Type = corev1.ServiceTypeNodePort
		s.Spec.Ports[0].NodePort = ports[1]
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP, NodePort: ports[0]})
		_, err = svcs.Update(ctx, s, metav1.UpdateOptions{})
		cgWantCode(t, err, 422, "update asking for a taken node port")
		other := cgService("wants-free-port")
		other.Spec.Type = corev1.ServiceTypeNodePort
		other.Spec.Ports[0].NodePort = ports[1]
		if _, err := svcs.Create(ctx, other, metav1.CreateOptions{}); err != nil {
			t.Fatalf("the free port a refused update asked for must stay free: %v", err)
		}
		// ClusterIP → NodePort without ports given allocates them.
		s, err = svcs.Get(ctx, "grows", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s.Spec.Type = corev1.ServiceTypeNodePort
		if s, err = svcs.Update(ctx, s, metav1.UpdateOptions{}); err != nil || s.Spec.Ports[0].NodePort < 30000 {
			t.Fatalf("ClusterIP → NodePort: %v, nodePort %d", err, s.Spec.Ports[0].NodePort)
		}
	})

	t.Run("an update racing other writes claims its node port once", func(t *testing.T) {
		ctx := cgCtx(t)
		for i, port := range cgFreeNodePorts(t, cs, 10) {
			name := fmt.Sprintf("raced-%d", i)
			if _, err := svcs.Create(ctx, cgService(name), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			// A controller keeps writing the service meanwhile.
			var stop atomic.Bool
			done := make(chan struct{})
			go func() {
				defer close(done)
				for n := 0; !stop.Load(); n++ {
					_, _ = svcs.Patch(ctx, name, types.MergePatchType, fmt.Appendf(nil, `{"metadata":{"annotations":{"n":"%d"}}}`, n), metav1.PatchOptions{})
				}
			}()
			err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
				s, err := svcs.Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				s.ResourceVersion = "" // unconditional: the server retries internally
				s.Spec.Type = corev1.ServiceTypeNodePort
				s.Spec.Ports[0].NodePort = port
				_, err = svcs.Update(ctx, s, metav1.UpdateOptions{})
				return err
			})
			stop.Store(true)
			<-done
			if err != nil {
				t.Fatalf("ClusterIP → NodePort %d while another client writes: %v", port, err)
			}
			if err := svcs.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			// Nothing leaked: the port is free once the service is gone.
			again := cgService(name + "-again")
			again.Spec.Type = corev1.ServiceTypeNodePort
			again.Spec.Ports[0].NodePort = port
			if _, err := svcs.Create(ctx, again, metav1.CreateOptions{}); err != nil {
				t.Fatalf("node port %d after its service was deleted: %v", port, err)
			}
		}
	})

	t.Run("headless and external name get no IP", func(t *testing.T) {
		ctx := cgCtx(t)
		h := cgService("headless")
		h.Spec.ClusterIP = corev1.ClusterIPNone
		got, err := svcs.Create(ctx, h, metav1.CreateOptions{})
		if err != nil || got.Spec.ClusterIP != corev1.ClusterIPNone {
			t.Fatalf("headless: %v %q", err, got.Spec.ClusterIP)
		}
		e := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "external"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"}}
		if got, err = svcs.Create(ctx, e, metav1.CreateOptions{}); err != nil || got.Spec.ClusterIP != "" {
			t.Fatalf("external name: %v %q", err, got.Spec.ClusterIP)
		}
	})
}
