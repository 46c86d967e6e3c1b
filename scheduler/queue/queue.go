// Package queue is the scheduling queue: an active queue ordered by pod
// priority then arrival, a back-off queue (exponential back-off per pod),
// and the unschedulable pods, which move back when a cluster event that a
// rejecting plugin registered happens (and, as a backstop, after
// podMaxInUnschedulablePodsDuration). It also tracks nominated pods
// (status.nominatedNodeName) for the Filter step.
package queue

import (
	"container/heap"
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// Upstream's durations.
const (
	DefaultInitialBackoff = 1 * time.Second
	DefaultMaxBackoff     = 10 * time.Second
	// DefaultMaxInUnschedulable is podMaxInUnschedulablePodsDuration.
	DefaultMaxInUnschedulable = 5 * time.Minute
	flushBackoffPeriod        = 1 * time.Second
	flushUnschedulablePeriod  = 30 * time.Second
)

// QueuedPodInfo is a pod in the queue with its scheduling history.
type QueuedPodInfo struct {
	*framework.PodInfo
	// Timestamp is when the pod last entered the active queue (FIFO
	// among equal priorities); InitialAttemptTimestamp is its first
	// attempt (e2e latency).
	Timestamp               time.Time
	InitialAttemptTimestamp time.Time
	// Attempts counts scheduling attempts; Attempts == 0 in back-off is
	// never.
	Attempts int
	// UnschedulablePlugins rejected the pod in its last attempt; an empty
	// set (e.g. an error) means any event may help.
	UnschedulablePlugins sets.Set[string]
	// lastFailure is when the last attempt failed (back-off start).
	lastFailure time.Time
	index       int
}

// Options configure a Queue.
type Options struct {
	Clock                      clock.WithTicker
	InitialBackoff, MaxBackoff time.Duration
	MaxInUnschedulable         time.Duration
	// PluginEvents maps each plugin to the events that may make a pod it
	// rejected fit; a plugin without an entry (or with nil) matches any
	// event.
	PluginEvents map[string][]framework.ClusterEvent
}

// Queue is the scheduling queue. It is safe for concurrent use.
type Queue struct {
	opts Options
	mu   sync.Mutex
	cond *sync.Cond
	// guarded by mu:
	active        *podHeap
	backoff       *podHeap
	unschedulable map[types.UID]*QueuedPodInfo
	// schedulingCycle counts Pops; moveRequestCycle is the cycle of the
	// last move event: a pod failing in a cycle at or before it goes to
	// back-off, not unschedulable, so the event is not lost.
	schedulingCycle, moveRequestCycle int64
	nominated                         *nominator
	closed                            bool
}

// New returns an empty queue.
func New(opts Options) *Queue {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.InitialBackoff == 0 {
		opts.InitialBackoff = DefaultInitialBackoff
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.MaxInUnschedulable == 0 {
		opts.MaxInUnschedulable = DefaultMaxInUnschedulable
	}
	q := &Queue{
		opts:          opts,
		unschedulable: map[types.UID]*QueuedPodInfo{},
		nominated:     newNominator(),
	}
	q.active = &podHeap{less: byPriorityThenArrival}
	q.backoff = &podHeap{less: func(a, b *QueuedPodInfo) bool { return q.backoffExpiry(a).Before(q.backoffExpiry(b)) }}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// byPriorityThenArrival orders the active queue.
func byPriorityThenArrival(a, b *QueuedPodInfo) bool {
	pa, pb := priority(a.Pod), priority(b.Pod)
	if pa != pb {
		return pa > pb
	}
	return a.Timestamp.Before(b.Timestamp)
}

func priority(p *corev1.Pod) int32 {
	if p.Spec.Priority != nil {
		return *p.Spec.Priority
	}
	return 0
}

// Run flushes completed back-offs every second and pods unschedulable for
// longer than MaxInUnschedulable every 30 s, until ctx ends; then it
// closes the queue (Pop returns nil).
func (q *Queue) Run(ctx context.Context) {
	backoff := q.opts.Clock.NewTicker(flushBackoffPeriod)
	defer backoff.Stop()
	unsched := q.opts.Clock.NewTicker(flushUnschedulablePeriod)
	defer unsched.Stop()
	for {
		select {
		case <-ctx.Done():
			q.Close()
			return
		case <-backoff.C():
			q.FlushBackoffCompleted()
		case <-unsched.C():
			q.FlushUnschedulableLeftover()
		}
	}
}

// Close wakes Pop callers; Pop returns nil from then on.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}

// Add adds a new pending pod to the active queue (or updates it where it
// is).
func (q *Queue) Add(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.updateLocked(pod) {
		return
	}
	now := q.opts.Clock.Now()
	pi := &QueuedPodInfo{PodInfo: podInfo(pod), Timestamp: now, InitialAttemptTimestamp: now}
	heap.Push(q.active, pi)
	q.nominated.update(pi.PodInfo)
	q.cond.Signal()
}

func podInfo(pod *corev1.Pod) *framework.PodInfo {
	pi, err := framework.NewPodInfo(pod)
	if err != nil {
		return &framework.PodInfo{Pod: pod}
	}
	return pi
}

// Update replaces a queued pod's object. An unschedulable pod whose spec
// or labels changed is moved to back-off or active (it may fit now).
func (q *Queue) Update(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.updateLocked(pod) {
		now := q.opts.Clock.Now()
		heap.Push(q.active, &QueuedPodInfo{PodInfo: podInfo(pod), Timestamp: now, InitialAttemptTimestamp: now})
		q.cond.Signal()
	}
	q.nominated.update(podInfo(pod))
}

// updateLocked updates pod where it is queued; false if it is not.
func (q *Queue) updateLocked(pod *corev1.Pod) bool {
	if i := q.active.find(pod.UID); i >= 0 {
		pi := q.active.items[i]
		pi.PodInfo = podInfo(pod)
		heap.Fix(q.active, i)
		return true
	}
	if i := q.backoff.find(pod.UID); i >= 0 {
		q.backoff.items[i].PodInfo = podInfo(pod)
		return true
	}
	if pi, ok := q.unschedulable[pod.UID]; ok {
		changed := specChanged(pi.Pod, pod)
		pi.PodInfo = podInfo(pod)
		if changed {
			delete(q.unschedulable, pod.UID)
			q.requeueLocked(pi)
		}
		return true
	}
	return false
}

// specChanged reports a change that can affect scheduling (not status or
// bookkeeping metadata).
func specChanged(old, new *corev1.Pod) bool {
	if old.Generation != new.Generation {
		return true
	}
	return !equalStringMaps(old.Labels, new.Labels) || !equalStringMaps(old.Annotations, new.Annotations)
}

func equalStringMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Delete removes the pod from every queue and from nominations.
func (q *Queue) Delete(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.nominated.delete(pod.UID)
	if i := q.active.find(pod.UID); i >= 0 {
		heap.Remove(q.active, i)
	}
	if i := q.backoff.find(pod.UID); i >= 0 {
		heap.Remove(q.backoff, i)
	}
	delete(q.unschedulable, pod.UID)
}

// Pop blocks until a pod is active and returns it (nil once closed). Each
// Pop starts a scheduling cycle.
func (q *Queue) Pop() *QueuedPodInfo {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.active.Len() == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return nil
	}
	pi := heap.Pop(q.active).(*QueuedPodInfo)
	pi.Attempts++
	q.schedulingCycle++
	return pi
}

// SchedulingCycle is the number of Pops so far (the current cycle).
func (q *Queue) SchedulingCycle() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.schedulingCycle
}

// AddUnschedulable puts back a pod whose attempt in cycle failed. With
// rejecting plugins it waits for a matching event (or back-off when a
// move event came during its attempt); after an error
// (unschedulablePlugins empty) it backs off.
func (q *Queue) AddUnschedulable(pi *QueuedPodInfo, unschedulablePlugins sets.Set[string], cycle int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.active.find(pi.Pod.UID) >= 0 || q.backoff.find(pi.Pod.UID) >= 0 || q.unschedulable[pi.Pod.UID] != nil {
		return
	}
	pi.UnschedulablePlugins = unschedulablePlugins
	pi.lastFailure = q.opts.Clock.Now()
	if len(unschedulablePlugins) == 0 || q.moveRequestCycle >= cycle {
		heap.Push(q.backoff, pi)
		return
	}
	q.unschedulable[pi.Pod.UID] = pi
}

// backoffDuration is InitialBackoff doubled for every attempt after the
// first, capped at MaxBackoff.
func (q *Queue) backoffDuration(pi *QueuedPodInfo) time.Duration {
	d := q.opts.InitialBackoff
	for i := 1; i < pi.Attempts; i++ {
		d *= 2
		if d >= q.opts.MaxBackoff {
			return q.opts.MaxBackoff
		}
	}
	return d
}

func (q *Queue) backoffExpiry(pi *QueuedPodInfo) time.Time {
	return pi.lastFailure.Add(q.backoffDuration(pi))
}

// BackoffDuration is how long the pod backs off after its attempts so far.
func (q *Queue) BackoffDuration(pi *QueuedPodInfo) time.Duration { return q.backoffDuration(pi) }

// requeueLocked sends a pod leaving the unschedulable map to back-off if
// it is still backing off, else to the active queue.
func (q *Queue) requeueLocked(pi *QueuedPodInfo) {
	if q.backoffExpiry(pi).After(q.opts.Clock.Now()) {
		heap.Push(q.backoff, pi)
		return
	}
	pi.Timestamp = q.opts.Clock.Now()
	heap.Push(q.active, pi)
	q.cond.Signal()
}

// FlushBackoffCompleted moves pods whose back-off ended to the active
// queue.
func (q *Queue) FlushBackoffCompleted() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.opts.Clock.Now()
	for q.backoff.Len() > 0 {
		pi := q.backoff.items[0]
		if q.backoffExpiry(pi).After(now) {
			return
		}
		heap.Pop(q.backoff)
		pi.Timestamp = now
		heap.Push(q.active, pi)
		q.cond.Signal()
	}
}

// FlushUnschedulableLeftover moves pods unschedulable for longer than
// MaxInUnschedulable back (upstream's backstop for missed events).
func (q *Queue) FlushUnschedulableLeftover() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.opts.Clock.Now()
	for uid, pi := range q.unschedulable {
		if now.Sub(pi.lastFailure) > q.opts.MaxInUnschedulable {
			delete(q.unschedulable, uid)
			q.requeueLocked(pi)
		}
	}
}

// MoveOnEvent moves the unschedulable pods that event may make
// schedulable: those rejected by a plugin that registered a matching
// event (or registered none).
func (q *Queue) MoveOnEvent(event framework.ClusterEvent) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.moveRequestCycle = q.schedulingCycle
	for uid, pi := range q.unschedulable {
		if q.matches(pi, event) {
			delete(q.unschedulable, uid)
			q.requeueLocked(pi)
		}
	}
}

func (q *Queue) matches(pi *QueuedPodInfo, event framework.ClusterEvent) bool {
	if len(pi.UnschedulablePlugins) == 0 {
		return true
	}
	for name := range pi.UnschedulablePlugins {
		registered, ok := q.opts.PluginEvents[name]
		if !ok || registered == nil {
			return true
		}
		for _, r := range registered {
			if r.Match(event) {
				return true
			}
		}
	}
	return false
}

// Lengths are the sizes of the active, back-off and unschedulable queues.
func (q *Queue) Lengths() (active, backoff, unschedulable int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.active.Len(), q.backoff.Len(), len(q.unschedulable)
}

// Has reports whether the pod is queued anywhere.
func (q *Queue) Has(uid types.UID) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.active.find(uid) >= 0 || q.backoff.find(uid) >= 0 || q.unschedulable[uid] != nil
}

// AddNominatedPod records that pod is nominated to nodeName (after
// preemption, before the pod object shows it).
func (q *Queue) AddNominatedPod(pod *corev1.Pod, nodeName string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.nominated.add(podInfo(pod), nodeName)
}

// DeleteNominatedPod forgets pod's nomination (it was assumed or bound).
func (q *Queue) DeleteNominatedPod(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.nominated.delete(pod.UID)
}

// NominatedPodsForNode implements frameworkruntime.Nominator.
func (q *Queue) NominatedPodsForNode(nodeName string) []*framework.PodInfo {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.nominated.forNode(nodeName)
}

// NominatedPods implements frameworkruntime.Nominator: a copy of the
// nominations by node. The slices are shared: the nominator never
// changes an element in place (it appends past their length or builds a
// new slice).
func (q *Queue) NominatedPods() map[string][]*framework.PodInfo {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.nominated.byNode) == 0 {
		return nil
	}
	out := make(map[string][]*framework.PodInfo, len(q.nominated.byNode))
	for node, pods := range q.nominated.byNode {
		out[node] = pods[:len(pods):len(pods)]
	}
	return out
}
