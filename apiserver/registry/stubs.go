package registry

// Placeholder strategies: metadata validation only. Replaced by one file per
// kind with its defaults, validation and field sets.
type (
	namespaceStrategy      struct{ baseStrategy }
	podStrategy            struct{ baseStrategy }
	nodeStrategy           struct{ baseStrategy }
	serviceStrategy        struct{ baseStrategy }
	endpointsStrategy      struct{ baseStrategy }
	configMapStrategy      struct{ baseStrategy }
	secretStrategy         struct{ baseStrategy }
	serviceAccountStrategy struct{ baseStrategy }
	coreEventStrategy      struct{ baseStrategy }
	eventStrategy          struct{ baseStrategy }
	leaseStrategy          struct{ baseStrategy }
	endpointSliceStrategy  struct{ baseStrategy }
	deploymentStrategy     struct{ baseStrategy }
	replicaSetStrategy     struct{ baseStrategy }
	daemonSetStrategy      struct{ baseStrategy }
	statefulSetStrategy    struct{ baseStrategy }
	jobStrategy            struct{ baseStrategy }
	cronJobStrategy        struct{ baseStrategy }
	priorityClassStrategy  struct{ baseStrategy }
	roleStrategy           struct{ baseStrategy }
	roleBindingStrategy    struct{ baseStrategy }
	csrStrategy            struct{ baseStrategy }
)
