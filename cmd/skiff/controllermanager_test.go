package main

import (
	"strings"
	"testing"
)

// TestBadControllerManagerFlagsNameTheFlag runs `skiff controller-manager`
// and `skiff up` with bad flags: each fails before starting anything.
func TestBadControllerManagerFlagsNameTheFlag(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"an unknown controller", []string{"controller-manager", "--controllers", "*,-nope"}, `--controllers: unknown controller "nope"`},
		{"a bad cluster CIDR", []string{"controller-manager", "--cluster-cidr", "10.244.0.0"}, "--cluster-cidr"},
		{"zero gc workers", []string{"controller-manager", "--concurrent-gc-syncs", "0"}, "--concurrent-gc-syncs: 0 must be positive"},
		{"a negative grace period", []string{"controller-manager", "--node-monitor-grace-period", "-1s"}, "--node-monitor-grace-period"},
		{"a healthz address without a port", []string{"controller-manager", "--healthz-bind-address", "127.0.0.1"}, "--healthz-bind-address"},
		{"a renew deadline longer than the lease", []string{"controller-manager", "--leader-elect-renew-deadline", "20s"}, "--leader-elect-lease-duration"},
		{"a missing kubeconfig", []string{"controller-manager", "--kubeconfig", dir + "/none"}, "--kubeconfig"},
		{"a bad controller list in up", []string{"up", "--data-dir", dir, "--controllers", "-nope"}, "--controllers"},
		{"a bad lease in up", []string{"up", "--data-dir", dir, "--controller-manager-leader-elect-retry-period", "0s"}, "--controller-manager-leader-elect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := newRootCommand()
			root.SetArgs(tc.args)
			err := root.Execute()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %s", err, tc.want)
			}
		})
	}
}
