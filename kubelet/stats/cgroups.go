package stats

import (
	"strings"

	"k8s.io/apimachinery/pkg/types"
)

// kubepods is the parent of all pod cgroups, as the kubelet names them.
const kubepods = "/kubepods"

// parsePodCgroup reads a cgroup name (a path from the cgroup root, as
// cadvisor names containers) in the kubelet's layout: it returns the pod
// UID of /kubepods[/burstable|/besteffort]/pod<uid>, and with it the
// container ID of a direct child of that pod cgroup. ok is false for any
// other cgroup (the QoS parents, deeper cgroups, other trees).
func parsePodCgroup(name string) (uid types.UID, containerID string, ok bool) {
	rest, found := strings.CutPrefix(name, kubepods+"/")
	if !found {
		return "", "", false
	}
	parts := strings.Split(rest, "/")
	if parts[0] == "burstable" || parts[0] == "besteffort" {
		parts = parts[1:]
	}
	if len(parts) == 0 || len(parts) > 2 {
		return "", "", false
	}
	u, isPod := strings.CutPrefix(parts[0], "pod")
	if !isPod || u == "" {
		return "", "", false
	}
	if len(parts) == 2 {
		if parts[1] == "" {
			return "", "", false
		}
		containerID = parts[1]
	}
	return types.UID(u), containerID, true
}
