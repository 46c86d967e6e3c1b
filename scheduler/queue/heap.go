package queue

import "k8s.io/apimachinery/pkg/types"

// podHeap is a heap of queued pods with a position index for find.
type podHeap struct {
	items []*QueuedPodInfo
	less  func(a, b *QueuedPodInfo) bool
	byUID map[types.UID]*QueuedPodInfo
}

func (h *podHeap) Len() int           { return len(h.items) }
func (h *podHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *podHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].index, h.items[j].index = i, j
}

func (h *podHeap) Push(x any) {
	pi := x.(*QueuedPodInfo)
	pi.index = len(h.items)
	h.items = append(h.items, pi)
	if h.byUID == nil {
		h.byUID = map[types.UID]*QueuedPodInfo{}
	}
	h.byUID[pi.Pod.UID] = pi
}

func (h *podHeap) Pop() any {
	n := len(h.items)
	pi := h.items[n-1]
	h.items[n-1] = nil
	h.items = h.items[:n-1]
	delete(h.byUID, pi.Pod.UID)
	pi.index = -1
	return pi
}

// find is the heap index of the pod with uid, or -1.
func (h *podHeap) find(uid types.UID) int {
	if pi, ok := h.byUID[uid]; ok {
		return pi.index
	}
	return -1
}
