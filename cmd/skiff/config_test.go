package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// testOptions are the flags of testCommand, one of each kind.
type testOptions struct {
	name    string
	count   int
	enabled bool
	period  time.Duration
	items   []string
	ports   []int
	labels  map[string]string
}

// testCommand is a throwaway command with a --config file; running it
// stores its flag values in *got.
func testCommand(got *testOptions) *cobra.Command {
	var o testOptions
	c := &cobra.Command{
		Use:           "thing",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(*cobra.Command, []string) error {
			*got = o
			return nil
		},
	}
	fs := c.Flags()
	fs.StringVar(&o.name, "name", "default-name", "")
	fs.IntVar(&o.count, "count", 3, "")
	fs.BoolVar(&o.enabled, "enabled", true, "")
	fs.DurationVar(&o.period, "period", time.Minute, "")
	fs.StringSliceVar(&o.items, "items", []string{"x"}, "")
	fs.IntSliceVar(&o.ports, "ports", nil, "")
	fs.StringToStringVar(&o.labels, "labels", nil, "")
	return withConfigFile(c)
}

// writeFile writes content to name in a new temp dir and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigFileSetsWhatTheCommandLineDoesNot(t *testing.T) {
	defaults := testOptions{name: "default-name", count: 3, enabled: true, period: time.Minute, items: []string{"x"}}
	with := func(change func(*testOptions)) testOptions {
		o := defaults
		change(&o)
		return o
	}
	for _, tc := range []struct {
		name string
		file string
		args []string
		want testOptions
	}{
		{"an empty file sets nothing", "", nil, defaults},
		{"a file of comments sets nothing", "# nothing yet\n", nil, defaults},
		{"a null document sets nothing", "~\n", nil, defaults},
		{"a string", "name: w1\n", nil, with(func(o *testOptions) { o.name = "w1" })},
		{"an empty string", `name: ""` + "\n", nil, with(func(o *testOptions) { o.name = "" })},
		{"an int, a bool and a duration", "count: 50\nenabled: false\nperiod: 90s\n", nil,
			with(func(o *testOptions) { o.count, o.enabled, o.period = 50, false, 90*time.Second })},
		{"a list replaces a slice flag's default, items kept whole", "items: [\"a=b:NoSchedule\", \"c,d\"]\nports: [80, 443]\n", nil,
			with(func(o *testOptions) { o.items, o.ports = []string{"a=b:NoSchedule", "c,d"}, []int{80, 443} })},
		{"a block list", "items:\n- a\n- b\n", nil, with(func(o *testOptions) { o.items = []string{"a", "b"} })},
		{"an empty list empties a slice flag", "items: []\n", nil, with(func(o *testOptions) { o.items = []string{} })},
		{"a single value for a slice flag is split on commas, as on the command line", "items: a,b\n", nil,
			with(func(o *testOptions) { o.items = []string{"a", "b"} })},
		{"a mapping sets a map flag", "labels: {zone: a, tier: \"x=y,z\"}\n", nil,
			with(func(o *testOptions) { o.labels = map[string]string{"zone": "a", "tier": "x=y,z"} })},
		{"a map entry without a value, or an empty one, is the empty string", "labels:\n  role/master:\n  role/worker: \"\"\n", nil,
			with(func(o *testOptions) { o.labels = map[string]string{"role/master": "", "role/worker": ""} })},
		{"key=value pairs for a map flag, as on the command line", "labels: zone=a,tier=b\n", nil,
			with(func(o *testOptions) { o.labels = map[string]string{"zone": "a", "tier": "b"} })},
		{"an anchor and an alias", "name: &n w1\nitems: [*n]\n", nil,
			with(func(o *testOptions) { o.name, o.items = "w1", []string{"w1"} })},
		{"flags on the command line win", "name: from-file\ncount: 50\nitems: [f]\nlabels: {zone: f}\n",
			[]string{"--name", "from-flag", "--items", "g", "--labels", "zone=g"},
			with(func(o *testOptions) {
				o.name, o.count, o.items, o.labels = "from-flag", 50, []string{"g"}, map[string]string{"zone": "g"}
			})},
		{"a flag given its default value on the command line still wins", "enabled: false\n", []string{"--enabled=true"}, defaults},
		{"a bad value under a flag given on the command line is not read", "count: many\n", []string{"--count", "4"},
			with(func(o *testOptions) { o.count = 4 })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got testOptions
			c := testCommand(&got)
			c.SetArgs(append([]string{"--config", writeFile(t, "thing.yaml", tc.file)}, tc.args...))
			if err := c.Execute(); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("flags\n %+v, want\n %+v", got, tc.want)
			}
		})
	}
}

func TestBadConfigFileNamesFileLineAndField(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		want string // with F for the file's path
	}{
		{"an unknown field", "name: a\ncount: 1\nnam: b\n", `F:3: unknown field "nam" (thing has no --nam flag)`},
		{"a value the flag rejects", "name: a\n\ncount: many\n",
			`F:3: field "count": invalid argument "many" for "--count" flag: strconv.ParseInt: parsing "many": invalid syntax`},
		{"a bad duration", "period: 30\n", `F:1: field "period": invalid argument "30" for "--period" flag: time: missing unit in duration "30"`},
		{"a bad bool", "enabled: yes\n", `F:1: field "enabled": invalid argument "yes" for "--enabled" flag: strconv.ParseBool: parsing "yes": invalid syntax`},
		{"a bad list item", "ports:\n- 80\n- http\n",
			`F:3: field "ports": invalid argument "http" for "--ports" flag: strconv.Atoi: parsing "http": invalid syntax`},
		{"a bad map entry", "labels: zone\n", `F:1: field "labels": invalid argument "zone" for "--labels" flag: zone must be formatted as key=value`},
		{"malformed YAML", "name: a\ncount: [1\n", `F:2: did not find expected ',' or ']'`},
		{"a list left open at the end of the file", "name: [a\n", `F:2: did not find expected ',' or ']'`},
		{"malformed YAML the scanner finds", "name: a\n  count: 1\n", `F:2: mapping values are not allowed in this context`},
		{"a key without a value in a block mapping", "name: a\ncount\nitems: []\n", `F:2: could not find expected ':'`},
		{"an unknown alias", "name: *x\n", `F: unknown anchor 'x' referenced`},
		{"a tab", "name: a\n\tcount: 1\n", `F:2: found a tab character that violates indentation`},
		{"the config field itself", "config: other.yaml\n", `F:1: field "config" cannot be set in a config file`},
		{"a list at the top", "- name\n", `F:1: want a mapping of flag names to values, not a list`},
		{"a single value at the top", "name=a\n", `F:1: want a mapping of flag names to values, not a single value "name=a"`},
		{"a repeated field", "name: a\ncount: 1\nname: b\n", `F:3: field "name" repeated (first at line 1)`},
		{"two documents", "name: a\n---\ncount: 1\n", `F:2: a second YAML document; a config file is one mapping of flag names to values`},
		{"no value", "name:\n", `F:1: field "name" has no value (write "" for an empty string)`},
		{"a list for a single-valued flag", "name: [a, b]\n", `F:1: field "name": a list, but --name takes one string value`},
		{"a mapping for a flag that is not a map", "count: {a: 1}\n", `F:1: field "count": a mapping, but --count takes one int value`},
		{"a list inside a list", "items:\n- [a]\n", `F:2: field "items": a list item must be a single value, not a list`},
		{"a list as a field name", "[a]: 1\n", `F:1: a field name must be a flag name, not a list`},
		{"a list in a map entry", "labels:\n  zone: [a]\n", `F:2: field "labels": an entry must be key: value, with single values`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "thing.yaml", tc.file)
			var got testOptions
			c := testCommand(&got)
			c.SetArgs([]string{"--config", path})
			err := c.Execute()
			want := strings.ReplaceAll(tc.want, "F:", path+":")
			if err == nil || err.Error() != want {
				t.Errorf("error\n %v, want\n %s", err, want)
			}
			if got.name != "" {
				t.Errorf("the command ran")
			}
		})
	}
}

func TestMissingConfigFileIsNamed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubelet.yaml")
	var got testOptions
	c := testCommand(&got)
	c.SetArgs([]string{"--config", path})
	err := c.Execute()
	if want := "--config: open " + path + ": no such file or directory"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

// componentCommand returns the subcommand name of a fresh root command
// with its RunE replaced by one that only records that it ran: the
// --config file is loaded (in PreRunE) but the component does not start.
func componentCommand(t *testing.T, name string) (root, c *cobra.Command, ran *bool) {
	t.Helper()
	root = newRootCommand()
	c, _, err := root.Find([]string{name})
	if err != nil || c.Name() != name {
		t.Fatalf("no %s command: %v", name, err)
	}
	ran = new(bool)
	c.RunE = func(*cobra.Command, []string) error { *ran = true; return nil }
	return root, c, ran
}

func TestEveryComponentReadsItsConfigFile(t *testing.T) {
	for _, name := range []string{"apiserver", "controller-manager", "scheduler", "kubelet", "proxy", "dns", "etcd", "up"} {
		t.Run(name, func(t *testing.T) {
			// A file setting one of the command's own flags is applied.
			root, c, ran := componentCommand(t, name)
			path := writeFile(t, name+".yaml", "kubeconfig: /etc/skiff/from-file.kubeconfig\n")
			if name == "apiserver" || name == "etcd" || name == "up" {
				path = writeFile(t, name+".yaml", "data-dir: /tmp/from-file\n")
			}
			root.SetArgs([]string{name, "--config", path})
			if err := root.Execute(); err != nil || !*ran {
				t.Fatalf("ran %v, error %v", *ran, err)
			}
			f := c.Flags().Lookup("kubeconfig")
			want := "/etc/skiff/from-file.kubeconfig"
			if name == "apiserver" || name == "etcd" || name == "up" {
				f, want = c.Flags().Lookup("data-dir"), "/tmp/from-file"
			}
			if f.Value.String() != want || !f.Changed {
				t.Errorf("--%s = %q (changed %v), want %q from the file", f.Name, f.Value.String(), f.Changed, want)
			}

			// A bad file stops the real command before it starts.
			path = writeFile(t, name+".yaml", "# skiff "+name+"\nnod-name: w1\n")
			root = newRootCommand()
			root.SetArgs([]string{name, "--config", path})
			err := root.Execute()
			if want := path + `:2: unknown field "nod-name" (skiff ` + name + ` has no --nod-name flag)`; err == nil || err.Error() != want {
				t.Errorf("error\n %v, want\n %s", err, want)
			}
		})
	}
}

func TestKubeletConfigFile(t *testing.T) {
	path := writeFile(t, "kubelet.yaml", `# /etc/skiff/kubelet.yaml
kubeconfig: /etc/skiff/kubelet.kubeconfig
node-name: w1
node-labels: {zone: a}
register-with-taints: ["a=b:NoSchedule"]
eviction-hard: "memory.available<100Mi"
max-pods: 50
`)
	root, c, ran := componentCommand(t, "kubelet")
	root.SetArgs([]string{"kubelet", "--config", path, "--max-pods", "60"})
	if err := root.Execute(); err != nil || !*ran {
		t.Fatalf("ran %v, error %v", *ran, err)
	}
	for flag, want := range map[string]string{
		"kubeconfig":           "/etc/skiff/kubelet.kubeconfig",
		"node-name":            "w1",
		"node-labels":          "[zone=a]",
		"register-with-taints": "[a=b:NoSchedule]",
		"eviction-hard":        "memory.available<100Mi",
		"max-pods":             "60", // the command line wins
		"root-dir":             "/var/lib/skiff/kubelet",
	} {
		if got := c.Flags().Lookup(flag).Value.String(); got != want {
			t.Errorf("--%s = %q, want %q", flag, got, want)
		}
	}

	// A value the kubelet rejects stops it, naming the file and line.
	path = writeFile(t, "kubelet.yaml", "node-name: w1\nmax-pods: many\n")
	root = newRootCommand()
	root.SetArgs([]string{"kubelet", "--config", path})
	err := root.Execute()
	if want := path + `:2: field "max-pods": invalid argument "many" for "--max-pods" flag: strconv.ParseInt: parsing "many": invalid syntax`; err == nil || err.Error() != want {
		t.Errorf("error\n %v, want\n %s", err, want)
	}
}

// kubeSchedulerConfiguration is a KubeSchedulerConfiguration whose score
// plugins include unknownPlugin (when not "").
func kubeSchedulerConfiguration(unknownPlugin string) string {
	s := `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
  plugins:
    score:
      enabled:
      - name: NodeResourcesFit
`
	if unknownPlugin != "" {
		s += "      - name: " + unknownPlugin + "\n"
	}
	return s
}

func TestSchedulerConfigIsAFlagFileOrAKubeSchedulerConfiguration(t *testing.T) {
	ksc := writeFile(t, "ksc.yaml", kubeSchedulerConfiguration(""))
	badKSC := writeFile(t, "bad-ksc.yaml", kubeSchedulerConfiguration("Foo"))
	flagFile := writeFile(t, "scheduler.yaml", "kubeconfig: /nonexistent/scheduler.kubeconfig\nscheduler-config: "+ksc+"\nleader-elect: false\n")
	flagFileBadKSC := writeFile(t, "scheduler-bad.yaml", "scheduler-config: "+badKSC+"\n")
	flagFileBadQPS := writeFile(t, "scheduler-qps.yaml", "kube-api-qps: 0\n")

	t.Run("a KubeSchedulerConfiguration given to --config is the scheduler's profile config", func(t *testing.T) {
		root, c, ran := componentCommand(t, "scheduler")
		root.SetArgs([]string{"scheduler", "--config", ksc})
		if err := root.Execute(); err != nil || !*ran {
			t.Fatalf("ran %v, error %v", *ran, err)
		}
		if got := c.Flags().Lookup("scheduler-config").Value.String(); got != ksc {
			t.Errorf("--scheduler-config = %q, want %q", got, ksc)
		}
	})
	t.Run("a flag file given to --config sets the scheduler's flags", func(t *testing.T) {
		root, c, ran := componentCommand(t, "scheduler")
		root.SetArgs([]string{"scheduler", "--config", flagFile})
		if err := root.Execute(); err != nil || !*ran {
			t.Fatalf("ran %v, error %v", *ran, err)
		}
		for flag, want := range map[string]string{"scheduler-config": ksc, "leader-elect": "false", "kubeconfig": "/nonexistent/scheduler.kubeconfig"} {
			if got := c.Flags().Lookup(flag).Value.String(); got != want {
				t.Errorf("--%s = %q, want %q", flag, got, want)
			}
		}
	})

	// The real command: each file is read and checked, and the scheduler
	// stops at the first thing that is wrong.
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a good KubeSchedulerConfiguration in --config gets as far as the kubeconfig",
			[]string{"scheduler", "--config", ksc, "--kubeconfig", "/nonexistent/kubeconfig"}, "--kubeconfig: "},
		{"a good flag file naming a good KubeSchedulerConfiguration gets as far as the kubeconfig",
			[]string{"scheduler", "--config", flagFile}, "--kubeconfig: "},
		{"a bad KubeSchedulerConfiguration in --config is named as --config",
			[]string{"scheduler", "--config", badKSC}, "--config " + badKSC + `: profiles[0].plugins.score.enabled[1].name: unknown plugin "Foo"`},
		{"a bad KubeSchedulerConfiguration in --scheduler-config is named as --scheduler-config",
			[]string{"scheduler", "--scheduler-config", badKSC}, "--scheduler-config " + badKSC + `: profiles[0].plugins.score.enabled[1].name: unknown plugin "Foo"`},
		{"a bad KubeSchedulerConfiguration named by the flag file is named as --scheduler-config",
			[]string{"scheduler", "--config", flagFileBadKSC}, "--scheduler-config " + badKSC + `: profiles[0].plugins.score.enabled[1].name: unknown plugin "Foo"`},
		{"a flag file's value is checked as the flag's",
			[]string{"scheduler", "--config", flagFileBadQPS}, "--kube-api-qps: 0 must be positive"},
		{"a KubeSchedulerConfiguration in both --config and --scheduler-config",
			[]string{"scheduler", "--config", ksc, "--scheduler-config", ksc},
			"--config " + ksc + " is a KubeSchedulerConfiguration, and --scheduler-config names one too: give one of them"},
		{"up reads a KubeSchedulerConfiguration only from --scheduler-config",
			[]string{"up", "--config", ksc}, ksc + `:1: unknown field "apiVersion" (skiff up has no --apiVersion flag)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := newRootCommand()
			root.SetArgs(tc.args)
			err := root.Execute()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error\n %v, want one containing\n %s", err, tc.want)
			}
		})
	}
}

// TestConfigDropIns: FILE.d/*.yaml are read after FILE in name order, a
// later file winning (a mapping adds entries), the command line winning
// over all; a bad drop-in is named.
func TestConfigDropIns(t *testing.T) {
	main := writeFile(t, "thing.yaml", "name: from-main\ncount: 1\nitems: [a]\nlabels: {zone: a}\n")
	dropins := main + ".d"
	if err := os.Mkdir(dropins, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"50-join.yaml": "name: from-join\nitems: [b, c]\nlabels: {role: worker}\n",
		"90-lab.yaml":  "count: 9\nlabels: {zone: lab}\n",
		"ignored.txt":  "not: yaml: at all\n",
	} {
		if err := os.WriteFile(filepath.Join(dropins, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var got testOptions
	c := testCommand(&got)
	c.SetArgs([]string{"--config", main, "--count", "7"})
	if err := c.Execute(); err != nil {
		t.Fatal(err)
	}
	want := testOptions{name: "from-join", count: 7, enabled: true, period: time.Minute, items: []string{"b", "c"},
		labels: map[string]string{"zone": "lab", "role": "worker"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}

	if err := os.WriteFile(filepath.Join(dropins, "95-bad.yaml"), []byte("count: 1\nnope: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c = testCommand(&got)
	c.SetArgs([]string{"--config", main})
	err := c.Execute()
	if want := filepath.Join(dropins, "95-bad.yaml") + `:2: unknown field "nope"`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("bad drop-in: %v, want %q", err, want)
	}
}
