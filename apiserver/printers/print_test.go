package printers_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiffk8s/skiff/apiserver/printers"
	"github.com/skiffk8s/skiff/apiserver/registry"
)

// TestEveryServedResourcePrintsUpstreamColumns pins, for each resource the
// API server serves, the headers `kubectl get` and `kubectl get -o wide`
// print against upstream kube-apiserver.
func TestEveryServedResourcePrintsUpstreamColumns(t *testing.T) {
	type headers struct{ normal, wide string }
	want := map[string]headers{
		"namespaces":                             {"Name|Status|Age", ""},
		"pods":                                   {"Name|Ready|Status|Restarts|Age", "IP|Node|Nominated Node|Readiness Gates"},
		"nodes":                                  {"Name|Status|Roles|Age|Version", "Internal-IP|External-IP|OS-Image|Kernel-Version|Container-Runtime"},
		"services":                               {"Name|Type|Cluster-IP|External-IP|Port(s)|Age", "Selector"},
		"endpoints":                              {"Name|Endpoints|Age", ""},
		"configmaps":                             {"Name|Data|Age", ""},
		"secrets":                                {"Name|Type|Data|Age", ""},
		"serviceaccounts":                        {"Name|Age", ""},
		"events":                                 {"Last Seen|Type|Reason|Object|Message", "Subobject|Source|First Seen|Count|Name"},
		"events.events.k8s.io":                   {"Last Seen|Type|Reason|Object|Message", "Subobject|Source|First Seen|Count|Name"},
		"leases.coordination.k8s.io":             {"Name|Holder|Age", ""},
		"endpointslices.discovery.k8s.io":        {"Name|AddressType|Ports|Endpoints|Age", ""},
		"deployments.apps":                       {"Name|Ready|Up-to-date|Available|Age", "Containers|Images|Selector"},
		"replicasets.apps":                       {"Name|Desired|Current|Ready|Age", "Containers|Images|Selector"},
		"daemonsets.apps":                        {"Name|Desired|Current|Ready|Up-to-date|Available|Node Selector|Age", "Containers|Images|Selector"},
		"statefulsets.apps":                      {"Name|Ready|Age", "Containers|Images"},
		"controllerrevisions.apps":               {"Name|Controller|Revision|Age", ""},
		"jobs.batch":                             {"Name|Status|Completions|Duration|Age", "Containers|Images|Selector"},
		"cronjobs.batch":                         {"Name|Schedule|Timezone|Suspend|Active|Last Schedule|Age", "Containers|Images|Selector"},
		"priorityclasses.scheduling.k8s.io":      {"Name|Value|Global-Default|Age|PreemptionPolicy", ""},
		"poddisruptionbudgets.policy":            {"Name|Min Available|Max Unavailable|Allowed Disruptions|Age", ""},
		"roles.rbac.authorization.k8s.io":        {"Name|Created At", ""},
		"rolebindings.rbac.authorization.k8s.io": {"Name|Role|Age", "Users|Groups|ServiceAccounts"},
		"clusterroles.rbac.authorization.k8s.io": {"Name|Created At", ""},
		"clusterrolebindings.rbac.authorization.k8s.io":  {"Name|Role|Age", "Users|Groups|ServiceAccounts"},
		"certificatesigningrequests.certificates.k8s.io": {"Name|Age|SignerName|Requestor|RequestedDuration|Condition", ""},
	}
	types := map[string]bool{"string": true, "integer": true, "boolean": true, "date": true}

	for _, r := range registry.All() {
		key := r.GroupResource().String()
		t.Run(key, func(t *testing.T) {
			w, ok := want[key]
			if !ok {
				t.Fatalf("served resource %s has no expected columns here: add upstream's", key)
			}
			obj := r.New()
			table, err := printers.Print(r.GroupResource(), []runtime.Object{obj}, printers.Options{Now: now})
			if err != nil {
				t.Fatalf("Print of an empty %s: %v", r.Kind, err)
			}
			var normal, wide []string
			names := 0
			for _, c := range table.ColumnDefinitions {
				if c.Priority == 0 {
					normal = append(normal, c.Name)
				} else {
					wide = append(wide, c.Name)
				}
				if c.Format == "name" {
					names++
					if c.Name != "Name" {
						t.Errorf("column %q has format name", c.Name)
					}
				}
				if !types[c.Type] {
					t.Errorf("column %q has type %q", c.Name, c.Type)
				}
				if c.Description == "" {
					t.Errorf("column %q has no description", c.Name)
				}
			}
			if got := strings.Join(normal, "|"); got != w.normal {
				t.Errorf("columns = %s, want %s", got, w.normal)
			}
			if got := strings.Join(wide, "|"); got != w.wide {
				t.Errorf("-o wide columns = %s, want %s", got, w.wide)
			}
			if names != 1 {
				t.Errorf("%d columns have format name, want 1", names)
			}
			if n := len(table.Rows[0].Cells); n != len(table.ColumnDefinitions) {
				t.Errorf("%d cells for %d columns", n, len(table.ColumnDefinitions))
			}
		})
	}
}

func TestWideColumnsHavePriorityOne(t *testing.T) {
	tests := []struct {
		name string
		gr   string
		wide []string
	}{
		{"pods show IP, node, nominated node and readiness gates only with -o wide", "pods", []string{"IP", "Node", "Nominated Node", "Readiness Gates"}},
		{"nodes show addresses and system info only with -o wide", "nodes", []string{"Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"}},
		{"services show the selector only with -o wide", "services", []string{"Selector"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table, err := printers.Print(gr("", tt.gr), nil, printers.Options{Now: now})
			if err != nil {
				t.Fatal(err)
			}
			isWide := map[string]bool{}
			for _, n := range tt.wide {
				isWide[n] = true
			}
			for _, c := range table.ColumnDefinitions {
				want := int32(0)
				if isWide[c.Name] {
					want = 1
				}
				if c.Priority != want {
					t.Errorf("column %q has priority %d, want %d", c.Name, c.Priority, want)
				}
			}
		})
	}
}

func labelledPod() *corev1.Pod {
	p := pod(1, corev1.PodRunning, running(true))
	p.UID = "0b1c5a2e-3f4d-4e5f-8a9b-0c1d2e3f4a5b"
	p.ResourceVersion = "42"
	p.Labels = map[string]string{"app": "web"}
	p.Spec.Containers[0] = corev1.Container{Name: "web", Image: "nginx"}
	return p
}

func TestIncludeObject(t *testing.T) {
	tests := []struct {
		name       string
		policy     metav1.IncludeObjectPolicy
		obj        runtime.Object
		resource   string
		apiVersion string // of the row object; "" for none
		kind       string
		hasSpec    bool
	}{
		{"the default policy gives each row the object's metadata", "", labelledPod(), "pods", "meta.k8s.io/v1", "PartialObjectMetadata", false},
		{"Metadata gives each row a PartialObjectMetadata", metav1.IncludeMetadata, labelledPod(), "pods", "meta.k8s.io/v1", "PartialObjectMetadata", false},
		{"Object gives each row the whole object with its kind", metav1.IncludeObject, labelledPod(), "pods", "v1", "Pod", true},
		{"Object names the events.k8s.io group for new events", metav1.IncludeObject,
			&eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "default", Labels: map[string]string{"app": "web"}, UID: "u", ResourceVersion: "42"}},
			"events", "events.k8s.io/v1", "Event", false},
		{"None gives rows no object", metav1.IncludeNone, labelledPod(), "pods", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.obj.DeepCopyObject()
			group := ""
			if _, ok := tt.obj.(*eventsv1.Event); ok {
				group = "events.k8s.io"
			}
			table, err := printers.Print(gr(group, tt.resource), []runtime.Object{tt.obj}, printers.Options{Now: now, IncludeObject: tt.policy})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(before, tt.obj) {
				t.Errorf("Print changed the caller's object")
			}
			raw := table.Rows[0].Object
			if raw.Object != nil {
				t.Errorf("row object is a Go value %T; it must be raw JSON", raw.Object)
			}
			if tt.apiVersion == "" {
				if raw.Raw != nil {
					t.Errorf("row object = %s, want none", raw.Raw)
				}
				return
			}
			var got struct {
				APIVersion string            `json:"apiVersion"`
				Kind       string            `json:"kind"`
				Metadata   metav1.ObjectMeta `json:"metadata"`
				Spec       json.RawMessage   `json:"spec"`
			}
			if err := json.Unmarshal(raw.Raw, &got); err != nil {
				t.Fatalf("row object is not JSON: %v\n%s", err, raw.Raw)
			}
			if got.APIVersion != tt.apiVersion || got.Kind != tt.kind {
				t.Errorf("row object is %s %s, want %s %s", got.APIVersion, got.Kind, tt.apiVersion, tt.kind)
			}
			if got.Metadata.Namespace != "default" || got.Metadata.Labels["app"] != "web" || got.Metadata.UID == "" || got.Metadata.ResourceVersion != "42" {
				t.Errorf("row object metadata = %+v, want namespace, labels, uid and resourceVersion", got.Metadata)
			}
			if (got.Spec != nil) != tt.hasSpec {
				t.Errorf("row object has spec: %v, want %v", got.Spec != nil, tt.hasSpec)
			}
		})
	}
}

func TestUnknownIncludeObjectPolicyIsAnError(t *testing.T) {
	_, err := printers.Print(gr("", "pods"), []runtime.Object{labelledPod()}, printers.Options{IncludeObject: "Everything"})
	var bad *printers.InvalidIncludeObjectError
	if !errors.As(err, &bad) || bad.Policy != "Everything" {
		t.Fatalf("err = %v, want an *InvalidIncludeObjectError for Everything", err)
	}
}

func TestNoHeadersLeavesOutColumnsButNotCells(t *testing.T) {
	table, err := printers.Print(gr("", "pods"), []runtime.Object{labelledPod()}, printers.Options{Now: now, NoHeaders: true})
	if err != nil {
		t.Fatal(err)
	}
	if table.ColumnDefinitions != nil {
		t.Errorf("columns = %v, want none", table.ColumnDefinitions)
	}
	if got := table.Rows[0].Cells; len(got) != 9 || got[0] != "web" || got[2] != "Running" {
		t.Errorf("cells = %v, want the nine pod cells", got)
	}
}

func TestTableShape(t *testing.T) {
	t.Run("a list prints one row per item in order", func(t *testing.T) {
		a, b := labelledPod(), labelledPod()
		a.Name, b.Name = "a", "b"
		list := &corev1.PodList{Items: []corev1.Pod{*a, *b}}
		table, err := printers.Print(gr("", "pods"), []runtime.Object{list}, printers.Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if len(table.Rows) != 2 || table.Rows[0].Cells[0] != "a" || table.Rows[1].Cells[0] != "b" {
			t.Errorf("rows = %v, want a then b", table.Rows)
		}
	})
	t.Run("no objects give columns and an empty, non-null rows list", func(t *testing.T) {
		table, err := printers.Print(gr("", "pods"), nil, printers.Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(table)
		if !strings.Contains(string(data), `"rows":[]`) || len(table.ColumnDefinitions) == 0 {
			t.Errorf("table = %s", data)
		}
		if table.Kind != "Table" || table.APIVersion != "meta.k8s.io/v1" {
			t.Errorf("table is %s %s, want meta.k8s.io/v1 Table", table.APIVersion, table.Kind)
		}
	})
	t.Run("an unstructured object prints like the typed one", func(t *testing.T) {
		typed := labelledPod()
		content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(typed)
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{Object: content}
		u.SetAPIVersion("v1")
		u.SetKind("Pod")
		want, err := printers.Print(gr("", "pods"), []runtime.Object{typed}, printers.Options{Now: now, IncludeObject: metav1.IncludeNone})
		if err != nil {
			t.Fatal(err)
		}
		got, err := printers.Print(gr("", "pods"), []runtime.Object{u}, printers.Options{Now: now, IncludeObject: metav1.IncludeNone})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Rows, want.Rows) {
			t.Errorf("unstructured rows = %v, typed rows = %v", got.Rows, want.Rows)
		}
	})
	t.Run("an unknown resource gets a name and an age", func(t *testing.T) {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("example.com/v1")
		u.SetKind("Widget")
		u.SetName("w1")
		u.SetCreationTimestamp(ago(time.Hour))
		table, err := printers.Print(gr("example.com", "widgets"), []runtime.Object{u}, printers.Options{Now: now, IncludeObject: metav1.IncludeObject})
		if err != nil {
			t.Fatal(err)
		}
		if len(table.ColumnDefinitions) != 2 || table.ColumnDefinitions[0].Format != "name" || table.ColumnDefinitions[1].Name != "Age" ||
			table.ColumnDefinitions[1].Description != (metav1.ObjectMeta{}).SwaggerDoc()["creationTimestamp"] {
			t.Errorf("columns = %+v, want Name and Age", table.ColumnDefinitions)
		}
		if got := table.Rows[0].Cells; got[0] != "w1" || got[1] != "60m" {
			t.Errorf("cells = %v", got)
		}
		if !strings.Contains(string(table.Rows[0].Object.Raw), `"kind":"Widget"`) {
			t.Errorf("row object = %s, want the widget", table.Rows[0].Object.Raw)
		}
	})
	t.Run("an object of the wrong kind is an error", func(t *testing.T) {
		_, err := printers.Print(gr("", "pods"), []runtime.Object{&corev1.Node{}}, printers.Options{Now: now})
		if err == nil || !strings.Contains(err.Error(), "*v1.Node") {
			t.Errorf("err = %v, want one naming *v1.Node", err)
		}
	})
	t.Run("a zero Now measures ages to the time of the call", func(t *testing.T) {
		p := labelledPod()
		p.CreationTimestamp = metav1.NewTime(time.Now().Add(-90 * time.Second))
		table, err := printers.Print(gr("", "pods"), []runtime.Object{p}, printers.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := table.Rows[0].Cells[4]; got != "90s" && got != "91s" {
			t.Errorf("age = %v, want 90s", got)
		}
	})
}
