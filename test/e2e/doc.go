// Package e2e holds the real-cluster tests: a real API server on embedded
// etcd, a real containerd and runc started by the test, and the kubelet's
// pod network inside a network namespace the test creates (nothing touches
// the host's own network). They need root and skip without it.
package e2e
