package install

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Units of each role, in start order.
var (
	MasterUnits = []string{"skiff-apiserver", "skiff-controller-manager", "skiff-scheduler", "skiff-kubelet", "skiff-proxy", "skiff-dns"}
	WorkerUnits = []string{"skiff-kubelet", "skiff-proxy", "skiff-dns"}
)

// UnitCommand is the command line the unit runs (its ExecStart), with the
// configs in etcDir: `skiff <component> --config <etcDir>/<component>.yaml`.
func UnitCommand(unit, etcDir string) string {
	component := strings.TrimPrefix(unit, "skiff-")
	return fmt.Sprintf("skiff %s --config %s", component, filepath.Join(etcDir, component+".yaml"))
}

// SystemdRunning reports whether systemd manages this host (as
// sd_booted: /run/systemd/system exists).
func SystemdRunning() bool {
	_, err := os.Stat("/run/systemd/system")
	return err == nil
}

// StartUnits enables and starts units with systemctl when systemd runs and
// returns nil; without systemd it starts nothing and returns the commands
// to run instead (one per unit), for the caller to print.
func StartUnits(ctx context.Context, units []string, etcDir string) ([]string, error) {
	if !SystemdRunning() {
		var cmds []string
		for _, u := range units {
			cmds = append(cmds, UnitCommand(u, etcDir))
		}
		return cmds, nil
	}
	for _, args := range [][]string{{"daemon-reload"}, append([]string{"enable", "--now"}, units...)} {
		if out, err := exec.CommandContext(ctx, "systemctl", args...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("systemctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil, nil
}
