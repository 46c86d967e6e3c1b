package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadSchedulerFlagsNameTheFlag runs `skiff scheduler` and `skiff up`
// with bad scheduler flags: each fails before starting anything.
func TestBadSchedulerFlagsNameTheFlag(t *testing.T) {
	dir := t.TempDir()
	badConfig := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badConfig, []byte(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- plugins:
    score:
      enabled:
      - name: NodeResourcesFit
      - name: Foo
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a config naming an unknown plugin", []string{"scheduler", "--config", badConfig}, `--config ` + badConfig + `: profiles[0].plugins.score.enabled[1].name: unknown plugin "Foo"`},
		{"a missing config file", []string{"scheduler", "--config", filepath.Join(dir, "none.yaml")}, "--config"},
		{"a healthz address without a port", []string{"scheduler", "--healthz-bind-address", "127.0.0.1"}, "--healthz-bind-address"},
		{"a renew deadline longer than the lease", []string{"scheduler", "--leader-elect-renew-deadline", "20s"}, "--leader-elect-lease-duration"},
		{"a zero qps", []string{"scheduler", "--kube-api-qps", "0"}, "--kube-api-qps"},
		{"a bad scheduler config in up", []string{"up", "--data-dir", dir, "--scheduler-config", badConfig}, "--scheduler-config"},
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
