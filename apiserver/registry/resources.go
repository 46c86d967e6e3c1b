package registry

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// All returns every served resource, in discovery order. Each call returns
// fresh values; callers may keep and index them.
func All() []*Resource {
	return []*Resource{
		// core/v1
		{Version: "v1", Resource: "namespaces", Kind: "Namespace", SingularName: "namespace", ShortNames: []string{"ns"},
			New: func() runtime.Object { return &corev1.Namespace{} }, NewList: func() runtime.Object { return &corev1.NamespaceList{} },
			Status: true, Strategy: namespaceStrategy{}},
		{Version: "v1", Resource: "pods", Kind: "Pod", SingularName: "pod", ShortNames: []string{"po"}, Categories: []string{"all"}, Namespaced: true,
			New: func() runtime.Object { return &corev1.Pod{} }, NewList: func() runtime.Object { return &corev1.PodList{} },
			Status: true, Generation: true, Strategy: podStrategy{}},
		{Version: "v1", Resource: "nodes", Kind: "Node", SingularName: "node", ShortNames: []string{"no"},
			New: func() runtime.Object { return &corev1.Node{} }, NewList: func() runtime.Object { return &corev1.NodeList{} },
			Status: true, Strategy: nodeStrategy{}},
		{Version: "v1", Resource: "services", Kind: "Service", SingularName: "service", ShortNames: []string{"svc"}, Categories: []string{"all"}, Namespaced: true,
			New: func() runtime.Object { return &corev1.Service{} }, NewList: func() runtime.Object { return &corev1.ServiceList{} },
			Status: true, CreateOnUpdate: true, Strategy: serviceStrategy{}},
		{Version: "v1", Resource: "endpoints", Kind: "Endpoints", SingularName: "endpoints", ShortNames: []string{"ep"}, Namespaced: true,
			New: func() runtime.Object { return &corev1.Endpoints{} }, NewList: func() runtime.Object { return &corev1.EndpointsList{} },
			CreateOnUpdate: true, Strategy: endpointsStrategy{}},
		{Version: "v1", Resource: "configmaps", Kind: "ConfigMap", SingularName: "configmap", ShortNames: []string{"cm"}, Namespaced: true,
			New: func() runtime.Object { return &corev1.ConfigMap{} }, NewList: func() runtime.Object { return &corev1.ConfigMapList{} },
			Strategy: configMapStrategy{}},
		{Version: "v1", Resource: "secrets", Kind: "Secret", SingularName: "secret", Namespaced: true,
			New: func() runtime.Object { return &corev1.Secret{} }, NewList: func() runtime.Object { return &corev1.SecretList{} },
			Strategy: secretStrategy{}},
		{Version: "v1", Resource: "serviceaccounts", Kind: "ServiceAccount", SingularName: "serviceaccount", ShortNames: []string{"sa"}, Namespaced: true,
			New: func() runtime.Object { return &corev1.ServiceAccount{} }, NewList: func() runtime.Object { return &corev1.ServiceAccountList{} },
			CreateOnUpdate: true, Strategy: serviceAccountStrategy{}},
		{Version: "v1", Resource: "events", Kind: "Event", SingularName: "event", ShortNames: []string{"ev"}, Namespaced: true,
			New: func() runtime.Object { return &corev1.Event{} }, NewList: func() runtime.Object { return &corev1.EventList{} },
			CreateOnUpdate: true, Strategy: coreEventStrategy{}},
		// events.k8s.io/v1
		{Group: "events.k8s.io", Version: "v1", Resource: "events", Kind: "Event", SingularName: "event", ShortNames: []string{"ev"}, Namespaced: true,
			New: func() runtime.Object { return &eventsv1.Event{} }, NewList: func() runtime.Object { return &eventsv1.EventList{} },
			CreateOnUpdate: true, Strategy: eventStrategy{}},
		// coordination.k8s.io/v1
		{Group: "coordination.k8s.io", Version: "v1", Resource: "leases", Kind: "Lease", SingularName: "lease", Namespaced: true,
			New: func() runtime.Object { return &coordinationv1.Lease{} }, NewList: func() runtime.Object { return &coordinationv1.LeaseList{} },
			CreateOnUpdate: true, Strategy: leaseStrategy{}},
		// discovery.k8s.io/v1
		{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices", Kind: "EndpointSlice", SingularName: "endpointslice", Namespaced: true,
			New: func() runtime.Object { return &discoveryv1.EndpointSlice{} }, NewList: func() runtime.Object { return &discoveryv1.EndpointSliceList{} },
			Strategy: endpointSliceStrategy{}},
		// apps/v1
		{Group: "apps", Version: "v1", Resource: "deployments", Kind: "Deployment", SingularName: "deployment", ShortNames: []string{"deploy"}, Categories: []string{"all"}, Namespaced: true,
			New: func() runtime.Object { return &appsv1.Deployment{} }, NewList: func() runtime.Object { return &appsv1.DeploymentList{} },
			Status: true, Scale: true, Generation: true, Strategy: deploymentStrategy{}},
		{Group: "apps", Version: "v1", Resource: "replicasets", Kind: "ReplicaSet", SingularName: "replicaset", ShortNames: []string{"rs"}, Categories: []string{"all"}, Namespaced: true,
			New: func() runtime.Object { return &appsv1.ReplicaSet{} }, NewList: func() runtime.Object { return &appsv1.ReplicaSetList{} },
			Status: true, Scale: true, Generation: true, Strategy: replicaSetStrategy{}},
		{Group: "apps", Version: "v1", Resource: "daemonsets", Kind: "DaemonSet", SingularName: "daemonset", ShortNames: []string{"ds"}, Categories: []string{"all"}, Namespaced: true,
			New: func() runtime.Object { return &appsv1.DaemonSet{} }, NewList: func() runtime.Object { return &appsv1.DaemonSetList{} },
			Status: true, Generation: true, Strategy: daemonSetStrategy{}},
		{Group: "apps", Version: "v1", Resource: "statefulsets", Kind: "StatefulSet", SingularName: "statefulset", ShortNames: []string{"sts"}, Categories: []string{"all"}, Namespaced: true,
			New: func() runtime.Object { return &appsv1.StatefulSet{} }, NewList: func() runtime.Object { return &appsv1.StatefulSetList{} },
			Status: true, Scale: true, Generation: true, Strategy: statefulSetStrategy{}},
		{Group: "apps", Version: "v1", Resource: "controllerrevisions", Kind: "ControllerRevision", SingularName: "controllerrevision", Namespaced: true,
			New: func() runtime.Object { return &appsv1.ControllerRevision{} }, NewList: func() runtime.Object { return &appsv1.ControllerRevisionList{} },
			Strategy: controllerRevisionStrategy{}},
		// batch/v1
		{Group: "batch", Version: "v1", Resource: "jobs", Kind: "Job", SingularName: "job", Categories: []string{"all"}, Namespaced: true,
			New: func() runtime.Object { return &batchv1.Job{} }, NewList: func() runtime.Object { return &batchv1.JobList{} },
			Status: true, Generation: true, Strategy: jobStrategy{}},
		{Group: "batch", Version: "v1", Resource: "cronjobs", Kind: "CronJob", SingularName: "cronjob", ShortNames: []string{"cj"}, Categories: []string{"all"}, Namespaced: true,
			New: func() runtime.Object { return &batchv1.CronJob{} }, NewList: func() runtime.Object { return &batchv1.CronJobList{} },
			Status: true, Generation: true, Strategy: cronJobStrategy{}},
		// policy/v1
		{Group: "policy", Version: "v1", Resource: "poddisruptionbudgets", Kind: "PodDisruptionBudget", SingularName: "poddisruptionbudget", ShortNames: []string{"pdb"}, Namespaced: true,
			New: func() runtime.Object { return &policyv1.PodDisruptionBudget{} }, NewList: func() runtime.Object { return &policyv1.PodDisruptionBudgetList{} },
			Status: true, Generation: true, Strategy: podDisruptionBudgetStrategy{}},
		// scheduling.k8s.io/v1
		{Group: "scheduling.k8s.io", Version: "v1", Resource: "priorityclasses", Kind: "PriorityClass", SingularName: "priorityclass", ShortNames: []string{"pc"},
			New: func() runtime.Object { return &schedulingv1.PriorityClass{} }, NewList: func() runtime.Object { return &schedulingv1.PriorityClassList{} },
			Strategy: priorityClassStrategy{}},
		// rbac.authorization.k8s.io/v1
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles", Kind: "Role", SingularName: "role", Namespaced: true,
			New: func() runtime.Object { return &rbacv1.Role{} }, NewList: func() runtime.Object { return &rbacv1.RoleList{} },
			CreateOnUpdate: true, Strategy: roleStrategy{}},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings", Kind: "RoleBinding", SingularName: "rolebinding", Namespaced: true,
			New: func() runtime.Object { return &rbacv1.RoleBinding{} }, NewList: func() runtime.Object { return &rbacv1.RoleBindingList{} },
			CreateOnUpdate: true, Strategy: roleBindingStrategy{}},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles", Kind: "ClusterRole", SingularName: "clusterrole",
			New: func() runtime.Object { return &rbacv1.ClusterRole{} }, NewList: func() runtime.Object { return &rbacv1.ClusterRoleList{} },
			CreateOnUpdate: true, Strategy: clusterRoleStrategy{}},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings", Kind: "ClusterRoleBinding", SingularName: "clusterrolebinding",
			New: func() runtime.Object { return &rbacv1.ClusterRoleBinding{} }, NewList: func() runtime.Object { return &rbacv1.ClusterRoleBindingList{} },
			CreateOnUpdate: true, Strategy: clusterRoleBindingStrategy{}},
		// certificates.k8s.io/v1
		{Group: "certificates.k8s.io", Version: "v1", Resource: "certificatesigningrequests", Kind: "CertificateSigningRequest", SingularName: "certificatesigningrequest", ShortNames: []string{"csr"},
			New: func() runtime.Object { return &certificatesv1.CertificateSigningRequest{} }, NewList: func() runtime.Object { return &certificatesv1.CertificateSigningRequestList{} },
			Status: true, Strategy: csrStrategy{}},
	}
}
