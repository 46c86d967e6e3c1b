package main

// Component config files.
//
// Every component command (apiserver, controller-manager, scheduler,
// kubelet, proxy, dns, etcd, up) takes --config FILE, as k3s does: FILE is
// one YAML mapping whose keys are the command's own flag names without the
// dashes, and whose values are what the flags would be given:
//
//	kubeconfig: /etc/skiff/kubelet.kubeconfig
//	node-name: w1
//	node-labels: {zone: a}                      # a mapping → a map flag
//	register-with-taints: ["a=b:NoSchedule"]   # a list → a slice flag
//	eviction-hard: "memory.available<100Mi"
//	max-pods: 50
//	leader-elect: false
//
// The contract:
//   - Precedence: a flag given on the command line wins over the file; the
//     file wins over the flag's default. A value from the file counts as
//     given (pflag's Changed is true), so code that asks "was --x given?"
//     treats both alike.
//   - A scalar is passed to the flag's Value.Set exactly as it is written,
//     as if it followed --key on the command line (a slice flag given a
//     scalar splits it on commas, as on the command line). A list sets a
//     slice flag to exactly its items (no comma splitting; an empty list
//     empties it). A mapping sets a map flag (key=value flags such as
//     --node-labels) to its entries (an entry without a value has the
//     value ""); an empty mapping sets nothing.
//   - The file is checked before the command runs, and any problem stops
//     it with an error naming the file, the line and the field: an unknown
//     key, a value the flag rejects, malformed YAML, a repeated key, a key
//     "config" (or "help"), a document that is not a mapping, more than one
//     document. A missing or unreadable file is an error naming the file;
//     an empty file (or one with only comments) sets nothing.
//   - Keys overridden on the command line are checked for existence but
//     their values are not parsed.
//   - Drop-ins: after FILE, the files FILE.d/*.yaml are read in name
//     order, each as FILE is; a later file wins over an earlier one (a
//     list or a scalar replaces, a mapping adds and replaces entries), and
//     the command line wins over all. The package's defaults stay in FILE
//     (a conffile) while `skiff init`/`skiff join` (and admins) write
//     drop-ins, so upgrades never have to merge them.
//
// A command may accept another kind of file through --config too: its
// configKindAnnotation "Kind=flag" says that a file whose top level has
// `kind: Kind` is not a flag file but the value of --flag (the scheduler
// reads a KubeSchedulerConfiguration this way, as kube-scheduler does).

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// configFlagUsage is the help of every component's --config.
const configFlagUsage = "component config file (YAML; keys are this command's flag names; flags given here win)"

// configKindAnnotation is a command annotation "Kind=flag-name": a --config
// file whose top level has `kind: Kind` is passed whole to --flag-name
// instead of being read as flags.
const configKindAnnotation = "skiff/config-kind"

// withConfigFile adds --config to c and loads the file named by it into
// c's flags after they are parsed and before c's PreRunE and RunE, which
// then see the merged values.
func withConfigFile(c *cobra.Command) *cobra.Command {
	var path string
	c.Flags().StringVar(&path, "config", "", configFlagUsage)
	preRunE, preRun := c.PreRunE, c.PreRun
	c.PreRun = nil
	c.PreRunE = func(cmd *cobra.Command, args []string) error {
		if path != "" {
			if err := loadConfigFiles(cmd, path); err != nil {
				return err
			}
		}
		switch {
		case preRunE != nil:
			return preRunE(cmd, args)
		case preRun != nil:
			preRun(cmd, args)
		}
		return nil
	}
	return c
}

// loadConfigFiles reads the config file at path and then its drop-ins
// (path.d/*.yaml, in name order) into cmd's flags, as the package comment
// above describes.
func loadConfigFiles(cmd *cobra.Command, path string) error {
	// Flags given on the command line, before any file changes anything.
	given := map[string]bool{}
	cmd.Flags().Visit(func(f *pflag.Flag) { given[f.Name] = true })
	files, err := configFiles(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	for _, p := range files {
		if err := loadConfigFile(cmd, p, given); err != nil {
			return err
		}
	}
	return nil
}

// configFiles is path and then its drop-ins, path.d/*.yaml in name order.
func configFiles(path string) ([]string, error) {
	dropins, err := filepath.Glob(filepath.Join(path+".d", "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(dropins)
	return append([]string{path}, dropins...), nil
}

// loadConfigFile reads one config file into cmd's flags, leaving the flags
// in given (set on the command line) alone.
func loadConfigFile(cmd *cobra.Command, path string, given map[string]bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	doc, err := parseConfigFile(path, data)
	if err != nil || doc == nil {
		return err
	}
	fs := cmd.Flags()
	if kind, flag, ok := strings.Cut(cmd.Annotations[configKindAnnotation], "="); ok && topLevelKind(doc) == kind {
		if fs.Changed(flag) {
			return fmt.Errorf("--config %s is a %s, and --%s names one too: give one of them", path, kind, flag)
		}
		return fs.Set(flag, path)
	}
	l := configLoader{path: path, fs: fs, command: cmd.CommandPath(), given: given}
	return l.load(doc)
}

// parseConfigFile parses data as one YAML document and returns its
// top-level mapping, or nil for an empty document. Errors name path and
// the line.
func parseConfigFile(path string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, nil
	} else if err != nil {
		return nil, yamlError(path, err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		return nil, fmt.Errorf("%s:%d: a second YAML document; a config file is one mapping of flag names to values", path, next.Line)
	} else if !errors.Is(err, io.EOF) {
		return nil, yamlError(path, err)
	}
	top := &doc
	if top.Kind == yaml.DocumentNode && len(top.Content) == 1 {
		top = top.Content[0]
	}
	if top.Kind == yaml.ScalarNode && top.Tag == "!!null" {
		return nil, nil // "~" or "null": nothing set
	}
	if top.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: want a mapping of flag names to values, not %s", path, top.Line, kindName(top))
	}
	return top, nil
}

// yamlLine matches the line yaml.v3 puts in its syntax errors.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlParserProblems are the messages of yaml.v3's parser errors (the
// scanner's are all different). yaml.v3 reports their line counted from 0
// (and leaves out line 0), where its scanner errors count from 1.
var yamlParserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// yamlError turns a yaml.v3 error into "path:line: message".
func yamlError(path string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if yamlParserProblems[msg] {
		line++
	}
	if line == 0 {
		return fmt.Errorf("%s: %s", path, msg)
	}
	return fmt.Errorf("%s:%d: %s", path, line, msg)
}

// topLevelKind is the value of the mapping's "kind" key, if it is a
// string.
func topLevelKind(m *yaml.Node) string {
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], resolveAlias(m.Content[i+1])
		if k.Kind == yaml.ScalarNode && k.Value == "kind" && v.Kind == yaml.ScalarNode {
			return v.Value
		}
	}
	return ""
}

// configLoader applies one parsed file to a flag set.
type configLoader struct {
	path    string
	fs      *pflag.FlagSet
	command string          // e.g. "skiff kubelet", for messages
	given   map[string]bool // flags set on the command line
}

// errorf is an error at line of the file.
func (l configLoader) errorf(line int, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", l.path, line, fmt.Sprintf(format, args...))
}

func (l configLoader) load(m *yaml.Node) error {
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], resolveAlias(m.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			return l.errorf(k.Line, "a field name must be a flag name, not %s", kindName(k))
		}
		name := k.Value
		if first, ok := seen[name]; ok {
			return l.errorf(k.Line, "field %q repeated (first at line %d)", name, first)
		}
		seen[name] = k.Line
		if name == "config" || name == "help" {
			return l.errorf(k.Line, "field %q cannot be set in a config file", name)
		}
		f := l.fs.Lookup(name)
		if f == nil {
			return l.errorf(k.Line, "unknown field %q (%s has no --%s flag)", name, l.command, name)
		}
		if l.given[f.Name] {
			continue
		}
		if err := l.set(f, v); err != nil {
			return err
		}
	}
	return nil
}

// set gives the value node v to flag f.
func (l configLoader) set(f *pflag.Flag, v *yaml.Node) error {
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			return l.errorf(v.Line, `field %q has no value (write "" for an empty string)`, f.Name)
		}
		if err := l.fs.Set(f.Name, v.Value); err != nil {
			return l.errorf(v.Line, "field %q: %v", f.Name, err)
		}
		return nil
	case yaml.SequenceNode:
		sv, ok := f.Value.(pflag.SliceValue)
		if !ok {
			return l.errorf(v.Line, "field %q: a list, but --%s takes one %s value", f.Name, f.Name, f.Value.Type())
		}
		if err := sv.Replace([]string{}); err != nil {
			return l.errorf(v.Line, "field %q: %v", f.Name, err)
		}
		for _, item := range v.Content {
			item = resolveAlias(item)
			if item.Kind != yaml.ScalarNode || item.Tag == "!!null" {
				return l.errorf(item.Line, "field %q: a list item must be a single value, not %s", f.Name, kindName(item))
			}
			if err := sv.Append(item.Value); err != nil {
				return l.errorf(item.Line, "field %q: invalid argument %q for \"--%s\" flag: %v", f.Name, item.Value, f.Name, err)
			}
		}
		f.Changed = true
		return nil
	case yaml.MappingNode:
		if !strings.HasPrefix(f.Value.Type(), "stringTo") {
			return l.errorf(v.Line, "field %q: a mapping, but --%s takes one %s value", f.Name, f.Name, f.Value.Type())
		}
		for i := 0; i+1 < len(v.Content); i += 2 {
			key, val := v.Content[i], resolveAlias(v.Content[i+1])
			if key.Kind != yaml.ScalarNode || val.Kind != yaml.ScalarNode {
				return l.errorf(key.Line, "field %q: an entry must be key: value, with single values", f.Name)
			}
			value := val.Value
			if val.Tag == "!!null" {
				value = "" // `node-role.kubernetes.io/control-plane:` is an empty label value
			}
			// A pair with more than one "=" is read as CSV by pflag's
			// map flags: quote it so that commas and quotes stay.
			pair := key.Value + "=" + value
			if strings.Count(pair, "=") > 1 {
				pair = csvField(pair)
			}
			if err := l.fs.Set(f.Name, pair); err != nil {
				return l.errorf(key.Line, "field %q: %v", f.Name, err)
			}
		}
		return nil
	}
	return l.errorf(v.Line, "field %q: unexpected %s", f.Name, kindName(v))
}

// csvField quotes s as one CSV field.
func csvField(s string) string {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{s}) // writing to a buffer cannot fail
	w.Flush()
	return strings.TrimSuffix(b.String(), "\n")
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// kindName names a node's kind for messages: "a list", "a mapping", "a
// string"...
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return "a single value " + strconv.Quote(n.Value)
	}
	return "an unexpected YAML node"
}
