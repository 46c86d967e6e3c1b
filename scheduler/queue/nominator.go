package queue

import (
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// nominator tracks pods nominated to nodes. Not locked: the Queue's mu
// guards it.
type nominator struct {
	byNode map[string][]*framework.PodInfo
	node   map[types.UID]string
}

func newNominator() *nominator {
	return &nominator{byNode: map[string][]*framework.PodInfo{}, node: map[types.UID]string{}}
}

// update records the pod's status.nominatedNodeName (or forgets it when
// empty).
func (n *nominator) update(pi *framework.PodInfo) {
	if nn := pi.Pod.Status.NominatedNodeName; nn != "" {
		n.add(pi, nn)
		return
	}
	if _, ok := n.node[pi.Pod.UID]; ok {
		// Keep a nomination made by AddNominatedPod until the pod object
		// names another node or the pod leaves the queue.
		n.add(pi, n.node[pi.Pod.UID])
	}
}

func (n *nominator) add(pi *framework.PodInfo, nodeName string) {
	n.delete(pi.Pod.UID)
	n.node[pi.Pod.UID] = nodeName
	n.byNode[nodeName] = append(n.byNode[nodeName], pi)
}

func (n *nominator) delete(uid types.UID) {
	nodeName, ok := n.node[uid]
	if !ok {
		return
	}
	delete(n.node, uid)
	pods := n.byNode[nodeName]
	for i, pi := range pods {
		if pi.Pod.UID == uid {
			pods = append(pods[:i:i], pods[i+1:]...)
			break
		}
	}
	if len(pods) == 0 {
		delete(n.byNode, nodeName)
	} else {
		n.byNode[nodeName] = pods
	}
}

func (n *nominator) forNode(nodeName string) []*framework.PodInfo {
	return append([]*framework.PodInfo(nil), n.byNode[nodeName]...)
}
