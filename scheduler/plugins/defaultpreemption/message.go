package defaultpreemption

import (
	"fmt"
	"sort"
	"strings"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// fitMessage is upstream's FitError message for a preemption that found
// no candidate: "0/N nodes are available: <count> <reason>, ...." with
// each node's reasons counted (nodes without a status count with
// absentReason) and sorted as strings.
func fitMessage(numAllNodes int, statuses framework.NodeToStatusMap, absentReason string) string {
	counts := map[string]int{}
	for _, s := range statuses {
		for _, r := range s.Reasons() {
			counts[r]++
		}
	}
	if absent := numAllNodes - len(statuses); absent > 0 {
		counts[absentReason] += absent
	}
	reasons := make([]string, 0, len(counts))
	for r, n := range counts {
		reasons = append(reasons, fmt.Sprintf("%v %v", n, r))
	}
	sort.Strings(reasons)
	msg := fmt.Sprintf("0/%v nodes are available:", numAllNodes)
	if len(reasons) > 0 {
		msg += " " + strings.Join(reasons, ", ") + "."
	}
	return msg
}
