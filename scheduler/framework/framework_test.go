package framework

import (
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func container(name, cpu, mem string) corev1.Container {
	c := corev1.Container{Name: name, Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{}}}
	if cpu != "" {
		c.Resources.Requests[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		c.Resources.Requests[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	return c
}

func sidecar(c corev1.Container) corev1.Container {
	always := corev1.ContainerRestartPolicyAlways
	c.RestartPolicy = &always
	return c
}

func pod(uid string, containers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: uid, Namespace: "default", UID: types.UID(uid)},
		Spec: corev1.PodSpec{Containers: containers}}
}

func TestPodRequests(t *testing.T) {
	for _, tt := range []struct {
		name          string
		pod           *corev1.Pod
		wantCPU       int64 // millicores
		wantMem       int64 // MiB
		nonZeroCPU    int64
		nonZeroMemMiB int64
	}{
		{
			name:    "containers' requests add up",
			pod:     pod("a", container("a", "100m", "64Mi"), container("b", "200m", "32Mi")),
			wantCPU: 300, wantMem: 96, nonZeroCPU: 300, nonZeroMemMiB: 96,
		},
		{
			name: "a larger init container sets the request",
			pod: func() *corev1.Pod {
				p := pod("b", container("app", "100m", "64Mi"))
				p.Spec.InitContainers = []corev1.Container{container("init", "500m", "16Mi")}
				return p
			}(),
			wantCPU: 500, wantMem: 64, nonZeroCPU: 500, nonZeroMemMiB: 64,
		},
		{
			name: "a sidecar adds to the containers and to later init containers",
			pod: func() *corev1.Pod {
				p := pod("c", container("app", "100m", "64Mi"))
				p.Spec.InitContainers = []corev1.Container{sidecar(container("proxy", "50m", "8Mi")), container("init", "500m", "16Mi")}
				return p
			}(),
			wantCPU: 550, wantMem: 72, nonZeroCPU: 550, nonZeroMemMiB: 72,
		},
		{
			name: "overhead is added",
			pod: func() *corev1.Pod {
				p := pod("d", container("app", "100m", "64Mi"))
				p.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}
				return p
			}(),
			wantCPU: 350, wantMem: 64, nonZeroCPU: 350, nonZeroMemMiB: 64,
		},
		{
			name:    "containers without requests count the defaults only for scoring",
			pod:     pod("e", container("a", "", ""), container("b", "", "")),
			wantCPU: 0, wantMem: 0, nonZeroCPU: 200, nonZeroMemMiB: 400,
		},
		{
			name:    "an explicit zero request stays zero for scoring",
			pod:     pod("f", container("a", "0", "0")),
			wantCPU: 0, wantMem: 0, nonZeroCPU: 0, nonZeroMemMiB: 0,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pi := MustPodInfo(tt.pod)
			if pi.Requested.MilliCPU != tt.wantCPU || pi.Requested.Memory != tt.wantMem<<20 {
				t.Errorf("requested %dm cpu %d bytes, want %dm %dMi", pi.Requested.MilliCPU, pi.Requested.Memory, tt.wantCPU, tt.wantMem)
			}
			if pi.NonZeroRequested.MilliCPU != tt.nonZeroCPU || pi.NonZeroRequested.Memory != tt.nonZeroMemMiB<<20 {
				t.Errorf("non-zero %dm cpu %d bytes, want %dm %dMi", pi.NonZeroRequested.MilliCPU, pi.NonZeroRequested.Memory, tt.nonZeroCPU, tt.nonZeroMemMiB)
			}
		})
	}
}

func TestNodeInfoAddsAndRemovesPods(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")}}}
	web := pod("web", container("app", "500m", "1Gi"))
	web.Spec.Containers[0].Ports = []corev1.ContainerPort{{HostPort: 8080, ContainerPort: 80}}
	withSidecar := pod("mesh", container("app", "100m", "128Mi"))
	withSidecar.Spec.InitContainers = []corev1.Container{sidecar(container("proxy", "50m", "32Mi"))}
	withSidecar.Spec.InitContainers[0].Ports = []corev1.ContainerPort{{HostPort: 15000, Protocol: corev1.ProtocolUDP}}
	anti := pod("anti", container("app", "", ""))
	anti.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{
		{LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}, TopologyKey: "kubernetes.io/hostname"}}}}

	ni := NewNodeInfo()
	ni.SetNode(node)
	ni.AddPod(web)
	ni.AddPod(withSidecar)
	ni.AddPod(anti)
	if ni.Allocatable.MilliCPU != 4000 || ni.Allocatable.AllowedPodNumber != 110 {
		t.Errorf("allocatable %+v", ni.Allocatable)
	}
	if ni.Requested.MilliCPU != 650 || ni.Requested.Memory != (1024+160)<<20 || len(ni.Pods) != 3 {
		t.Errorf("requested %dm %d bytes with %d pods, want 650m 1184Mi 3 pods", ni.Requested.MilliCPU, ni.Requested.Memory, len(ni.Pods))
	}
	if !ni.UsedPorts.CheckConflict("", "TCP", 8080) || !ni.UsedPorts.CheckConflict("10.0.0.1", "UDP", 15000) {
		t.Errorf("used ports %v lack the container's 8080/TCP or the sidecar's 15000/UDP", ni.UsedPorts)
	}
	if len(ni.PodsWithAffinity) != 1 || len(ni.PodsWithRequiredAntiAffinity) != 1 {
		t.Errorf("affinity pods %d, required anti-affinity pods %d, want 1 and 1", len(ni.PodsWithAffinity), len(ni.PodsWithRequiredAntiAffinity))
	}

	clone := ni.Clone()
	gen := ni.Generation
	if !ni.RemovePod(web) || ni.RemovePod(web) {
		t.Errorf("removing web: want true once, then false")
	}
	if ni.Requested.MilliCPU != 150 || ni.UsedPorts.CheckConflict("", "TCP", 8080) || ni.Generation <= gen {
		t.Errorf("after removing web: %dm requested, 8080 still used %v, generation %d (was %d)",
			ni.Requested.MilliCPU, ni.UsedPorts.CheckConflict("", "TCP", 8080), ni.Generation, gen)
	}
	if clone.Requested.MilliCPU != 650 || len(clone.Pods) != 3 || !clone.UsedPorts.CheckConflict("", "TCP", 8080) {
		t.Errorf("the clone changed with the original: %dm, %d pods", clone.Requested.MilliCPU, len(clone.Pods))
	}
	ni.RemovePod(anti)
	if len(ni.PodsWithAffinity) != 0 || len(ni.PodsWithRequiredAntiAffinity) != 0 {
		t.Errorf("affinity lists keep a removed pod")
	}
}

func TestHostPortConflicts(t *testing.T) {
	used := HostPortInfo{}
	used.Add("127.0.0.1", "TCP", 80)
	used.Add("", "", 443) // 0.0.0.0/TCP
	for _, tt := range []struct {
		name     string
		ip, prot string
		port     int32
		want     bool
	}{
		{"the same IP and port conflict", "127.0.0.1", "TCP", 80, true},
		{"another IP on a specific-IP port does not conflict", "10.0.0.1", "TCP", 80, false},
		{"0.0.0.0 conflicts with a port held on any IP", "0.0.0.0", "TCP", 80, true},
		{"any IP conflicts with a port held on 0.0.0.0", "10.0.0.1", "TCP", 443, true},
		{"another protocol does not conflict", "127.0.0.1", "UDP", 80, false},
		{"port 0 never conflicts", "", "TCP", 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := used.CheckConflict(tt.ip, tt.prot, tt.port); got != tt.want {
				t.Errorf("CheckConflict(%q, %q, %d) = %v, want %v", tt.ip, tt.prot, tt.port, got, tt.want)
			}
		})
	}
}

type counter struct{ n int }

func (c *counter) Clone() StateData { return &counter{c.n} }

func TestStatusAndCycleState(t *testing.T) {
	var ok *Status
	if !ok.IsSuccess() || ok.AsError() != nil || ok.Code() != Success {
		t.Errorf("a nil status is not Success")
	}
	s := NewStatus(Unschedulable, "Insufficient cpu", "Too many pods").WithPlugin("NodeResourcesFit")
	if !s.IsRejected() || s.Message() != "Insufficient cpu, Too many pods" || s.Plugin() != "NodeResourcesFit" || s.AsError() == nil {
		t.Errorf("status %v plugin %q", s, s.Plugin())
	}
	boom := errors.New("boom")
	if e := AsStatus(boom); e.Code() != Error || !errors.Is(e.AsError(), boom) || e.IsRejected() {
		t.Errorf("AsStatus: %v", e)
	}

	cs := NewCycleState()
	cs.Write("k", &counter{1})
	clone := cs.Clone()
	v, _ := cs.Read("k")
	v.(*counter).n = 5
	cv, err := clone.Read("k")
	if err != nil || cv.(*counter).n != 1 {
		t.Errorf("clone shares data with the original: %v %v", cv, err)
	}
	if _, err := cs.Read("missing"); err == nil {
		t.Errorf("reading a missing key gave no error")
	}
}

func TestSnapshotListsNodesAndAffinityHolders(t *testing.T) {
	n1 := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	n2 := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}}
	withAff := pod("aff", container("a", "", ""))
	withAff.Spec.NodeName = "n2"
	withAff.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{
		{Weight: 1, PodAffinityTerm: corev1.PodAffinityTerm{LabelSelector: &metav1.LabelSelector{}, TopologyKey: "zone"}}}}}
	elsewhere := pod("lost", container("a", "", ""))
	elsewhere.Spec.NodeName = "gone"
	s := NewSnapshot([]*corev1.Node{n1, n2}, []*corev1.Pod{withAff, elsewhere})
	all, _ := s.NodeInfos().List()
	aff, _ := s.NodeInfos().HavePodsWithAffinityList()
	if len(all) != 2 || len(aff) != 1 || aff[0].Node().Name != "n2" {
		t.Errorf("nodes %d, with affinity %d", len(all), len(aff))
	}
	if _, err := s.NodeInfos().Get("gone"); err == nil {
		t.Errorf("Get of a node not in the snapshot gave no error")
	}
}
