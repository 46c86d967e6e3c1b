// Package stats is the kubelet's resource reporter. It runs a cadvisor
// manager (github.com/google/cadvisor/lib) over the host's cgroups, the
// root cgroup and the pod cgroups under /kubepods, and turns its samples
// into:
//
//   - Summary: the node and its pods in upstream's Summary API shape
//     (k8s.io/kubelet/pkg/apis/stats/v1alpha1), what /stats/summary and
//     the metrics API serve;
//   - Signals: the eviction signals (memory.available, nodefs, imagefs,
//     pid.available) for kubelet.Config.Signals;
//   - NodeUsage: the node's recent usage, which a Publisher writes on the
//     Node as the nodeusage.AnnotationKey annotation for the scheduler.
//
// Pod cgroups are laid out as the kubelet makes them (cgroupfs names):
// /kubepods/pod<uid> (Guaranteed), /kubepods/burstable/pod<uid> and
// /kubepods/besteffort/pod<uid>, each container's cgroup being
// <pod cgroup>/<runtime container ID>. Pods are named from the kubelet's
// pod list (by UID), containers through Config.Containers.
//
// cadvisor keeps process-wide state (its per-container housekeeping
// interval is a package variable, its container factories a global
// registry), so run one Reporter per process.
package stats
