// Package endpointsutil holds the rules that the endpoints and
// endpointslice controllers share, as upstream's endpointutil: which
// Services select a pod, which pods belong in endpoints, a pod's address
// for a Service, port resolution by name, readiness, hostnames and the
// last-change trigger time. It decides nothing about objects to write.
package endpointsutil

import (
	"fmt"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiffk8s/skiff/controllers/internal/controllerutil"
)

// Managed reports whether the endpoints controllers own svc's endpoints:
// it has a selector (services without one are user-managed), it is not
// of type ExternalName, and it is not default/kubernetes (the API servers
// keep that one).
func Managed(svc *corev1.Service) bool {
	if svc.Spec.Selector == nil || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return false
	}
	return !(svc.Namespace == metav1.NamespaceDefault && svc.Name == "kubernetes")
}

// ServicesForPod returns the keys of the managed Services in pod's
// namespace whose selector matches pod's labels.
func ServicesForPod(services corelisters.ServiceLister, pod *corev1.Pod) ([]string, error) {
	all, err := services.Services(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	var keys []string
	for _, svc := range all {
		if !Managed(svc) {
			continue
		}
		if labels.SelectorFromValidatedSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			keys = append(keys, svc.Namespace+"/"+svc.Name)
		}
	}
	return keys, nil
}

// EnqueuePod adds to queue the keys of the managed Services selecting
// the pod obj (which may be a cache.DeletedFinalStateUnknown).
func EnqueuePod(services corelisters.ServiceLister, queue workqueue.TypedInterface[string], obj any) {
	pod, ok := controllerutil.FromEvent[*corev1.Pod](obj)
	if !ok {
		return
	}
	keys, err := ServicesForPod(services, pod)
	if err != nil {
		return
	}
	for _, k := range keys {
		queue.Add(k)
	}
}

// PodHandler is the pod event handler of both controllers: EnqueuePod
// for an added or deleted pod, and for both the old and the new pod of an
// update (a Service that stopped selecting it is synced too).
func PodHandler(services corelisters.ServiceLister, queue workqueue.TypedInterface[string]) cache.ResourceEventHandlerFuncs {
	enqueue := func(obj any) { EnqueuePod(services, queue, obj) }
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(o, n any) { enqueue(o); enqueue(n) },
		DeleteFunc: enqueue,
	}
}

// SelectedPods lists the pods that svc's selector picks in its namespace.
func SelectedPods(pods corelisters.PodLister, svc *corev1.Service) ([]*corev1.Pod, error) {
	list, err := pods.Pods(svc.Namespace).List(labels.SelectorFromValidatedSet(svc.Spec.Selector))
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	return list, nil
}

// ShouldPodBeInEndpoints reports whether pod belongs in endpoints at all:
// not terminal (Succeeded/Failed), with an IP, and not terminating unless
// includeTerminating.
func ShouldPodBeInEndpoints(pod *corev1.Pod, includeTerminating bool) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	if pod.Status.PodIP == "" && len(pod.Status.PodIPs) == 0 {
		return false
	}
	return includeTerminating || pod.DeletionTimestamp == nil
}

// IsPodReady reports whether pod's Ready condition is True.
func IsPodReady(pod *corev1.Pod) bool {
	c := readyCondition(pod)
	return c != nil && c.Status == corev1.ConditionTrue
}

func readyCondition(pod *corev1.Pod) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodReady {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// ShouldSetHostname reports whether pod's hostname is published for svc:
// the pod names a hostname and svc as its subdomain.
func ShouldSetHostname(pod *corev1.Pod, svc *corev1.Service) bool {
	return pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name && pod.Namespace == svc.Namespace
}

// Family is an IP family of a Service or an address.
type Family = corev1.IPFamily

// ServiceFamily is the IP family svc's endpoints use: its first
// ipFamilies entry, else its clusterIP's family, else IPv4.
func ServiceFamily(svc *corev1.Service) Family {
	if len(svc.Spec.IPFamilies) > 0 {
		return svc.Spec.IPFamilies[0]
	}
	if a, err := netip.ParseAddr(svc.Spec.ClusterIP); err == nil && a.Is6() {
		return corev1.IPv6Protocol
	}
	return corev1.IPv4Protocol
}

// PodAddress returns pod's IP of the given family, or "" when it has none.
func PodAddress(pod *corev1.Pod, family Family) string {
	ips := []string{pod.Status.PodIP}
	for _, ip := range pod.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	for _, ip := range ips {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			continue
		}
		if (family == corev1.IPv6Protocol) == (a.Is6() && !a.Is4In6()) {
			return ip
		}
	}
	return ""
}

// FindPort resolves sp's targetPort on pod: a number is used as is
// (an unset targetPort means sp.port); a name is looked up among the
// pod's container ports (and restartable init containers') with sp's
// protocol, so each pod may answer on its own number.
func FindPort(pod *corev1.Pod, sp *corev1.ServicePort) (int32, error) {
	tp := sp.TargetPort
	switch {
	case tp.Type == intstr.String && tp.StrVal != "":
		proto := sp.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		containers := append([]corev1.Container{}, pod.Spec.Containers...)
		for _, c := range pod.Spec.InitContainers {
			if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
				containers = append(containers, c)
			}
		}
		for _, c := range containers {
			for _, p := range c.Ports {
				pp := p.Protocol
				if pp == "" {
					pp = corev1.ProtocolTCP
				}
				if p.Name == tp.StrVal && pp == proto {
					return p.ContainerPort, nil
				}
			}
		}
		return 0, fmt.Errorf("no suitable port for manifest: %s", pod.UID)
	case tp.Type == intstr.Int && tp.IntVal != 0:
		return tp.IntVal, nil
	default:
		return sp.Port, nil
	}
}

// TriggerTime is the time of the latest change that the endpoints of svc
// reflect: svc's creation, and each pod's creation and last Ready
// transition. Upstream tracks the earliest unprocessed change instead;
// the annotation's meaning for users (when did what they see change) is
// the same.
func TriggerTime(svc *corev1.Service, pods []*corev1.Pod) time.Time {
	t := svc.CreationTimestamp.Time
	for _, pod := range pods {
		if pod.CreationTimestamp.After(t) {
			t = pod.CreationTimestamp.Time
		}
		if c := readyCondition(pod); c != nil && c.LastTransitionTime.After(t) {
			t = c.LastTransitionTime.Time
		}
	}
	return t
}
