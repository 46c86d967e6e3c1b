package frameworkruntime

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// ErrNoNodesAvailable is returned when the cluster has no nodes at all.
var ErrNoNodesAvailable = errors.New("no nodes available to schedule pods")

// Diagnosis is why a pod fits no node.
type Diagnosis struct {
	// NodeToStatus is each node's rejection.
	NodeToStatus framework.NodeToStatusMap
	// UnschedulablePlugins rejected the pod: the queue moves it back on
	// the cluster events they registered.
	UnschedulablePlugins map[string]bool
	// PreFilterMsg is set when a PreFilter plugin rejected the pod;
	// PostFilterMsg is the PostFilter's (preemption's) message.
	PreFilterMsg  string
	PostFilterMsg string
}

// FitError is the error of a cycle that found no node for the pod. Its
// Error is upstream's message, the FailedScheduling event users read.
type FitError struct {
	Pod         *corev1.Pod
	NumAllNodes int
	Diagnosis   Diagnosis
}

// Error is "0/N nodes are available: <reasons>." with the reasons counted
// across nodes and sorted as strings, as upstream's FitError; a
// PreFilter's message replaces the counts, and the PostFilter's message
// is appended (one final period, whether or not the plugin's message
// ends with one).
func (f *FitError) Error() string {
	msg := fmt.Sprintf("0/%v nodes are available:", f.NumAllNodes)
	if f.Diagnosis.PreFilterMsg != "" {
		msg += " " + f.Diagnosis.PreFilterMsg + "."
	} else if reasons := reasonsHistogram(f.Diagnosis.NodeToStatus); len(reasons) > 0 {
		msg += " " + strings.Join(reasons, ", ") + "."
	}
	if f.Diagnosis.PostFilterMsg != "" {
		msg += " " + strings.TrimSuffix(f.Diagnosis.PostFilterMsg, ".") + "."
	}
	return msg
}

// reasonsHistogram is "<count> <reason>" for each distinct reason,
// sorted.
func reasonsHistogram(m framework.NodeToStatusMap) []string {
	counts := map[string]int{}
	for _, s := range m {
		for _, r := range s.Reasons() {
			counts[r]++
		}
	}
	out := make([]string, 0, len(counts))
	for r, n := range counts {
		out = append(out, fmt.Sprintf("%v %v", n, r))
	}
	sort.Strings(out)
	return out
}
