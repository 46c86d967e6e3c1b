package defaultpreemption

import (
	"context"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// Optional abilities of the framework.Handle the plugin uses when the
// handle has them (framework.Handle does not name them yet).

// nominatedFilterRunner runs the Filter plugins as the scheduling cycle
// does, also with the pods of equal or higher priority nominated to the
// node (upstream's RunFilterPluginsWithNominatedPods). Without it the
// simulation ignores nominated pods.
type nominatedFilterRunner interface {
	RunFilterPluginsWithNominatedPods(ctx context.Context, state *framework.CycleState, pod *corev1.Pod, nodeInfo *framework.NodeInfo) *framework.Status
}

// nominator lists the pods nominated to a node (upstream's
// PodNominator). Without it the pods are found by their
// status.nominatedNodeName in the pod informer.
type nominator interface {
	NominatedPodsForNode(nodeName string) []*framework.PodInfo
}

// waitingPodRejecter rejects a pod held by a Permit plugin and reports
// whether one was waiting; such a victim is rejected instead of deleted,
// as upstream.
type waitingPodRejecter interface {
	RejectWaitingPod(pod *corev1.Pod) bool
}
