package manager

import "testing"

func TestEveryDefaultControllerIsNamedAndHasWorkers(t *testing.T) {
	workers := DefaultWorkers()
	for _, name := range []string{"replicaset", "deployment", "daemonset", "endpoint", "endpointslice", "job", "cronjob",
		"namespace", "garbagecollector", "serviceaccount", "nodeipam", "nodelifecycle",
		"bootstrapsigner", "tokencleaner", "csrapproving", "csrsigning"} {
		if DefaultControllers()[name] == nil {
			t.Errorf("DefaultControllers lacks %q", name)
		}
	}
	for name := range DefaultControllers() {
		if workers[name] <= 0 {
			t.Errorf("controller %q has no default worker count", name)
		}
	}
	if workers["garbagecollector"] != 20 || workers["namespace"] != 10 || workers["replicaset"] != 5 {
		t.Errorf("worker defaults differ from upstream's: %v", workers)
	}
}
