package install

import (
	"fmt"
	"os"
	"path/filepath"

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

// writeComponentConfig writes a component config file: a YAML mapping of
// the component's flag names to values, under a comment saying who wrote
// it.
func writeComponentConfig(path, writer string, values map[string]any) error {
	body, err := yaml.Marshal(values)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	head := fmt.Sprintf("# Written by %s. Keys are the component's flag names; flags given on\n# its command line win over this file.\n", writer)
	if err := writeFile(path, append([]byte(head), body...), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
