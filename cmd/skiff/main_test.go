package main

import (
	"strings"
	"testing"
	"time"
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
		{"an unknown eviction signal", []string{"kubelet", "--eviction-hard", "cpu.available<1"}, "--eviction-hard"},
		{"a taint without an effect", []string{"kubelet", "--register-with-taints", "dedicated=gpu"}, "--register-with-taints"},
		{"a taint with a bad effect", []string{"kubelet", "--register-with-taints", "dedicated=gpu:Never"}, `effect "Never"`},
		{"a kubelet port out of range", []string{"kubelet", "--kubelet-port", "70000"}, "--kubelet-port"},
		{"a certificate without its key", []string{"kubelet", "--tls-cert-file", "/tmp/x.crt"}, "--tls-private-key-file"},
		{"a pod CIDR that is not a CIDR", []string{"kubelet", "--pod-cidr", "10.244.1.0"}, "--pod-cidr"},
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

func TestKubeletFlagsBecomeAgentConfig(t *testing.T) {
	o := kubeletOptions{clusterCIDR: "10.244.0.0/16", reservedCPU: "250m", reservedMemory: "256Mi",
		taints:       []string{"dedicated=gpu:NoSchedule", "node-role.kubernetes.io/control-plane:NoExecute"},
		evictionHard: "memory.available<1Gi", pressurePeriod: time.Minute, port: 10250}
	cfg, err := o.agentConfig(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Taints) != 2 || cfg.Taints[0].Key != "dedicated" || cfg.Taints[0].Value != "gpu" || cfg.Taints[0].Effect != "NoSchedule" ||
		cfg.Taints[1].Key != "node-role.kubernetes.io/control-plane" || cfg.Taints[1].Value != "" || cfg.Taints[1].Effect != "NoExecute" {
		t.Errorf("taints %+v", cfg.Taints)
	}
	if q := cfg.EvictionHard["memory.available"].Quantity; q.String() != "1Gi" || len(cfg.EvictionHard) != 1 {
		t.Errorf("eviction thresholds %+v", cfg.EvictionHard)
	}
	if cfg.PressureTransitionPeriod != time.Minute || cfg.SystemReservedCPU.MilliValue() != 250 {
		t.Errorf("transition period %v, reserved cpu %s", cfg.PressureTransitionPeriod, cfg.SystemReservedCPU.String())
	}
}
