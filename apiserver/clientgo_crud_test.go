package apiserver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	fieldsel "k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/record"

	"github.com/skiffk8s/skiff/apiserver/apitest"
)

// cgObject is a typed API object.
type cgObject interface {
	runtime.Object
	metav1.Object
}

// cgClient is what every typed client-go resource client offers.
type cgClient[T cgObject, L runtime.Object] interface {
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// cgCRUDCase is one resource's create/get/list/update/patch/delete round.
type cgCRUDCase struct {
	resource string
	run      func(t *testing.T)
}

// cgCRUD builds the round for one resource: obj is created; change (may be
// nil) makes a spec change for the update and check verifies it was
// stored. A watch on the object's name sees every step.
func cgCRUD[T cgObject, L runtime.Object](resource string, c cgClient[T, L], obj T, change func(T), check func(*testing.T, T)) cgCRUDCase {
	return cgCRUDCase{resource: resource, run: func(t *testing.T) {
		ctx := cgCtx(t)
		name := obj.GetName()
		sel := fieldsel.OneTermEqualSelector("metadata.name", name).String()
		before, err := c.List(ctx, metav1.ListOptions{FieldSelector: sel})
		if err != nil {
			t.Fatalf("list before create: %v", err)
		}
		if n := cgNames(t, before); len(n) != 0 {
			t.Fatalf("list before create: %v, want nothing", n)
		}
		lm := cgListRV(before)
		w, err := c.Watch(ctx, metav1.ListOptions{FieldSelector: sel, ResourceVersion: lm})
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		defer w.Stop()

		// Create.
		created, err := c.Create(ctx, obj, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if created.GetName() != name || created.GetUID() == "" || created.GetResourceVersion() == "" || created.GetCreationTimestamp().Time.IsZero() {
			t.Fatalf("create returned name %q uid %q resourceVersion %q creationTimestamp %v; want the name and server-set uid, resourceVersion, creationTimestamp",
				created.GetName(), created.GetUID(), created.GetResourceVersion(), created.GetCreationTimestamp())
		}
		if obj.GetNamespace() != "" && created.GetNamespace() != obj.GetNamespace() {
			t.Fatalf("create returned namespace %q, want %q", created.GetNamespace(), obj.GetNamespace())
		}
		cgExpectEvent(t, w, watch.Added, name)

		// Create again: 409 AlreadyExists.
		dup := obj.DeepCopyObject().(T)
		if _, err := c.Create(ctx, dup, metav1.CreateOptions{}); err == nil {
			t.Fatalf("second create of %s succeeded, want AlreadyExists", name)
		} else {
			cgWantCode(t, err, 409, "second create")
		}

		// Get.
		got, err := c.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		if got.GetUID() != created.GetUID() || got.GetResourceVersion() != created.GetResourceVersion() {
			t.Fatalf("get returned uid %s rv %s, want %s %s", got.GetUID(), got.GetResourceVersion(), created.GetUID(), created.GetResourceVersion())
		}

		// List.
		list, err := c.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		if n := cgNames(t, list); !slices.Contains(n, name) {
			t.Fatalf("list returned %v, want it to contain %s", n, name)
		}
		if cgListRV(list) == "" {
			t.Fatalf("list has no resourceVersion")
		}

		// Update: a label and (when the kind has one) a spec change.
		labels := got.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels["step"] = "updated"
		got.SetLabels(labels)
		if change != nil {
			change(got)
		}
		updated, err := c.Update(ctx, got, metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("update: %v", err)
		}
		if updated.GetLabels()["step"] != "updated" || updated.GetResourceVersion() == created.GetResourceVersion() {
			t.Fatalf("update returned labels %v rv %s; want step=updated and a new resourceVersion", updated.GetLabels(), updated.GetResourceVersion())
		}
		cgExpectEvent(t, w, watch.Modified, name)
		got, err = c.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get after update: %v", err)
		}
		if check != nil {
			check(t, got)
		}

		// Patch (JSON merge patch).
		patched, err := c.Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"annotations":{"skiff.test/patched":"yes"}}}`), metav1.PatchOptions{})
		if err != nil {
			t.Fatalf("patch: %v", err)
		}
		if patched.GetAnnotations()["skiff.test/patched"] != "yes" || patched.GetLabels()["step"] != "updated" {
			t.Fatalf("patch returned annotations %v labels %v; want the patched annotation and the updated label", patched.GetAnnotations(), patched.GetLabels())
		}
		if check != nil {
			check(t, patched)
		}
		cgExpectEvent(t, w, watch.Modified, name)

		// Delete.
		if err := c.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete: %v", err)
		}
		cgExpectEvent(t, w, watch.Deleted, name)
		_, err = c.Get(ctx, name, metav1.GetOptions{})
		cgNotFound(t, err, "get after delete")
		cgNotFound(t, c.Delete(ctx, name, metav1.DeleteOptions{}), "second delete")
		_, err = c.Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`), metav1.PatchOptions{})
		cgNotFound(t, err, "patch after delete")
	}}
}

// cgListRV returns a list's resourceVersion.
func cgListRV(list runtime.Object) string {
	type listMeta interface{ GetResourceVersion() string }
	if l, ok := list.(listMeta); ok {
		return l.GetResourceVersion()
	}
	return ""
}

// cgCSRPEM returns a PEM certificate request for a client certificate.
func cgCSRPEM(t testing.TB, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: cn, Organization: []string{"developers"}},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func cgCSR(t testing.TB, name string) *certificatesv1.CertificateSigningRequest {
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:           cgCSRPEM(t, name),
			SignerName:        certificatesv1.KubeAPIServerClientSignerName,
			Usages:            []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
			ExpirationSeconds: cgPtr[int32](3600),
		},
	}
}

func cgDeployment(name string, replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: cgLabels(name)},
		Spec: appsv1.DeploymentSpec{
			Replicas: cgPtr(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: cgLabels(name)},
			Template: cgPodTemplate(name),
		},
	}
}

func cgReplicaSet(name string, replicas int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: cgLabels(name)},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: cgPtr(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: cgLabels(name)},
			Template: cgPodTemplate(name),
		},
	}
}

func cgStatefulSet(name string, replicas int32) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: cgLabels(name)},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    cgPtr(replicas),
			ServiceName: name,
			Selector:    &metav1.LabelSelector{MatchLabels: cgLabels(name)},
			Template:    cgPodTemplate(name),
		},
	}
}

func cgDaemonSet(name string) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: cgLabels(name)},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: cgLabels(name)},
			Template: cgPodTemplate(name),
		},
	}
}

func cgJob(name string) *batchv1.Job {
	tmpl := cgPodTemplate(name)
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       batchv1.JobSpec{BackoffLimit: cgPtr[int32](2), Template: tmpl},
	}
}

func cgCronJob(name string) *batchv1.CronJob {
	tmpl := cgPodTemplate(name)
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.CronJobSpec{
			Schedule:    "*/5 * * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}},
		},
	}
}

func cgService(name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Selector: cgLabels(name),
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
		},
	}
}

// TestClientGoCRUD creates, reads, lists, updates, patches, watches and
// deletes one object of every served resource through the typed clientset.
func TestClientGoCRUD(t *testing.T) {
	srv := apitest.Start(t)
	cs := srv.Client
	ns := cgNamespace(t, cs, "crud")
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	microNow := metav1.NewMicroTime(time.Now().Truncate(time.Microsecond))

	cases := []cgCRUDCase{
		cgCRUD("pods", cs.CoreV1().Pods(ns), func() *corev1.Pod { p := cgPod("web", cgLabels("web")); p.Namespace = ns; return p }(),
			func(p *corev1.Pod) { p.Spec.Containers[0].Image = "busybox:1.37" },
			func(t *testing.T, p *corev1.Pod) {
				if p.Spec.Containers[0].Image != "busybox:1.37" {
					t.Errorf("image %q, want busybox:1.37", p.Spec.Containers[0].Image)
				}
			}),
		cgCRUD("nodes", cs.CoreV1().Nodes(), &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "crud-node-1", Labels: map[string]string{"kubernetes.io/hostname": "crud-node-1"}},
			Spec:       corev1.NodeSpec{PodCIDR: "10.244.7.0/24", PodCIDRs: []string{"10.244.7.0/24"}},
		}, func(n *corev1.Node) { n.Spec.Unschedulable = true },
			func(t *testing.T, n *corev1.Node) {
				if !n.Spec.Unschedulable || n.Spec.PodCIDR != "10.244.7.0/24" {
					t.Errorf("node spec %+v, want unschedulable with podCIDR 10.244.7.0/24", n.Spec)
				}
			}),
		cgCRUD("services", cs.CoreV1().Services(ns), func() *corev1.Service { s := cgService("web"); s.Namespace = ns; return s }(),
			func(s *corev1.Service) {
				s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "https", Port: 443, TargetPort: intstr.FromInt32(8443), Protocol: corev1.ProtocolTCP})
			},
			func(t *testing.T, s *corev1.Service) {
				if len(s.Spec.Ports) != 2 || s.Spec.ClusterIP == "" || s.Spec.Type != corev1.ServiceTypeClusterIP {
					t.Errorf("service spec %+v, want 2 ports, a cluster IP and type ClusterIP", s.Spec)
				}
			}),
		cgCRUD("endpoints", cs.CoreV1().Endpoints(ns), &corev1.Endpoints{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
			Subsets: []corev1.EndpointSubset{{
				Addresses: []corev1.EndpointAddress{{IP: "10.244.1.5"}},
				Ports:     []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}},
			}},
		}, func(e *corev1.Endpoints) {
			e.Subsets[0].Addresses = append(e.Subsets[0].Addresses, corev1.EndpointAddress{IP: "10.244.2.7"})
		}, func(t *testing.T, e *corev1.Endpoints) {
			if len(e.Subsets) != 1 || len(e.Subsets[0].Addresses) != 2 {
				t.Errorf("endpoints subsets %+v, want two addresses", e.Subsets)
			}
		}),
		cgCRUD("configmaps", cs.CoreV1().ConfigMaps(ns), func() *corev1.ConfigMap { c := cgConfigMap("settings", nil); c.Namespace = ns; return c }(),
			func(c *corev1.ConfigMap) { c.Data["second"] = "2" },
			func(t *testing.T, c *corev1.ConfigMap) {
				if c.Data["second"] != "2" || c.Data["key"] != "value" {
					t.Errorf("configmap data %v, want key and second", c.Data)
				}
			}),
		cgCRUD("secrets", cs.CoreV1().Secrets(ns), &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "db-password", Namespace: ns},
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{"password": []byte("s3cr3t")},
		}, func(s *corev1.Secret) { s.Data["user"] = []byte("admin") },
			func(t *testing.T, s *corev1.Secret) {
				if string(s.Data["password"]) != "s3cr3t" || string(s.Data["user"]) != "admin" {
					t.Errorf("secret data %q, want password and user", s.Data)
				}
			}),
		cgCRUD("serviceaccounts", cs.CoreV1().ServiceAccounts(ns), &corev1.ServiceAccount{
			ObjectMeta: metav1.ObjectMeta{Name: "builder", Namespace: ns},
		}, func(s *corev1.ServiceAccount) { s.AutomountServiceAccountToken = cgPtr(false) },
			func(t *testing.T, s *corev1.ServiceAccount) {
				if s.AutomountServiceAccountToken == nil || *s.AutomountServiceAccountToken {
					t.Errorf("automountServiceAccountToken %v, want false", s.AutomountServiceAccountToken)
				}
			}),
		cgCRUD("events", cs.CoreV1().Events(ns), &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: "web.17a1b2c3d4e5f607", Namespace: ns},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "web", APIVersion: "v1"},
			Reason:         "Scheduled", Message: "Successfully assigned web to node-1", Type: corev1.EventTypeNormal,
			Source:         corev1.EventSource{Component: "default-scheduler"},
			FirstTimestamp: now, LastTimestamp: now, Count: 1,
		}, func(e *corev1.Event) { e.Count = 2 },
			func(t *testing.T, e *corev1.Event) {
				if e.Count != 2 || e.Reason != "Scheduled" {
					t.Errorf("event count %d reason %q, want 2 Scheduled", e.Count, e.Reason)
				}
			}),
		cgCRUD("events.events.k8s.io", cs.EventsV1().Events(ns), &eventsv1.Event{
			ObjectMeta:          metav1.ObjectMeta{Name: "web.17a1b2c3d4e5f608", Namespace: ns},
			EventTime:           microNow,
			ReportingController: "skiff.io/scheduler", ReportingInstance: "scheduler-1",
			Action: "Binding", Reason: "Scheduled", Note: "Successfully assigned web to node-1",
			Type:      corev1.EventTypeNormal,
			Regarding: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "web", APIVersion: "v1"},
		}, func(e *eventsv1.Event) {
			e.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NewMicroTime(microNow.Add(time.Second))}
		}, func(t *testing.T, e *eventsv1.Event) {
			if e.Series == nil || e.Series.Count != 2 {
				t.Errorf("event series %+v, want count 2", e.Series)
			}
		}),
		cgCRUD("leases", cs.CoordinationV1().Leases(ns), &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: "controller-leader", Namespace: ns},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity: cgPtr("controller-1"), LeaseDurationSeconds: cgPtr[int32](15),
				AcquireTime: &microNow, RenewTime: &microNow,
			},
		}, func(l *coordinationv1.Lease) {
			l.Spec.RenewTime = cgPtr(metav1.NewMicroTime(microNow.Add(10 * time.Second)))
			l.Spec.LeaseTransitions = cgPtr[int32](1)
		}, func(t *testing.T, l *coordinationv1.Lease) {
			if l.Spec.LeaseTransitions == nil || *l.Spec.LeaseTransitions != 1 || !l.Spec.RenewTime.Time.Equal(microNow.Add(10*time.Second)) {
				t.Errorf("lease spec %+v, want renewed with one transition", l.Spec)
			}
		}),
		cgCRUD("endpointslices", cs.DiscoveryV1().EndpointSlices(ns), &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: "web-abc12", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.244.1.5"}, Conditions: discoveryv1.EndpointConditions{Ready: cgPtr(true)}, NodeName: cgPtr("node-1")}},
			Ports:       []discoveryv1.EndpointPort{{Name: cgPtr("http"), Port: cgPtr[int32](8080), Protocol: cgPtr(corev1.ProtocolTCP)}},
		}, func(e *discoveryv1.EndpointSlice) {
			e.Endpoints = append(e.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.244.2.7"}, Conditions: discoveryv1.EndpointConditions{Ready: cgPtr(true)}})
		}, func(t *testing.T, e *discoveryv1.EndpointSlice) {
			if len(e.Endpoints) != 2 {
				t.Errorf("endpoints %+v, want 2", e.Endpoints)
			}
		}),
		cgCRUD("deployments", cs.AppsV1().Deployments(ns), func() *appsv1.Deployment { d := cgDeployment("web", 2); d.Namespace = ns; return d }(),
			func(d *appsv1.Deployment) { d.Spec.Replicas = cgPtr[int32](3) },
			func(t *testing.T, d *appsv1.Deployment) {
				if *d.Spec.Replicas != 3 || d.Generation != 2 {
					t.Errorf("replicas %d generation %d, want 3 and 2", *d.Spec.Replicas, d.Generation)
				}
			}),
		cgCRUD("replicasets", cs.AppsV1().ReplicaSets(ns), func() *appsv1.ReplicaSet { r := cgReplicaSet("web-5d4f8b7c9", 2); r.Namespace = ns; return r }(),
			func(r *appsv1.ReplicaSet) { r.Spec.Replicas = cgPtr[int32](1) },
			func(t *testing.T, r *appsv1.ReplicaSet) {
				if *r.Spec.Replicas != 1 {
					t.Errorf("replicas %d, want 1", *r.Spec.Replicas)
				}
			}),
		cgCRUD("daemonsets", cs.AppsV1().DaemonSets(ns), func() *appsv1.DaemonSet { d := cgDaemonSet("agent"); d.Namespace = ns; return d }(),
			func(d *appsv1.DaemonSet) { d.Spec.Template.Spec.Containers[0].Image = "busybox:1.37" },
			func(t *testing.T, d *appsv1.DaemonSet) {
				if d.Spec.Template.Spec.Containers[0].Image != "busybox:1.37" {
					t.Errorf("image %q, want busybox:1.37", d.Spec.Template.Spec.Containers[0].Image)
				}
			}),
		cgCRUD("statefulsets", cs.AppsV1().StatefulSets(ns), func() *appsv1.StatefulSet { s := cgStatefulSet("db", 1); s.Namespace = ns; return s }(),
			func(s *appsv1.StatefulSet) { s.Spec.Replicas = cgPtr[int32](3) },
			func(t *testing.T, s *appsv1.StatefulSet) {
				if *s.Spec.Replicas != 3 || s.Spec.ServiceName != "db" {
					t.Errorf("replicas %d serviceName %q, want 3 db", *s.Spec.Replicas, s.Spec.ServiceName)
				}
			}),
		cgCRUD("controllerrevisions", cs.AppsV1().ControllerRevisions(ns), &appsv1.ControllerRevision{
			ObjectMeta: metav1.ObjectMeta{Name: "web-5d8f7c", Namespace: ns},
			Data:       runtime.RawExtension{Raw: []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"busybox"}]}}}}`)},
			Revision:   1},
			func(r *appsv1.ControllerRevision) { r.Revision = 3 },
			func(t *testing.T, r *appsv1.ControllerRevision) {
				if r.Revision != 3 || !strings.Contains(string(r.Data.Raw), "busybox") {
					t.Errorf("revision %d data %s, want 3 and the stored template", r.Revision, r.Data.Raw)
				}
			}),
		cgCRUD("jobs", cs.BatchV1().Jobs(ns), func() *batchv1.Job { j := cgJob("migrate"); j.Namespace = ns; return j }(),
			func(j *batchv1.Job) { j.Spec.Parallelism = cgPtr[int32](2) },
			func(t *testing.T, j *batchv1.Job) {
				if j.Spec.Parallelism == nil || *j.Spec.Parallelism != 2 {
					t.Errorf("parallelism %v, want 2", j.Spec.Parallelism)
				}
			}),
		cgCRUD("cronjobs", cs.BatchV1().CronJobs(ns), func() *batchv1.CronJob { c := cgCronJob("backup"); c.Namespace = ns; return c }(),
			func(c *batchv1.CronJob) { c.Spec.Schedule = "0 3 * * *" },
			func(t *testing.T, c *batchv1.CronJob) {
				if c.Spec.Schedule != "0 3 * * *" {
					t.Errorf("schedule %q, want 0 3 * * *", c.Spec.Schedule)
				}
			}),
		cgCRUD("priorityclasses", cs.SchedulingV1().PriorityClasses(), &schedulingv1.PriorityClass{
			ObjectMeta: metav1.ObjectMeta{Name: "batch-low"}, Value: 100, Description: "batch work",
		}, func(p *schedulingv1.PriorityClass) { p.Description = "low-priority batch work" },
			func(t *testing.T, p *schedulingv1.PriorityClass) {
				if p.Value != 100 || p.Description != "low-priority batch work" {
					t.Errorf("priority class value %d description %q", p.Value, p.Description)
				}
			}),
		cgCRUD("roles", cs.RbacV1().Roles(ns), &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "pod-reader", Namespace: ns},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}}},
		}, func(r *rbacv1.Role) {
			r.Rules = append(r.Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}})
		}, func(t *testing.T, r *rbacv1.Role) {
			if len(r.Rules) != 2 {
				t.Errorf("rules %+v, want 2", r.Rules)
			}
		}),
		cgCRUD("rolebindings", cs.RbacV1().RoleBindings(ns), &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "read-pods", Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "jane"}},
		}, func(r *rbacv1.RoleBinding) {
			r.Subjects = append(r.Subjects, rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "builder", Namespace: ns})
		}, func(t *testing.T, r *rbacv1.RoleBinding) {
			if len(r.Subjects) != 2 || r.RoleRef.Name != "pod-reader" {
				t.Errorf("subjects %+v roleRef %+v", r.Subjects, r.RoleRef)
			}
		}),
		cgCRUD("clusterroles", cs.RbacV1().ClusterRoles(), &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "crud:node-reader"},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list"}}},
		}, func(r *rbacv1.ClusterRole) {
			r.Rules = append(r.Rules, rbacv1.PolicyRule{NonResourceURLs: []string{"/healthz"}, Verbs: []string{"get"}})
		}, func(t *testing.T, r *rbacv1.ClusterRole) {
			if len(r.Rules) != 2 {
				t.Errorf("rules %+v, want 2", r.Rules)
			}
		}),
		cgCRUD("clusterrolebindings", cs.RbacV1().ClusterRoleBindings(), &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "crud:read-nodes"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "crud:node-reader"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "ops"}},
		}, func(r *rbacv1.ClusterRoleBinding) {
			r.Subjects = append(r.Subjects, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "jane"})
		}, func(t *testing.T, r *rbacv1.ClusterRoleBinding) {
			if len(r.Subjects) != 2 {
				t.Errorf("subjects %+v, want 2", r.Subjects)
			}
		}),
		cgCRUD("certificatesigningrequests", cs.CertificatesV1().CertificateSigningRequests(), cgCSR(t, "crud-jane"), nil,
			func(t *testing.T, c *certificatesv1.CertificateSigningRequest) {
				if c.Spec.SignerName != certificatesv1.KubeAPIServerClientSignerName || len(c.Spec.Request) == 0 {
					t.Errorf("csr spec %+v, want the signer and request", c.Spec)
				}
			}),
	}
	for _, c := range cases {
		t.Run(c.resource, c.run)
	}

	t.Run("namespaces", func(t *testing.T) {
		ctx := cgCtx(t)
		nsc := cs.CoreV1().Namespaces()
		created, err := nsc.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "crud-team-a"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if created.Status.Phase != corev1.NamespaceActive || created.UID == "" {
			t.Fatalf("created namespace phase %q uid %q, want Active and a uid", created.Status.Phase, created.UID)
		}
		if !slices.Equal(created.Spec.Finalizers, []corev1.FinalizerName{corev1.FinalizerKubernetes}) {
			t.Fatalf("created namespace spec.finalizers %v, want [kubernetes]", created.Spec.Finalizers)
		}
		got, err := nsc.Get(ctx, "crud-team-a", metav1.GetOptions{})
		if err != nil || got.UID != created.UID {
			t.Fatalf("get: %v (uid %v)", err, got.UID)
		}
		list, err := nsc.List(ctx, metav1.ListOptions{})
		if err != nil || !slices.Contains(cgNames(t, list), "crud-team-a") {
			t.Fatalf("list: %v %v", err, cgNames(t, list))
		}
		got.Labels = map[string]string{"team": "a"}
		upd, err := nsc.Update(ctx, got, metav1.UpdateOptions{})
		if err != nil || upd.Labels["team"] != "a" {
			t.Fatalf("update: %v %v", err, upd.Labels)
		}
		p, err := nsc.Patch(ctx, "crud-team-a", types.StrategicMergePatchType, []byte(`{"metadata":{"labels":{"tier":"dev"}}}`), metav1.PatchOptions{})
		if err != nil || p.Labels["tier"] != "dev" || p.Labels["team"] != "a" {
			t.Fatalf("patch: %v %v", err, p.Labels)
		}
		// Deleting a namespace makes it Terminating; it goes once its
		// finalizers are gone (the namespace controller's /finalize).
		if err := nsc.Delete(ctx, "crud-team-a", metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete: %v", err)
		}
		term, err := nsc.Get(ctx, "crud-team-a", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get after delete: %v", err)
		}
		if term.Status.Phase != corev1.NamespaceTerminating || term.DeletionTimestamp == nil {
			t.Fatalf("namespace after delete: phase %q deletionTimestamp %v, want Terminating with a deletionTimestamp", term.Status.Phase, term.DeletionTimestamp)
		}
		term.Spec.Finalizers = nil
		if _, err := nsc.Finalize(ctx, term, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("finalize: %v", err)
		}
		_, err = nsc.Get(ctx, "crud-team-a", metav1.GetOptions{})
		cgNotFound(t, err, "get after finalize")
	})
}

// TestClientGoSubresources writes status, binding, eviction, scale and
// approval through their client-go methods.
func TestClientGoSubresources(t *testing.T) {
	srv := apitest.Start(t)
	cs := srv.Client
	ns := cgNamespace(t, cs, "sub")

	t.Run("pods/status", func(t *testing.T) {
		ctx := cgCtx(t)
		pods := cs.CoreV1().Pods(ns)
		p, err := pods.Create(ctx, cgPod("status", nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Status.Phase != corev1.PodPending {
			t.Fatalf("new pod phase %q, want Pending", p.Status.Phase)
		}
		p.Status.Phase = corev1.PodRunning
		p.Status.PodIP = "10.244.1.9"
		p.Status.PodIPs = []corev1.PodIP{{IP: "10.244.1.9"}}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
		p.Labels = map[string]string{"sneaky": "label"}
		st, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("update status: %v", err)
		}
		if st.Status.Phase != corev1.PodRunning || st.Status.PodIP != "10.244.1.9" {
			t.Fatalf("status after UpdateStatus: %+v", st.Status)
		}
		if st.Labels["sneaky"] != "" {
			t.Fatalf("UpdateStatus changed labels to %v; status writes must change only status", st.Labels)
		}
		// The kubelet's way: a strategic merge patch of /status merges
		// conditions by type.
		st, err = pods.Patch(ctx, "status", types.StrategicMergePatchType,
			[]byte(`{"status":{"conditions":[{"type":"ContainersReady","status":"True"}],"containerStatuses":[{"name":"web","ready":true,"restartCount":0,"image":"busybox:1.36","imageID":"","state":{"running":{}}}]},"spec":{"activeDeadlineSeconds":5}}`),
			metav1.PatchOptions{}, "status")
		if err != nil {
			t.Fatalf("patch status: %v", err)
		}
		var condTypes []corev1.PodConditionType
		for _, c := range st.Status.Conditions {
			condTypes = append(condTypes, c.Type)
		}
		if !slices.Contains(condTypes, corev1.PodReady) || !slices.Contains(condTypes, corev1.ContainersReady) || len(st.Status.ContainerStatuses) != 1 {
			t.Fatalf("after status patch: conditions %v containerStatuses %d, want Ready and ContainersReady and one status", condTypes, len(st.Status.ContainerStatuses))
		}
		if st.Spec.ActiveDeadlineSeconds != nil {
			t.Fatalf("a status patch set spec.activeDeadlineSeconds")
		}
	})

	t.Run("pods/binding", func(t *testing.T) {
		ctx := cgCtx(t)
		pods := cs.CoreV1().Pods(ns)
		p, err := pods.Create(ctx, cgPod("bind-me", nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: p.Name, UID: p.UID}, Target: corev1.ObjectReference{Kind: "Node", Name: "node-1"}}
		if err := pods.Bind(ctx, b, metav1.CreateOptions{}); err != nil {
			t.Fatalf("bind: %v", err)
		}
		got, err := pods.Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Spec.NodeName != "node-1" {
			t.Fatalf("nodeName %q after binding, want node-1", got.Spec.NodeName)
		}
		scheduled := false
		for _, c := range got.Status.Conditions {
			scheduled = scheduled || c.Type == corev1.PodScheduled && c.Status == corev1.ConditionTrue
		}
		if !scheduled {
			t.Fatalf("conditions %+v, want PodScheduled=True", got.Status.Conditions)
		}
		b.Target.Name = "node-2"
		cgWantCode(t, pods.Bind(ctx, b, metav1.CreateOptions{}), 409, "second binding")
	})

	t.Run("pods/eviction", func(t *testing.T) {
		ctx := cgCtx(t)
		pods := cs.CoreV1().Pods(ns)
		if _, err := pods.Create(ctx, cgPod("evict-me", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "evict-me", Namespace: ns}}
		if err := pods.EvictV1(ctx, ev); err != nil {
			t.Fatalf("evict: %v", err)
		}
		_, err := pods.Get(ctx, "evict-me", metav1.GetOptions{})
		cgNotFound(t, err, "get of an evicted unbound pod")
		cgNotFound(t, pods.EvictV1(ctx, ev), "evict a missing pod")
		// A pod on a node is evicted gracefully: its kubelet stops it.
		bound := cgPod("evict-bound", nil)
		bound.Spec.NodeName = "node-1"
		if _, err := pods.Create(ctx, bound, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := pods.EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "evict-bound", Namespace: ns}}); err != nil {
			t.Fatalf("evict a bound pod: %v", err)
		}
		got, err := pods.Get(ctx, "evict-bound", metav1.GetOptions{})
		if err != nil || got.DeletionTimestamp == nil {
			t.Fatalf("evicted bound pod: %v, deletionTimestamp %v; want it kept and marked for deletion", err, got.DeletionTimestamp)
		}
		// A pod being deleted cannot be bound.
		err = pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "evict-bound"}, Target: corev1.ObjectReference{Kind: "Node", Name: "node-2"}}, metav1.CreateOptions{})
		cgWantCode(t, err, 409, "binding a pod being deleted")
	})

	t.Run("nodes/status", func(t *testing.T) {
		ctx := cgCtx(t)
		nodes := cs.CoreV1().Nodes()
		n, err := nodes.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "sub-node-1"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi"), corev1.ResourcePods: resource.MustParse("110")}
		n.Status.Allocatable = n.Status.Capacity
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.56.11"}, {Type: corev1.NodeHostName, Address: "sub-node-1"}}
		st, err := nodes.UpdateStatus(ctx, n, metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("update status: %v", err)
		}
		if c := st.Status.Capacity[corev1.ResourceCPU]; c.String() != "2" || len(st.Status.Conditions) != 1 {
			t.Fatalf("node status %+v", st.Status)
		}
		// A write to the main resource keeps the stored status.
		st.Status.Conditions = nil
		st.Spec.Unschedulable = true
		upd, err := nodes.Update(ctx, st, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(upd.Status.Conditions) != 1 || !upd.Spec.Unschedulable {
			t.Fatalf("after main update: conditions %v unschedulable %v; want the stored status kept and the spec changed", upd.Status.Conditions, upd.Spec.Unschedulable)
		}
	})

	t.Run("services/status", func(t *testing.T) {
		ctx := cgCtx(t)
		svcs := cs.CoreV1().Services(ns)
		s := cgService("lb")
		s.Spec.Type = corev1.ServiceTypeLoadBalancer
		s, err := svcs.Create(ctx, s, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.168.56.200"}}
		st, err := svcs.UpdateStatus(ctx, s, metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("update status: %v", err)
		}
		if len(st.Status.LoadBalancer.Ingress) != 1 || st.Status.LoadBalancer.Ingress[0].IP != "192.168.56.200" {
			t.Fatalf("service status %+v", st.Status)
		}
		if st.Spec.ClusterIP != s.Spec.ClusterIP || st.Spec.Ports[0].NodePort != s.Spec.Ports[0].NodePort {
			t.Fatalf("status write changed the spec: %+v", st.Spec)
		}
	})

	t.Run("workloads/status", func(t *testing.T) {
		ctx := cgCtx(t)
		d, err := cs.AppsV1().Deployments(ns).Create(ctx, cgDeployment("st-deploy", 2), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 2, UpdatedReplicas: 2}
		if d, err = cs.AppsV1().Deployments(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil || d.Status.ReadyReplicas != 2 {
			t.Fatalf("deployment status: %v %+v", err, d.Status)
		}
		r, err := cs.AppsV1().ReplicaSets(ns).Create(ctx, cgReplicaSet("st-rs", 2), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r.Status = appsv1.ReplicaSetStatus{Replicas: 2, ReadyReplicas: 1, AvailableReplicas: 1, FullyLabeledReplicas: 2, ObservedGeneration: 1}
		if r, err = cs.AppsV1().ReplicaSets(ns).UpdateStatus(ctx, r, metav1.UpdateOptions{}); err != nil || r.Status.ReadyReplicas != 1 {
			t.Fatalf("replicaset status: %v %+v", err, r.Status)
		}
		ss, err := cs.AppsV1().StatefulSets(ns).Create(ctx, cgStatefulSet("st-sts", 1), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ss.Status = appsv1.StatefulSetStatus{Replicas: 1, ReadyReplicas: 1, CurrentReplicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1, ObservedGeneration: 1}
		if ss, err = cs.AppsV1().StatefulSets(ns).UpdateStatus(ctx, ss, metav1.UpdateOptions{}); err != nil || ss.Status.ReadyReplicas != 1 {
			t.Fatalf("statefulset status: %v %+v", err, ss.Status)
		}
		ds, err := cs.AppsV1().DaemonSets(ns).Create(ctx, cgDaemonSet("st-ds"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ds.Status = appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 2, NumberAvailable: 2, UpdatedNumberScheduled: 3, ObservedGeneration: 1}
		if ds, err = cs.AppsV1().DaemonSets(ns).UpdateStatus(ctx, ds, metav1.UpdateOptions{}); err != nil || ds.Status.NumberReady != 2 {
			t.Fatalf("daemonset status: %v %+v", err, ds.Status)
		}
		j, err := cs.BatchV1().Jobs(ns).Create(ctx, cgJob("st-job"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		start := metav1.Now()
		j.Status = batchv1.JobStatus{Active: 1, StartTime: &start, Ready: cgPtr[int32](1), Terminating: cgPtr[int32](0)}
		if j, err = cs.BatchV1().Jobs(ns).UpdateStatus(ctx, j, metav1.UpdateOptions{}); err != nil || j.Status.Active != 1 {
			t.Fatalf("job status: %v %+v", err, j.Status)
		}
		cj, err := cs.BatchV1().CronJobs(ns).Create(ctx, cgCronJob("st-cj"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cj.Status.LastScheduleTime = &start
		if cj, err = cs.BatchV1().CronJobs(ns).UpdateStatus(ctx, cj, metav1.UpdateOptions{}); err != nil || cj.Status.LastScheduleTime == nil {
			t.Fatalf("cronjob status: %v %+v", err, cj.Status)
		}
	})

	t.Run("certificatesigningrequests/approval", func(t *testing.T) {
		ctx := cgCtx(t)
		csrs := cs.CertificatesV1().CertificateSigningRequests()
		c, err := csrs.Create(ctx, cgCSR(t, "sub-jane"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c.Status.Conditions = append(c.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue,
			Reason: "AdminApproved", Message: "approved by the test", LastUpdateTime: metav1.Now(),
		})
		approved, err := csrs.UpdateApproval(ctx, c.Name, c, metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("approve: %v", err)
		}
		if len(approved.Status.Conditions) != 1 || approved.Status.Conditions[0].Type != certificatesv1.CertificateApproved {
			t.Fatalf("conditions after approval: %+v", approved.Status.Conditions)
		}
		got, err := csrs.Get(ctx, c.Name, metav1.GetOptions{})
		if err != nil || len(got.Status.Conditions) != 1 {
			t.Fatalf("get after approval: %v %+v", err, got.Status)
		}
		// A write to the main resource cannot approve or un-approve.
		got.Status.Conditions = nil
		got.Labels = map[string]string{"seen": "yes"}
		upd, err := csrs.Update(ctx, got, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(upd.Status.Conditions) != 1 {
			t.Fatalf("main-resource update changed conditions to %+v", upd.Status.Conditions)
		}
	})
}

// TestClientGoEventsBothGroups checks that core/v1 and events.k8s.io/v1
// Events are one resource, as upstream: what client-go's event recorders
// write through either group is listed through the other.
func TestClientGoEventsBothGroups(t *testing.T) {
	srv := apitest.Start(t)
	cs := srv.Client
	ns := cgNamespace(t, cs, "events")
	ctx := cgCtx(t)
	p, err := cs.CoreV1().Pods(ns).Create(ctx, cgPod("web", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}

	// The events.k8s.io/v1 recorder (new controllers) → core/v1 readers
	// (kubectl get events, describe).
	b := events.NewBroadcaster(&events.EventSinkImpl{Interface: cs.EventsV1()})
	stop := make(chan struct{})
	defer close(stop)
	b.StartRecordingToSink(stop)
	defer b.Shutdown()
	b.NewRecorder(scheme, "skiff-test-controller").Eventf(p, nil, corev1.EventTypeWarning, "BackOff", "Restarting", "Back-off restarting failed container %s", "web")
	var core corev1.Event
	cgPoll(t, "events.k8s.io event listed as core/v1", func() (bool, error) {
		l, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=web,reason=BackOff"})
		if err != nil || len(l.Items) == 0 {
			return false, err
		}
		core = l.Items[0]
		return true, nil
	})
	if core.Message != "Back-off restarting failed container web" || core.Type != corev1.EventTypeWarning ||
		core.InvolvedObject.UID != p.UID || core.ReportingController != "skiff-test-controller" || core.Action != "Restarting" {
		t.Fatalf("core/v1 view of an events.k8s.io event: %+v", core)
	}
	ev, err := cs.EventsV1().Events(ns).Get(ctx, core.Name, metav1.GetOptions{})
	if err != nil || ev.Note != core.Message || ev.Regarding.Name != "web" || ev.ResourceVersion != core.ResourceVersion {
		t.Fatalf("events.k8s.io read back: %v %+v", err, ev)
	}

	// The core/v1 recorder (kubelet, older controllers) → events.k8s.io.
	rb := record.NewBroadcaster()
	rb.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cs.CoreV1().Events(ns)})
	defer rb.Shutdown()
	rb.NewRecorder(scheme, corev1.EventSource{Component: "kubelet", Host: "node-1"}).Event(p, corev1.EventTypeNormal, "Pulled", "Container image already present")
	cgPoll(t, "core/v1 event listed as events.k8s.io", func() (bool, error) {
		l, err := cs.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, e := range l.Items {
			if e.Reason == "Pulled" {
				if e.Note != "Container image already present" || e.Regarding.Name != "web" || e.DeprecatedSource.Component != "kubelet" {
					t.Fatalf("events.k8s.io view of a core/v1 event: %+v", e)
				}
				return true, nil
			}
		}
		return false, nil
	})
}

// TestControllerRevisionDataIsImmutable: the DaemonSet and StatefulSet
// history can be renumbered but its data never changes (422 naming data).
func TestControllerRevisionDataIsImmutable(t *testing.T) {
	srv := apitest.Start(t)
	ctx := cgCtx(t)
	revs := srv.Client.AppsV1().ControllerRevisions("default")
	cr, err := revs.Create(ctx, &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "db-1"},
		Data: runtime.RawExtension{Raw: []byte(`{"a":1}`)}, Revision: 1}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cr.Data = runtime.RawExtension{Raw: []byte(`{"a":2}`)}
	_, err = revs.Update(ctx, cr, metav1.UpdateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "data: Invalid value") {
		t.Errorf("changing data: %v, want 422 naming data", err)
	}
	_, err = revs.Create(ctx, &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "db-2"}, Revision: -1}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "revision") {
		t.Errorf("negative revision: %v, want 422 naming revision", err)
	}
}
