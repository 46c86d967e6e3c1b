package apiserver_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/skiffk8s/skiff/apiserver"
	"github.com/skiffk8s/skiff/apiserver/apitest"
)

// adminHTTP returns an HTTP client with the admin's TLS credentials.
func adminHTTP(t *testing.T, srv *apitest.Server) *http.Client {
	t.Helper()
	tr, err := rest.TransportFor(srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func TestDiscoveryAggregatedAndLegacyAgree(t *testing.T) {
	srv := apitest.Start(t)
	// client-go asks for aggregated discovery (apidiscovery.k8s.io/v2) first.
	dc, err := discovery.NewDiscoveryClientForConfig(srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	groups, resources, err := dc.ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, g := range groups {
		names[g.Name] = true
	}
	for _, g := range []string{"", "apps", "batch", "events.k8s.io", "coordination.k8s.io", "discovery.k8s.io", "scheduling.k8s.io", "rbac.authorization.k8s.io", "certificates.k8s.io"} {
		if !names[g] {
			t.Errorf("group %q missing from discovery", g)
		}
	}
	found := map[string]metav1.APIResource{}
	for _, l := range resources {
		for _, r := range l.APIResources {
			found[l.GroupVersion+"/"+r.Name] = r
		}
	}
	for _, want := range []string{"v1/pods", "v1/pods/status", "v1/pods/binding", "v1/pods/eviction", "apps/v1/deployments/scale", "v1/namespaces/finalize", "certificates.k8s.io/v1/certificatesigningrequests/approval", "v1/serviceaccounts/token"} {
		if _, ok := found[want]; !ok {
			t.Errorf("discovery lacks %s", want)
		}
	}
	if d := found["apps/v1/deployments"]; !d.Namespaced || len(d.ShortNames) == 0 || d.ShortNames[0] != "deploy" || len(d.Verbs) != 8 {
		t.Errorf("deployments in discovery: %+v", d)
	}

	// The legacy documents answer plain JSON clients with the same content.
	hc := adminHTTP(t, srv)
	resp, err := hc.Get(srv.URL + "/apis/apps/v1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l metav1.APIResourceList
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		t.Fatal(err)
	}
	if l.Kind != "APIResourceList" || l.GroupVersion != "apps/v1" || len(l.APIResources) < 4 {
		t.Errorf("/apis/apps/v1 = %s %s with %d resources", l.Kind, l.GroupVersion, len(l.APIResources))
	}
	req, _ := http.NewRequest("GET", srv.URL+"/apis", nil)
	req.Header.Set("Accept", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json")
	resp2, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if ct := resp2.Header.Get("Content-Type"); !strings.Contains(ct, "as=APIGroupDiscoveryList") {
		t.Errorf("aggregated discovery content type %q", ct)
	}
}

func TestVersionHealthAndMetrics(t *testing.T) {
	srv := apitest.Start(t)
	hc := adminHTTP(t, srv)
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := hc.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/version")
	var v version.Info
	if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil || v.Major != "1" || !strings.HasPrefix(v.GitVersion, "v1.") {
		t.Errorf("/version = %d %s", code, body)
	}
	for _, p := range []string{"/healthz", "/livez", "/readyz"} {
		if code, body := get(p); code != 200 || body != "ok" {
			t.Errorf("%s = %d %q", p, code, body)
		}
	}
	if _, err := srv.Client.CoreV1().Namespaces().List(t.Context(), metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	_, metrics := get("/metrics")
	for _, want := range []string{
		`apiserver_request_total{code="200",group="",resource="namespaces",subresource="",verb="LIST",version="v1"}`,
		`apiserver_request_duration_seconds_bucket{group="",resource="namespaces",subresource="",verb="LIST",version="v1",le="`,
		"go_goroutines",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestTooManyMutatingRequestsGet429WithRetryAfter(t *testing.T) {
	srv := apitest.Start(t, apitest.WithConfig(func(c *apiserver.Config) { c.MaxMutatingRequestsInFlight = 1 }))
	hc := adminHTTP(t, srv)
	// Hold the only mutating slot with a request whose body is still coming.
	pr, pw := io.Pipe()
	held := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("POST", srv.URL+"/api/v1/namespaces/default/configmaps", pr)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			held <- 0
			return
		}
		resp.Body.Close()
		held <- resp.StatusCode
	}()
	if _, err := pw.Write([]byte(`{"apiVersion":"v1","kind":"ConfigMap",`)); err != nil {
		t.Fatal(err)
	}
	// Wait until the server reports the held request in flight (reads
	// have their own slots), then a second write must be refused.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := hc.Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), `apiserver_current_inflight_requests{request_kind="mutating"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the held request never took the mutating slot")
		}
		time.Sleep(10 * time.Millisecond)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/namespaces/default/configmaps",
		bytes.NewReader([]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"second"}}`)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	code, retryAfter := resp.StatusCode, resp.Header.Get("Retry-After")
	if code != http.StatusTooManyRequests || retryAfter == "" {
		t.Fatalf("second mutating request: %d (Retry-After %q), want 429 with Retry-After", code, retryAfter)
	}
	// Reads have their own slots and still work.
	if _, err := srv.Client.CoreV1().ConfigMaps("default").List(t.Context(), metav1.ListOptions{}); err != nil {
		t.Errorf("a read while writes are saturated: %v", err)
	}
	if _, err := pw.Write([]byte(`"metadata":{"name":"first"}}`)); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if c := <-held; c != http.StatusCreated {
		t.Errorf("the held request finished with %d, want 201", c)
	}
	if _, err := srv.Client.CoreV1().ConfigMaps("default").Get(t.Context(), "second", metav1.GetOptions{}); err == nil {
		t.Error("the refused request was written")
	}
}

func TestEventsAreOneResourceInTwoGroups(t *testing.T) {
	srv := apitest.Start(t)
	ctx := t.Context()
	now := metav1.NowMicro()
	ev := &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: "e1", Namespace: "default"},
		EventTime:           now,
		ReportingController: "skiff.dev/test",
		ReportingInstance:   "test-1",
		Action:              "Testing",
		Reason:              "Tested",
		Regarding:           corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "p1"},
		Note:                "written through events.k8s.io",
		Type:                corev1.EventTypeNormal,
	}
	if _, err := srv.Client.EventsV1().Events("default").Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	core, err := srv.Client.CoreV1().Events("default").Get(ctx, "e1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if core.Message != ev.Note || core.InvolvedObject.Name != "p1" || core.ReportingController != "skiff.dev/test" || core.Reason != "Tested" {
		t.Errorf("core view of the event: %+v", core)
	}
	sel, err := srv.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=p1"})
	if err != nil || len(sel.Items) != 1 {
		t.Errorf("core list by involvedObject.name: %v %v", err, sel)
	}
	core.Message = "updated through core/v1"
	if _, err := srv.Client.CoreV1().Events("default").Update(ctx, core, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	back, err := srv.Client.EventsV1().Events("default").Get(ctx, "e1", metav1.GetOptions{})
	if err != nil || back.Note != "updated through core/v1" || back.Regarding.Name != "p1" {
		t.Errorf("events.k8s.io view after a core update: %v %+v", err, back)
	}
}

func TestEvictionObeysThePodDisruptionBudget(t *testing.T) {
	srv := apitest.Start(t)
	ctx := t.Context()
	cs := srv.Client
	runningPod := func(name string) {
		t.Helper()
		p, err := cs.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		if _, err := cs.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	runningPod("web-1")
	runningPod("web-2")
	one := intstr.FromInt32(1)
	pdb, err := cs.PolicyV1().PodDisruptionBudgets("default").Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	evict := func(name string) error {
		return cs.PolicyV1().Evictions("default").Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}})
	}
	// The disruption controller has not looked at the budget yet.
	if err := evict("web-1"); !apierrors.IsTooManyRequests(err) {
		t.Fatalf("eviction under an unprocessed budget: %v, want 429", err)
	}
	pdb.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: pdb.Generation, DisruptionsAllowed: 1, CurrentHealthy: 2, DesiredHealthy: 1, ExpectedPods: 2}
	if _, err := cs.PolicyV1().PodDisruptionBudgets("default").UpdateStatus(ctx, pdb, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := evict("web-1"); err != nil {
		t.Fatalf("eviction the budget allows: %v", err)
	}
	after, err := cs.PolicyV1().PodDisruptionBudgets("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil || after.Status.DisruptionsAllowed != 0 || after.Status.DisruptedPods["web-1"].Time.IsZero() {
		t.Fatalf("budget after one eviction: %v %+v", err, after.Status)
	}
	err = evict("web-2")
	var st apierrors.APIStatus
	if !errors.As(err, &st) || st.Status().Code != http.StatusTooManyRequests || st.Status().Details == nil ||
		len(st.Status().Details.Causes) != 1 || st.Status().Details.Causes[0].Type != policyv1.DisruptionBudgetCause {
		t.Fatalf("eviction past the budget: %v, want 429 with a DisruptionBudget cause", err)
	}
	if _, err := cs.CoreV1().Pods("default").Get(ctx, "web-2", metav1.GetOptions{}); err != nil {
		t.Errorf("the refused eviction touched web-2: %v", err)
	}
}

func TestServiceAccountTokensAuthenticateWhileTheirObjectsExist(t *testing.T) {
	srv := apitest.Start(t)
	ctx := t.Context()
	cs := srv.Client
	sa, err := cs.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod, err := cs.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec:       corev1.PodSpec{ServiceAccountName: "robot", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	request := func(bound *authenticationv1.BoundObjectReference) string {
		t.Helper()
		tr, err := cs.CoreV1().ServiceAccounts("default").CreateToken(ctx, "robot", &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{BoundObjectRef: bound}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if tr.Status.Token == "" || tr.Status.ExpirationTimestamp.Time.Before(time.Now().Add(50*time.Minute)) {
			t.Fatalf("token request answered %+v", tr.Status)
		}
		return tr.Status.Token
	}
	// as returns the HTTP code of a pod list with the bearer token.
	as := func(token string) int {
		t.Helper()
		cfg := rest.AnonymousClientConfig(srv.Config)
		cfg.BearerToken = token
		c, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		var st apierrors.APIStatus
		if errors.As(err, &st) {
			return int(st.Status().Code)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 200
	}
	plain := request(nil)
	bound := request(&authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "p", UID: pod.UID})
	if c := as(plain); c != 200 {
		t.Errorf("service-account token: %d, want 200", c)
	}
	if c := as(bound); c != 200 {
		t.Errorf("pod-bound token: %d, want 200", c)
	}
	if c := as(plain[:len(plain)-4] + "abcd"); c != 401 {
		t.Errorf("a token with a forged signature: %d, want 401", c)
	}
	if err := cs.CoreV1().Pods("default").Delete(ctx, "p", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The check reads the watch cache, which sees a delete within moments.
	eventually401 := func(what, token string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for as(token) != 401 {
			if time.Now().After(deadline) {
				t.Fatalf("%s still authenticates after 10 s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	eventually401("a token bound to a deleted pod", bound)
	short := int64(60)
	_, err = cs.CoreV1().ServiceAccounts("default").CreateToken(ctx, "robot", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &short}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Errorf("a 60 s token: %v, want 422", err)
	}
	if err := cs.CoreV1().ServiceAccounts("default").Delete(ctx, sa.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually401("the token of a deleted service account", plain)
}
