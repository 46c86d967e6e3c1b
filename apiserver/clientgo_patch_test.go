package apiserver_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"

	"github.com/skiffk8s/skiff/apiserver/apitest"
)

func cgContainerNames(cs []corev1.Container) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name+"="+c.Image)
	}
	return out
}

// cgManagers returns manager/operation/subresource of each managedFields entry.
func cgManagers(m []metav1.ManagedFieldsEntry) []string {
	var out []string
	for _, e := range m {
		s := e.Manager + "/" + string(e.Operation)
		if e.Subresource != "" {
			s += "/" + e.Subresource
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// TestClientGoPatch checks every patch type, server-side apply and the
// scale subresource.
func TestClientGoPatch(t *testing.T) {
	srv := apitest.Start(t)
	cs := srv.Client
	ns := cgNamespace(t, cs, "patch")
	deps := cs.AppsV1().Deployments(ns)

	twoContainers := func(name string) *appsv1.Deployment {
		d := cgDeployment(name, 1)
		d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, corev1.Container{Name: "sidecar", Image: "busybox:1.36"})
		return d
	}

	t.Run("json patch", func(t *testing.T) {
		ctx := cgCtx(t)
		if _, err := deps.Create(ctx, cgDeployment("jp", 1), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		d, err := deps.Patch(ctx, "jp", types.JSONPatchType, []byte(`[
			{"op":"test","path":"/spec/replicas","value":1},
			{"op":"replace","path":"/spec/replicas","value":3},
			{"op":"add","path":"/metadata/labels/track","value":"stable"},
			{"op":"add","path":"/spec/template/spec/containers/0/env","value":[{"name":"MODE","value":"fast"}]}
		]`), metav1.PatchOptions{})
		if err != nil {
			t.Fatalf("json patch: %v", err)
		}
		if *d.Spec.Replicas != 3 || d.Labels["track"] != "stable" || d.Spec.Template.Spec.Containers[0].Env[0].Value != "fast" {
			t.Fatalf("after json patch: replicas %d labels %v env %v", *d.Spec.Replicas, d.Labels, d.Spec.Template.Spec.Containers[0].Env)
		}
		// A failing test op changes nothing.
		_, err = deps.Patch(ctx, "jp", types.JSONPatchType, []byte(`[{"op":"test","path":"/spec/replicas","value":1},{"op":"replace","path":"/spec/replicas","value":9}]`), metav1.PatchOptions{})
		cgWantCode(t, err, 422, "json patch with a failing test op")
		_, err = deps.Patch(ctx, "jp", types.JSONPatchType, []byte(`{"op":"replace"}`), metav1.PatchOptions{})
		cgWantCode(t, err, 400, "json patch that is not a list")
		// A patch that makes the object invalid is refused.
		_, err = deps.Patch(ctx, "jp", types.JSONPatchType, []byte(`[{"op":"replace","path":"/spec/replicas","value":-1}]`), metav1.PatchOptions{})
		cgWantCode(t, err, 422, "json patch to negative replicas")
		// A resourceVersion in the patch is a precondition.
		_, err = deps.Patch(ctx, "jp", types.JSONPatchType, []byte(`[{"op":"replace","path":"/metadata/resourceVersion","value":"1"},{"op":"replace","path":"/spec/replicas","value":4}]`), metav1.PatchOptions{})
		if !apierrors.IsConflict(err) {
			t.Fatalf("json patch with a stale resourceVersion: %v, want Conflict", err)
		}
		if got, _ := deps.Get(ctx, "jp", metav1.GetOptions{}); *got.Spec.Replicas != 3 {
			t.Fatalf("replicas %d after refused patches, want 3", *got.Spec.Replicas)
		}
	})

	t.Run("merge patch", func(t *testing.T) {
		ctx := cgCtx(t)
		d := twoContainers("mp")
		d.Labels["remove-me"] = "yes"
		if _, err := deps.Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := deps.Patch(ctx, "mp", types.MergePatchType, []byte(`{"metadata":{"labels":{"remove-me":null,"added":"1"}},"spec":{"replicas":2}}`), metav1.PatchOptions{})
		if err != nil {
			t.Fatalf("merge patch: %v", err)
		}
		if _, ok := got.Labels["remove-me"]; ok || got.Labels["added"] != "1" || *got.Spec.Replicas != 2 {
			t.Fatalf("after merge patch: labels %v replicas %d", got.Labels, *got.Spec.Replicas)
		}
		// A JSON merge patch replaces lists whole.
		got, err = deps.Patch(ctx, "mp", types.MergePatchType, []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox:1.37"}]}}}}`), metav1.PatchOptions{})
		if err != nil {
			t.Fatalf("merge patch of containers: %v", err)
		}
		if n := cgContainerNames(got.Spec.Template.Spec.Containers); !slices.Equal(n, []string{"sidecar=busybox:1.37"}) {
			t.Fatalf("containers after merge patch %v, want only the patched sidecar", n)
		}
		_, err = deps.Patch(ctx, "mp", types.MergePatchType, []byte(`{"spec":`), metav1.PatchOptions{})
		cgWantCode(t, err, 400, "malformed merge patch")
	})

	t.Run("strategic merge patch merges containers by name", func(t *testing.T) {
		ctx := cgCtx(t)
		if _, err := deps.Create(ctx, twoContainers("smp"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := deps.Patch(ctx, "smp", types.StrategicMergePatchType, []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox:1.37"}]}}}}`), metav1.PatchOptions{})
		if err != nil {
			t.Fatalf("strategic merge patch: %v", err)
		}
		if n := cgContainerNames(got.Spec.Template.Spec.Containers); !slices.Equal(n, []string{"web=busybox:1.36", "sidecar=busybox:1.37"}) {
			t.Fatalf("containers after strategic merge patch %v, want web kept and sidecar updated", n)
		}
		if got.Spec.Template.Spec.Containers[0].Ports[0].ContainerPort != 8080 {
			t.Fatalf("web's ports were lost: %+v", got.Spec.Template.Spec.Containers[0])
		}
		got, err = deps.Patch(ctx, "smp", types.StrategicMergePatchType, []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","$patch":"delete"},{"name":"logger","image":"busybox:1.36"}]}}}}`), metav1.PatchOptions{})
		if err != nil {
			t.Fatalf("strategic merge patch with $patch: delete: %v", err)
		}
		if n := cgContainerNames(got.Spec.Template.Spec.Containers); !slices.Equal(n, []string{"logger=busybox:1.36", "web=busybox:1.36"}) && !slices.Equal(n, []string{"web=busybox:1.36", "logger=busybox:1.36"}) {
			t.Fatalf("containers after delete+add %v, want web and logger", n)
		}
	})

	t.Run("server-side apply", func(t *testing.T) {
		ctx := cgCtx(t)
		spec := func(replicas int32) *appsv1ac.DeploymentApplyConfiguration {
			return appsv1ac.Deployment("ssa", ns).
				WithLabels(cgLabels("ssa")).
				WithSpec(appsv1ac.DeploymentSpec().
					WithReplicas(replicas).
					WithSelector(metav1ac.LabelSelector().WithMatchLabels(cgLabels("ssa"))).
					WithTemplate(corev1ac.PodTemplateSpec().
						WithLabels(cgLabels("ssa")).
						WithSpec(corev1ac.PodSpec().WithContainers(corev1ac.Container().WithName("web").WithImage("busybox:1.36")))))
		}
		// Apply creates a missing object.
		d, err := deps.Apply(ctx, spec(2), metav1.ApplyOptions{FieldManager: "alice"})
		if err != nil {
			t.Fatalf("apply (create): %v", err)
		}
		if *d.Spec.Replicas != 2 || d.UID == "" || d.Generation != 1 {
			t.Fatalf("applied deployment: replicas %d uid %q generation %d", *d.Spec.Replicas, d.UID, d.Generation)
		}
		if m := cgManagers(d.ManagedFields); !slices.Equal(m, []string{"alice/Apply"}) {
			t.Fatalf("managedFields %v, want alice/Apply", m)
		}
		// Re-applying the same configuration changes nothing.
		again, err := deps.Apply(ctx, spec(2), metav1.ApplyOptions{FieldManager: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		if again.ResourceVersion != d.ResourceVersion {
			t.Fatalf("no-op apply changed resourceVersion %s → %s", d.ResourceVersion, again.ResourceVersion)
		}
		// Another manager setting alice's field conflicts.
		bob := appsv1ac.Deployment("ssa", ns).WithSpec(appsv1ac.DeploymentSpec().WithReplicas(5))
		_, err = deps.Apply(ctx, bob, metav1.ApplyOptions{FieldManager: "bob"})
		if !apierrors.IsConflict(err) {
			t.Fatalf("conflicting apply: %v, want 409 Conflict", err)
		}
		if st := err.(apierrors.APIStatus).Status(); st.Details == nil || len(st.Details.Causes) == 0 || st.Details.Causes[0].Field != ".spec.replicas" {
			t.Fatalf("conflict details %+v, want a cause for .spec.replicas", st.Details)
		}
		// Force takes the field over.
		d, err = deps.Apply(ctx, bob, metav1.ApplyOptions{FieldManager: "bob", Force: true})
		if err != nil {
			t.Fatalf("forced apply: %v", err)
		}
		if *d.Spec.Replicas != 5 || d.Generation != 2 {
			t.Fatalf("after forced apply: replicas %d generation %d, want 5 and 2", *d.Spec.Replicas, d.Generation)
		}
		if m := cgManagers(d.ManagedFields); !slices.Equal(m, []string{"alice/Apply", "bob/Apply"}) {
			t.Fatalf("managedFields %v, want alice and bob", m)
		}
		// An Update records its manager too.
		d.Labels["updated-by"] = "carol"
		d, err = deps.Update(ctx, d, metav1.UpdateOptions{FieldManager: "carol"})
		if err != nil {
			t.Fatal(err)
		}
		if m := cgManagers(d.ManagedFields); !slices.Contains(m, "carol/Update") {
			t.Fatalf("managedFields %v, want carol/Update", m)
		}
		// A YAML apply body, as kubectl apply --server-side sends it.
		yaml := []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ssa-yaml\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: ssa-yaml}\n  template:\n    metadata:\n      labels: {app: ssa-yaml}\n    spec:\n      containers:\n      - name: web\n        image: busybox:1.36\n")
		y, err := deps.Patch(ctx, "ssa-yaml", types.ApplyYAMLPatchType, yaml, metav1.PatchOptions{FieldManager: "kubectl"})
		if err != nil {
			t.Fatalf("YAML apply: %v", err)
		}
		if y.Spec.Template.Spec.Containers[0].Image != "busybox:1.36" || y.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
			t.Fatalf("YAML-applied deployment %+v, want defaults filled in", y.Spec.Template.Spec)
		}
		_, err = deps.Patch(ctx, "ssa-yaml", types.ApplyYAMLPatchType, yaml, metav1.PatchOptions{})
		cgWantCode(t, err, 400, "apply without fieldManager")
		// Apply to the status subresource touches only status.
		st, err := deps.ApplyStatus(ctx, appsv1ac.Deployment("ssa", ns).WithStatus(appsv1ac.DeploymentStatus().WithReplicas(5).WithReadyReplicas(5).WithObservedGeneration(2)), metav1.ApplyOptions{FieldManager: "controller", Force: true})
		if err != nil {
			t.Fatalf("apply status: %v", err)
		}
		if st.Status.ReadyReplicas != 5 || *st.Spec.Replicas != 5 {
			t.Fatalf("after status apply: status %+v replicas %d", st.Status, *st.Spec.Replicas)
		}
		if m := cgManagers(st.ManagedFields); !slices.Contains(m, "controller/Apply/status") {
			t.Fatalf("managedFields %v, want controller/Apply/status", m)
		}
		st.Status.AvailableReplicas = 5
		if st, err = deps.UpdateStatus(ctx, st, metav1.UpdateOptions{FieldManager: "rollout"}); err != nil {
			t.Fatal(err)
		}
		if m := cgManagers(st.ManagedFields); !slices.Contains(m, "rollout/Update/status") {
			t.Fatalf("managedFields %v, want rollout/Update/status", m)
		}
	})

	t.Run("scale subresource", func(t *testing.T) {
		ctx := cgCtx(t)
		type scaler struct {
			name   string
			create func() error
			get    func() (*autoscalingv1.Scale, error)
			update func(*autoscalingv1.Scale) (*autoscalingv1.Scale, error)
			spec   func() (int32, error) // the workload's spec.replicas
		}
		rs, sts := cs.AppsV1().ReplicaSets(ns), cs.AppsV1().StatefulSets(ns)
		for _, s := range []scaler{
			{
				name: "deployments",
				create: func() error {
					_, err := deps.Create(ctx, cgDeployment("scaled", 2), metav1.CreateOptions{})
					return err
				},
				get: func() (*autoscalingv1.Scale, error) { return deps.GetScale(ctx, "scaled", metav1.GetOptions{}) },
				update: func(sc *autoscalingv1.Scale) (*autoscalingv1.Scale, error) {
					return deps.UpdateScale(ctx, "scaled", sc, metav1.UpdateOptions{})
				},
				spec: func() (int32, error) {
					d, err := deps.Get(ctx, "scaled", metav1.GetOptions{})
					return cgDeref(d, err, func() *int32 { return d.Spec.Replicas })
				},
			},
			{
				name:   "replicasets",
				create: func() error { _, err := rs.Create(ctx, cgReplicaSet("scaled", 2), metav1.CreateOptions{}); return err },
				get:    func() (*autoscalingv1.Scale, error) { return rs.GetScale(ctx, "scaled", metav1.GetOptions{}) },
				update: func(sc *autoscalingv1.Scale) (*autoscalingv1.Scale, error) {
					return rs.UpdateScale(ctx, "scaled", sc, metav1.UpdateOptions{})
				},
				spec: func() (int32, error) {
					r, err := rs.Get(ctx, "scaled", metav1.GetOptions{})
					return cgDeref(r, err, func() *int32 { return r.Spec.Replicas })
				},
			},
			{
				name: "statefulsets",
				create: func() error {
					_, err := sts.Create(ctx, cgStatefulSet("scaled", 2), metav1.CreateOptions{})
					return err
				},
				get: func() (*autoscalingv1.Scale, error) { return sts.GetScale(ctx, "scaled", metav1.GetOptions{}) },
				update: func(sc *autoscalingv1.Scale) (*autoscalingv1.Scale, error) {
					return sts.UpdateScale(ctx, "scaled", sc, metav1.UpdateOptions{})
				},
				spec: func() (int32, error) {
					r, err := sts.Get(ctx, "scaled", metav1.GetOptions{})
					return cgDeref(r, err, func() *int32 { return r.Spec.Replicas })
				},
			},
		} {
			t.Run(s.name, func(t *testing.T) {
				if err := s.create(); err != nil {
					t.Fatal(err)
				}
				sc, err := s.get()
				if err != nil {
					t.Fatalf("get scale: %v", err)
				}
				if sc.Spec.Replicas != 2 || sc.Status.Selector != "app=scaled" || sc.Name != "scaled" || sc.Namespace != ns {
					t.Fatalf("scale %+v, want 2 replicas and selector app=scaled", sc)
				}
				stale := sc.DeepCopy()
				sc.Spec.Replicas = 5
				up, err := s.update(sc)
				if err != nil {
					t.Fatalf("update scale: %v", err)
				}
				if up.Spec.Replicas != 5 || up.ResourceVersion == stale.ResourceVersion {
					t.Fatalf("updated scale %+v, want 5 replicas and a new resourceVersion", up)
				}
				if n, err := s.spec(); err != nil || n != 5 {
					t.Fatalf("spec.replicas after scaling: %d %v, want 5", n, err)
				}
				stale.Spec.Replicas = 1
				_, err = s.update(stale)
				if !apierrors.IsConflict(err) {
					t.Fatalf("update scale with a stale resourceVersion: %v, want Conflict", err)
				}
				if n, _ := s.spec(); n != 5 {
					t.Fatalf("spec.replicas %d after refused scale, want 5", n)
				}
				// A scale without resourceVersion is unconditional.
				stale.ResourceVersion = ""
				if up, err = s.update(stale); err != nil || up.Spec.Replicas != 1 {
					t.Fatalf("unconditional scale: %v %+v", err, up)
				}
			})
		}
		// Patching /scale, as kubectl scale does.
		body, _ := json.Marshal(map[string]any{"spec": map[string]any{"replicas": 7}})
		var sc autoscalingv1.Scale
		err := cs.AppsV1().RESTClient().Patch(types.MergePatchType).Namespace(ns).Resource("deployments").Name("scaled").SubResource("scale").
			Body(body).Do(context.Background()).Into(&sc)
		if err != nil || sc.Spec.Replicas != 7 {
			t.Fatalf("patch scale: %v %+v", err, sc)
		}
		_, err = cs.AppsV1().DaemonSets(ns).Patch(ctx, "none", types.MergePatchType, body, metav1.PatchOptions{}, "scale")
		cgWantCode(t, err, 404, "daemonsets have no scale subresource")
		_, err = deps.GetScale(ctx, "missing", metav1.GetOptions{})
		cgNotFound(t, err, "scale of a missing deployment")
	})
}

// cgDeref returns *get() or err.
func cgDeref[T any](_ T, err error, get func() *int32) (int32, error) {
	if err != nil {
		return 0, err
	}
	if p := get(); p != nil {
		return *p, nil
	}
	return 0, nil
}
