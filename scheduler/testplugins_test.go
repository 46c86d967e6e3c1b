package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/scheduler/framework"
)

// fitCPU is a test filter: the pod's cpu request must fit the node's
// allocatable cpu. It registers {Node, Add} and {Pod, Delete}.
type fitCPU struct{}

func (fitCPU) Name() string { return "TestFitCPU" }
func (fitCPU) Filter(_ context.Context, _ *framework.CycleState, pod *corev1.Pod, ni *framework.NodeInfo) *framework.Status {
	pi := framework.MustPodInfo(pod)
	if ni.Requested.MilliCPU+pi.Requested.MilliCPU > ni.Allocatable.MilliCPU {
		return framework.NewStatus(framework.Unschedulable, "Insufficient cpu")
	}
	return nil
}
func (fitCPU) EventsToRegister() []framework.ClusterEvent {
	return []framework.ClusterEvent{{Resource: framework.NodeResource, ActionType: framework.Add}, {Resource: framework.PodResource, ActionType: framework.Delete}}
}

// taintFilter rejects nodes with any NoSchedule taint, in upstream's words.
type taintFilter struct{}

func (taintFilter) Name() string { return "TestTaint" }
func (taintFilter) Filter(_ context.Context, _ *framework.CycleState, _ *corev1.Pod, ni *framework.NodeInfo) *framework.Status {
	for _, t := range ni.Node().Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf("node(s) had untolerated taint {%s: %s}", t.Key, t.Value))
		}
	}
	return nil
}

// leastPods scores nodes with fewer pods higher.
type leastPods struct{}

func (leastPods) Name() string { return "TestLeastPods" }
func (leastPods) Score(_ context.Context, _ *framework.CycleState, _ *corev1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	return max(0, 100-int64(len(ni.Pods))), nil
}
func (leastPods) ScoreExtensions() framework.ScoreExtensions { return nil }

func plugin(p framework.Plugin) framework.PluginFactory {
	return func(context.Context, []byte, framework.Handle) (framework.Plugin, error) { return p, nil }
}

func testRegistry() framework.Registry {
	return framework.Registry{
		"TestFitCPU": plugin(fitCPU{}), "TestTaint": plugin(taintFilter{}), "TestLeastPods": plugin(leastPods{}),
	}
}

// testConfig is a scheduler config with the test plugins.
func testConfig(client kubernetes.Interface) Config {
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("SKIFF_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	cfg, err := ParseConfig([]byte(`
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
  plugins:
    multiPoint:
      enabled:
      - name: TestFitCPU
      - name: TestTaint
      - name: TestLeastPods
`))
	if err != nil {
		panic(err)
	}
	return Config{Client: client, Registry: testRegistry(), Logger: logger, SchedulerConfig: cfg}
}

// startScheduler runs a scheduler until the test ends.
func startScheduler(t *testing.T, cfg Config) *Scheduler {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("scheduler did not stop")
		}
	})
	return s
}

func node(name, cpu string, taints ...corev1.Taint) *corev1.Node {
	alloc := corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("32Gi"),
		corev1.ResourcePods: resource.MustParse("110"),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{
			Capacity: alloc, Allocatable: alloc,
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
}

func pod(name, cpu string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "busybox",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}},
		}}},
	}
}

func createNode(t *testing.T, srv *apitest.Server, n *corev1.Node) {
	t.Helper()
	if _, err := srv.Client.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create node %s: %v", n.Name, err)
	}
}

func createPod(t *testing.T, srv *apitest.Server, p *corev1.Pod) {
	t.Helper()
	if _, err := srv.Client.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s: %v", p.Name, err)
	}
}

// waitFor polls the pod until cond holds or timeout passes.
func waitFor(t *testing.T, srv *apitest.Server, name string, timeout time.Duration, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last *corev1.Pod
	for time.Now().Before(deadline) {
		p, err := srv.Client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err == nil {
			last = p
			if cond(p) {
				return p
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("pod %s: %s did not happen within %v; last: nodeName=%q conditions=%+v", name, what, timeout, last.Spec.NodeName, last.Status.Conditions)
	return nil
}

func boundTo(nodeName string) func(*corev1.Pod) bool {
	return func(p *corev1.Pod) bool { return p.Spec.NodeName == nodeName }
}
