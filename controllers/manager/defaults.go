package manager

import "github.com/skiffk8s/skiff/controllers"

// DefaultWorkers returns upstream's default --concurrent-*-syncs by
// controller name.
func DefaultWorkers() map[string]int {
	return map[string]int{
		"replicaset": 5, "deployment": 5, "daemonset": 2, "statefulset": 5,
		"job": 5, "cronjob": 5, "endpoints": 5, "endpointslice": 5,
		"namespace": 10, "garbagecollector": 20, "serviceaccount": 5,
		"serviceaccount-token": 5, "nodelifecycle": 1, "nodeipam": 1,
	}
}

// DefaultControllers returns every controller Skiff has, by name.
func DefaultControllers() map[string]controllers.InitFunc {
	return map[string]controllers.InitFunc{}
}
