package packaging

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/skiffk8s/skiff/test/nodetest"
)

// unit is a parsed unit file: section → key → values in order.
type unit map[string]map[string][]string

func (u unit) get(section, key string) (string, bool) {
	v := u[section][key]
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

// words are the space-separated words of every occurrence of key.
func (u unit) words(section, key string) []string {
	var w []string
	for _, v := range u[section][key] {
		w = append(w, strings.Fields(v)...)
	}
	return w
}

var (
	sectionRE = regexp.MustCompile(`^\[(Unit|Service|Install)\]$`)
	keyRE     = regexp.MustCompile(`^([A-Z][A-Za-z0-9]*)=(.*)$`)
)

// parseUnit parses a unit file strictly: only comments, the sections Unit,
// Service and Install (each once) and Key=value lines inside them; no
// line continuations.
func parseUnit(path string) (unit, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case strings.HasSuffix(line, `\`):
			return nil, fmt.Errorf("%s:%d: line continuation", path, n)
		case sectionRE.MatchString(line):
			section = sectionRE.FindStringSubmatch(line)[1]
			if _, dup := u[section]; dup {
				return nil, fmt.Errorf("%s:%d: section %s twice", path, n, section)
			}
			u[section] = map[string][]string{}
		case keyRE.MatchString(line):
			if section == "" {
				return nil, fmt.Errorf("%s:%d: key outside a section", path, n)
			}
			m := keyRE.FindStringSubmatch(line)
			u[section][m[1]] = append(u[section][m[1]], m[2])
		default:
			return nil, fmt.Errorf("%s:%d: cannot parse %q", path, n, line)
		}
	}
	return u, sc.Err()
}

func readUnits(t *testing.T) map[string]unit {
	t.Helper()
	units := map[string]unit{}
	for _, c := range Components {
		u, err := parseUnit(filepath.Join("..", "systemd", "skiff-"+c+".service"))
		if err != nil {
			t.Fatal(err)
		}
		units[c] = u
	}
	return units
}

// mountNamespaceKeys each give a service a mount namespace of its own (or
// hide the host's devices, kernel tunables, cgroups). The kubelet's netns
// bind mounts and volume mounts would then be invisible to containerd.
var mountNamespaceKeys = []string{
	"ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "PrivateMounts",
	"ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups",
	"ProtectProc", "ProcSubset", "ReadOnlyPaths", "ReadWritePaths", "InaccessiblePaths",
	"ExecPaths", "NoExecPaths", "TemporaryFileSystem", "BindPaths", "BindReadOnlyPaths",
	"RootDirectory", "RootImage", "MountFlags", "MountAPIVFS", "DynamicUser",
}

// hostNetworkKeys take away what the kubelet and the proxy need for
// network namespaces, iptables and sysctls.
var hostNetworkKeys = []string{
	"PrivateNetwork", "NetworkNamespacePath", "JoinsNamespaceOf", "PrivateUsers",
	"ProtectKernelTunables", "ProtectKernelModules", "RestrictNamespaces", "SystemCallFilter",
	"User", "DynamicUser", "IPAddressDeny",
}

func TestUnits(t *testing.T) {
	units := readUnits(t)
	for _, c := range Components {
		u := units[c]
		t.Run(c, func(t *testing.T) {
			if d, _ := u.get("Unit", "Description"); d == "" {
				t.Error("no Description")
			}
			if v, _ := u.get("Service", "Type"); v != "exec" {
				t.Errorf("Type=%s, want exec (start fails when the binary cannot run)", v)
			}
			want := "/usr/bin/skiff " + c + " --config /etc/skiff/" + c + ".yaml"
			if v := u["Service"]["ExecStart"]; len(v) != 1 || v[0] != want {
				t.Errorf("ExecStart=%v, want %q", v, want)
			}
			if v, _ := u.get("Service", "Restart"); v != "always" {
				t.Errorf("Restart=%s, want always", v)
			}
			if v, _ := u.get("Service", "RestartSec"); v == "" {
				t.Error("no RestartSec: a crash loop would spin at systemd's 100ms")
			} else if d, err := time.ParseDuration(v); err != nil || d < time.Second {
				t.Errorf("RestartSec=%s, want a back-off of at least 1s", v)
			}
			if v, _ := u.get("Unit", "StartLimitIntervalSec"); v != "0" {
				t.Errorf("StartLimitIntervalSec=%s, want 0 (never give up restarting)", v)
			}
			if v, _ := u.get("Install", "WantedBy"); v != "multi-user.target" {
				t.Errorf("WantedBy=%s, want multi-user.target", v)
			}
			if !slices.Contains(u.words("Unit", "After"), "network-online.target") {
				t.Error("not After=network-online.target")
			}
		})
	}
}

func TestKubeletUnitWaitsForContainerd(t *testing.T) {
	u := readUnits(t)["kubelet"]
	for _, key := range []string{"After", "Wants"} {
		if !slices.Contains(u.words("Unit", key), "containerd.service") {
			t.Errorf("kubelet unit: %s=%v lacks containerd.service", key, u.words("Unit", key))
		}
	}
}

// The kubelet and the proxy run pods' networks and iptables: no option
// may take the host's mounts, network or capabilities from them.
func TestPrivilegedUnitsKeepTheHost(t *testing.T) {
	units := readUnits(t)
	for _, c := range []string{"kubelet", "proxy"} {
		u := units[c]
		forbidden := hostNetworkKeys
		if c == "kubelet" {
			forbidden = append(slices.Clone(forbidden), mountNamespaceKeys...)
		}
		for _, k := range forbidden {
			if v, ok := u.get("Service", k); ok {
				t.Errorf("%s unit: %s=%s would break it", c, k, v)
			}
		}
		if caps, ok := u.get("Service", "CapabilityBoundingSet"); ok {
			for _, need := range []string{"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_SYS_ADMIN"} {
				if !strings.Contains(caps, need) {
					t.Errorf("%s unit: CapabilityBoundingSet=%s lacks %s", c, caps, need)
				}
			}
		}
		if fams, ok := u.get("Service", "RestrictAddressFamilies"); ok && !strings.Contains(fams, "AF_NETLINK") {
			t.Errorf("%s unit: RestrictAddressFamilies=%s lacks AF_NETLINK", c, fams)
		}
	}
	if v, _ := units["kubelet"].get("Service", "LimitNOFILE"); v == "" {
		t.Error("kubelet unit: no LimitNOFILE")
	}
}

// The API clients and servers that need neither the host's mounts nor
// network administration are sandboxed.
func TestSandboxedUnits(t *testing.T) {
	units := readUnits(t)
	for c, allowedCaps := range map[string][]string{
		"apiserver":          {"CAP_NET_BIND_SERVICE"},
		"etcd":               nil,
		"scheduler":          nil,
		"controller-manager": nil,
		"dns":                {"CAP_NET_BIND_SERVICE", "CAP_NET_ADMIN"}, // port 53, its address on lo
	} {
		u := units[c]
		for key, want := range map[string]string{
			"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
			"PrivateDevices": "yes", "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
			"ProtectControlGroups": "yes", "RestrictSUIDSGID": "yes", "LockPersonality": "yes",
		} {
			if v, _ := u.get("Service", key); v != want {
				t.Errorf("%s unit: %s=%q, want %s", c, key, v, want)
			}
		}
		caps, ok := u.get("Service", "CapabilityBoundingSet")
		if !ok {
			t.Errorf("%s unit: no CapabilityBoundingSet", c)
		}
		if got := strings.Fields(caps); !slices.Equal(got, allowedCaps) {
			t.Errorf("%s unit: CapabilityBoundingSet=%s, want %v", c, caps, allowedCaps)
		}
		if u["Service"]["PrivateNetwork"] != nil {
			t.Errorf("%s unit: PrivateNetwork: it serves or reaches other hosts", c)
		}
	}
	// What writes state may write it, and only there.
	for c, want := range map[string][]string{"apiserver": {"/var/lib/skiff"}, "etcd": {"/var/lib/skiff"}} {
		if got := units[c].words("Service", "ReadWritePaths"); !slices.Equal(got, want) {
			t.Errorf("%s unit: ReadWritePaths=%v, want %v", c, got, want)
		}
	}
}

// systemd's own parser, where installed (it works without a running
// systemd): no warning at all on copies whose ExecStart names a real
// binary.
func TestUnitsSystemdAnalyzeVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("no systemd-analyze on this machine; TestUnits parses the units itself")
	}
	bin := nodetest.SkiffBinary(t)
	dir := t.TempDir()
	var paths []string
	for _, c := range Components {
		b, err := os.ReadFile(filepath.Join("..", "systemd", "skiff-"+c+".service"))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "skiff-"+c+".service")
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(b), BinaryPath+" ", bin+" ")), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, analyze, append([]string{"verify", "--man=no"}, paths...)...).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func readConfig(t *testing.T, component string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "systemd", "config", component+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s.yaml: %v", component, err)
	}
	return m
}

var flagRE = regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z0-9-]+)`)

// Every key of a default config is a flag of its command today (the
// loader rejects unknown keys), and no config sets --config itself.
func TestConfigKeysAreFlags(t *testing.T) {
	bin := nodetest.SkiffBinary(t)
	for _, c := range Components {
		t.Run(c, func(t *testing.T) {
			cfg := readConfig(t, c)
			if len(cfg) == 0 {
				t.Fatalf("%s.yaml sets nothing", c)
			}
			out, err := exec.Command(bin, c, "--help").CombinedOutput()
			if err != nil {
				t.Fatalf("skiff %s --help: %v\n%s", c, err, out)
			}
			flags := map[string]bool{}
			for _, m := range flagRE.FindAllStringSubmatch(string(out), -1) {
				flags[m[1]] = true
			}
			for key := range cfg {
				if !flags[key] || key == "config" || key == "help" {
					t.Errorf("%s.yaml: key %q is not a flag of skiff %s", c, key, c)
				}
			}
		})
	}
}
