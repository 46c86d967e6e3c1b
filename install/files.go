package install

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// writeFile writes data to path atomically (a temporary file renamed into
// place), creating the directory.
func writeFile(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return err
	}
	if err := os.Chmod(tmp, perm); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// writeComponentConfig writes the settings a writer ("skiff init", "skiff
// join") gives a component: the drop-in <etcDir>/<component>.yaml.d/
// 50-<name>.yaml (read after <component>.yaml, the package's defaults, and
// winning over it), a YAML mapping of the component's flag names to
// values. When <component>.yaml does not exist (no package), an empty one
// is created, since the units name it. It returns the drop-in's path.
func writeComponentConfig(etcDir, component, writer string, values map[string]any) (string, error) {
	main := filepath.Join(etcDir, component+".yaml")
	if _, err := os.Stat(main); os.IsNotExist(err) {
		head := fmt.Sprintf("# skiff %s: the defaults (none here). Settings written by skiff init and\n# skiff join are in %s.d/; flags on the command line win over both.\n", component, component+".yaml")
		if err := writeFile(main, []byte(head), 0o600); err != nil {
			return "", fmt.Errorf("write %s: %w", main, err)
		}
	}
	body, err := yaml.Marshal(values)
	if err != nil {
		return "", fmt.Errorf("%s config: %w", component, err)
	}
	name := "50-" + strings.ReplaceAll(writer, " ", "-") + ".yaml"
	path := filepath.Join(etcDir, component+".yaml.d", name)
	head := fmt.Sprintf("# Written by %s. Keys are the component's flag names; this file wins over\n# %s, later files in this directory win over it, flags on the\n# command line win over all.\n", writer, component+".yaml")
	if err := writeFile(path, append([]byte(head), body...), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}
