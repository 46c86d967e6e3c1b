// Package packaging builds skiff's Debian package with nfpm: the static
// skiff binary as /usr/bin/skiff, one systemd unit per component under
// /lib/systemd/system, their default configs under /etc/skiff (conffiles) and
// maintainer scripts that create directories and never start anything.
//
// The unit files and configs live in the repository's systemd/ folder, the
// maintainer scripts in packaging/scripts; `make deb` runs
// packaging/cmd/mkdeb, which calls Build.
package packaging

import (
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
)

// Name is the package's name.
const Name = "skiff"

// Components are the skiff subcommands that run as a systemd unit
// skiff-<component>.service, each with /etc/skiff/<component>.yaml.
var Components = []string{"apiserver", "scheduler", "controller-manager", "kubelet", "proxy", "dns", "etcd"}

// Depends are the Debian packages a node needs besides skiff: the kubelet
// drives containerd and runc, the kubelet and proxy write iptables rules and
// the proxy flushes UDP conntrack entries.
var Depends = []string{"containerd", "runc", "iptables", "conntrack"}

// Paths inside the package.
const (
	BinaryPath = "/usr/bin/skiff"
	UnitDir    = "/lib/systemd/system"
	ConfigDir  = "/etc/skiff"
)

// UnitPath is where the unit of component is installed.
func UnitPath(component string) string {
	return UnitDir + "/skiff-" + component + ".service"
}

// ConfigPath is where the default config of component is installed.
func ConfigPath(component string) string {
	return ConfigDir + "/" + component + ".yaml"
}

// Options say what to package.
type Options struct {
	// RepoRoot is the repository's top directory, holding systemd/ and
	// packaging/scripts/.
	RepoRoot string
	// Binary is the skiff binary: static (CGO_ENABLED=0), for Linux on Arch.
	Binary string
	// Version is the Debian version (see DebVersion), e.g. "0.1.0+3.gabc1234".
	Version string
	// Arch is the Go architecture, amd64 or arm64.
	Arch string
	// OutDir receives the package; created when missing.
	OutDir string
}

// debArch maps GOARCH to Debian's architecture names, with the ELF machine
// the binary must have.
var debArch = map[string]struct {
	deb     string
	machine elf.Machine
}{
	"amd64": {"amd64", elf.EM_X86_64},
	"arm64": {"arm64", elf.EM_AARCH64},
}

// FileName is the package's file name: skiff_<version>_<arch>.deb.
func FileName(version, goarch string) string {
	return fmt.Sprintf("%s_%s_%s.deb", Name, version, debArch[goarch].deb)
}

// Build writes OutDir/skiff_<version>_<arch>.deb and returns its path.
func Build(o Options) (string, error) {
	a, ok := debArch[o.Arch]
	if !ok {
		return "", fmt.Errorf("architecture %q: want amd64 or arm64", o.Arch)
	}
	if !validDebVersion.MatchString(o.Version) {
		return "", fmt.Errorf("version %q is not a Debian version (want e.g. 0.1.0 or 0.1.0+3.gabc1234)", o.Version)
	}
	if err := checkBinary(o.Binary, a.machine); err != nil {
		return "", err
	}
	info, err := o.info()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(o.OutDir, FileName(o.Version, o.Arch))
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp)
	if err := deb.Default.Package(info, f); err != nil {
		f.Close()
		return "", fmt.Errorf("nfpm: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return out, os.Rename(tmp, out)
}

// info describes the package to nfpm.
func (o Options) info() (*nfpm.Info, error) {
	sys := filepath.Join(o.RepoRoot, "systemd")
	scripts := filepath.Join(o.RepoRoot, "packaging", "scripts")
	contents := files.Contents{
		{Source: o.Binary, Destination: BinaryPath, FileInfo: &files.ContentFileInfo{Mode: 0o755}},
		// Keys and kubeconfigs end up in /etc/skiff: root only.
		{Destination: ConfigDir, Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o700}},
	}
	for _, c := range Components {
		contents = append(contents,
			&files.Content{Source: filepath.Join(sys, "skiff-"+c+".service"), Destination: UnitPath(c),
				FileInfo: &files.ContentFileInfo{Mode: 0o644}},
			&files.Content{Source: filepath.Join(sys, "config", c+".yaml"), Destination: ConfigPath(c),
				Type: files.TypeConfig, FileInfo: &files.ContentFileInfo{Mode: 0o600}})
	}
	for _, c := range contents {
		if c.Source == "" {
			continue
		}
		if _, err := os.Stat(c.Source); err != nil {
			return nil, err
		}
	}
	info := &nfpm.Info{
		Name:          Name,
		Arch:          o.Arch,
		Platform:      "linux",
		Version:       o.Version,
		VersionSchema: "none",
		Section:       "admin",
		Priority:      "optional",
		Maintainer:    "Skiff developers <skiff@skiffk8s.invalid>",
		Homepage:      "https://github.com/skiffk8s/skiff",
		Description: "Kubernetes-compatible cluster in one binary\n" +
			"Skiff is a small Kubernetes written from scratch in Go: API server (on\n" +
			"embedded or external etcd), scheduler, controller manager, kubelet\n" +
			"(containerd and runc), iptables service proxy and cluster DNS, with\n" +
			"upstream kubectl built in (skiff kubectl). One systemd unit per\n" +
			"component, none enabled or started by the package: run skiff init\n" +
			"or skiff join.",
		Overridables: nfpm.Overridables{
			Depends:  Depends,
			Contents: contents,
			Scripts: nfpm.Scripts{
				PostInstall: filepath.Join(scripts, "postinst"),
				PreRemove:   filepath.Join(scripts, "prerm"),
				PostRemove:  filepath.Join(scripts, "postrm"),
			},
			// zstd: dpkg reads it since 1.21.18 (Debian 12) and it packs the
			// ~140 MB binary many times faster than gzip or xz.
			Deb: nfpm.Deb{Compression: "zstd"},
		},
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return nil, fmt.Errorf("nfpm: %w", err)
	}
	return info, nil
}

// checkBinary refuses a binary for another machine or a dynamically linked
// one: the package promises a static Linux binary for its architecture.
func checkBinary(path string, machine elf.Machine) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("binary %s: %w", path, err)
	}
	defer f.Close()
	if f.Machine != machine {
		return fmt.Errorf("binary %s is for %v, not %v (build it with the matching GOARCH)", path, f.Machine, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("binary %s is dynamically linked (build it with CGO_ENABLED=0)", path)
		}
	}
	return nil
}

// validDebVersion is Debian's upstream_version without epoch or revision:
// a digit first, then alphanumerics and . + ~.
var validDebVersion = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~]*$`)

// describeRE parses `git describe --tags --always` output (without
// -dirty): a tag v1.2.3[-pre] with an optional -N-gHASH, or a bare commit
// hash.
var describeRE = regexp.MustCompile(`^(?:v?([0-9]+\.[0-9]+\.[0-9]+)(?:-([0-9A-Za-z.]+?))?(?:-([0-9]+)-(g[0-9a-f]+))?|([0-9a-f]{7,40}))$`)

// DebVersion turns `git describe --tags --always --dirty` output into a
// Debian version that sorts like the history: a tag's pre-release sorts
// before the release (~), commits after a tag after it (+N.gHASH). Without
// a tag the version is 0.0.0+<commits>.g<hash>, commits being the count of
// commits up to HEAD (`git rev-list --count HEAD`; 0 if unknown). A
// work tree with changes adds .dirty.
func DebVersion(describe string, commits int) (string, error) {
	describe = strings.TrimSpace(describe)
	rest, dirty := strings.CutSuffix(describe, "-dirty")
	m := describeRE.FindStringSubmatch(rest)
	if m == nil {
		if validDebVersion.MatchString(describe) {
			return describe, nil // already a Debian version
		}
		return "", fmt.Errorf("version %q: want git describe output (v1.2.3, v1.2.3-4-gabc1234, abc1234, ...-dirty) or a Debian version", describe)
	}
	release, pre, ahead, hash, bare := m[1], m[2], m[3], m[4], m[5]
	var v string
	if bare != "" {
		v = "0.0.0+" + strconv.Itoa(commits) + ".g" + bare
	} else {
		v = release
		if pre != "" {
			v += "~" + pre
		}
		if ahead != "" {
			v += "+" + ahead + "." + hash
		}
	}
	if dirty {
		if strings.Contains(v, "+") {
			v += ".dirty"
		} else {
			v += "+dirty"
		}
	}
	return v, nil
}
