package manager

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Enabled returns, sorted, the names in registry that the --controllers
// list selects: "*" enables all, "name" enables one, "-name" disables
// one (winning over "*"). A name the registry does not know is an error.
func Enabled(list []string, registry []string) ([]string, error) {
	all := false
	on, off := map[string]bool{}, map[string]bool{}
	for _, item := range list {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
		case item == "*":
			all = true
		case strings.HasPrefix(item, "-"):
			name := item[1:]
			if !slices.Contains(registry, name) {
				return nil, fmt.Errorf("--controllers: unknown controller %q", name)
			}
			off[name], on[name] = true, false
		default:
			if !slices.Contains(registry, item) {
				return nil, fmt.Errorf("--controllers: unknown controller %q", item)
			}
			on[item], off[item] = true, false
		}
	}
	var out []string
	for _, name := range registry {
		if on[name] || (all && !off[name]) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}
