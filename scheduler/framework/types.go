package framework

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
)

// AffinityTerm is a parsed pod (anti-)affinity term: the namespaces it
// names (the pod's own when it names none and has no namespace
// selector), its label selector, its topology key and its namespace
// selector (nil: none; labels.Everything() for an empty selector, which
// means all namespaces).
type AffinityTerm struct {
	Namespaces        sets.Set[string]
	Selector          labels.Selector
	TopologyKey       string
	NamespaceSelector labels.Selector
}

// Matches reports whether pod is selected by the term; nsLabels are the
// labels of pod's namespace (for the namespace selector).
func (t *AffinityTerm) Matches(pod *corev1.Pod, nsLabels labels.Set) bool {
	if t.Namespaces.Has(pod.Namespace) || (t.NamespaceSelector != nil && t.NamespaceSelector.Matches(nsLabels)) {
		return t.Selector.Matches(labels.Set(pod.Labels))
	}
	return false
}

// WeightedAffinityTerm is a preferred term with its weight.
type WeightedAffinityTerm struct {
	AffinityTerm
	Weight int32
}

// PodInfo is a pod with what the scheduler derives from its spec once:
// its requests and its parsed affinity terms.
type PodInfo struct {
	Pod *corev1.Pod
	// Requested is the pod's requests (PodRequests); NonZeroRequested the
	// same with the scoring defaults.
	Requested, NonZeroRequested Resource
	RequiredAffinityTerms       []AffinityTerm
	RequiredAntiAffinityTerms   []AffinityTerm
	PreferredAffinityTerms      []WeightedAffinityTerm
	PreferredAntiAffinityTerms  []WeightedAffinityTerm
}

// NewPodInfo parses pod. Invalid label selectors in affinity terms are an
// error (the API server validates them, so this is rare).
func NewPodInfo(pod *corev1.Pod) (*PodInfo, error) {
	pi := &PodInfo{Pod: pod}
	pi.Requested, pi.NonZeroRequested = podResource(pod)
	aff := pod.Spec.Affinity
	if aff == nil {
		return pi, nil
	}
	var err error
	if a := aff.PodAffinity; a != nil {
		if pi.RequiredAffinityTerms, err = parseTerms(pod, a.RequiredDuringSchedulingIgnoredDuringExecution); err != nil {
			return nil, err
		}
		if pi.PreferredAffinityTerms, err = parseWeighted(pod, a.PreferredDuringSchedulingIgnoredDuringExecution); err != nil {
			return nil, err
		}
	}
	if a := aff.PodAntiAffinity; a != nil {
		if pi.RequiredAntiAffinityTerms, err = parseTerms(pod, a.RequiredDuringSchedulingIgnoredDuringExecution); err != nil {
			return nil, err
		}
		if pi.PreferredAntiAffinityTerms, err = parseWeighted(pod, a.PreferredDuringSchedulingIgnoredDuringExecution); err != nil {
			return nil, err
		}
	}
	return pi, nil
}

// MustPodInfo is NewPodInfo for pods known to be valid (tests).
func MustPodInfo(pod *corev1.Pod) *PodInfo {
	pi, err := NewPodInfo(pod)
	if err != nil {
		panic(err)
	}
	return pi
}

func parseTerm(pod *corev1.Pod, t corev1.PodAffinityTerm) (AffinityTerm, error) {
	sel, err := metav1.LabelSelectorAsSelector(t.LabelSelector)
	if err != nil {
		return AffinityTerm{}, fmt.Errorf("pod %s/%s: affinity term label selector: %w", pod.Namespace, pod.Name, err)
	}
	// A term selects pods only through its label selector: a nil selector
	// selects nothing, as upstream.
	if t.LabelSelector == nil {
		sel = labels.Nothing()
	}
	out := AffinityTerm{Namespaces: sets.New(t.Namespaces...), Selector: sel, TopologyKey: t.TopologyKey}
	if t.NamespaceSelector != nil {
		if out.NamespaceSelector, err = metav1.LabelSelectorAsSelector(t.NamespaceSelector); err != nil {
			return AffinityTerm{}, fmt.Errorf("pod %s/%s: affinity term namespace selector: %w", pod.Namespace, pod.Name, err)
		}
	}
	if len(t.Namespaces) == 0 && t.NamespaceSelector == nil {
		out.Namespaces.Insert(pod.Namespace)
	}
	return out, nil
}

func parseTerms(pod *corev1.Pod, terms []corev1.PodAffinityTerm) ([]AffinityTerm, error) {
	var out []AffinityTerm
	for _, t := range terms {
		at, err := parseTerm(pod, t)
		if err != nil {
			return nil, err
		}
		out = append(out, at)
	}
	return out, nil
}

func parseWeighted(pod *corev1.Pod, terms []corev1.WeightedPodAffinityTerm) ([]WeightedAffinityTerm, error) {
	var out []WeightedAffinityTerm
	for _, t := range terms {
		at, err := parseTerm(pod, t.PodAffinityTerm)
		if err != nil {
			return nil, err
		}
		out = append(out, WeightedAffinityTerm{AffinityTerm: at, Weight: t.Weight})
	}
	return out, nil
}

// ProtocolPort is a host port and its protocol.
type ProtocolPort struct {
	Protocol string
	Port     int32
}

// HostPortInfo is the host ports in use on a node: IP → protocol/port.
// 0.0.0.0 conflicts with every IP of the same protocol and port.
type HostPortInfo map[string]map[ProtocolPort]struct{}

func normalizeHostPort(ip, protocol string) (string, string) {
	if ip == "" {
		ip = "0.0.0.0"
	}
	if protocol == "" {
		protocol = string(corev1.ProtocolTCP)
	}
	return ip, protocol
}

// Add marks ip:port/protocol used.
func (h HostPortInfo) Add(ip, protocol string, port int32) {
	if port <= 0 {
		return
	}
	ip, protocol = normalizeHostPort(ip, protocol)
	if h[ip] == nil {
		h[ip] = map[ProtocolPort]struct{}{}
	}
	h[ip][ProtocolPort{protocol, port}] = struct{}{}
}

// Remove unmarks ip:port/protocol.
func (h HostPortInfo) Remove(ip, protocol string, port int32) {
	if port <= 0 {
		return
	}
	ip, protocol = normalizeHostPort(ip, protocol)
	delete(h[ip], ProtocolPort{protocol, port})
	if len(h[ip]) == 0 {
		delete(h, ip)
	}
}

// CheckConflict reports whether ip:port/protocol clashes with a used port.
func (h HostPortInfo) CheckConflict(ip, protocol string, port int32) bool {
	if port <= 0 {
		return false
	}
	ip, protocol = normalizeHostPort(ip, protocol)
	pp := ProtocolPort{protocol, port}
	if ip == "0.0.0.0" {
		for _, m := range h {
			if _, ok := m[pp]; ok {
				return true
			}
		}
		return false
	}
	for _, key := range []string{ip, "0.0.0.0"} {
		if _, ok := h[key][pp]; ok {
			return true
		}
	}
	return false
}

// ImageStateSummary is an image on a node: its size and on how many
// nodes of the cluster it is (for ImageLocality's spread factor).
type ImageStateSummary struct {
	Size     int64
	NumNodes int
}

// NodeScore is one node's score from one plugin or in total.
type NodeScore struct {
	Name  string
	Score int64
}

// NodeScoreList is the scores of the nodes in one cycle.
type NodeScoreList []NodeScore

// Score bounds: plugins return scores in [MinNodeScore, MaxNodeScore]
// after NormalizeScore.
const (
	MinNodeScore int64 = 0
	MaxNodeScore int64 = 100
)

// NodeToStatusMap is the Filter status of each node that did not fit.
type NodeToStatusMap map[string]*Status

// PreFilterResult narrows the nodes the cycle considers (nil NodeNames:
// all nodes).
type PreFilterResult struct {
	NodeNames sets.Set[string]
}

// AllNodes reports whether the result keeps every node.
func (r *PreFilterResult) AllNodes() bool { return r == nil || r.NodeNames == nil }

// PostFilterResult is a PostFilter's (preemption's) outcome: the node the
// pod was nominated to, if any.
type PostFilterResult struct {
	NominatedNodeName string
}
