package frameworkruntime

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// Nominator tells the Filter step which pods were nominated to a node by
// preemption and are not bound yet (the scheduling queue implements it).
type Nominator interface {
	NominatedPodsForNode(nodeName string) []*framework.PodInfo
	// NominatedPods is every nomination by node name, copied at once: a
	// scheduling cycle reads it once instead of once per node. The
	// slices are shared and must not be changed.
	NominatedPods() map[string][]*framework.PodInfo
}

// Options are the dependencies of a Framework.
type Options struct {
	Client          kubernetes.Interface
	InformerFactory informers.SharedInformerFactory
	EventRecorder   events.EventRecorder
	// Nominator may be nil (no nominated pods).
	Nominator Nominator
	// Parallelism bounds the goroutines of Filter and Score (0:
	// GOMAXPROCS).
	Parallelism int
	Clock       clock.Clock
}

// weightedScore is a score plugin and its weight.
type weightedScore struct {
	framework.ScorePlugin
	weight int64
}

// Framework is one profile's plugins, ready to run. It implements
// framework.Handle. Run* methods other than the scheduling cycle's are
// safe for concurrent use (binding runs off the scheduling loop).
type Framework struct {
	profileName string
	percentage  int32
	opts        Options
	parallel    parallelizer

	plugins     map[string]framework.Plugin
	preFilter   []framework.PreFilterPlugin
	filter      []framework.FilterPlugin
	postFilter  []framework.PostFilterPlugin
	preScore    []framework.PreScorePlugin
	score       []weightedScore
	reserve     []framework.ReservePlugin
	permit      []framework.PermitPlugin
	preBind     []framework.PreBindPlugin
	bind        []framework.BindPlugin
	waitingPods *waitingPods

	snapshot atomic.Pointer[sharedListerBox]
	// nextStartNodeIndex rotates where Filter starts (scheduling loop
	// only).
	nextStartNodeIndex int
	mu                 sync.Mutex
}

type sharedListerBox struct{ framework.SharedLister }

var _ framework.Handle = (*Framework)(nil)

// New builds the profile's plugins from registry. Errors name the
// configuration field (the Path of the PluginRef or PluginArgs).
func New(ctx context.Context, registry framework.Registry, profile Profile, opts Options) (*Framework, error) {
	if opts.Parallelism <= 0 {
		opts.Parallelism = runtime.GOMAXPROCS(0)
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	f := &Framework{
		profileName: profile.SchedulerName,
		percentage:  profile.PercentageOfNodesToScore,
		opts:        opts,
		parallel:    parallelizer{workers: opts.Parallelism},
		plugins:     map[string]framework.Plugin{},
		waitingPods: newWaitingPods(),
	}
	for _, ref := range profile.names() {
		factory, ok := registry[ref.Name]
		if !ok {
			return nil, fmt.Errorf("%s.name: unknown plugin %q", ref.Path, ref.Name)
		}
		args := profile.Args[ref.Name]
		p, err := factory(ctx, args.Raw, f)
		if err != nil {
			where := args.Path
			if where == "" {
				where = ref.Path
			}
			return nil, fmt.Errorf("%s: plugin %q: %w", where, ref.Name, err)
		}
		f.plugins[ref.Name] = p
	}
	for _, point := range ExtensionPoints {
		implements := func(name string) bool { return implementsPoint(f.plugins[name], point) }
		for _, ref := range profile.pointRefs(point, implements) {
			p := f.plugins[ref.Name]
			if !implements(ref.Name) {
				return nil, fmt.Errorf("%s.name: plugin %q does not implement the %s extension point", ref.Path, ref.Name, point)
			}
			if err := f.add(point, p, ref); err != nil {
				return nil, err
			}
		}
	}
	if len(f.bind) == 0 {
		return nil, fmt.Errorf("profile %q: no bind plugin enabled (enable DefaultBinder)", profile.SchedulerName)
	}
	return f, nil
}

func implementsPoint(p framework.Plugin, point ExtensionPoint) bool {
	var ok bool
	switch point {
	case PreFilter:
		_, ok = p.(framework.PreFilterPlugin)
	case Filter:
		_, ok = p.(framework.FilterPlugin)
	case PostFilter:
		_, ok = p.(framework.PostFilterPlugin)
	case PreScore:
		_, ok = p.(framework.PreScorePlugin)
	case Score:
		_, ok = p.(framework.ScorePlugin)
	case Reserve:
		_, ok = p.(framework.ReservePlugin)
	case Permit:
		_, ok = p.(framework.PermitPlugin)
	case PreBind:
		_, ok = p.(framework.PreBindPlugin)
	case Bind:
		_, ok = p.(framework.BindPlugin)
	}
	return ok
}

func (f *Framework) add(point ExtensionPoint, p framework.Plugin, ref PluginRef) error {
	switch point {
	case PreFilter:
		f.preFilter = append(f.preFilter, p.(framework.PreFilterPlugin))
	case Filter:
		f.filter = append(f.filter, p.(framework.FilterPlugin))
	case PostFilter:
		f.postFilter = append(f.postFilter, p.(framework.PostFilterPlugin))
	case PreScore:
		f.preScore = append(f.preScore, p.(framework.PreScorePlugin))
	case Score:
		w := int64(ref.Weight)
		if w == 0 {
			w = 1
		}
		if w < 0 {
			return fmt.Errorf("%s.weight: %d must be positive", ref.Path, ref.Weight)
		}
		f.score = append(f.score, weightedScore{p.(framework.ScorePlugin), w})
	case Reserve:
		f.reserve = append(f.reserve, p.(framework.ReservePlugin))
	case Permit:
		f.permit = append(f.permit, p.(framework.PermitPlugin))
	case PreBind:
		f.preBind = append(f.preBind, p.(framework.PreBindPlugin))
	case Bind:
		f.bind = append(f.bind, p.(framework.BindPlugin))
	}
	return nil
}

// ProfileName is the schedulerName the profile serves.
func (f *Framework) ProfileName() string { return f.profileName }

// Plugin returns the plugin built under name (nil if none).
func (f *Framework) Plugin(name string) framework.Plugin { return f.plugins[name] }

// EventsToRegister maps each plugin that can reject pods (PreFilter,
// Filter, Reserve, Permit, PreBind) to the cluster events that may make a
// pod it rejected fit; a plugin without EnqueueExtensions maps to nil,
// which means any event.
func (f *Framework) EventsToRegister() map[string][]framework.ClusterEvent {
	out := map[string][]framework.ClusterEvent{}
	for name, p := range f.plugins {
		if ext, ok := p.(framework.EnqueueExtensions); ok {
			out[name] = ext.EventsToRegister()
		} else {
			out[name] = nil
		}
	}
	return out
}

// HasPostFilter reports whether the profile has PostFilter plugins.
func (f *Framework) HasPostFilter() bool { return len(f.postFilter) > 0 }

// SetSnapshot sets the snapshot of the cycle about to run.
func (f *Framework) SetSnapshot(s framework.SharedLister) {
	f.snapshot.Store(&sharedListerBox{s})
}

// SnapshotSharedLister implements framework.Handle.
func (f *Framework) SnapshotSharedLister() framework.SharedLister {
	if b := f.snapshot.Load(); b != nil {
		return b.SharedLister
	}
	return framework.NewSnapshot(nil, nil)
}

// ClientSet implements framework.Handle.
func (f *Framework) ClientSet() kubernetes.Interface { return f.opts.Client }

// SharedInformerFactory implements framework.Handle.
func (f *Framework) SharedInformerFactory() informers.SharedInformerFactory {
	return f.opts.InformerFactory
}

// EventRecorder implements framework.Handle.
func (f *Framework) EventRecorder() events.EventRecorder { return f.opts.EventRecorder }

// Parallelizer implements framework.Handle.
func (f *Framework) Parallelizer() framework.Parallelizer { return f.parallel }

// GetWaitingPod is the pod held by a Permit plugin, or nil.
func (f *Framework) GetWaitingPod(uid string) *WaitingPod { return f.waitingPods.get(uid) }

// RejectWaitingPod rejects a pod held by Permit (e.g. when it is
// deleted); it reports whether one was waiting.
func (f *Framework) RejectWaitingPod(pod *corev1.Pod) bool {
	if wp := f.waitingPods.get(string(pod.UID)); wp != nil {
		wp.Reject("", "pod was rejected")
		return true
	}
	return false
}
