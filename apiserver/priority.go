package apiserver

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiffk8s/skiff/apiserver/registry"
	"github.com/skiffk8s/skiff/apiserver/storage"
)

// admitPriority is upstream's Priority admission plugin, run on create
// and update after defaulting and before validation; old is the stored
// object on update, nil on create.
//
// A new pod gets spec.priority from the PriorityClass its
// priorityClassName names (the built-in system classes need no object),
// or from the globalDefault class when it names none (the class's name is
// then set too; with no default class the priority is 0), and
// spec.preemptionPolicy from the class when the pod leaves it unset. A pod
// naming an unknown class, or setting a priority or preemptionPolicy that
// differs from its class's, is refused with 403 Forbidden.
//
// An update of a pod that leaves priority or preemptionPolicy unset keeps
// the stored values (validation refuses any other change of them).
//
// A PriorityClass marked globalDefault is refused (403) while another
// class is the default.
func (s *server) admitPriority(ctx context.Context, res *resource, obj, old runtime.Object) error {
	switch o := obj.(type) {
	case *corev1.Pod:
		if old != nil {
			oldPod := old.(*corev1.Pod)
			if o.Spec.Priority == nil {
				o.Spec.Priority = oldPod.Spec.Priority
			}
			if o.Spec.PreemptionPolicy == nil {
				o.Spec.PreemptionPolicy = oldPod.Spec.PreemptionPolicy
			}
			return nil
		}
		return s.admitPodPriority(ctx, res, o)
	case *schedulingv1.PriorityClass:
		return s.admitDefaultPriorityClass(ctx, res, o)
	}
	return nil
}

func (s *server) admitPodPriority(ctx context.Context, res *resource, pod *corev1.Pod) error {
	forbidden := func(format string, args ...any) error {
		return apierrors.NewForbidden(res.GroupResource(), pod.Name, fmt.Errorf(format, args...))
	}
	var (
		priority int32
		policy   = corev1.PreemptLowerPriority
	)
	if pod.Spec.PriorityClassName == "" {
		pc, err := s.defaultPriorityClass(ctx, false)
		if err != nil {
			return fmt.Errorf("failed to get default priority class: %w", err)
		}
		if pc != nil {
			pod.Spec.PriorityClassName = pc.Name
			priority = pc.Value
			if pc.PreemptionPolicy != nil {
				policy = *pc.PreemptionPolicy
			}
		}
	} else {
		pc, err := s.priorityClass(ctx, pod.Spec.PriorityClassName)
		switch {
		case apierrors.IsNotFound(err):
			return forbidden("no PriorityClass with name %v was found", pod.Spec.PriorityClassName)
		case err != nil:
			return fmt.Errorf("failed to get PriorityClass with name %s: %w", pod.Spec.PriorityClassName, err)
		}
		priority = pc.Value
		if pc.PreemptionPolicy != nil {
			policy = *pc.PreemptionPolicy
		}
	}
	if pod.Spec.Priority != nil && *pod.Spec.Priority != priority {
		return forbidden("the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name",
			*pod.Spec.Priority, priority)
	}
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy != policy {
		return forbidden("the string value of PreemptionPolicy (%s) must not be provided in pod spec; priority admission controller computed %s from the given PriorityClass name",
			*pod.Spec.PreemptionPolicy, policy)
	}
	pod.Spec.Priority = &priority
	pod.Spec.PreemptionPolicy = &policy
	return nil
}

// admitDefaultPriorityClass refuses a second globalDefault class.
func (s *server) admitDefaultPriorityClass(ctx context.Context, res *resource, pc *schedulingv1.PriorityClass) error {
	if !pc.GlobalDefault {
		return nil
	}
	def, err := s.defaultPriorityClass(ctx, true)
	if err != nil {
		return fmt.Errorf("failed to get default priority class: %w", err)
	}
	if def != nil && def.Name != pc.Name {
		return apierrors.NewForbidden(res.GroupResource(), pc.Name,
			fmt.Errorf("PriorityClass %v is marked as default, only one default can exist", def.Name))
	}
	return nil
}

// priorityClass returns the stored class named name, or a built-in
// system class that has no object. It reads the watch cache first and
// etcd when the cache has no such class (it may lag a class just made).
func (s *server) priorityClass(ctx context.Context, name string) (*schedulingv1.PriorityClass, error) {
	pcRes := s.lookup("scheduling.k8s.io", "v1", "priorityclasses")
	key := pcRes.store.Key("", name)
	obj, ok := pcRes.store.GetCached(key)
	if !ok {
		var err error
		obj, err = pcRes.store.Get(ctx, key)
		if apierrors.IsNotFound(err) {
			if pc := registry.SystemPriorityClass(name); pc != nil {
				return pc, nil
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return obj.(*schedulingv1.PriorityClass), nil
}

// defaultPriorityClass returns the globalDefault class, nil if there is
// none; if races let several be the default, the one with the lowest
// value, as upstream. consistent reads the current classes (for writes of
// classes); otherwise the watch cache is enough, as upstream's informer.
func (s *server) defaultPriorityClass(ctx context.Context, consistent bool) (*schedulingv1.PriorityClass, error) {
	pcRes := s.lookup("scheduling.k8s.io", "v1", "priorityclasses")
	opts := storage.ListOptions{ResourceVersion: "0"}
	if consistent {
		opts.ResourceVersion = ""
	}
	list, err := pcRes.store.List(ctx, pcRes.store.KeyPrefix(""), opts)
	if err != nil {
		return nil, err
	}
	var def *schedulingv1.PriorityClass
	for _, it := range list.Items {
		pc := it.(*schedulingv1.PriorityClass)
		if pc.GlobalDefault && (def == nil || pc.Value < def.Value) {
			def = pc
		}
	}
	return def, nil
}
