package nodeusage

import (
	"os/exec"
	"strings"
	"testing"
)

// The scheduler imports this package: it must stay a leaf, free of the
// kubelet and of cadvisor.
func TestImportsNeitherKubeletNorCadvisor(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/skiffk8s/skiff/") && dep != "github.com/skiffk8s/skiff/kubelet/stats/nodeusage" ||
			strings.HasPrefix(dep, "github.com/google/cadvisor") {
			t.Errorf("nodeusage imports %s", dep)
		}
	}
}
