package endpointslice

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	"github.com/skiffk8s/skiff/controllers/internal/endpointsutil"
)

var everything = labels.Everything()

// sync reconciles the slices of the Service named by key. A deleted
// Service's slices go with it through their owner reference (the garbage
// collector), as upstream. Pods on a node the informer does not know are
// left out and the Service is retried.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !endpointsutil.Managed(svc) {
		return nil
	}
	pods, err := endpointsutil.SelectedPods(c.pods, svc)
	if err != nil {
		return err
	}
	existing, err := c.slices.EndpointSlices(ns).List(labels.SelectorFromSet(labels.Set{
		discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: ControllerName}))
	if err != nil {
		return err
	}
	nodes := map[string]*corev1.Node{}
	var missing []string
	for _, p := range pods {
		if p.Spec.NodeName == "" || nodes[p.Spec.NodeName] != nil {
			continue
		}
		n, err := c.nodes.Get(p.Spec.NodeName)
		if err != nil {
			if !apierrors.IsNotFound(err) {
				return err
			}
			missing = append(missing, p.Spec.NodeName)
			continue
		}
		nodes[n.Name] = n
	}
	plan := Reconcile(svc, pods, nodes, existing, c.maxPerSlice, endpointsutil.TriggerTime(svc, pods))
	if err := c.apply(ctx, svc, plan); err != nil {
		c.recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToUpdateEndpointSlices", "Error updating Endpoint Slices for Service %s/%s: %v", ns, name, err)
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("skipping pods of service %s: nodes %v not found", key, missing)
	}
	return nil
}

// apply carries plan out: creates, then updates, then deletes.
func (c *Controller) apply(ctx context.Context, svc *corev1.Service, plan Plan) error {
	api := c.client.DiscoveryV1().EndpointSlices(svc.Namespace)
	var errs []error
	for _, s := range plan.Create {
		if _, err := api.Create(ctx, s, metav1.CreateOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("create endpointslice: %w", err))
		}
	}
	for _, s := range plan.Update {
		if _, err := api.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("update endpointslice %s: %w", s.Name, err))
		}
	}
	for _, s := range plan.Delete {
		if err := api.Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete endpointslice %s: %w", s.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Plan is what Reconcile decided: slices to create (with generateName),
// to update (copies of existing ones) and to delete.
type Plan struct {
	Create, Update, Delete []*discoveryv1.EndpointSlice
}

// Reconcile computes the slice changes that bring existing in line with
// svc's pods: per address type and per distinct port set, endpoints that
// stay in place keep their slice, changed ones are updated where they
// are, new ones fill slices being updated first, then one unchanged slice
// with room for all of them, then new slices of at most maxPer; emptied
// slices are deleted (their names reused for new ones). A Service with no
// endpoints keeps one placeholder slice without endpoints and ports.
// nodes holds the pods' nodes; pods on other nodes are left out.
func Reconcile(svc *corev1.Service, pods []*corev1.Pod, nodes map[string]*corev1.Node, existing []*discoveryv1.EndpointSlice, maxPer int, trigger time.Time) Plan {
	var plan Plan
	families := svc.Spec.IPFamilies
	if len(families) == 0 {
		families = []corev1.IPFamily{endpointsutil.ServiceFamily(svc)}
	}
	want := map[discoveryv1.AddressType]bool{}
	for _, f := range families {
		want[discoveryv1.AddressType(f)] = true
	}
	byType := map[discoveryv1.AddressType][]*discoveryv1.EndpointSlice{}
	for _, s := range sortedByName(existing) {
		if !want[s.AddressType] || !ownedBy(s, svc) {
			plan.Delete = append(plan.Delete, s)
			continue
		}
		byType[s.AddressType] = append(byType[s.AddressType], s)
	}
	meta := sliceMeta(svc, trigger)
	for _, f := range families {
		at := discoveryv1.AddressType(f)
		desired := desiredEndpoints(svc, pods, nodes, f)
		r := reconciler{meta: meta, at: at, maxPer: maxPer, svc: svc}
		r.run(byType[at], desired)
		plan.Create = append(plan.Create, r.create...)
		plan.Update = append(plan.Update, r.update...)
		plan.Delete = append(plan.Delete, r.del...)
	}
	return plan
}

// portSet is the endpoints that answer on one set of ports.
type portSet struct {
	ports     []discoveryv1.EndpointPort
	endpoints map[string]discoveryv1.Endpoint
}

// desiredEndpoints groups svc's endpoints of family f by port set.
func desiredEndpoints(svc *corev1.Service, pods []*corev1.Pod, nodes map[string]*corev1.Node, f corev1.IPFamily) map[string]*portSet {
	out := map[string]*portSet{}
	for _, pod := range pods {
		if !endpointsutil.ShouldPodBeInEndpoints(pod, true) {
			continue
		}
		node := nodes[pod.Spec.NodeName]
		if node == nil {
			continue
		}
		ip := endpointsutil.PodAddress(pod, f)
		if ip == "" {
			continue
		}
		ports := endpointPorts(svc, pod)
		k := portsKey(ports)
		ps := out[k]
		if ps == nil {
			ps = &portSet{ports: ports, endpoints: map[string]discoveryv1.Endpoint{}}
			out[k] = ps
		}
		ep := podEndpoint(svc, pod, node, ip)
		ps.endpoints[endpointKey(ep)] = ep
	}
	return out
}

// podEndpoint is pod's endpoint as upstream's podToEndpoint: serving is
// the pod's readiness, terminating its deletion, ready is serving and not
// terminating (always true with publishNotReadyAddresses).
func podEndpoint(svc *corev1.Service, pod *corev1.Pod, node *corev1.Node, ip string) discoveryv1.Endpoint {
	serving := endpointsutil.IsPodReady(pod)
	terminating := pod.DeletionTimestamp != nil
	ready := svc.Spec.PublishNotReadyAddresses || (serving && !terminating)
	ep := discoveryv1.Endpoint{
		Addresses:  []string{ip},
		Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
	}
	nodeName := pod.Spec.NodeName
	ep.NodeName = &nodeName
	if z := node.Labels[corev1.LabelTopologyZone]; z != "" {
		ep.Zone = &z
	}
	ep.Hints = trafficHints(svc.Spec.TrafficDistribution, ep.Zone, nodeName)
	if endpointsutil.ShouldSetHostname(pod, svc) {
		h := pod.Spec.Hostname
		ep.Hostname = &h
	}
	return ep
}

// trafficHints are the hints for spec.trafficDistribution, as upstream's
// trafficdist heuristics: PreferSameZone (and its old name PreferClose)
// hints the endpoint's own zone, PreferSameNode its own node and zone;
// none without a distribution, or without a zone for a zone hint.
func trafficHints(dist *string, zone *string, node string) *discoveryv1.EndpointHints {
	var h discoveryv1.EndpointHints
	switch deref(dist) {
	case corev1.ServiceTrafficDistributionPreferClose, corev1.ServiceTrafficDistributionPreferSameZone:
	case corev1.ServiceTrafficDistributionPreferSameNode:
		h.ForNodes = []discoveryv1.ForNode{{Name: node}}
	default:
		return nil
	}
	if zone != nil {
		h.ForZones = []discoveryv1.ForZone{{Name: *zone}}
	}
	if h.ForNodes == nil && h.ForZones == nil {
		return nil
	}
	return &h
}

// endpointPorts resolves svc's ports on pod; ports that do not resolve
// are left out.
func endpointPorts(svc *corev1.Service, pod *corev1.Pod) []discoveryv1.EndpointPort {
	ports := []discoveryv1.EndpointPort{}
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		num, err := endpointsutil.FindPort(pod, sp)
		if err != nil {
			continue
		}
		name, proto := sp.Name, sp.Protocol
		ports = append(ports, discoveryv1.EndpointPort{Name: &name, Port: &num, Protocol: &proto, AppProtocol: sp.AppProtocol})
	}
	return ports
}

func portsKey(ports []discoveryv1.EndpointPort) string {
	keys := make([]string, 0, len(ports))
	for _, p := range ports {
		k := fmt.Sprintf("%s/%s/%d", deref(p.Name), deref(p.Protocol), deref(p.Port))
		if p.AppProtocol != nil {
			k += "/" + *p.AppProtocol
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return fmt.Sprint(keys)
}

// endpointKey identifies an endpoint across syncs: its addresses,
// hostname and pod, as upstream's endpoint hash.
func endpointKey(ep discoveryv1.Endpoint) string {
	k := fmt.Sprint(ep.Addresses) + "/" + deref(ep.Hostname)
	if ep.TargetRef != nil {
		k += "/" + ep.TargetRef.Namespace + "/" + ep.TargetRef.Name
	}
	return k
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func sortedByName(s []*discoveryv1.EndpointSlice) []*discoveryv1.EndpointSlice {
	out := slices.Clone(s)
	slices.SortFunc(out, func(a, b *discoveryv1.EndpointSlice) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

func ownedBy(s *discoveryv1.EndpointSlice, svc *corev1.Service) bool {
	for _, o := range s.OwnerReferences {
		if o.UID == svc.UID && o.Kind == "Service" && o.APIVersion == "v1" {
			return true
		}
	}
	return false
}

// sliceMeta is the metadata every slice of svc carries: svc's labels
// plus service-name, managed-by and (headless) service.kubernetes.io/headless,
// the controller owner reference and the trigger-time annotation.
func sliceMeta(svc *corev1.Service, trigger time.Time) metav1.ObjectMeta {
	l := map[string]string{}
	for k, v := range svc.Labels {
		if k != discoveryv1.LabelServiceName && k != discoveryv1.LabelManagedBy && k != corev1.IsHeadlessService {
			l[k] = v
		}
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		l[corev1.IsHeadlessService] = ""
	}
	l[discoveryv1.LabelServiceName] = svc.Name
	l[discoveryv1.LabelManagedBy] = ControllerName
	t := true
	m := metav1.ObjectMeta{
		GenerateName: prefix(svc.Name),
		Namespace:    svc.Namespace,
		Labels:       l,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Service", Name: svc.Name, UID: svc.UID,
			Controller: &t, BlockOwnerDeletion: &t}},
	}
	if !trigger.IsZero() {
		m.Annotations = map[string]string{corev1.EndpointsLastChangeTriggerTime: trigger.UTC().Format(time.RFC3339Nano)}
	}
	return m
}

// prefix is the generateName of svc's slices: "<name>-", or the bare
// name when the dash would make it too long.
func prefix(name string) string {
	if len(name)+1 > 253-5 {
		return name[:253-5]
	}
	return name + "-"
}

// mapsEqual reports whether two string maps hold the same entries (nil
// and empty are equal).
func mapsEqual(a, b map[string]string) bool { return maps.Equal(a, b) }
