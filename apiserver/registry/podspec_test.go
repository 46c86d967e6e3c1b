package registry

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// More of the shared pod spec rules (volumes, env sources, hooks,
// scheduling constraints), checked through pods. Workload templates run
// the same code under spec.template.spec.

func withVolumes(volumes ...corev1.Volume) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Spec.Volumes = volumes }
}

func volume(name string, src corev1.VolumeSource) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: src}
}

func TestPodVolumeValidation(t *testing.T) {
	cm := func(items ...corev1.KeyToPath) corev1.VolumeSource {
		return corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Items: items}}
	}
	downward := func(files ...corev1.DownwardAPIVolumeFile) corev1.VolumeSource {
		return corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: files}}
	}
	projected := func(sources ...corev1.VolumeProjection) corev1.VolumeSource {
		return corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: sources}}
	}
	labelsFile := corev1.DownwardAPIVolumeFile{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels"}}
	token := func(seconds int64) corev1.VolumeProjection {
		return corev1.VolumeProjection{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptrTo(seconds)}}
	}
	runValidateCases(t, podStrategy{}, validPod, []validateCase[*corev1.Pod]{
		{"config map items map keys to relative paths", withVolumes(volume("cfg", cm(corev1.KeyToPath{Key: "app.conf", Path: "conf/app.conf"}))), nil},
		{"an item needs a key", withVolumes(volume("cfg", cm(corev1.KeyToPath{Path: "app.conf"}))), []fieldErr{required("spec.volumes[0].configMap.items[0].key")}},
		{"an item path is relative", withVolumes(volume("cfg", cm(corev1.KeyToPath{Key: "k", Path: "/etc/app.conf"}))),
			[]fieldErr{invalid("spec.volumes[0].configMap.items[0].path")}},
		{"an item path does not start with '..'", withVolumes(volume("cfg", cm(corev1.KeyToPath{Key: "k", Path: "..data"}))),
			[]fieldErr{invalid("spec.volumes[0].configMap.items[0].path")}},
		{"a config map volume names its config map", withVolumes(volume("cfg", corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}})),
			[]fieldErr{required("spec.volumes[0].configMap.name")}},
		{"a claim volume names its claim", withVolumes(volume("data", corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{}})),
			[]fieldErr{required("spec.volumes[0].persistentVolumeClaim.claimName")}},
		{"a hostPath type is a known type", withVolumes(volume("host", corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
			Path: "/var/log", Type: ptrTo[corev1.HostPathType]("Pipe")}})), []fieldErr{notSupported("spec.volumes[0].hostPath.type")}},
		{"an NFS path is absolute", withVolumes(volume("nfs", corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nas", Path: "exports"}})),
			[]fieldErr{invalid("spec.volumes[0].nfs.path")}},
		{"an emptyDir size limit is not negative", withVolumes(volume("tmp", corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			SizeLimit: ptrTo(resource.MustParse("-1Gi"))}})), []fieldErr{forbidden("spec.volumes[0].emptyDir.sizeLimit")}},
		{"a downward API volume may expose labels", withVolumes(volume("info", downward(labelsFile))), nil},
		{"a downward API file needs a path", withVolumes(volume("info", downward(corev1.DownwardAPIVolumeFile{FieldRef: labelsFile.FieldRef}))),
			[]fieldErr{required("spec.volumes[0].downwardAPI.items[0].path")}},
		{"a downward API file exposes a field or a resource", withVolumes(volume("info", downward(corev1.DownwardAPIVolumeFile{Path: "x"}))),
			[]fieldErr{required("spec.volumes[0].downwardAPI.items[0]")}},
		{"a downward API volume may not expose the node name", withVolumes(volume("info", downward(corev1.DownwardAPIVolumeFile{
			Path: "node", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.nodeName"}}))),
			[]fieldErr{notSupported("spec.volumes[0].downwardAPI.items[0].fieldRef.fieldPath")}},
		{"a resource file names its container", withVolumes(volume("info", downward(corev1.DownwardAPIVolumeFile{
			Path: "cpu", ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}))),
			[]fieldErr{required("spec.volumes[0].downwardAPI.items[0].resourceFieldRef.containerName")}},
		{"a projected volume may combine sources", withVolumes(volume("all", projected(token(3600),
			corev1.VolumeProjection{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "ca"}}}))), nil},
		{"a projected source has one kind", withVolumes(volume("all", projected(corev1.VolumeProjection{
			ServiceAccountToken: token(3600).ServiceAccountToken, ConfigMap: &corev1.ConfigMapProjection{}}))),
			[]fieldErr{forbidden("spec.volumes[0].projected.sources[0].serviceAccountToken")}},
		{"a projected source is set", withVolumes(volume("all", projected(corev1.VolumeProjection{}))),
			[]fieldErr{required("spec.volumes[0].projected.sources[0]")}},
		{"a projected token lasts at least ten minutes", withVolumes(volume("all", projected(token(300)))),
			[]fieldErr{invalid("spec.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds")}},
	})
}

func TestPodContainerSourceValidation(t *testing.T) {
	ctr := func(f func(c *corev1.Container)) func(*corev1.Pod) {
		return func(p *corev1.Pod) { f(&p.Spec.Containers[0]) }
	}
	env := func(from corev1.EnvVarSource) func(*corev1.Pod) {
		return ctr(func(c *corev1.Container) { c.Env = []corev1.EnvVar{{Name: "X", ValueFrom: &from}} })
	}
	hook := func(h corev1.LifecycleHandler) func(*corev1.Pod) {
		return ctr(func(c *corev1.Container) { c.Lifecycle = &corev1.Lifecycle{PreStop: &h} })
	}
	runValidateCases(t, podStrategy{}, validPod, []validateCase[*corev1.Pod]{
		{"an env var may read a container's memory limit", env(corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory"}}), nil},
		{"an env var reads known resources", env(corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.gpu"}}),
			[]fieldErr{notSupported("spec.containers[0].env[0].valueFrom.resourceFieldRef.resource")}},
		{"a secretKeyRef key is file-name-like", env(corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "a/b"}}),
			[]fieldErr{invalid("spec.containers[0].env[0].valueFrom.secretKeyRef.key")}},
		{"a fieldRef names its API version", env(corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}),
			[]fieldErr{required("spec.containers[0].env[0].valueFrom.fieldRef.apiVersion")}},
		{"an env source has one kind", env(corev1.EnvVarSource{
			FieldRef:        &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"},
			ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "k"}}),
			[]fieldErr{invalid("spec.containers[0].env[0].valueFrom")}},
		{"an env source is set", env(corev1.EnvVarSource{}), []fieldErr{invalid("spec.containers[0].env[0].valueFrom")}},
		{"envFrom may import a config map with a prefix", ctr(func(c *corev1.Container) {
			c.EnvFrom = []corev1.EnvFromSource{{Prefix: "APP_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}
		}), nil},
		{"envFrom names its secret", ctr(func(c *corev1.Container) {
			c.EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{}}}
		}), []fieldErr{required("spec.containers[0].envFrom[0].secretRef.name")}},
		{"a preStop sleep is valid", hook(corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}), nil},
		{"a hook needs a handler", hook(corev1.LifecycleHandler{}), []fieldErr{required("spec.containers[0].lifecycle.preStop")}},
		{"an exec hook has a command", hook(corev1.LifecycleHandler{Exec: &corev1.ExecAction{}}),
			[]fieldErr{required("spec.containers[0].lifecycle.preStop.exec.command")}},
		{"an HTTP hook scheme is HTTP or HTTPS", hook(corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/quit", Port: intstr.FromInt32(80), Scheme: "FTP"}}),
			[]fieldErr{notSupported("spec.containers[0].lifecycle.preStop.httpGet.scheme")}},
		{"a gRPC probe port is a valid port", ctr(func(c *corev1.Container) {
			c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 0}}, SuccessThreshold: 1}
		}), []fieldErr{invalid("spec.containers[0].livenessProbe.grpc.port")}},
		{"probe timings are not negative", ctr(func(c *corev1.Container) {
			c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9090}}, PeriodSeconds: -1}
		}), []fieldErr{invalid("spec.containers[0].readinessProbe.periodSeconds")}},
		{"a volume mount subPathExpr excludes subPath", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{volume("data", corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}})}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/d", SubPath: "a", SubPathExpr: "$(POD)"}}
		}, []fieldErr{invalid("spec.containers[0].volumeMounts[0].subPathExpr")}},
		{"group IDs are not negative", func(p *corev1.Pod) {
			p.Spec.SecurityContext.FSGroup = ptrTo[int64](-5)
			p.Spec.SecurityContext.SupplementalGroups = []int64{-1}
		}, []fieldErr{invalid("spec.securityContext.fsGroup"), invalid("spec.securityContext.supplementalGroups[0]")}},
	})
}

func TestPodSchedulingConstraintValidation(t *testing.T) {
	spread := func(c ...corev1.TopologySpreadConstraint) func(*corev1.Pod) {
		return func(p *corev1.Pod) { p.Spec.TopologySpreadConstraints = c }
	}
	zoneSpread := corev1.TopologySpreadConstraint{MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: corev1.DoNotSchedule}
	nodeTerm := func(term corev1.NodeSelectorTerm) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{term}}}}
		}
	}
	termPath := "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
	runValidateCases(t, podStrategy{}, validPod, []validateCase[*corev1.Pod]{
		{"a zone spread constraint is valid", spread(zoneSpread), nil},
		{"spread constraints are unique by key and policy", spread(zoneSpread, zoneSpread),
			[]fieldErr{duplicate("spec.topologySpreadConstraints[1]")}},
		{"a spread constraint is DoNotSchedule or ScheduleAnyway", spread(corev1.TopologySpreadConstraint{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: "Maybe"}),
			[]fieldErr{notSupported("spec.topologySpreadConstraints[0].whenUnsatisfiable")}},
		{"minDomains needs DoNotSchedule", spread(corev1.TopologySpreadConstraint{MaxSkew: 1, TopologyKey: "zone",
			WhenUnsatisfiable: corev1.ScheduleAnyway, MinDomains: ptrTo[int32](2)}),
			[]fieldErr{invalid("spec.topologySpreadConstraints[0].minDomains")}},
		{"a node field selector matches metadata.name", nodeTerm(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{
			{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"node-1"}}}}), nil},
		{"a node field selector only matches metadata.name", nodeTerm(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{
			{Key: "spec.podCIDR", Operator: corev1.NodeSelectorOpIn, Values: []string{"x"}}}}),
			[]fieldErr{notSupported(termPath + ".matchFields[0].key")}},
		{"a Gt requirement has one value", nodeTerm(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: "cores", Operator: corev1.NodeSelectorOpGt, Values: []string{"2", "4"}}}}),
			[]fieldErr{required(termPath + ".matchExpressions[0].values")}},
		{"an Exists requirement has no values", nodeTerm(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: "gpu", Operator: corev1.NodeSelectorOpExists, Values: []string{"yes"}}}}),
			[]fieldErr{forbidden(termPath + ".matchExpressions[0].values")}},
		{"a node requirement operator is known", nodeTerm(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: "gpu", Operator: "Like", Values: []string{"a*"}}}}),
			[]fieldErr{notSupported(termPath + ".matchExpressions[0].operator")}},
		{"pod affinity namespaces are namespace names", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
				Weight: 10, PodAffinityTerm: corev1.PodAffinityTerm{
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
					Namespaces:    []string{"Team_A"}, TopologyKey: "kubernetes.io/hostname"}}}}}
		}, []fieldErr{invalid("spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.namespaces[0]")}},
		{"host aliases map IPs to host names", func(p *corev1.Pod) {
			p.Spec.HostAliases = []corev1.HostAlias{{IP: "10.0.0.5", Hostnames: []string{"db.local"}}}
		}, nil},
		{"a host alias IP is an IP", func(p *corev1.Pod) {
			p.Spec.HostAliases = []corev1.HostAlias{{IP: "db", Hostnames: []string{"db.local"}}}
		}, []fieldErr{invalid("spec.hostAliases[0].ip")}},
		{"a host alias name is a DNS subdomain", func(p *corev1.Pod) {
			p.Spec.HostAliases = []corev1.HostAlias{{IP: "10.0.0.5", Hostnames: []string{"DB_host"}}}
		}, []fieldErr{invalid("spec.hostAliases[0].hostnames[0]")}},
		{"dns search domains are DNS subdomains", func(p *corev1.Pod) {
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Searches: []string{"bad_domain"}}
		}, []fieldErr{invalid("spec.dnsConfig.searches[0]")}},
		{"dns options are named", func(p *corev1.Pod) {
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Options: []corev1.PodDNSConfigOption{{Value: ptrTo("2")}}}
		}, []fieldErr{required("spec.dnsConfig.options[0]")}},
		{"at most three nameservers", func(p *corev1.Pod) {
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"}}
		}, []fieldErr{invalid("spec.dnsConfig.nameservers")}},
	})
}
