package proxy

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

func TestRender(t *testing.T) {
	base := Input{NodeName: "node-a", NodeIPs: []string{"192.168.1.10"}, ClusterCIDR: "10.244.0.0/16"}
	cases := []struct {
		name     string
		golden   string
		services []*corev1.Service
		slices   []*discoveryv1.EndpointSlice
		want     []string // lines the rendering must hold
		wantNot  []string // substrings it must not hold
	}{
		{
			name: "a service without endpoints is rejected in the filter table and has no nat chain", golden: "no-endpoints",
			services: []*corev1.Service{service("default", "web", "10.96.0.20")},
			want:     []string{`-A SKIFF-SERVICES -m comment --comment "default/web:http has no endpoints" -p tcp -m tcp -d 10.96.0.20 --dport 80 -j REJECT`},
			wantNot:  []string{"SKIFF-SVC-", "SKIFF-SEP-"},
		},
		{
			name: "a service with one endpoint DNATs to it without a statistic match", golden: "one-endpoint",
			services: []*corev1.Service{service("default", "web", "10.96.0.20")},
			slices:   []*discoveryv1.EndpointSlice{slice("default", "web", ready("10.244.1.5", "node-b"))},
			want:     []string{"-j DNAT --to-destination 10.244.1.5:8080", "! -s 10.244.0.0/16 -j SKIFF-MARK-MASQ", "-s 10.244.1.5 -j SKIFF-MARK-MASQ"},
			wantNot:  []string{"statistic", "REJECT"},
		},
		{
			name: "a service with three endpoints balances with probabilities one third and one half", golden: "three-endpoints",
			services: []*corev1.Service{service("default", "web", "10.96.0.20")},
			slices:   []*discoveryv1.EndpointSlice{slice("default", "web", ready("10.244.1.5", "node-b"), ready("10.244.1.6", "node-b"), ready("10.244.2.7", "node-a"))},
			want:     []string{"--probability 0.3333333333", "--probability 0.5000000000", "--to-destination 10.244.2.7:8080"},
		},
		{
			name: "a named port only takes the slice port of the same name", golden: "named-ports",
			services: []*corev1.Service{service("default", "web", "10.96.0.20", func(s *corev1.Service) {
				s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "metrics", Protocol: corev1.ProtocolTCP, Port: 9090})
			})},
			slices: []*discoveryv1.EndpointSlice{func() *discoveryv1.EndpointSlice {
				s := slice("default", "web", ready("10.244.1.5", "node-b"))
				s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: ptr("metrics"), Protocol: ptr(corev1.ProtocolTCP), Port: ptr(int32(9100))})
				return s
			}()},
			want: []string{"--to-destination 10.244.1.5:8080", "--to-destination 10.244.1.5:9100", `"default/web:metrics cluster IP"`},
		},
		{
			name: "a NodePort service is reached on the node's address through its EXT chain with masquerade", golden: "nodeport",
			services: []*corev1.Service{service("default", "web", "10.96.0.20", nodePort(30080), func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"203.0.113.9"} })},
			slices:   []*discoveryv1.EndpointSlice{slice("default", "web", ready("10.244.1.5", "node-b"))},
			want:     []string{"-d 192.168.1.10 -j SKIFF-NODEPORTS", "--dport 30080 -j SKIFF-EXT-", "-d 203.0.113.9 --dport 80 -j SKIFF-EXT-", "-j MASQUERADE --random-fully"},
		},
		{
			name: "a NodePort service without endpoints rejects its node port in the filter table", golden: "nodeport-no-endpoints",
			services: []*corev1.Service{service("default", "web", "10.96.0.20", nodePort(30080))},
			want:     []string{`-A SKIFF-EXTERNAL-SERVICES -m comment --comment "default/web:http has no endpoints" -m addrtype --dst-type LOCAL -p tcp -m tcp --dport 30080 -j REJECT`},
		},
		{
			name: "session affinity ClientIP checks recent lists with the service's timeout", golden: "affinity",
			services: []*corev1.Service{service("default", "web", "10.96.0.20", func(s *corev1.Service) {
				s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
				s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr(int32(600))}}
			})},
			slices: []*discoveryv1.EndpointSlice{slice("default", "web", ready("10.244.1.5", "node-b"), ready("10.244.1.6", "node-b"))},
			want:   []string{"--rcheck --seconds 600 --reap", "-m recent --set --name SKIFF-SEP-"},
		},
		{
			name: "internalTrafficPolicy Local only uses this node's endpoints", golden: "internal-local",
			services: []*corev1.Service{service("default", "web", "10.96.0.20", func(s *corev1.Service) {
				s.Spec.InternalTrafficPolicy = ptr(corev1.ServiceInternalTrafficPolicyLocal)
			})},
			slices:  []*discoveryv1.EndpointSlice{slice("default", "web", ready("10.244.1.5", "node-b"), ready("10.244.0.7", "node-a"))},
			want:    []string{"--to-destination 10.244.0.7:8080"},
			wantNot: []string{"10.244.1.5"},
		},
		{
			name: "externalTrafficPolicy Local sends node port traffic to local endpoints through an SVL chain", golden: "external-local",
			services: []*corev1.Service{service("default", "web", "10.96.0.20", nodePort(30080), func(s *corev1.Service) {
				s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
			})},
			slices: []*discoveryv1.EndpointSlice{slice("default", "web", ready("10.244.1.5", "node-b"), ready("10.244.0.7", "node-a"))},
			want:   []string{"-j SKIFF-SVL-", "-m addrtype --src-type LOCAL -j SKIFF-MARK-MASQ", "-s 10.244.0.0/16 -j SKIFF-SVC-"},
		},
		{
			name: "terminating endpoints are used only when no endpoint is ready", golden: "terminating",
			services: []*corev1.Service{service("default", "web", "10.96.0.20"), service("default", "api", "10.96.0.21")},
			slices: []*discoveryv1.EndpointSlice{
				slice("default", "web", ep{ip: "10.244.1.5", node: "node-b", serving: true, terminating: true}),
				slice("default", "api", ep{ip: "10.244.1.8", node: "node-b", serving: true, terminating: true}, ready("10.244.1.9", "node-b")),
			},
			want:    []string{"--to-destination 10.244.1.5:8080", "--to-destination 10.244.1.9:8080"},
			wantNot: []string{"10.244.1.8:8080", "REJECT"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := base
			in.Services, in.Slices = tc.services, tc.slices
			got := dump(Render(in))
			if again := dump(Render(in)); again != got {
				t.Fatal("two renderings of the same input differ")
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("rules lack %q:\n%s", w, got)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(got, w) {
					t.Errorf("rules hold %q:\n%s", w, got)
				}
			}
			path := filepath.Join("testdata", tc.golden+".rules")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("golden file: %v (run with -update)", err)
			}
			if got != string(want) {
				t.Errorf("rules differ from %s:\n%s", path, got)
			}
		})
	}
}

func TestChainNamesHashLikeUpstream(t *testing.T) {
	// Upstream: "KUBE-SVC-" + base32(sha256("ns/name:port" + "tcp"))[:16].
	if got, want := svcChain("default/kubernetes:https", "tcp"), "SKIFF-SVC-NPX46M4PTMTKRN6Y"; got != want {
		t.Errorf("svcChain = %s, want %s (upstream's KUBE-SVC-NPX46M4PTMTKRN6Y)", got, want)
	}
}

func TestRestoreDeltaWritesOnlyChangedChains(t *testing.T) {
	in := bigCluster(3, 2)
	prev := Render(in)
	if data, n := restoreDelta(&prev, prev); data != nil || n != 0 {
		t.Fatalf("unchanged rules give %d chains:\n%s", n, data)
	}
	in.Slices[1] = slice("bench", "svc-0001", ready("10.244.9.9", "node-b"))
	next := Render(in)
	data, _ := restoreDelta(&prev, next)
	s := string(data)
	if strings.Contains(s, svcChain("bench/svc-0000:http", "tcp")) || strings.Contains(s, "SKIFF-SERVICES") {
		t.Errorf("delta rewrites chains of unchanged services:\n%s", s)
	}
	if !strings.Contains(s, "--to-destination 10.244.9.9:8080") || countLines(s, "\n-X SKIFF-SEP-") != 2 {
		t.Errorf("delta does not replace svc-0001's endpoints (2 deleted SEP chains, 1 new):\n%s", s)
	}
}

func TestRendererCacheMatchesRender(t *testing.T) {
	in := bigCluster(20, 3)
	var r Renderer
	steps := []struct {
		name string
		mod  func()
	}{
		{"initial", func() {}},
		{"an endpoint changes", func() { in.Slices[3] = slice("bench", "svc-0003", ready("10.244.9.9", "node-b")) }},
		{"an endpoint turns unready in place", func() { in.Slices[4].Endpoints[0].Conditions.Ready = ptr(false) }},
		{"affinity set in place", func() { in.Services[5].Spec.SessionAffinity = corev1.ServiceAffinityClientIP }},
		{"a service becomes a NodePort", func() { in.Services[6] = service("bench", "svc-0006", "10.96.0.7", nodePort(30007)) }},
		{"the node name changes", func() { in.NodeName = "node-b" }},
		{"the cluster CIDR changes", func() { in.ClusterCIDR = "10.0.0.0/8" }},
		{"a service goes away", func() { in.Services = in.Services[1:] }},
	}
	for _, st := range steps {
		st.mod()
		if got, want := dump(r.Render(in)), dump(Render(in)); got != want {
			t.Errorf("%s: cached rendering differs from a fresh one:\n%s\nwant:\n%s", st.name, got, want)
		}
	}
	if len(r.cache) != 19 {
		t.Errorf("cache holds %d port renderings, want the 19 services' ports", len(r.cache))
	}
}

// TestRenderLargeClusterMode: as upstream, above 1,000 endpoints the
// per-endpoint rules (load-balancing jumps, SEP chains) lose their
// comments; the per-service rules keep theirs, and so does a smaller
// cluster.
func TestRenderLargeClusterMode(t *testing.T) {
	findChain := func(rs Ruleset, prefix string) Chain {
		for _, c := range rs.NAT {
			if strings.HasPrefix(c.Name, prefix) {
				return c
			}
		}
		t.Fatalf("no %s chain", prefix)
		return Chain{}
	}
	for _, tc := range []struct {
		services, endpoints int
		large               bool
	}{{100, 10, false}, {101, 10, true}} {
		rs := Render(bigCluster(tc.services, tc.endpoints))
		sep, svc := findChain(rs, prefixSEP), findChain(rs, prefixSVC)
		for _, r := range append(append([]string{}, sep.Rules...), svc.Rules[1:]...) {
			if got := strings.Contains(r, "-m comment"); got == tc.large {
				t.Errorf("%d endpoints: per-endpoint rule %q has a comment: %v", tc.services*tc.endpoints, r, got)
			}
		}
		if !strings.Contains(svc.Rules[0], "cluster IP\"") {
			t.Errorf("%d endpoints: the service's masquerade rule lost its comment: %q", tc.services*tc.endpoints, svc.Rules[0])
		}
	}
	// Crossing the threshold re-renders cached ports: a Renderer gives
	// what Render gives.
	var r Renderer
	r.Render(bigCluster(100, 10))
	if got, want := r.Render(bigCluster(101, 10)), Render(bigCluster(101, 10)); !slices.EqualFunc(got.NAT, want.NAT, func(a, b Chain) bool { return a.Name == b.Name && slices.Equal(a.Rules, b.Rules) }) {
		t.Error("a Renderer crossing into large-cluster mode kept commented renderings")
	}
}

// TestRenderTopologyHints: EndpointSlice hints (written for
// spec.trafficDistribution or topology-aware routing) narrow the Cluster
// policies' endpoints to this node's, else its zone's, as upstream's
// kube-proxy; hints that would leave nothing, or that some ready endpoint
// lacks, are ignored.
func TestRenderTopologyHints(t *testing.T) {
	z := func(zs ...string) []string { return zs }
	a1 := hinted("10.244.0.5", "node-a", z("zone-a"), nil)
	b1 := hinted("10.244.1.5", "node-b", z("zone-b"), nil)
	c1 := hinted("10.244.2.5", "node-c", z("zone-a"), nil)
	cases := []struct {
		name       string
		zone       string
		svc        *corev1.Service
		eps        []ep
		want, not  []string // endpoints expected and not expected as DNAT targets
		wantReject bool
	}{
		{name: "zone hints keep this zone's endpoints", zone: "zone-a", eps: []ep{a1, b1, c1},
			want: []string{"10.244.0.5", "10.244.2.5"}, not: []string{"10.244.1.5"}},
		{name: "zone hints for no endpoint of this zone are ignored", zone: "zone-c", eps: []ep{a1, b1, c1},
			want: []string{"10.244.0.5", "10.244.1.5", "10.244.2.5"}},
		{name: "a node without a zone label ignores zone hints", zone: "", eps: []ep{a1, b1},
			want: []string{"10.244.0.5", "10.244.1.5"}},
		{name: "one ready endpoint without hints voids them", zone: "zone-a", eps: []ep{a1, b1, ready("10.244.3.5", "node-d")},
			want: []string{"10.244.0.5", "10.244.1.5", "10.244.3.5"}},
		{name: "a not-ready endpoint without hints does not void them", zone: "zone-a",
			eps:  []ep{a1, b1, {ip: "10.244.3.5", node: "node-d"}},
			want: []string{"10.244.0.5"}, not: []string{"10.244.1.5", "10.244.3.5"}},
		{name: "node hints win over zone hints", zone: "zone-a",
			eps: []ep{
				hinted("10.244.0.5", "node-a", z("zone-a"), z("node-a")),
				hinted("10.244.2.5", "node-c", z("zone-a"), z("node-c")),
			},
			want: []string{"10.244.0.5"}, not: []string{"10.244.2.5"}},
		{name: "node hints for other nodes fall back to zone hints", zone: "zone-a",
			eps: []ep{
				hinted("10.244.1.5", "node-b", z("zone-b"), z("node-b")),
				hinted("10.244.2.5", "node-c", z("zone-a"), z("node-c")),
			},
			want: []string{"10.244.2.5"}, not: []string{"10.244.1.5"}},
		{name: "NodePort traffic (external policy Cluster) follows the hints too", zone: "zone-a",
			svc: service("default", "web", "10.96.0.20", nodePort(30080)), eps: []ep{a1, b1},
			want: []string{"10.244.0.5"}, not: []string{"10.244.1.5"}},
		{name: "internalTrafficPolicy Local ignores hints", zone: "zone-b",
			svc: service("default", "web", "10.96.0.20", func(s *corev1.Service) {
				s.Spec.InternalTrafficPolicy = ptr(corev1.ServiceInternalTrafficPolicyLocal)
			}), eps: []ep{a1, b1},
			want: []string{"10.244.0.5"}, not: []string{"10.244.1.5"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svc := tc.svc
			if svc == nil {
				svc = service("default", "web", "10.96.0.20")
			}
			in := Input{NodeName: "node-a", Zone: tc.zone, ClusterCIDR: "10.244.0.0/16",
				Services: []*corev1.Service{svc}, Slices: []*discoveryv1.EndpointSlice{slice("default", "web", tc.eps...)}}
			got := dump(Render(in))
			for _, ip := range tc.want {
				if !strings.Contains(got, "--to-destination "+ip+":8080") {
					t.Errorf("no DNAT to %s:\n%s", ip, got)
				}
			}
			for _, ip := range tc.not {
				if strings.Contains(got, ip) {
					t.Errorf("rules send traffic to %s:\n%s", ip, got)
				}
			}
		})
	}
	// A Renderer re-renders a cached port when the zone or a hint changes.
	var r Renderer
	in := Input{NodeName: "node-a", Zone: "zone-a", Services: []*corev1.Service{service("default", "web", "10.96.0.20")},
		Slices: []*discoveryv1.EndpointSlice{slice("default", "web", a1, b1)}}
	r.Render(in)
	in.Zone = "zone-b"
	if got := dump(r.Render(in)); strings.Contains(got, "10.244.0.5") || !strings.Contains(got, "10.244.1.5") {
		t.Errorf("after the zone changed to zone-b the cached rendering stayed:\n%s", got)
	}
	in.Slices = []*discoveryv1.EndpointSlice{slice("default", "web", a1, hinted("10.244.1.5", "node-b", z("zone-a"), nil))}
	if got := dump(r.Render(in)); !strings.Contains(got, "10.244.0.5") || !strings.Contains(got, "10.244.1.5") {
		t.Errorf("after the hints changed the cached rendering stayed:\n%s", got)
	}
}
