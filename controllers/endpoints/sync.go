package endpoints

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/skiffk8s/skiff/controllers/internal/endpointsutil"
)

// sync writes the Endpoints of the Service named by key. A deleted
// Service's Endpoints are deleted; a Service without a selector (and
// default/kubernetes) is left alone.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		if ns == metav1.NamespaceDefault && name == "kubernetes" {
			return nil
		}
		cur, err := c.eps.Endpoints(ns).Get(name)
		if apierrors.IsNotFound(err) || (err == nil && cur.Labels[LabelManagedBy] != ControllerName) {
			return nil
		}
		err = c.client.CoreV1().Endpoints(ns).Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete endpoints %s: %w", key, err)
		}
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
	cur, err := c.eps.Endpoints(ns).Get(name)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	want := Desired(svc, pods, cur)
	if cur != nil && apiequality.Semantic.DeepEqual(cur.Subsets, want.Subsets) &&
		apiequality.Semantic.DeepEqual(cur.Labels, want.Labels) &&
		cur.Annotations[corev1.EndpointsOverCapacity] == want.Annotations[corev1.EndpointsOverCapacity] {
		return nil
	}
	if cur == nil {
		_, err = c.client.CoreV1().Endpoints(ns).Create(ctx, want, metav1.CreateOptions{})
		if err != nil {
			if apierrors.IsAlreadyExists(err) {
				return err // the informer is behind: retry with its copy
			}
			c.recorder.Eventf(want, corev1.EventTypeWarning, "FailedToCreateEndpoint", "Failed to create endpoint for service %v/%v: %v", ns, name, err)
			return fmt.Errorf("create endpoints %s: %w", key, err)
		}
		return nil
	}
	if _, err = c.client.CoreV1().Endpoints(ns).Update(ctx, want, metav1.UpdateOptions{}); err != nil {
		if !apierrors.IsConflict(err) {
			c.recorder.Eventf(want, corev1.EventTypeWarning, "FailedToUpdateEndpoint", "Failed to update endpoint %v/%v: %v", ns, name, err)
		}
		return fmt.Errorf("update endpoints %s: %w", key, err)
	}
	return nil
}

// Desired is the Endpoints that svc's selected pods make, built on a
// copy of cur (nil when there is none): labels are svc's plus the
// headless and managed-by labels, the trigger-time annotation is set,
// and over MaxCapacity addresses are truncated with the over-capacity
// annotation.
func Desired(svc *corev1.Service, pods []*corev1.Pod, cur *corev1.Endpoints) *corev1.Endpoints {
	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace}}
	if cur != nil {
		ep = cur.DeepCopy()
	}
	ep.Labels = maps.Clone(svc.Labels)
	if ep.Labels == nil {
		ep.Labels = map[string]string{}
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		ep.Labels[corev1.IsHeadlessService] = ""
	}
	ep.Labels[LabelManagedBy] = ControllerName
	if ep.Annotations == nil {
		ep.Annotations = map[string]string{}
	}
	ep.Subsets = Subsets(svc, pods)
	if t := endpointsutil.TriggerTime(svc, pods); !t.IsZero() {
		ep.Annotations[corev1.EndpointsLastChangeTriggerTime] = t.UTC().Format(time.RFC3339Nano)
	} else {
		delete(ep.Annotations, corev1.EndpointsLastChangeTriggerTime)
	}
	if truncate(ep) {
		ep.Annotations[corev1.EndpointsOverCapacity] = truncated
	} else {
		delete(ep.Annotations, corev1.EndpointsOverCapacity)
	}
	return ep
}

// Subsets groups the pods' addresses by the set of ports they answer on:
// pods whose named target ports resolve to different numbers land in
// different subsets. Ready pods (all of them with
// publishNotReadyAddresses) go under addresses, the others under
// notReadyAddresses; terminating pods are left out unless
// publishNotReadyAddresses. A headless Service without ports lists
// addresses without ports; another Service without ports lists none.
func Subsets(svc *corev1.Service, pods []*corev1.Pod) []corev1.EndpointSubset {
	type group struct {
		ports           []corev1.EndpointPort
		ready, notReady []corev1.EndpointAddress
	}
	groups := map[string]*group{}
	family := endpointsutil.ServiceFamily(svc)
	for _, pod := range pods {
		if !endpointsutil.ShouldPodBeInEndpoints(pod, svc.Spec.PublishNotReadyAddresses) {
			continue
		}
		ip := endpointsutil.PodAddress(pod, family)
		if ip == "" {
			continue
		}
		addr := corev1.EndpointAddress{IP: ip, TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID}}
		if pod.Spec.NodeName != "" {
			n := pod.Spec.NodeName
			addr.NodeName = &n
		}
		if endpointsutil.ShouldSetHostname(pod, svc) {
			addr.Hostname = pod.Spec.Hostname
		}
		var ports []corev1.EndpointPort
		if len(svc.Spec.Ports) == 0 {
			if svc.Spec.ClusterIP != corev1.ClusterIPNone {
				continue
			}
		} else {
			for i := range svc.Spec.Ports {
				sp := &svc.Spec.Ports[i]
				num, err := endpointsutil.FindPort(pod, sp)
				if err != nil {
					continue
				}
				ports = append(ports, corev1.EndpointPort{Name: sp.Name, Port: num, Protocol: sp.Protocol, AppProtocol: sp.AppProtocol})
			}
			if len(ports) == 0 {
				continue
			}
		}
		slices.SortFunc(ports, func(a, b corev1.EndpointPort) int { return strings.Compare(portKey(a), portKey(b)) })
		var keys []string
		for _, p := range ports {
			keys = append(keys, portKey(p))
		}
		k := strings.Join(keys, ",")
		g := groups[k]
		if g == nil {
			g = &group{ports: ports}
			groups[k] = g
		}
		if svc.Spec.PublishNotReadyAddresses || endpointsutil.IsPodReady(pod) {
			g.ready = append(g.ready, addr)
		} else {
			g.notReady = append(g.notReady, addr)
		}
	}
	var out []corev1.EndpointSubset
	for _, k := range slices.Sorted(maps.Keys(groups)) {
		g := groups[k]
		sortAddrs(g.ready)
		sortAddrs(g.notReady)
		out = append(out, corev1.EndpointSubset{Addresses: g.ready, NotReadyAddresses: g.notReady, Ports: g.ports})
	}
	return out
}

func portKey(p corev1.EndpointPort) string {
	return p.Name + "/" + string(p.Protocol) + "/" + strconv.Itoa(int(p.Port))
}

func sortAddrs(a []corev1.EndpointAddress) {
	slices.SortFunc(a, func(x, y corev1.EndpointAddress) int {
		if c := strings.Compare(x.IP, y.IP); c != 0 {
			return c
		}
		return strings.Compare(string(x.TargetRef.UID), string(y.TargetRef.UID))
	})
}

// truncate cuts ep down to MaxCapacity addresses as upstream: ready
// addresses are kept first; each subset keeps its share of what is cut.
// It reports whether it cut anything.
func truncate(ep *corev1.Endpoints) bool {
	ready, notReady := 0, 0
	for _, s := range ep.Subsets {
		ready += len(s.Addresses)
		notReady += len(s.NotReadyAddresses)
	}
	if ready+notReady <= MaxCapacity {
		return false
	}
	truncateReady := ready > MaxCapacity
	limit, total := MaxCapacity-ready, notReady
	if truncateReady {
		limit, total = MaxCapacity, ready
	}
	left := limit
	for i := range ep.Subsets {
		s := &ep.Subsets[i]
		n := len(s.NotReadyAddresses)
		if truncateReady {
			n = len(s.Addresses)
		}
		keep := min(int(math.Ceil(float64(n)/float64(total)*float64(limit))), left)
		if truncateReady {
			s.Addresses = s.Addresses[:min(keep, len(s.Addresses))]
			s.NotReadyAddresses = nil
			left -= len(s.Addresses)
		} else {
			s.NotReadyAddresses = s.NotReadyAddresses[:min(keep, len(s.NotReadyAddresses))]
			left -= len(s.NotReadyAddresses)
		}
	}
	return true
}
