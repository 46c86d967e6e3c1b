package apiserver_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// statsAt is a CPU and memory sample of nanoCores and working-set bytes.
func statsAt(ts time.Time, nanoCores, workingSet uint64) (*statsv1alpha1.CPUStats, *statsv1alpha1.MemoryStats) {
	t := metav1.NewTime(ts)
	return &statsv1alpha1.CPUStats{Time: t, UsageNanoCores: &nanoCores}, &statsv1alpha1.MemoryStats{Time: t, WorkingSetBytes: &workingSet}
}

func containerStats(name string, ts time.Time, nanoCores, workingSet uint64) statsv1alpha1.ContainerStats {
	cpu, mem := statsAt(ts, nanoCores, workingSet)
	return statsv1alpha1.ContainerStats{Name: name, CPU: cpu, Memory: mem}
}

// metricsCluster is a kubeletCluster whose kubelet reports: the node at
// 1.5 cores and 2Gi; web/app 250m 100Mi; two/a 10m 20Mi, two/b 5m 10Mi;
// and a pod the API does not know. A second Ready node's kubelet is down.
func metricsCluster(t *testing.T) (*kubeletCluster, time.Time) {
	t.Helper()
	c := startKubeletCluster(t)
	ts := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	nodeCPU, nodeMem := statsAt(ts, 1_500_000_000, 2<<30)
	c.kubelet.setSummary(statsv1alpha1.Summary{
		Node: statsv1alpha1.NodeStats{NodeName: "node-1", CPU: nodeCPU, Memory: nodeMem},
		Pods: []statsv1alpha1.PodStats{
			{PodRef: statsv1alpha1.PodReference{Name: "web", Namespace: c.ns}, Containers: []statsv1alpha1.ContainerStats{
				containerStats("app", ts, 250_000_000, 100<<20)}},
			{PodRef: statsv1alpha1.PodReference{Name: "two", Namespace: c.ns}, Containers: []statsv1alpha1.ContainerStats{
				containerStats("a", ts, 10_000_000, 20<<20), containerStats("b", ts, 5_000_000, 10<<20)}},
			{PodRef: statsv1alpha1.PodReference{Name: "ghost", Namespace: c.ns}, Containers: []statsv1alpha1.ContainerStats{
				containerStats("x", ts, 1, 1)}},
		},
	})
	// A Ready node whose kubelet does not answer: left out.
	down := kubeletNode("node-down", c.kubelet)
	down.Status.DaemonEndpoints.KubeletEndpoint.Port = 1
	ctx := cgCtx(t)
	created, err := c.srv.Client.CoreV1().Nodes().Create(ctx, down, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status = down.Status
	if _, err := c.srv.Client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return c, ts
}

func TestMetricsAPIServesTheKubeletsNumbers(t *testing.T) {
	c, ts := metricsCluster(t)
	ctx := cgCtx(t)
	rc := c.srv.Client.CoreV1().RESTClient()
	get := func(path string, into any, params ...string) {
		t.Helper()
		req := rc.Get().AbsPath(path)
		for i := 0; i+1 < len(params); i += 2 {
			req = req.Param(params[i], params[i+1])
		}
		b, err := req.DoRaw(ctx)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, b)
		}
	}

	var nodes metricsv1beta1.NodeMetricsList
	get("/apis/metrics.k8s.io/v1beta1/nodes", &nodes)
	if len(nodes.Items) != 1 {
		t.Fatalf("node metrics = %+v, want node-1 only (node-down's kubelet is down)", nodes.Items)
	}
	n := nodes.Items[0]
	if n.Name != "node-1" || n.Usage.Cpu().String() != "1500m" || n.Usage.Memory().String() != "2Gi" ||
		!n.Timestamp.Time.Equal(ts) || n.Window.Duration != 10*time.Second || n.Labels["kubernetes.io/hostname"] != "node-1" {
		t.Errorf("node-1 metrics = %+v", n)
	}
	if u, subject := c.kubelet.lastRequest(t, "/stats/summary"); subject != "CN=kube-apiserver-kubelet-client,O=system:masters" {
		t.Errorf("kubelet saw %q asking %s", subject, u)
	}

	var pods metricsv1beta1.PodMetricsList
	get("/apis/metrics.k8s.io/v1beta1/namespaces/"+c.ns+"/pods", &pods)
	var got []string
	for _, p := range pods.Items {
		for _, ctr := range p.Containers {
			got = append(got, p.Name+"/"+ctr.Name+" "+ctr.Usage.Cpu().String()+" "+ctr.Usage.Memory().String())
		}
	}
	if strings.Join(got, ", ") != "two/a 10m 20Mi, two/b 5m 10Mi, web/app 250m 100Mi" {
		t.Errorf("pod metrics = %v (the ghost pod the API does not know must be left out)", got)
	}

	get("/apis/metrics.k8s.io/v1beta1/pods", &pods, "labelSelector", "app=web")
	if len(pods.Items) != 1 || pods.Items[0].Name != "web" || pods.Items[0].Labels["app"] != "web" {
		t.Errorf("pods with app=web = %+v", pods.Items)
	}
	get("/apis/metrics.k8s.io/v1beta1/pods", &pods, "fieldSelector", "metadata.name=two")
	if len(pods.Items) != 1 || pods.Items[0].Name != "two" {
		t.Errorf("pods with metadata.name=two = %+v", pods.Items)
	}
	var one metricsv1beta1.PodMetrics
	get("/apis/metrics.k8s.io/v1beta1/namespaces/"+c.ns+"/pods/web", &one)
	if one.Kind != "PodMetrics" || one.APIVersion != "metrics.k8s.io/v1beta1" || one.Name != "web" {
		t.Errorf("pod web metrics = %+v", one)
	}

	_, err := rc.Get().AbsPath("/apis/metrics.k8s.io/v1beta1/nodes/node-down").DoRaw(ctx)
	cgNotFound(t, err, "metrics of a node whose kubelet is down")
	_, err = rc.Get().AbsPath("/apis/metrics.k8s.io/v1beta1/nodes").Param("fieldSelector", "spec.unschedulable=true").DoRaw(ctx)
	cgWantCode(t, err, 400, "an unsupported field selector")
	for _, verb := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		path := "/apis/metrics.k8s.io/v1beta1/nodes/node-1"
		if verb == "POST" {
			path = "/apis/metrics.k8s.io/v1beta1/nodes"
		}
		err := rc.Verb(verb).AbsPath(path).Body([]byte(`{}`)).SetHeader("Content-Type", "application/merge-patch+json").Do(ctx).Error()
		cgWantCode(t, err, 405, verb+" on node metrics")
	}
}

func TestMetricsAreInDiscovery(t *testing.T) {
	c, _ := metricsCluster(t)
	d := c.srv.Client.Discovery()
	groups, err := d.ServerGroups()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range groups.Groups {
		if g.Name == "metrics.k8s.io" && g.PreferredVersion.Version == "v1beta1" {
			found = true
		}
	}
	if !found {
		t.Errorf("discovery groups %v lack metrics.k8s.io/v1beta1", groups.Groups)
	}
	l, err := d.ServerResourcesForGroupVersion("metrics.k8s.io/v1beta1")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range l.APIResources {
		got[r.Name] = r.Kind + " " + strings.Join(r.Verbs, ",")
		if r.Name == "pods" && !r.Namespaced || r.Name == "nodes" && r.Namespaced {
			t.Errorf("%s has namespaced=%v", r.Name, r.Namespaced)
		}
	}
	if got["nodes"] != "NodeMetrics get,list" || got["pods"] != "PodMetrics get,list" {
		t.Errorf("metrics resources = %v", got)
	}
}

func TestKubectlTop(t *testing.T) {
	c, _ := metricsCluster(t)
	kc := kcNew(t, c.srv)

	out := kc.ok(t, "top", "nodes")
	if h := kcHeader(out); h != "NAME   CPU(cores)   CPU(%)   MEMORY(bytes)   MEMORY(%)" {
		t.Errorf("kubectl top nodes header = %q\n%s", h, out)
	}
	if row := strings.Join(kcRow(t, out, "node-1"), " "); row != "node-1 1500m 37% 2048Mi 25%" {
		t.Errorf("kubectl top nodes row = %q\n%s", row, out)
	}
	// kubectl lists the nodes and shows those without metrics as unknown.
	if row := strings.Join(kcRow(t, out, "node-down"), " "); row != "node-down <unknown> <unknown> <unknown> <unknown>" {
		t.Errorf("kubectl top nodes row of the node whose kubelet is down = %q", row)
	}

	out = kc.ok(t, "top", "pods", "-n", c.ns, "--containers")
	for _, want := range []string{"web app 250m 100Mi", "two a 10m 20Mi", "two b 5m 10Mi"} {
		found := false
		for _, line := range strings.Split(out, "\n") {
			if strings.Join(kcCells(line), " ") == want {
				found = true
			}
		}
		if !found {
			t.Errorf("kubectl top pods --containers lacks %q:\n%s", want, out)
		}
	}

	out = kc.ok(t, "top", "pods", "-A", "--sort-by", "cpu")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || kcCells(lines[1])[1] != "web" || kcCells(lines[2])[1] != "two" || kcCells(lines[1])[0] != c.ns {
		t.Errorf("kubectl top pods -A --sort-by cpu:\n%s", out)
	}
	out = kc.ok(t, "top", "pods", "-n", c.ns, "--sort-by", "memory", "-l", "app in (web,two)")
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || kcCells(lines[1])[0] != "web" || strings.Join(kcCells(lines[2]), " ") != "two 15m 30Mi" {
		t.Errorf("kubectl top pods --sort-by memory -l:\n%s", out)
	}
	out = kc.ok(t, "top", "pods", "-n", c.ns, "-l", "app=two")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || kcCells(lines[1])[0] != "two" {
		t.Errorf("kubectl top pods -l app=two:\n%s", out)
	}

	raw := kc.ok(t, "get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes")
	var l metricsv1beta1.NodeMetricsList
	if err := json.Unmarshal([]byte(raw), &l); err != nil || len(l.Items) != 1 || l.Kind != "NodeMetricsList" {
		t.Errorf("kubectl get --raw nodes metrics = %s (%v)", raw, err)
	}
}
