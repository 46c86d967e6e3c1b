// Package container turns one container of a pod into a
// runtime.ContainerConfig, as the kubelet does before asking the runtime to
// create it: environment (values, downward API, configMaps and secrets,
// $(VAR) expansion), resources and the pod's cgroup parent per QoS class,
// the resolved securityContext, volume mounts, /etc/hosts, /etc/resolv.conf
// and the termination-message file.
//
// It also materializes the pod's volumes on disk under
// <RootDir>/pods/<uid>/volumes/<plugin>/<name> (Volumes) and creates the
// pod-level cgroups (Cgroups). The rules follow upstream's kubelet
// (k8s.io/kubernetes/pkg/kubelet) so that manifests behave the same, and
// the error messages are the ones users know from `kubectl describe pod`.
//
// The kubelet core calls Builder.Build through a hook; nothing in this
// package starts containers.
package container
