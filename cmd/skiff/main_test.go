package main

import (
	"strings"
	"testing"
)

// TestBadFlagsNameTheFlag runs the server commands with bad flags: each
// fails before starting anything, with an error naming the flag.
func TestBadFlagsNameTheFlag(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a bind address that is not an IP", []string{"apiserver", "--data-dir", t.TempDir(), "--bind-address", "not-an-ip"}, "--bind-address"},
		{"a port out of range", []string{"up", "--data-dir", t.TempDir(), "--secure-port", "70000"}, "--secure-port"},
		{"a service range that is not a CIDR", []string{"apiserver", "--data-dir", t.TempDir(), "--service-cluster-ip-range", "10.96.0.0", "--secure-port", "0", "--etcd-client-port", "0", "--etcd-peer-port", "0"}, "--service-cluster-ip-range"},
		{"an unknown flag", []string{"apiserver", "--no-such-flag"}, "no-such-flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := newRootCommand()
			root.SetArgs(tc.args)
			err := root.Execute()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestVersionPrintsSkiffAndKubernetesVersions(t *testing.T) {
	root := newRootCommand()
	var out strings.Builder
	root.SetOut(&out)
	root.SetArgs([]string{"version"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "skiff ") || !strings.Contains(out.String(), "kubernetes v1.") {
		t.Errorf("version printed %q", out.String())
	}
}
