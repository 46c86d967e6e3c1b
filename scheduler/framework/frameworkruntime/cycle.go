package frameworkruntime

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// ScheduleResult is a successful cycle's choice.
type ScheduleResult struct {
	SuggestedHost string
	// EvaluatedNodes were filtered; FeasibleNodes fit.
	EvaluatedNodes, FeasibleNodes int
}

// minFeasibleNodesToFind: with fewer nodes than this every node is
// filtered; otherwise at least this many feasible nodes are found.
const minFeasibleNodesToFind = 100

// minFeasibleNodesPercentageToFind is the floor of the adaptive
// percentage.
const minFeasibleNodesPercentageToFind = 5

// NumFeasibleNodesToFind is how many feasible nodes a cycle looks for
// among numAllNodes, as upstream: percentage 0 is adaptive (50% minus one
// point per 125 nodes, at least 5%), and at least 100 nodes.
func NumFeasibleNodesToFind(percentage int32, numAllNodes int32) int32 {
	if numAllNodes < minFeasibleNodesToFind || percentage >= 100 {
		return numAllNodes
	}
	if percentage <= 0 {
		percentage = 50 - numAllNodes/125
		if percentage < minFeasibleNodesPercentageToFind {
			percentage = minFeasibleNodesPercentageToFind
		}
	}
	n := numAllNodes * percentage / 100
	if n < minFeasibleNodesToFind {
		return minFeasibleNodesToFind
	}
	return n
}

// SchedulePod runs PreFilter, Filter, PreScore and Score for pod on the
// snapshot set with SetSnapshot and returns the chosen node. When no node
// fits it returns a *FitError (PostFilter is not run here: see
// RunPostFilterPlugins); other errors are internal failures. It must be
// called from one goroutine at a time (the scheduling loop).
func (f *Framework) SchedulePod(ctx context.Context, state *framework.CycleState, pod *corev1.Pod) (ScheduleResult, error) {
	all, err := f.SnapshotSharedLister().NodeInfos().List()
	if err != nil {
		return ScheduleResult{}, err
	}
	if len(all) == 0 {
		return ScheduleResult{}, ErrNoNodesAvailable
	}
	diag := Diagnosis{NodeToStatus: framework.NodeToStatusMap{}, UnschedulablePlugins: map[string]bool{}}
	feasible, err := f.findFeasibleNodes(ctx, state, pod, all, &diag)
	if err != nil {
		return ScheduleResult{}, err
	}
	if len(feasible) == 0 {
		return ScheduleResult{}, &FitError{Pod: pod, NumAllNodes: len(all), Diagnosis: diag}
	}
	evaluated := len(feasible) + len(diag.NodeToStatus)
	if len(feasible) == 1 {
		return ScheduleResult{SuggestedHost: feasible[0].Node().Name, EvaluatedNodes: evaluated, FeasibleNodes: 1}, nil
	}
	if s := f.RunPreScorePlugins(ctx, state, pod, feasible); !s.IsSuccess() {
		return ScheduleResult{}, s.AsError()
	}
	scores, s := f.RunScorePlugins(ctx, state, pod, feasible)
	if !s.IsSuccess() {
		return ScheduleResult{}, s.AsError()
	}
	return ScheduleResult{SuggestedHost: selectHost(scores), EvaluatedNodes: evaluated, FeasibleNodes: len(feasible)}, nil
}

// findFeasibleNodes runs PreFilter and then Filter over the nodes, from
// a start position that rotates between cycles, until enough nodes fit.
func (f *Framework) findFeasibleNodes(ctx context.Context, state *framework.CycleState, pod *corev1.Pod, all []*framework.NodeInfo, diag *Diagnosis) ([]*framework.NodeInfo, error) {
	result, s, narrowedBy := f.RunPreFilterPlugins(ctx, state, pod, all)
	if !s.IsSuccess() {
		if !s.IsRejected() {
			return nil, s.AsError()
		}
		diag.PreFilterMsg = s.Message()
		if s.Plugin() != "" {
			diag.UnschedulablePlugins[s.Plugin()] = true
		}
		for _, ni := range all {
			diag.NodeToStatus[ni.Node().Name] = s
		}
		return nil, nil
	}
	nodes := all
	if !result.AllNodes() {
		nodes = make([]*framework.NodeInfo, 0, len(result.NodeNames))
		// As upstream: the nodes a PreFilterResult left out are
		// unresolvable, naming the plugins that narrowed the nodes.
		slices.Sort(narrowedBy)
		absent := framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf("node(s) didn't satisfy plugin(s) %v", narrowedBy))
		for _, name := range narrowedBy {
			diag.UnschedulablePlugins[name] = true
		}
		for _, ni := range all {
			if result.NodeNames.Has(ni.Node().Name) {
				nodes = append(nodes, ni)
			} else {
				diag.NodeToStatus[ni.Node().Name] = absent
			}
		}
	}
	if len(nodes) == 0 {
		return nil, nil
	}
	want := int(NumFeasibleNodesToFind(f.percentage, int32(len(nodes))))
	start := f.nextStartNodeIndex % len(nodes)
	feasible := make([]*framework.NodeInfo, want)
	var found, processed atomic.Int32
	var mu sync.Mutex
	var firstErr error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var nominated map[string][]*framework.PodInfo
	if f.opts.Nominator != nil {
		nominated = f.opts.Nominator.NominatedPods()
	}
	check := func(i int) {
		ni := nodes[(start+i)%len(nodes)]
		var s *framework.Status
		if len(f.filter) > 0 || len(nominated) > 0 {
			s = f.runFilterWithNominatedPods(ctx, state, pod, ni, nominated[ni.Node().Name])
		}
		processed.Add(1)
		if s.IsSuccess() {
			n := found.Add(1)
			if int(n) > want {
				cancel()
				found.Add(-1)
				processed.Add(-1)
				return
			}
			feasible[n-1] = ni
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if s.IsRejected() {
			diag.NodeToStatus[ni.Node().Name] = s
			if s.Plugin() != "" {
				diag.UnschedulablePlugins[s.Plugin()] = true
			}
		} else if firstErr == nil {
			firstErr = s.AsError()
			cancel()
		}
	}
	if len(f.filter) == 0 && len(nominated) == 0 {
		for i := 0; i < len(nodes) && i < want; i++ {
			check(i)
		}
	} else {
		f.parallel.Until(ctx, len(nodes), check)
	}
	if firstErr != nil {
		return nil, firstErr
	}
	f.nextStartNodeIndex = (start + int(processed.Load())) % len(all)
	return feasible[:found.Load()], nil
}

// RunPreFilterPlugins runs every PreFilter plugin; their results are
// intersected. A Skip marks the plugin's Filter as skipped in state.
// narrowedBy names the plugins whose result did not keep all nodes.
func (f *Framework) RunPreFilterPlugins(ctx context.Context, state *framework.CycleState, pod *corev1.Pod, nodes []*framework.NodeInfo) (_ *framework.PreFilterResult, _ *framework.Status, narrowedBy []string) {
	var result *framework.PreFilterResult
	for _, p := range f.preFilter {
		r, s := p.PreFilter(ctx, state, pod, nodes)
		if s.IsSkip() {
			state.SkipFilterPlugins[p.Name()] = true
			continue
		}
		if !s.IsSuccess() {
			if s.IsRejected() {
				return nil, s.WithPlugin(p.Name()), nil
			}
			return nil, framework.AsStatus(fmt.Errorf("running PreFilter plugin %q: %w", p.Name(), s.AsError())).WithPlugin(p.Name()), nil
		}
		if r.AllNodes() {
			continue
		}
		narrowedBy = append(narrowedBy, p.Name())
		if result == nil {
			result = &framework.PreFilterResult{NodeNames: sets.New(r.NodeNames.UnsortedList()...)}
		} else {
			result.NodeNames = result.NodeNames.Intersection(r.NodeNames)
		}
		if result.NodeNames.Len() == 0 {
			msg := fmt.Sprintf("node(s) didn't satisfy plugin(s) %v simultaneously", narrowedBy)
			if len(narrowedBy) == 1 {
				msg = fmt.Sprintf("node(s) didn't satisfy plugin %v", narrowedBy[0])
			}
			return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, msg).WithPlugin(p.Name()), narrowedBy
		}
	}
	return result, nil, narrowedBy
}

// RunFilterPlugins implements framework.PluginsRunner: the first
// rejection (or error) of the profile's Filter plugins on nodeInfo.
func (f *Framework) RunFilterPlugins(ctx context.Context, state *framework.CycleState, pod *corev1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	for _, p := range f.filter {
		if state.SkipFilterPlugins[p.Name()] {
			continue
		}
		if s := p.Filter(ctx, state, pod, nodeInfo); !s.IsSuccess() {
			if !s.IsRejected() {
				return framework.AsStatus(fmt.Errorf("running Filter plugin %q: %w", p.Name(), s.AsError())).WithPlugin(p.Name())
			}
			return s.WithPlugin(p.Name())
		}
	}
	return nil
}

// RunFilterPluginsWithNominatedPods is upstream's two-pass rule: when
// pods of equal or higher priority are nominated to the node, the pod
// must fit both with them (as if they were running) and without them
// (for anti-affinity and spread, which their absence can affect).
// DefaultPreemption uses it for its dry runs.
func (f *Framework) RunFilterPluginsWithNominatedPods(ctx context.Context, state *framework.CycleState, pod *corev1.Pod, ni *framework.NodeInfo) *framework.Status {
	return f.runFilterWithNominatedPods(ctx, state, pod, ni, f.NominatedPodsForNode(ni.Node().Name))
}

// NominatedPodsForNode is the pods nominated to nodeName by preemption
// and not bound yet (upstream's PodNominator; DefaultPreemption uses it).
func (f *Framework) NominatedPodsForNode(nodeName string) []*framework.PodInfo {
	if f.opts.Nominator == nil {
		return nil
	}
	return f.opts.Nominator.NominatedPodsForNode(nodeName)
}

// runFilterWithNominatedPods is RunFilterPluginsWithNominatedPods with
// the node's nominated pods given (read once per cycle).
func (f *Framework) runFilterWithNominatedPods(ctx context.Context, state *framework.CycleState, pod *corev1.Pod, ni *framework.NodeInfo, onNode []*framework.PodInfo) *framework.Status {
	var nominated []*framework.PodInfo
	for _, p := range onNode {
		if p.Pod.UID != pod.UID && podPriority(p.Pod) >= podPriority(pod) {
			nominated = append(nominated, p)
		}
	}
	if len(nominated) > 0 {
		withNominated := ni.Clone()
		stateWith := state.Clone()
		for _, p := range nominated {
			withNominated.AddPodInfo(p)
			if s := f.RunPreFilterExtensionAddPod(ctx, stateWith, pod, p, withNominated); !s.IsSuccess() {
				return s
			}
		}
		if s := f.RunFilterPlugins(ctx, stateWith, pod, withNominated); !s.IsSuccess() {
			return s
		}
	}
	return f.RunFilterPlugins(ctx, state, pod, ni)
}

func podPriority(p *corev1.Pod) int32 {
	if p.Spec.Priority != nil {
		return *p.Spec.Priority
	}
	return 0
}

// RunPreFilterExtensionAddPod implements framework.PluginsRunner.
func (f *Framework) RunPreFilterExtensionAddPod(ctx context.Context, state *framework.CycleState, podToSchedule *corev1.Pod, podInfoToAdd *framework.PodInfo, nodeInfo *framework.NodeInfo) *framework.Status {
	for _, p := range f.preFilter {
		ext := p.PreFilterExtensions()
		if ext == nil || state.SkipFilterPlugins[p.Name()] {
			continue
		}
		if s := ext.AddPod(ctx, state, podToSchedule, podInfoToAdd, nodeInfo); !s.IsSuccess() {
			return framework.AsStatus(fmt.Errorf("running AddPod on PreFilter plugin %q: %w", p.Name(), s.AsError())).WithPlugin(p.Name())
		}
	}
	return nil
}

// RunPreFilterExtensionRemovePod implements framework.PluginsRunner.
func (f *Framework) RunPreFilterExtensionRemovePod(ctx context.Context, state *framework.CycleState, podToSchedule *corev1.Pod, podInfoToRemove *framework.PodInfo, nodeInfo *framework.NodeInfo) *framework.Status {
	for _, p := range f.preFilter {
		ext := p.PreFilterExtensions()
		if ext == nil || state.SkipFilterPlugins[p.Name()] {
			continue
		}
		if s := ext.RemovePod(ctx, state, podToSchedule, podInfoToRemove, nodeInfo); !s.IsSuccess() {
			return framework.AsStatus(fmt.Errorf("running RemovePod on PreFilter plugin %q: %w", p.Name(), s.AsError())).WithPlugin(p.Name())
		}
	}
	return nil
}

// RunPostFilterPlugins runs PostFilter plugins (preemption) until one
// succeeds. The returned status's message is what the FitError appends.
func (f *Framework) RunPostFilterPlugins(ctx context.Context, state *framework.CycleState, pod *corev1.Pod, filtered framework.NodeToStatusMap) (*framework.PostFilterResult, *framework.Status) {
	var reasons []string
	var result *framework.PostFilterResult
	for _, p := range f.postFilter {
		r, s := p.PostFilter(ctx, state, pod, filtered)
		if s.IsSuccess() {
			return r, nil
		}
		if !s.IsRejected() {
			return nil, framework.AsStatus(fmt.Errorf("running PostFilter plugin %q: %w", p.Name(), s.AsError())).WithPlugin(p.Name())
		}
		if r != nil && r.NominatedNodeName != "" {
			result = r
		}
		reasons = append(reasons, s.Reasons()...)
	}
	return result, framework.NewStatus(framework.Unschedulable, reasons...)
}

// RunPreScorePlugins runs PreScore plugins; a Skip marks the plugin's
// Score as skipped.
func (f *Framework) RunPreScorePlugins(ctx context.Context, state *framework.CycleState, pod *corev1.Pod, nodes []*framework.NodeInfo) *framework.Status {
	for _, p := range f.preScore {
		s := p.PreScore(ctx, state, pod, nodes)
		if s.IsSkip() {
			state.SkipScorePlugins[p.Name()] = true
			continue
		}
		if !s.IsSuccess() {
			return framework.AsStatus(fmt.Errorf("running PreScore plugin %q: %w", p.Name(), s.AsError())).WithPlugin(p.Name())
		}
	}
	return nil
}

// RunScorePlugins scores the nodes with each Score plugin (in parallel
// over nodes), normalizes each plugin's scores, checks they are within
// [MinNodeScore, MaxNodeScore], and returns the weighted sums.
func (f *Framework) RunScorePlugins(ctx context.Context, state *framework.CycleState, pod *corev1.Pod, nodes []*framework.NodeInfo) (framework.NodeScoreList, *framework.Status) {
	var plugins []weightedScore
	for _, p := range f.score {
		if !state.SkipScorePlugins[p.Name()] {
			plugins = append(plugins, p)
		}
	}
	perPlugin := make([]framework.NodeScoreList, len(plugins))
	for i := range perPlugin {
		perPlugin[i] = make(framework.NodeScoreList, len(nodes))
	}
	var errOnce sync.Once
	var firstErr *framework.Status
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if len(plugins) > 0 {
		f.parallel.Until(ctx, len(nodes), func(n int) {
			name := nodes[n].Node().Name
			for i, p := range plugins {
				score, s := p.Score(ctx, state, pod, nodes[n])
				if !s.IsSuccess() {
					errOnce.Do(func() {
						firstErr = framework.AsStatus(fmt.Errorf("running Score plugin %q: %w", p.Name(), s.AsError())).WithPlugin(p.Name())
						cancel()
					})
					return
				}
				perPlugin[i][n] = framework.NodeScore{Name: name, Score: score}
			}
		})
	}
	if firstErr != nil {
		return nil, firstErr
	}
	total := make(framework.NodeScoreList, len(nodes))
	for n, ni := range nodes {
		total[n].Name = ni.Node().Name
	}
	for i, p := range plugins {
		if ext := p.ScoreExtensions(); ext != nil {
			if s := ext.NormalizeScore(ctx, state, pod, perPlugin[i]); !s.IsSuccess() {
				return nil, framework.AsStatus(fmt.Errorf("running NormalizeScore of plugin %q: %w", p.Name(), s.AsError())).WithPlugin(p.Name())
			}
		}
		for n, ns := range perPlugin[i] {
			if ns.Score < framework.MinNodeScore || ns.Score > framework.MaxNodeScore {
				return nil, framework.AsStatus(fmt.Errorf("plugin %q returns an invalid score %v for node %q, it should be in [%d, %d] after normalizing",
					p.Name(), ns.Score, ns.Name, framework.MinNodeScore, framework.MaxNodeScore)).WithPlugin(p.Name())
			}
			total[n].Score += ns.Score * p.weight
		}
	}
	return total, nil
}

// selectHost picks a node with the highest score, uniformly among ties.
func selectHost(scores framework.NodeScoreList) string {
	best, ties := 0, 1
	for i := 1; i < len(scores); i++ {
		switch {
		case scores[i].Score > scores[best].Score:
			best, ties = i, 1
		case scores[i].Score == scores[best].Score:
			ties++
			if rand.IntN(ties) == 0 {
				best = i
			}
		}
	}
	return scores[best].Name
}

// ScorePluginNames lists the profile's score plugins with weights (for
// logs and tests).
func (f *Framework) ScorePluginNames() []string {
	var out []string
	for _, p := range f.score {
		out = append(out, fmt.Sprintf("%s=%d", p.Name(), p.weight))
	}
	sort.Strings(out)
	return out
}

// FilterPluginNames lists the profile's filter plugins in order.
func (f *Framework) FilterPluginNames() string {
	var out []string
	for _, p := range f.filter {
		out = append(out, p.Name())
	}
	return strings.Join(out, ",")
}
