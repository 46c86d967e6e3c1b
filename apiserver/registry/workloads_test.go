package registry

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Tests of the four apps/v1 workloads. The pod template rules are the pod
// spec rules tested in pods_test.go; here they are checked to apply, with
// paths under spec.template.

func webSelector() *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
}

// podTemplate is a template as users write it, labelled app=web.
func podTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{container("app", "nginx:1.25")}},
	}
}

func newDeployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec:       appsv1.DeploymentSpec{Selector: webSelector(), Template: podTemplate()},
	}
}

func validDeployment() *appsv1.Deployment {
	d := newDeployment()
	deploymentStrategy{}.Default(d)
	return d
}

// templateCases are the selector and template rules every workload
// shares, for a workload whose selector and template f returns.
func templateCases[T runtime.Object](f func(T) (**metav1.LabelSelector, *corev1.PodTemplateSpec)) []validateCase[T] {
	sel := func(m func(**metav1.LabelSelector)) func(T) { return func(o T) { s, _ := f(o); m(s) } }
	tmpl := func(m func(*corev1.PodTemplateSpec)) func(T) { return func(o T) { _, t := f(o); m(t) } }
	return []validateCase[T]{
		{"a selector is required", sel(func(s **metav1.LabelSelector) { *s = nil }), []fieldErr{required("spec.selector")}},
		{"an empty selector selects too much", sel(func(s **metav1.LabelSelector) { *s = &metav1.LabelSelector{} }),
			[]fieldErr{invalid("spec.selector")}},
		{"the selector must match the template labels", tmpl(func(t *corev1.PodTemplateSpec) { t.Labels = map[string]string{"app": "db"} }),
			[]fieldErr{invalid("spec.template.metadata.labels")}},
		{"a selector expression is valid", sel(func(s **metav1.LabelSelector) {
			(*s).MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Is"}}
		}), []fieldErr{invalid("spec.selector.matchExpressions[0].operator")}},
		{"template labels are valid labels", tmpl(func(t *corev1.PodTemplateSpec) { t.Labels["tier"] = "front end" }),
			[]fieldErr{invalid("spec.template.metadata.labels")}},
		{"the pod template is a valid pod spec", tmpl(func(t *corev1.PodTemplateSpec) { t.Spec.Containers[0].Image = "" }),
			[]fieldErr{required("spec.template.spec.containers[0].image")}},
		{"the pod template has containers", tmpl(func(t *corev1.PodTemplateSpec) { t.Spec.Containers = nil }),
			[]fieldErr{required("spec.template.spec.containers")}},
		{"the pods restart Always", tmpl(func(t *corev1.PodTemplateSpec) { t.Spec.RestartPolicy = corev1.RestartPolicyOnFailure }),
			[]fieldErr{notSupported("spec.template.spec.restartPolicy")}},
		{"the pods have no deadline", tmpl(func(t *corev1.PodTemplateSpec) { t.Spec.ActiveDeadlineSeconds = ptrTo[int64](60) }),
			[]fieldErr{forbidden("spec.template.spec.activeDeadlineSeconds")}},
	}
}

func TestDeploymentDefaults(t *testing.T) {
	runDefaultCases(t, deploymentStrategy{}, []defaultCase[*appsv1.Deployment]{
		{"replicas default to 1", newDeployment, func(d *appsv1.Deployment) any { return *d.Spec.Replicas }, int32(1)},
		{"the strategy defaults to a 25%/25% rolling update", newDeployment,
			func(d *appsv1.Deployment) any { return d.Spec.Strategy },
			appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxUnavailable: ptrTo(intstr.FromString("25%")), MaxSurge: ptrTo(intstr.FromString("25%"))}}},
		{"a Recreate strategy gets no rolling update parameters",
			func() *appsv1.Deployment {
				d := newDeployment()
				d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType
				return d
			},
			func(d *appsv1.Deployment) any { return d.Spec.Strategy.RollingUpdate }, (*appsv1.RollingUpdateDeployment)(nil)},
		{"revisionHistoryLimit defaults to 10", newDeployment, func(d *appsv1.Deployment) any { return *d.Spec.RevisionHistoryLimit }, int32(10)},
		{"progressDeadlineSeconds defaults to 600", newDeployment, func(d *appsv1.Deployment) any { return *d.Spec.ProgressDeadlineSeconds }, int32(600)},
		{"the pod template gets pod spec defaults", newDeployment,
			func(d *appsv1.Deployment) any {
				s := d.Spec.Template.Spec
				return []any{s.RestartPolicy, s.DNSPolicy, *s.TerminationGracePeriodSeconds, s.SchedulerName, s.Containers[0].ImagePullPolicy}
			}, []any{corev1.RestartPolicyAlways, corev1.DNSClusterFirst, int64(30), "default-scheduler", corev1.PullIfNotPresent}},
		{"the pod template gets no pod-only defaults", newDeployment,
			func(d *appsv1.Deployment) any {
				s := d.Spec.Template.Spec
				return []any{s.ServiceAccountName, s.Tolerations, s.Priority, s.EnableServiceLinks}
			}, []any{"", []corev1.Toleration(nil), (*int32)(nil), (*bool)(nil)}},
	})
}

func TestDeploymentValidation(t *testing.T) {
	cases := []validateCase[*appsv1.Deployment]{
		{name: "a defaulted deployment is valid"},
		{"a deployment name is a DNS subdomain", func(d *appsv1.Deployment) { d.Name = "Web" }, []fieldErr{invalid("metadata.name")}},
		{"a deployment needs a namespace", func(d *appsv1.Deployment) { d.Namespace = "" }, []fieldErr{required("metadata.namespace")}},
		{"replicas may be zero", func(d *appsv1.Deployment) { d.Spec.Replicas = ptrTo[int32](0) }, nil},
		{"replicas are not negative", func(d *appsv1.Deployment) { d.Spec.Replicas = ptrTo[int32](-1) }, []fieldErr{invalid("spec.replicas")}},
		{"the strategy is Recreate or RollingUpdate", func(d *appsv1.Deployment) { d.Spec.Strategy.Type = "BlueGreen" },
			[]fieldErr{notSupported("spec.strategy.type")}},
		{"a Recreate strategy has no rolling update parameters", func(d *appsv1.Deployment) { d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType },
			[]fieldErr{forbidden("spec.strategy.rollingUpdate")}},
		{"maxUnavailable and maxSurge are not both zero", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptrTo(intstr.FromInt32(0))
			d.Spec.Strategy.RollingUpdate.MaxSurge = ptrTo(intstr.FromString("0%"))
		}, []fieldErr{invalid("spec.strategy.rollingUpdate.maxUnavailable")}},
		{"maxUnavailable is at most 100%", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptrTo(intstr.FromString("150%"))
		}, []fieldErr{invalid("spec.strategy.rollingUpdate.maxUnavailable")}},
		{"maxSurge is a count or a percentage", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxSurge = ptrTo(intstr.FromString("half"))
		}, []fieldErr{invalid("spec.strategy.rollingUpdate.maxSurge")}},
		{"revisionHistoryLimit is not negative", func(d *appsv1.Deployment) { d.Spec.RevisionHistoryLimit = ptrTo[int32](-1) },
			[]fieldErr{invalid("spec.revisionHistoryLimit")}},
		{"progressDeadlineSeconds exceeds minReadySeconds", func(d *appsv1.Deployment) { d.Spec.MinReadySeconds = 600 },
			[]fieldErr{invalid("spec.progressDeadlineSeconds")}},
	}
	cases = append(cases, templateCases(func(d *appsv1.Deployment) (**metav1.LabelSelector, *corev1.PodTemplateSpec) {
		return &d.Spec.Selector, &d.Spec.Template
	})...)
	runValidateCases(t, deploymentStrategy{}, validDeployment, cases)
}

func TestDeploymentUpdateValidation(t *testing.T) {
	runUpdateCases(t, deploymentStrategy{}, validDeployment, []updateCase[*appsv1.Deployment]{
		{name: "the template may change", update: func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "nginx:1.26" }},
		{name: "replicas may change", update: func(d *appsv1.Deployment) { d.Spec.Replicas = ptrTo[int32](5) }},
		{name: "the selector does not change", update: func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchLabels["tier"] = "front"
			d.Spec.Template.Labels["tier"] = "front"
		}, want: []fieldErr{invalid("spec.selector")}},
	})
}

func newReplicaSet() *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-5d4f8", Namespace: "default"},
		Spec:       appsv1.ReplicaSetSpec{Selector: webSelector(), Template: podTemplate()},
	}
}

func validReplicaSet() *appsv1.ReplicaSet {
	rs := newReplicaSet()
	replicaSetStrategy{}.Default(rs)
	return rs
}

func TestReplicaSetDefaults(t *testing.T) {
	runDefaultCases(t, replicaSetStrategy{}, []defaultCase[*appsv1.ReplicaSet]{
		{"replicas default to 1", newReplicaSet, func(rs *appsv1.ReplicaSet) any { return *rs.Spec.Replicas }, int32(1)},
		{"the pod template gets pod spec defaults", newReplicaSet,
			func(rs *appsv1.ReplicaSet) any { return rs.Spec.Template.Spec.Containers[0].TerminationMessagePath }, "/dev/termination-log"},
	})
}

func TestReplicaSetValidation(t *testing.T) {
	cases := []validateCase[*appsv1.ReplicaSet]{
		{name: "a defaulted replica set is valid"},
		{"replicas are not negative", func(rs *appsv1.ReplicaSet) { rs.Spec.Replicas = ptrTo[int32](-2) }, []fieldErr{invalid("spec.replicas")}},
		{"minReadySeconds is not negative", func(rs *appsv1.ReplicaSet) { rs.Spec.MinReadySeconds = -1 }, []fieldErr{invalid("spec.minReadySeconds")}},
	}
	cases = append(cases, templateCases(func(rs *appsv1.ReplicaSet) (**metav1.LabelSelector, *corev1.PodTemplateSpec) {
		return &rs.Spec.Selector, &rs.Spec.Template
	})...)
	runValidateCases(t, replicaSetStrategy{}, validReplicaSet, cases)
}

func TestReplicaSetUpdateValidation(t *testing.T) {
	runUpdateCases(t, replicaSetStrategy{}, validReplicaSet, []updateCase[*appsv1.ReplicaSet]{
		{name: "replicas may change", update: func(rs *appsv1.ReplicaSet) { rs.Spec.Replicas = ptrTo[int32](0) }},
		{name: "the selector does not change", update: func(rs *appsv1.ReplicaSet) {
			rs.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpExists}}}
		}, want: []fieldErr{invalid("spec.selector")}},
	})
}

func TestReplicaSetFieldSet(t *testing.T) {
	rs := validReplicaSet()
	rs.Status.Replicas = 3
	want := fields.Set{"metadata.name": "web-5d4f8", "metadata.namespace": "default", "status.replicas": "3"}
	if got := (replicaSetStrategy{}).FieldSet(rs); !semanticEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func newDaemonSet() *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "kube-system"},
		Spec:       appsv1.DaemonSetSpec{Selector: webSelector(), Template: podTemplate()},
	}
}

func validDaemonSet() *appsv1.DaemonSet {
	ds := newDaemonSet()
	daemonSetStrategy{}.Default(ds)
	return ds
}

func TestDaemonSetDefaults(t *testing.T) {
	runDefaultCases(t, daemonSetStrategy{}, []defaultCase[*appsv1.DaemonSet]{
		{"the update strategy defaults to a rolling update of one node at a time", newDaemonSet,
			func(ds *appsv1.DaemonSet) any { return ds.Spec.UpdateStrategy },
			appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType, RollingUpdate: &appsv1.RollingUpdateDaemonSet{
				MaxUnavailable: ptrTo(intstr.FromInt32(1)), MaxSurge: ptrTo(intstr.FromInt32(0))}}},
		{"revisionHistoryLimit defaults to 10", newDaemonSet, func(ds *appsv1.DaemonSet) any { return *ds.Spec.RevisionHistoryLimit }, int32(10)},
		{"the pod template gets pod spec defaults", newDaemonSet,
			func(ds *appsv1.DaemonSet) any { return ds.Spec.Template.Spec.DNSPolicy }, corev1.DNSClusterFirst},
	})
}

func TestDaemonSetValidation(t *testing.T) {
	ru := func(f func(*appsv1.RollingUpdateDaemonSet)) func(*appsv1.DaemonSet) {
		return func(ds *appsv1.DaemonSet) { f(ds.Spec.UpdateStrategy.RollingUpdate) }
	}
	cases := []validateCase[*appsv1.DaemonSet]{
		{name: "a defaulted daemon set is valid"},
		{"an OnDelete daemon set is valid", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
		}, nil},
		{"the update strategy is RollingUpdate or OnDelete", func(ds *appsv1.DaemonSet) { ds.Spec.UpdateStrategy.Type = "Canary" },
			[]fieldErr{notSupported("spec.updateStrategy.type")}},
		{"a rolling update surges or takes nodes down, not both", ru(func(r *appsv1.RollingUpdateDaemonSet) {
			r.MaxSurge = ptrTo(intstr.FromInt32(1))
		}), []fieldErr{invalid("spec.updateStrategy.rollingUpdate.maxSurge")}},
		{"a rolling update surges or takes nodes down", ru(func(r *appsv1.RollingUpdateDaemonSet) {
			r.MaxUnavailable = ptrTo(intstr.FromInt32(0))
		}), []fieldErr{required("spec.updateStrategy.rollingUpdate.maxUnavailable")}},
		{"a surge-only rolling update is valid", ru(func(r *appsv1.RollingUpdateDaemonSet) {
			r.MaxUnavailable, r.MaxSurge = ptrTo(intstr.FromInt32(0)), ptrTo(intstr.FromString("10%"))
		}), nil},
	}
	cases = append(cases, templateCases(func(ds *appsv1.DaemonSet) (**metav1.LabelSelector, *corev1.PodTemplateSpec) {
		return &ds.Spec.Selector, &ds.Spec.Template
	})...)
	runValidateCases(t, daemonSetStrategy{}, validDaemonSet, cases)
}

func TestDaemonSetUpdateValidation(t *testing.T) {
	runUpdateCases(t, daemonSetStrategy{}, validDaemonSet, []updateCase[*appsv1.DaemonSet]{
		{name: "the template may change", update: func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "agent:2" }},
		{name: "the selector does not change", update: func(ds *appsv1.DaemonSet) { ds.Spec.Selector.MatchLabels = map[string]string{"app": "web", "v": "2"} },
			want: []fieldErr{invalid("spec.selector"), invalid("spec.template.metadata.labels")}},
	})
}

func newStatefulSet() *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"},
		Spec:       appsv1.StatefulSetSpec{ServiceName: "db", Selector: webSelector(), Template: podTemplate()},
	}
}

func validStatefulSet() *appsv1.StatefulSet {
	ss := newStatefulSet()
	statefulSetStrategy{}.Default(ss)
	return ss
}

func dataClaim() corev1.PersistentVolumeClaim {
	return corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: resources("storage", "1Gi")},
		},
	}
}

func TestStatefulSetDefaults(t *testing.T) {
	withClaim := func() *appsv1.StatefulSet {
		ss := newStatefulSet()
		ss.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{dataClaim()}
		return ss
	}
	runDefaultCases(t, statefulSetStrategy{}, []defaultCase[*appsv1.StatefulSet]{
		{"replicas default to 1", newStatefulSet, func(ss *appsv1.StatefulSet) any { return *ss.Spec.Replicas }, int32(1)},
		{"pods are managed OrderedReady", newStatefulSet, func(ss *appsv1.StatefulSet) any { return ss.Spec.PodManagementPolicy }, appsv1.OrderedReadyPodManagement},
		{"the update strategy defaults to a rolling update from partition 0", newStatefulSet,
			func(ss *appsv1.StatefulSet) any { return ss.Spec.UpdateStrategy },
			appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptrTo[int32](0)}}},
		{"revisionHistoryLimit defaults to 10", newStatefulSet, func(ss *appsv1.StatefulSet) any { return *ss.Spec.RevisionHistoryLimit }, int32(10)},
		{"claims are retained when the set is deleted or scaled down", newStatefulSet,
			func(ss *appsv1.StatefulSet) any { return *ss.Spec.PersistentVolumeClaimRetentionPolicy },
			appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType, WhenScaled: appsv1.RetainPersistentVolumeClaimRetentionPolicyType}},
		{"claim templates are filesystem volumes", withClaim,
			func(ss *appsv1.StatefulSet) any { return *ss.Spec.VolumeClaimTemplates[0].Spec.VolumeMode }, corev1.PersistentVolumeFilesystem},
		{"the pod template gets pod spec defaults", newStatefulSet,
			func(ss *appsv1.StatefulSet) any { return ss.Spec.Template.Spec.SchedulerName }, "default-scheduler"},
	})
}

func TestStatefulSetValidation(t *testing.T) {
	withClaim := func(ss *appsv1.StatefulSet) {
		ss.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{dataClaim()}
		ss.Spec.Template.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/var/lib/db"}}
	}
	cases := []validateCase[*appsv1.StatefulSet]{
		{name: "a defaulted stateful set is valid"},
		{"containers may mount claim templates", withClaim, nil},
		{"containers may only mount volumes or claim templates", func(ss *appsv1.StatefulSet) {
			withClaim(ss)
			ss.Spec.VolumeClaimTemplates = nil
		}, []fieldErr{notFound("spec.template.spec.containers[0].volumeMounts[0].name")}},
		{"a claim template requests storage", func(ss *appsv1.StatefulSet) {
			withClaim(ss)
			ss.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests = nil
		}, []fieldErr{required("spec.volumeClaimTemplates[0].spec.resources.requests[storage]")}},
		{"a claim template has access modes", func(ss *appsv1.StatefulSet) {
			withClaim(ss)
			ss.Spec.VolumeClaimTemplates[0].Spec.AccessModes = nil
		}, []fieldErr{required("spec.volumeClaimTemplates[0].spec.accessModes")}},
		{"podManagementPolicy is OrderedReady or Parallel", func(ss *appsv1.StatefulSet) { ss.Spec.PodManagementPolicy = "Random" },
			[]fieldErr{notSupported("spec.podManagementPolicy")}},
		{"the update strategy is RollingUpdate or OnDelete", func(ss *appsv1.StatefulSet) { ss.Spec.UpdateStrategy.Type = "Recreate" },
			[]fieldErr{notSupported("spec.updateStrategy.type")}},
		{"an OnDelete strategy has no rolling update parameters", func(ss *appsv1.StatefulSet) {
			ss.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType
		}, []fieldErr{invalid("spec.updateStrategy.rollingUpdate")}},
		{"the partition is not negative", func(ss *appsv1.StatefulSet) { ss.Spec.UpdateStrategy.RollingUpdate.Partition = ptrTo[int32](-1) },
			[]fieldErr{invalid("spec.updateStrategy.rollingUpdate.partition")}},
		{"the service name is a DNS label", func(ss *appsv1.StatefulSet) { ss.Spec.ServiceName = "db.local" },
			[]fieldErr{invalid("spec.serviceName")}},
		{"replicas are not negative", func(ss *appsv1.StatefulSet) { ss.Spec.Replicas = ptrTo[int32](-1) }, []fieldErr{invalid("spec.replicas")}},
	}
	cases = append(cases, templateCases(func(ss *appsv1.StatefulSet) (**metav1.LabelSelector, *corev1.PodTemplateSpec) {
		return &ss.Spec.Selector, &ss.Spec.Template
	})...)
	runValidateCases(t, statefulSetStrategy{}, validStatefulSet, cases)
}

func TestStatefulSetUpdateValidation(t *testing.T) {
	runUpdateCases(t, statefulSetStrategy{}, validStatefulSet, []updateCase[*appsv1.StatefulSet]{
		{name: "replicas, template, update strategy and minReadySeconds may change", update: func(ss *appsv1.StatefulSet) {
			ss.Spec.Replicas = ptrTo[int32](3)
			ss.Spec.Template.Spec.Containers[0].Image = "postgres:17"
			ss.Spec.UpdateStrategy.RollingUpdate.Partition = ptrTo[int32](2)
			ss.Spec.MinReadySeconds = 10
		}},
		{name: "the service name does not change", update: func(ss *appsv1.StatefulSet) { ss.Spec.ServiceName = "db-headless" },
			want: []fieldErr{forbidden("spec")}},
		{name: "claim templates do not change", update: func(ss *appsv1.StatefulSet) {
			ss.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{dataClaim()}
		}, want: []fieldErr{forbidden("spec")}},
		{name: "the selector does not change", update: func(ss *appsv1.StatefulSet) {
			ss.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "role": "db"}}
			ss.Spec.Template.Labels["role"] = "db"
		}, want: []fieldErr{invalid("spec.selector")}},
	})
}

func TestWorkloadSettingsValidation(t *testing.T) {
	runValidateCases(t, statefulSetStrategy{}, validStatefulSet, []validateCase[*appsv1.StatefulSet]{
		{"a rolling update may take several pods down", func(ss *appsv1.StatefulSet) {
			ss.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptrTo(intstr.FromString("50%"))
		}, nil},
		{"a rolling update takes at least one pod down", func(ss *appsv1.StatefulSet) {
			ss.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptrTo(intstr.FromInt32(0))
		}, []fieldErr{invalid("spec.updateStrategy.rollingUpdate.maxUnavailable")}},
		{"claims are retained or deleted", func(ss *appsv1.StatefulSet) {
			ss.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = "Archive"
		}, []fieldErr{notSupported("spec.persistentVolumeClaimRetentionPolicy.whenScaled")}},
		{"ordinals start at zero or more", func(ss *appsv1.StatefulSet) { ss.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: -1} },
			[]fieldErr{invalid("spec.ordinals.start")}},
		{"a claim template is named", func(ss *appsv1.StatefulSet) {
			c := dataClaim()
			c.Name = ""
			ss.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{c}
		}, []fieldErr{required("spec.volumeClaimTemplates[0].metadata.name")}},
	})
	runValidateCases(t, daemonSetStrategy{}, validDaemonSet, []validateCase[*appsv1.DaemonSet]{
		{"minReadySeconds is not negative", func(ds *appsv1.DaemonSet) { ds.Spec.MinReadySeconds = -1 }, []fieldErr{invalid("spec.minReadySeconds")}},
		{"revisionHistoryLimit is not negative", func(ds *appsv1.DaemonSet) { ds.Spec.RevisionHistoryLimit = ptrTo[int32](-1) },
			[]fieldErr{invalid("spec.revisionHistoryLimit")}},
		{"maxUnavailable is at most 100%", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptrTo(intstr.FromString("101%"))
		}, []fieldErr{invalid("spec.updateStrategy.rollingUpdate.maxUnavailable")}},
		{"a rolling update has parameters", func(ds *appsv1.DaemonSet) { ds.Spec.UpdateStrategy.RollingUpdate = nil },
			[]fieldErr{required("spec.updateStrategy.rollingUpdate")}},
	})
}
