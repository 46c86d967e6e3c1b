package main

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/spf13/pflag"
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
		{"a zero signing duration", []string{"controller-manager", "--cluster-signing-duration", "0s"}, "--cluster-signing-duration"},
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

// TestClusterSigningFlagsReachTheSigner checks upstream's defaults of the
// --cluster-signing-* flags and that they reach the csrsigning
// controller's options, in `skiff controller-manager` and `skiff up`.
func TestClusterSigningFlagsReachTheSigner(t *testing.T) {
	for _, tc := range []struct {
		name, prefix string
		args         []string
		want         map[string]string
	}{
		{"defaults", "", nil, map[string]string{"cluster-signing-cert-file": "/var/lib/skiff/pki/ca.crt",
			"cluster-signing-key-file": "/var/lib/skiff/pki/ca.key", "cluster-signing-duration": "8760h0m0s"}},
		{"set", "", []string{"--cluster-signing-cert-file=/etc/ca.pem", "--cluster-signing-key-file=/etc/ca-key.pem", "--cluster-signing-duration=720h"},
			map[string]string{"cluster-signing-cert-file": "/etc/ca.pem", "cluster-signing-key-file": "/etc/ca-key.pem", "cluster-signing-duration": "720h0m0s"}},
		{"set in up", "controller-manager-", []string{"--cluster-signing-duration=1h"}, map[string]string{"cluster-signing-duration": "1h0m0s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o controllerManagerOptions
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			o.addFlags(fs, tc.prefix)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			cfg, err := o.managerConfig(fs, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.want {
				if cfg.Options[k] != v {
					t.Errorf("option %s = %q, want %q", k, cfg.Options[k], v)
				}
			}
		})
	}
}
