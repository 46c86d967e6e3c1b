package manager

import (
	"github.com/skiffk8s/skiff/controllers"
	"github.com/skiffk8s/skiff/controllers/bootstrapsigner"
	"github.com/skiffk8s/skiff/controllers/cronjob"
	"github.com/skiffk8s/skiff/controllers/csrapproving"
	"github.com/skiffk8s/skiff/controllers/csrsigning"
	"github.com/skiffk8s/skiff/controllers/daemonset"
	"github.com/skiffk8s/skiff/controllers/deployment"
	"github.com/skiffk8s/skiff/controllers/endpoints"
	"github.com/skiffk8s/skiff/controllers/endpointslice"
	"github.com/skiffk8s/skiff/controllers/garbagecollector"
	"github.com/skiffk8s/skiff/controllers/job"
	"github.com/skiffk8s/skiff/controllers/namespace"
	"github.com/skiffk8s/skiff/controllers/nodeipam"
	"github.com/skiffk8s/skiff/controllers/nodelifecycle"
	"github.com/skiffk8s/skiff/controllers/replicaset"
	"github.com/skiffk8s/skiff/controllers/rootcacertpublisher"
	"github.com/skiffk8s/skiff/controllers/serviceaccount"
	"github.com/skiffk8s/skiff/controllers/statefulset"
	"github.com/skiffk8s/skiff/controllers/tokencleaner"
)

// DefaultWorkers returns upstream's default --concurrent-*-syncs by
// controller name.
func DefaultWorkers() map[string]int {
	return map[string]int{
		replicaset.Name: 5, deployment.Name: 5, daemonset.Name: 2, statefulset.Name: 5,
		job.Name: 5, job.TTLName: 5, cronjob.Name: 5, endpoints.Name: 5, endpointslice.Name: 5,
		namespace.Name: 10, garbagecollector.Name: 20, serviceaccount.Name: 1, "serviceaccount-token": 5,
		rootcacertpublisher.Name: 1, nodelifecycle.Name: 1, nodeipam.Name: 1,
		bootstrapsigner.Name: 1, tokencleaner.Name: 1, csrapproving.Name: 5, csrsigning.Name: 5,
	}
}

// DefaultControllers returns every controller Skiff has, by name.
func DefaultControllers() map[string]controllers.InitFunc {
	return map[string]controllers.InitFunc{
		bootstrapsigner.Name:     bootstrapsigner.New,
		cronjob.Name:             cronjob.New,
		csrapproving.Name:        csrapproving.New,
		csrsigning.Name:          csrsigning.New,
		daemonset.Name:           daemonset.New,
		deployment.Name:          deployment.New,
		endpoints.Name:           endpoints.New,
		endpointslice.Name:       endpointslice.New,
		garbagecollector.Name:    garbagecollector.New,
		job.Name:                 job.New,
		job.TTLName:              job.NewTTL,
		namespace.Name:           namespace.New,
		nodeipam.Name:            nodeipam.New,
		nodelifecycle.Name:       nodelifecycle.New,
		replicaset.Name:          replicaset.New,
		rootcacertpublisher.Name: rootcacertpublisher.New,
		serviceaccount.Name:      serviceaccount.New,
		statefulset.Name:         statefulset.New,
		tokencleaner.Name:        tokencleaner.New,
	}
}
