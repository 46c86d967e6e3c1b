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
		// The go command runs the tests, so it is there: a failure here
		// is a real one, not a reason to skip the check.
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/skiffk8s/skiff/") && dep != "github.com/skiffk8s/skiff/kubelet/stats/nodeusage" ||
			strings.HasPrefix(dep, "github.com/google/cadvisor") {
			t.Errorf("nodeusage imports %s", dep)
		}
	}
}
