package printers_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	cliprinters "k8s.io/cli-runtime/pkg/printers"
	"k8s.io/kubectl/pkg/cmd/get"

	"github.com/skiffk8s/skiff/apiserver/printers"
)

// kubectlGet prints objs the way `kubectl get` does: our Table goes over
// the wire as JSON, kubectl reads it as an unstructured object, and its own
// table printer (the one `kubectl get` builds) renders it.
func kubectlGet(t *testing.T, g schema.GroupResource, objs []runtime.Object, opts cliprinters.PrintOptions) string {
	t.Helper()
	table, err := printers.Print(g, objs, printers.Options{Now: now})
	if err != nil {
		t.Fatalf("Print: %v", err)
	}
	wire, err := json.Marshal(table)
	if err != nil {
		t.Fatalf("encoding the table: %v", err)
	}
	received := &unstructured.Unstructured{}
	if err := received.UnmarshalJSON(wire); err != nil {
		t.Fatalf("decoding the table as kubectl does: %v", err)
	}
	var out bytes.Buffer
	p := &get.TablePrinter{Delegate: cliprinters.NewTablePrinter(opts)}
	if err := p.PrintObj(received, &out); err != nil {
		t.Fatalf("kubectl's table printer: %v", err)
	}
	return out.String()
}

func lines(ls ...string) string { return strings.Join(ls, "\n") + "\n" }

func TestKubectlPrintsOurTables(t *testing.T) {
	web := pod(1, corev1.PodRunning, restarted(running(true), 5, 5*time.Minute))
	web.Name = "web-5d8f7c9b4-x2x9q"
	web.Spec.NodeName = "node-1"
	web.Status.PodIP = "10.244.1.7"
	web.Labels = map[string]string{"app": "web"}
	initing := withInit(pod(2, corev1.PodPending, waiting("PodInitializing"), waiting("PodInitializing")), 1, running(false))
	initing.Name = "db-0"
	initing.Namespace = "data"
	initing.CreationTimestamp = ago(40 * time.Second)
	pods := []runtime.Object{web, initing}

	cp := node("cp-1", corev1.ConditionTrue, map[string]string{"node-role.kubernetes.io/control-plane": ""})
	cp.Spec.Unschedulable = true
	worker := node("worker-1", corev1.ConditionFalse, nil)
	worker.CreationTimestamp = ago(3 * time.Minute)

	tests := []struct {
		name string
		gr   schema.GroupResource
		objs []runtime.Object
		opts cliprinters.PrintOptions
		want string
	}{
		{"kubectl get pods prints our pod columns", gr("", "pods"), pods, cliprinters.PrintOptions{}, lines(
			"NAME                  READY   STATUS     RESTARTS     AGE",
			"web-5d8f7c9b4-x2x9q   1/1     Running    5 (5m ago)   3h",
			"db-0                  0/2     Init:0/1   0            40s",
		)},
		{"kubectl get pods -o wide adds the wide columns", gr("", "pods"), pods, cliprinters.PrintOptions{Wide: true}, lines(
			"NAME                  READY   STATUS     RESTARTS     AGE   IP           NODE     NOMINATED NODE   READINESS GATES",
			"web-5d8f7c9b4-x2x9q   1/1     Running    5 (5m ago)   3h    10.244.1.7   node-1   <none>           <none>",
			"db-0                  0/2     Init:0/1   0            40s   <none>       <none>   <none>           <none>",
		)},
		{"kubectl get pods -A reads namespaces from the row metadata", gr("", "pods"), pods, cliprinters.PrintOptions{WithNamespace: true}, lines(
			"NAMESPACE   NAME                  READY   STATUS     RESTARTS     AGE",
			"default     web-5d8f7c9b4-x2x9q   1/1     Running    5 (5m ago)   3h",
			"data        db-0                  0/2     Init:0/1   0            40s",
		)},
		{"kubectl get pods --show-labels reads labels from the row metadata", gr("", "pods"), pods[:1], cliprinters.PrintOptions{ShowLabels: true}, lines(
			"NAME                  READY   STATUS    RESTARTS     AGE   LABELS",
			"web-5d8f7c9b4-x2x9q   1/1     Running   5 (5m ago)   3h    app=web",
		)},
		{"kubectl get nodes prints status and roles", gr("", "nodes"), []runtime.Object{cp, worker}, cliprinters.PrintOptions{}, lines(
			"NAME       STATUS                     ROLES           AGE    VERSION",
			"cp-1       Ready,SchedulingDisabled   control-plane   2d2h   v1.37.2",
			"worker-1   NotReady                   <none>          3m     v1.37.2",
		)},
		{"kubectl get services prints node ports", gr("", "services"),
			[]runtime.Object{service(corev1.ServiceTypeNodePort, "10.96.0.10", port(80, 30080, corev1.ProtocolTCP))}, cliprinters.PrintOptions{}, lines(
				"NAME   TYPE       CLUSTER-IP   EXTERNAL-IP   PORT(S)        AGE",
				"web    NodePort   10.96.0.10   <none>        80:30080/TCP   90s",
			)},
		{"kubectl get clusterroles prints the creation time", gr("rbac.authorization.k8s.io", "clusterroles"),
			[]runtime.Object{&unstructured.Unstructured{Object: map[string]interface{}{
				"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
				"metadata": map[string]interface{}{"name": "view", "creationTimestamp": "2026-11-20T08:00:00Z"}}}},
			cliprinters.PrintOptions{}, lines(
				"NAME   CREATED AT",
				"view   2026-11-20T08:00:00Z",
			)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := kubectlGet(t, tt.gr, tt.objs, tt.opts); got != tt.want {
				t.Errorf("kubectl printed\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestKubectlPrintsNoHeaderWithoutRows(t *testing.T) {
	if got := kubectlGet(t, gr("", "pods"), nil, cliprinters.PrintOptions{}); got != "" {
		t.Errorf("kubectl printed %q for no pods, want nothing", got)
	}
}
