package scheduler

import (
	"reflect"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/client-go/tools/cache"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// addEventHandlers wires the informers: handlers only update the cache
// and the queue.
func (s *Scheduler) addEventHandlers() {
	_, _ = s.factory.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.onPodAdd(obj.(*corev1.Pod)) },
		UpdateFunc: func(old, new any) { s.onPodUpdate(old.(*corev1.Pod), new.(*corev1.Pod)) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				s.onPodDelete(pod)
			}
		},
	})
	_, _ = s.factory.Core().V1().Nodes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			s.cache.AddNode(obj.(*corev1.Node))
			s.queue.MoveOnEvent(framework.ClusterEvent{Resource: framework.NodeResource, ActionType: framework.Add, Label: "NodeAdd"})
		},
		UpdateFunc: func(old, new any) {
			o, n := old.(*corev1.Node), new.(*corev1.Node)
			s.cache.UpdateNode(n)
			if a := nodeChange(o, n); a != 0 {
				s.queue.MoveOnEvent(framework.ClusterEvent{Resource: framework.NodeResource, ActionType: a, Label: "NodeUpdate"})
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if node, ok := obj.(*corev1.Node); ok {
				s.cache.RemoveNode(node)
				s.queue.MoveOnEvent(framework.ClusterEvent{Resource: framework.NodeResource, ActionType: framework.Delete, Label: "NodeDelete"})
			}
		},
	})
	_, _ = s.factory.Core().V1().Namespaces().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) {
			s.queue.MoveOnEvent(framework.ClusterEvent{Resource: framework.NamespaceResource, ActionType: framework.Add, Label: "NamespaceAdd"})
		},
		UpdateFunc: func(old, new any) {
			if !reflect.DeepEqual(old.(*corev1.Namespace).Labels, new.(*corev1.Namespace).Labels) {
				s.queue.MoveOnEvent(framework.ClusterEvent{Resource: framework.NamespaceResource, ActionType: framework.UpdateOther, Label: "NamespaceUpdate"})
			}
		},
	})
}

func assigned(p *corev1.Pod) bool { return p.Spec.NodeName != "" }

func terminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// responsible reports whether one of our profiles schedules pod now.
func (s *Scheduler) responsible(p *corev1.Pod) bool {
	_, ok := s.profiles[p.Spec.SchedulerName]
	return ok && !terminal(p) && len(p.Spec.SchedulingGates) == 0
}

func (s *Scheduler) onPodAdd(pod *corev1.Pod) {
	switch {
	case assigned(pod) && !terminal(pod):
		s.cache.AddPod(pod)
		s.queue.MoveOnEvent(framework.ClusterEvent{Resource: framework.PodResource, ActionType: framework.Add, Label: "AssignedPodAdd"})
	case !assigned(pod) && s.responsible(pod):
		s.queue.Add(pod)
	}
}

func (s *Scheduler) onPodUpdate(old, pod *corev1.Pod) {
	if !assigned(pod) {
		if s.responsible(pod) {
			s.queue.Update(pod)
		} else {
			s.queue.Delete(pod)
		}
		return
	}
	if terminal(pod) {
		s.onPodDelete(pod)
		return
	}
	if !assigned(old) {
		// Bound: it leaves the queue and the cache confirms it.
		s.queue.Delete(pod)
		s.onPodAdd(pod)
		return
	}
	s.cache.UpdatePod(pod)
	var a framework.ActionType
	if !reflect.DeepEqual(old.Labels, pod.Labels) {
		a |= framework.UpdatePodLabel
	}
	if scaledDown(old, pod) {
		a |= framework.UpdatePodScaleDown
	}
	if a != 0 {
		s.queue.MoveOnEvent(framework.ClusterEvent{Resource: framework.PodResource, ActionType: a, Label: "AssignedPodUpdate"})
	}
}

func scaledDown(old, new *corev1.Pod) bool {
	o, n := framework.NewResource(framework.PodRequests(old)), framework.NewResource(framework.PodRequests(new))
	return n.MilliCPU < o.MilliCPU || n.Memory < o.Memory || n.EphemeralStorage < o.EphemeralStorage
}

func (s *Scheduler) onPodDelete(pod *corev1.Pod) {
	if assigned(pod) {
		s.cache.RemovePod(pod)
		s.queue.MoveOnEvent(framework.ClusterEvent{Resource: framework.PodResource, ActionType: framework.Delete, Label: "AssignedPodDelete"})
		return
	}
	s.queue.Delete(pod)
	if fwk := s.profiles[pod.Spec.SchedulerName]; fwk != nil {
		fwk.RejectWaitingPod(pod)
	}
}

// nodeChange is the kind of update from o to n that can make pods fit
// (0: none, e.g. a heartbeat).
func nodeChange(o, n *corev1.Node) framework.ActionType {
	var a framework.ActionType
	if !equality.Semantic.DeepEqual(o.Status.Allocatable, n.Status.Allocatable) {
		a |= framework.UpdateNodeAllocatable
	}
	if !reflect.DeepEqual(o.Labels, n.Labels) {
		a |= framework.UpdateNodeLabel
	}
	if !reflect.DeepEqual(o.Spec.Taints, n.Spec.Taints) || o.Spec.Unschedulable != n.Spec.Unschedulable {
		a |= framework.UpdateNodeTaint
	}
	if !sameConditions(o.Status.Conditions, n.Status.Conditions) {
		a |= framework.UpdateNodeCondition
	}
	if !reflect.DeepEqual(o.Annotations, n.Annotations) {
		a |= framework.UpdateNodeAnnotation
	}
	return a
}

func sameConditions(a, b []corev1.NodeCondition) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[corev1.NodeConditionType]corev1.ConditionStatus{}
	for _, c := range a {
		m[c.Type] = c.Status
	}
	for _, c := range b {
		if m[c.Type] != c.Status {
			return false
		}
	}
	return true
}
