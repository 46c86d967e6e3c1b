package registry

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func container(name, image string) corev1.Container {
	return corev1.Container{Name: name, Image: image}
}

// newPod is a pod as a user writes it, before defaulting.
func newPod(containers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "3c1a7d2e"},
		Spec:       corev1.PodSpec{Containers: containers},
	}
}

// validPod is a defaulted pod with one container.
func validPod() *corev1.Pod {
	p := newPod(container("app", "nginx:1.25"))
	podStrategy{}.Default(p)
	return p
}

func resources(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

func TestPodDefaults(t *testing.T) {
	bare := func() *corev1.Pod { return newPod(container("app", "nginx:1.25")) }
	withImage := func(image string) func() *corev1.Pod {
		return func() *corev1.Pod { return newPod(container("app", image)) }
	}
	pullPolicy := func(p *corev1.Pod) any { return p.Spec.Containers[0].ImagePullPolicy }
	runDefaultCases(t, podStrategy{}, []defaultCase[*corev1.Pod]{
		{"restartPolicy defaults to Always", bare, func(p *corev1.Pod) any { return p.Spec.RestartPolicy }, corev1.RestartPolicyAlways},
		{"an explicit restartPolicy is kept",
			func() *corev1.Pod { p := bare(); p.Spec.RestartPolicy = corev1.RestartPolicyNever; return p },
			func(p *corev1.Pod) any { return p.Spec.RestartPolicy }, corev1.RestartPolicyNever},
		{"dnsPolicy defaults to ClusterFirst", bare, func(p *corev1.Pod) any { return p.Spec.DNSPolicy }, corev1.DNSClusterFirst},
		{"terminationGracePeriodSeconds defaults to 30", bare, func(p *corev1.Pod) any { return *p.Spec.TerminationGracePeriodSeconds }, int64(30)},
		{"schedulerName defaults to default-scheduler", bare, func(p *corev1.Pod) any { return p.Spec.SchedulerName }, "default-scheduler"},
		{"serviceAccountName defaults to default", bare, func(p *corev1.Pod) any { return p.Spec.ServiceAccountName }, "default"},
		{"the deprecated serviceAccount field mirrors serviceAccountName", bare, func(p *corev1.Pod) any { return p.Spec.DeprecatedServiceAccount }, "default"},
		{"serviceAccountName is taken from the deprecated serviceAccount field",
			func() *corev1.Pod { p := bare(); p.Spec.DeprecatedServiceAccount = "builder"; return p },
			func(p *corev1.Pod) any { return p.Spec.ServiceAccountName }, "builder"},
		{"securityContext defaults to empty", bare, func(p *corev1.Pod) any { return p.Spec.SecurityContext }, &corev1.PodSecurityContext{}},
		{"enableServiceLinks defaults to true", bare, func(p *corev1.Pod) any { return *p.Spec.EnableServiceLinks }, true},
		{"terminationMessagePath defaults to /dev/termination-log", bare,
			func(p *corev1.Pod) any { return p.Spec.Containers[0].TerminationMessagePath }, "/dev/termination-log"},
		{"terminationMessagePolicy defaults to File", bare,
			func(p *corev1.Pod) any { return p.Spec.Containers[0].TerminationMessagePolicy }, corev1.TerminationMessageReadFile},
		{"an image without a tag is always pulled", withImage("nginx"), pullPolicy, corev1.PullAlways},
		{"an image tagged latest is always pulled", withImage("nginx:latest"), pullPolicy, corev1.PullAlways},
		{"an image on a registry with a port and no tag is always pulled", withImage("localhost:5000/app"), pullPolicy, corev1.PullAlways},
		{"an image with a version tag is pulled if not present", withImage("nginx:1.25"), pullPolicy, corev1.PullIfNotPresent},
		{"an image pinned by digest is pulled if not present", withImage("nginx@sha256:0123456789abcdef"), pullPolicy, corev1.PullIfNotPresent},
		{"an explicit imagePullPolicy is kept",
			func() *corev1.Pod {
				p := withImage("nginx")()
				p.Spec.Containers[0].ImagePullPolicy = corev1.PullNever
				return p
			},
			pullPolicy, corev1.PullNever},
		{"init containers get container defaults",
			func() *corev1.Pod {
				p := bare()
				p.Spec.InitContainers = []corev1.Container{container("init", "busybox")}
				return p
			},
			func(p *corev1.Pod) any {
				c := p.Spec.InitContainers[0]
				return []any{c.ImagePullPolicy, c.TerminationMessagePath, c.TerminationMessagePolicy}
			}, []any{corev1.PullAlways, "/dev/termination-log", corev1.TerminationMessageReadFile}},
		{"container ports default to TCP",
			func() *corev1.Pod {
				p := bare()
				p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80}}
				return p
			},
			func(p *corev1.Pod) any { return p.Spec.Containers[0].Ports[0].Protocol }, corev1.ProtocolTCP},
		{"on the host network host ports default to container ports",
			func() *corev1.Pod {
				p := bare()
				p.Spec.HostNetwork = true
				p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080}}
				return p
			},
			func(p *corev1.Pod) any { return p.Spec.Containers[0].Ports[0].HostPort }, int32(8080)},
		{"requests default to limits",
			func() *corev1.Pod {
				p := bare()
				p.Spec.Containers[0].Resources.Limits = resources("cpu", "500m")
				return p
			},
			func(p *corev1.Pod) any { return p.Spec.Containers[0].Resources.Requests }, resources("cpu", "500m")},
		{"probes get timeouts, thresholds and an HTTP path",
			func() *corev1.Pod {
				p := bare()
				p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}}
				return p
			},
			func(p *corev1.Pod) any { return p.Spec.Containers[0].LivenessProbe },
			&corev1.Probe{
				ProbeHandler:   corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(80), Scheme: corev1.URISchemeHTTP}},
				TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3,
			}},
		{"env fieldRef apiVersion defaults to v1",
			func() *corev1.Pod {
				p := bare()
				p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}}
				return p
			},
			func(p *corev1.Pod) any { return p.Spec.Containers[0].Env[0].ValueFrom.FieldRef.APIVersion }, "v1"},
		{"a volume without a source is an emptyDir",
			func() *corev1.Pod { p := bare(); p.Spec.Volumes = []corev1.Volume{{Name: "scratch"}}; return p },
			func(p *corev1.Pod) any { return p.Spec.Volumes[0].VolumeSource }, corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{"secret volume files default to mode 0644",
			func() *corev1.Pod {
				p := bare()
				p.Spec.Volumes = []corev1.Volume{{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}}}
				return p
			},
			func(p *corev1.Pod) any { return *p.Spec.Volumes[0].Secret.DefaultMode }, int32(0o644)},
		{"projected service account tokens expire after an hour",
			func() *corev1.Pod {
				p := bare()
				p.Spec.Volumes = []corev1.Volume{{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}}}
				return p
			},
			func(p *corev1.Pod) any {
				return *p.Spec.Volumes[0].Projected.Sources[0].ServiceAccountToken.ExpirationSeconds
			}, int64(3600)},
		{"pods tolerate not-ready and unreachable nodes for 300s", bare,
			func(p *corev1.Pod) any { return p.Spec.Tolerations },
			[]corev1.Toleration{
				{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptrTo[int64](300)},
				{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptrTo[int64](300)},
			}},
		{"a pod that already tolerates not-ready nodes keeps its own toleration",
			func() *corev1.Pod {
				p := bare()
				p.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists}}
				return p
			},
			func(p *corev1.Pod) any { return p.Spec.Tolerations },
			[]corev1.Toleration{
				{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists},
				{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptrTo[int64](300)},
			}},
		{"defaulting twice changes nothing",
			func() *corev1.Pod { p := bare(); podStrategy{}.Default(p); return p },
			func(p *corev1.Pod) any { return p }, validPod()},
	})
}

func TestPodValidation(t *testing.T) {
	ctr := func(f func(c *corev1.Container)) func(*corev1.Pod) {
		return func(p *corev1.Pod) { f(&p.Spec.Containers[0]) }
	}
	withVolume := func(p *corev1.Pod) {
		p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	}
	runValidateCases(t, podStrategy{}, validPod, []validateCase[*corev1.Pod]{
		{name: "a defaulted pod with one container is valid"},
		{"a pod name must be a DNS subdomain", func(p *corev1.Pod) { p.Name = "Web_1" }, []fieldErr{invalid("metadata.name")}},
		{"a pod needs a name", func(p *corev1.Pod) { p.Name = "" }, []fieldErr{required("metadata.name")}},
		{"a pod needs a namespace", func(p *corev1.Pod) { p.Namespace = "" }, []fieldErr{required("metadata.namespace")}},
		{"label keys must be qualified names", func(p *corev1.Pod) { p.Labels = map[string]string{"bad key": "x"} }, []fieldErr{invalid("metadata.labels")}},
		{"label values must be valid", func(p *corev1.Pod) { p.Labels = map[string]string{"app": "no spaces"} }, []fieldErr{invalid("metadata.labels")}},
		{"annotation keys must be qualified names", func(p *corev1.Pod) { p.Annotations = map[string]string{"a/b/c": "x"} }, []fieldErr{invalid("metadata.annotations")}},
		{"finalizers must be standard or domain-qualified", func(p *corev1.Pod) { p.Finalizers = []string{"cleanup"} }, []fieldErr{invalid("metadata.finalizers[0]")}},
		{"a domain-qualified finalizer is valid", func(p *corev1.Pod) { p.Finalizers = []string{"example.com/cleanup"} }, nil},
		{"a pod needs a container", func(p *corev1.Pod) { p.Spec.Containers = nil }, []fieldErr{required("spec.containers")}},
		{"a container needs a name", ctr(func(c *corev1.Container) { c.Name = "" }), []fieldErr{required("spec.containers[0].name")}},
		{"a container name must be a DNS label", ctr(func(c *corev1.Container) { c.Name = "App.1" }), []fieldErr{invalid("spec.containers[0].name")}},
		{"container names are unique across init and regular containers",
			func(p *corev1.Pod) { p.Spec.InitContainers = []corev1.Container{p.Spec.Containers[0]} },
			[]fieldErr{duplicate("spec.initContainers[0].name")}},
		{"a container needs an image", ctr(func(c *corev1.Container) { c.Image = "" }), []fieldErr{required("spec.containers[0].image")}},
		{"an image may not have surrounding whitespace", ctr(func(c *corev1.Container) { c.Image = " nginx" }), []fieldErr{invalid("spec.containers[0].image")}},
		{"imagePullPolicy must be Always, IfNotPresent or Never", ctr(func(c *corev1.Container) { c.ImagePullPolicy = "Sometimes" }),
			[]fieldErr{notSupported("spec.containers[0].imagePullPolicy")}},
		{"terminationMessagePolicy must be File or FallbackToLogsOnError", ctr(func(c *corev1.Container) { c.TerminationMessagePolicy = "Stdout" }),
			[]fieldErr{notSupported("spec.containers[0].terminationMessagePolicy")}},
		{"a named TCP port is valid", ctr(func(c *corev1.Container) {
			c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 80, Protocol: corev1.ProtocolTCP}}
		}), nil},
		{"a container port is required", ctr(func(c *corev1.Container) { c.Ports = []corev1.ContainerPort{{Protocol: corev1.ProtocolTCP}} }),
			[]fieldErr{required("spec.containers[0].ports[0].containerPort")}},
		{"a container port is at most 65535", ctr(func(c *corev1.Container) {
			c.Ports = []corev1.ContainerPort{{ContainerPort: 70000, Protocol: corev1.ProtocolTCP}}
		}), []fieldErr{invalid("spec.containers[0].ports[0].containerPort")}},
		{"a port protocol is TCP, UDP or SCTP", ctr(func(c *corev1.Container) {
			c.Ports = []corev1.ContainerPort{{ContainerPort: 80, Protocol: "HTTP"}}
		}), []fieldErr{notSupported("spec.containers[0].ports[0].protocol")}},
		{"a port name must be an IANA service name", ctr(func(c *corev1.Container) {
			c.Ports = []corev1.ContainerPort{{Name: "web_port", ContainerPort: 80, Protocol: corev1.ProtocolTCP}}
		}), []fieldErr{invalid("spec.containers[0].ports[0].name")}},
		{"port names are unique within a container", ctr(func(c *corev1.Container) {
			c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 80, Protocol: "TCP"}, {Name: "http", ContainerPort: 81, Protocol: "TCP"}}
		}), []fieldErr{duplicate("spec.containers[0].ports[1].name")}},
		{"two containers may not claim the same host port", func(p *corev1.Pod) {
			c := container("sidecar", "busybox")
			defaultContainer(&c)
			p.Spec.Containers = append(p.Spec.Containers, c)
			for i := range p.Spec.Containers {
				p.Spec.Containers[i].Ports = []corev1.ContainerPort{{ContainerPort: int32(80 + i), HostPort: 8080, Protocol: "TCP"}}
			}
		}, []fieldErr{duplicate("spec.containers[1].ports[0].hostPort")}},
		{"on the host network a host port must equal the container port", func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080, Protocol: "TCP"}}
		}, []fieldErr{invalid("spec.containers[0].ports[0].hostPort")}},
		{"restartPolicy must be Always, OnFailure or Never", func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" },
			[]fieldErr{notSupported("spec.restartPolicy")}},
		{"restartPolicy is required", func(p *corev1.Pod) { p.Spec.RestartPolicy = "" }, []fieldErr{required("spec.restartPolicy")}},
		{"dnsPolicy must be a known policy", func(p *corev1.Pod) { p.Spec.DNSPolicy = "Google" }, []fieldErr{notSupported("spec.dnsPolicy")}},
		{"dnsPolicy None needs a dnsConfig", func(p *corev1.Pod) { p.Spec.DNSPolicy = corev1.DNSNone }, []fieldErr{required("spec.dnsConfig")}},
		{"dnsPolicy None with nameservers is valid", func(p *corev1.Pod) {
			p.Spec.DNSPolicy = corev1.DNSNone
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"10.96.0.10"}, Searches: []string{"svc.cluster.local."}}
		}, nil},
		{"dns nameservers must be IP addresses", func(p *corev1.Pod) { p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"dns.local"}} },
			[]fieldErr{invalid("spec.dnsConfig.nameservers[0]")}},
		{"requests equal to limits are valid", ctr(func(c *corev1.Container) {
			c.Resources = corev1.ResourceRequirements{Requests: resources("cpu", "1"), Limits: resources("cpu", "1000m")}
		}), nil},
		{"requests may not exceed limits", ctr(func(c *corev1.Container) {
			c.Resources = corev1.ResourceRequirements{Requests: resources("cpu", "2"), Limits: resources("cpu", "1")}
		}), []fieldErr{invalid("spec.containers[0].resources.requests")}},
		{"resource quantities may not be negative", ctr(func(c *corev1.Container) { c.Resources.Limits = resources("memory", "-1Mi") }),
			[]fieldErr{invalid("spec.containers[0].resources.limits[memory]")}},
		{"resource names without a domain must be standard", ctr(func(c *corev1.Container) { c.Resources.Limits = resources("gpu", "1") }),
			[]fieldErr{invalid("spec.containers[0].resources.limits[gpu]")}},
		{"extended resources need a limit", ctr(func(c *corev1.Container) { c.Resources.Requests = resources("example.com/gpu", "1") }),
			[]fieldErr{required("spec.containers[0].resources.limits")}},
		{"a mounted volume is valid", func(p *corev1.Pod) {
			withVolume(p)
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data", SubPath: "app"}}
		}, nil},
		{"a volume mount must reference a volume", ctr(func(c *corev1.Container) {
			c.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
		}), []fieldErr{notFound("spec.containers[0].volumeMounts[0].name")}},
		{"a volume mount needs a mount path", func(p *corev1.Pod) {
			withVolume(p)
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data"}}
		}, []fieldErr{required("spec.containers[0].volumeMounts[0].mountPath")}},
		{"mount paths are unique within a container", func(p *corev1.Pod) {
			withVolume(p)
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}, {Name: "data", MountPath: "/data"}}
		}, []fieldErr{invalid("spec.containers[0].volumeMounts[1].mountPath")}},
		{"a subPath may not leave the volume", func(p *corev1.Pod) {
			withVolume(p)
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data", SubPath: "../etc"}}
		}, []fieldErr{invalid("spec.containers[0].volumeMounts[0].subPath")}},
		{"volume names are unique", func(p *corev1.Pod) { withVolume(p); p.Spec.Volumes = append(p.Spec.Volumes, p.Spec.Volumes[0]) },
			[]fieldErr{duplicate("spec.volumes[1].name")}},
		{"a volume name must be a DNS label", func(p *corev1.Pod) { withVolume(p); p.Spec.Volumes[0].Name = "Data" },
			[]fieldErr{invalid("spec.volumes[0].name")}},
		{"a volume needs a source", func(p *corev1.Pod) { p.Spec.Volumes = []corev1.Volume{{Name: "data"}} },
			[]fieldErr{required("spec.volumes[0]")}},
		{"a volume has one source", func(p *corev1.Pod) {
			withVolume(p)
			p.Spec.Volumes[0].ConfigMap = &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}
		}, []fieldErr{forbidden("spec.volumes[0].configMap")}},
		{"a secret volume names its secret", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{}}}}
		}, []fieldErr{required("spec.volumes[0].secret.secretName")}},
		{"volume file modes are at most 0777", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, DefaultMode: ptrTo[int32](0o1777)}}}}
		}, []fieldErr{invalid("spec.volumes[0].configMap.defaultMode")}},
		{"a hostPath volume needs a path", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{}}}}
		}, []fieldErr{required("spec.volumes[0].hostPath.path")}},
		{"env var names may be any printable ASCII without '='", ctr(func(c *corev1.Container) {
			c.Env = []corev1.EnvVar{{Name: "my.setting-1", Value: "x"}}
		}), nil},
		{"env var names may not contain '='", ctr(func(c *corev1.Container) { c.Env = []corev1.EnvVar{{Name: "A=B"}} }),
			[]fieldErr{invalid("spec.containers[0].env[0].name")}},
		{"env vars need a name", ctr(func(c *corev1.Container) { c.Env = []corev1.EnvVar{{Value: "x"}} }),
			[]fieldErr{required("spec.containers[0].env[0].name")}},
		{"an env var has a value or a source, not both", ctr(func(c *corev1.Container) {
			c.Env = []corev1.EnvVar{{Name: "NODE", Value: "x", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.nodeName"}}}}
		}), []fieldErr{invalid("spec.containers[0].env[0].valueFrom")}},
		{"a configMapKeyRef needs a key", ctr(func(c *corev1.Container) {
			c.Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}}
		}), []fieldErr{required("spec.containers[0].env[0].valueFrom.configMapKeyRef.key")}},
		{"a fieldRef may read a label", ctr(func(c *corev1.Container) {
			c.Env = []corev1.EnvVar{{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels['app']"}}}}
		}), nil},
		{"a fieldRef may only read exposed fields", ctr(func(c *corev1.Container) {
			c.Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.hostname"}}}}
		}), []fieldErr{notSupported("spec.containers[0].env[0].valueFrom.fieldRef.fieldPath")}},
		{"envFrom names a configMap or a secret", ctr(func(c *corev1.Container) { c.EnvFrom = []corev1.EnvFromSource{{Prefix: "X_"}} }),
			[]fieldErr{invalid("spec.containers[0].envFrom[0]")}},
		{"a probe with one handler is valid", ctr(func(c *corev1.Container) {
			c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("http")}}, SuccessThreshold: 2}
		}), nil},
		{"a probe needs a handler", ctr(func(c *corev1.Container) { c.LivenessProbe = &corev1.Probe{SuccessThreshold: 1} }),
			[]fieldErr{required("spec.containers[0].livenessProbe")}},
		{"a probe has only one handler", ctr(func(c *corev1.Container) {
			c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
				Exec: &corev1.ExecAction{Command: []string{"true"}}, TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)}}}
		}), []fieldErr{forbidden("spec.containers[0].readinessProbe.tcpSocket")}},
		{"a liveness probe must succeed once", ctr(func(c *corev1.Container) {
			c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, SuccessThreshold: 2}
		}), []fieldErr{invalid("spec.containers[0].livenessProbe.successThreshold")}},
		{"an HTTP probe port is a valid port", ctr(func(c *corev1.Container) {
			c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(0), Scheme: "HTTP"}}}
		}), []fieldErr{invalid("spec.containers[0].readinessProbe.httpGet.port")}},
		{"init containers may not have probes", func(p *corev1.Pod) {
			c := container("init", "busybox")
			defaultContainer(&c)
			c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
			p.Spec.InitContainers = []corev1.Container{c}
		}, []fieldErr{forbidden("spec.initContainers[0].readinessProbe")}},
		{"sidecar init containers may have probes", func(p *corev1.Pod) {
			c := container("proxy", "envoy")
			defaultContainer(&c)
			c.RestartPolicy = ptrTo(corev1.ContainerRestartPolicyAlways)
			c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
			p.Spec.InitContainers = []corev1.Container{c}
		}, nil},
		{"regular containers may not set a restartPolicy", ctr(func(c *corev1.Container) {
			c.RestartPolicy = ptrTo(corev1.ContainerRestartPolicyAlways)
		}), []fieldErr{forbidden("spec.containers[0].restartPolicy")}},
		{"a toleration with an empty key must use Exists", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpEqual}}
		}, []fieldErr{invalid("spec.tolerations[0].operator")}},
		{"an Exists toleration has no value", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "gpu", Operator: corev1.TolerationOpExists, Value: "yes"}}
		}, []fieldErr{invalid("spec.tolerations[0].operator")}},
		{"tolerationSeconds needs the NoExecute effect", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule, TolerationSeconds: ptrTo[int64](10)}}
		}, []fieldErr{invalid("spec.tolerations[0].effect")}},
		{"a toleration effect must be a taint effect", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "gpu", Operator: corev1.TolerationOpExists, Effect: "NoRun"}}
		}, []fieldErr{notSupported("spec.tolerations[0].effect")}},
		{"a toleration operator is Equal or Exists", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "gpu", Operator: "In"}}
		}, []fieldErr{notSupported("spec.tolerations[0].operator")}},
		{"nodeSelector labels must be valid", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "fast ssd"} },
			[]fieldErr{invalid("spec.nodeSelector")}},
		{"serviceAccountName must be a DNS subdomain", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "Robot" },
			[]fieldErr{invalid("spec.serviceAccountName")}},
		{"nodeName must be a DNS subdomain", func(p *corev1.Pod) { p.Spec.NodeName = "node_1" }, []fieldErr{invalid("spec.nodeName")}},
		{"activeDeadlineSeconds is at least 1", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptrTo[int64](0) },
			[]fieldErr{invalid("spec.activeDeadlineSeconds")}},
		{"hostname must be a DNS label", func(p *corev1.Pod) { p.Spec.Hostname = "web.local" }, []fieldErr{invalid("spec.hostname")}},
		{"preemptionPolicy is PreemptLowerPriority or Never", func(p *corev1.Pod) { p.Spec.PreemptionPolicy = ptrTo[corev1.PreemptionPolicy]("Always") },
			[]fieldErr{notSupported("spec.preemptionPolicy")}},
		{"user IDs may not be negative", func(p *corev1.Pod) { p.Spec.SecurityContext.RunAsUser = ptrTo[int64](-1) },
			[]fieldErr{invalid("spec.securityContext.runAsUser")}},
		{"a privileged container may not forbid privilege escalation", ctr(func(c *corev1.Container) {
			c.SecurityContext = &corev1.SecurityContext{Privileged: ptrTo(true), AllowPrivilegeEscalation: ptrTo(false)}
		}), []fieldErr{invalid("spec.containers[0].securityContext")}},
		{"required node affinity needs a term", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{}}}
		}, []fieldErr{required("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms")}},
		{"a node affinity In requirement needs values", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn}}}}}}}
		}, []fieldErr{required("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values")}},
		{"a preferred affinity weight is 1 to 100", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{
				Weight: 0, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpExists}}}}}}}
		}, []fieldErr{invalid("spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight")}},
		{"pod anti-affinity needs a topology key", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}}}
		}, []fieldErr{required("spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey")}},
		{"a topology spread maxSkew is positive", func(p *corev1.Pod) {
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 0, TopologyKey: "zone", WhenUnsatisfiable: corev1.DoNotSchedule}}
		}, []fieldErr{invalid("spec.topologySpreadConstraints[0].maxSkew")}},
		{"ephemeral containers cannot be set on create", func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}}
		}, []fieldErr{forbidden("spec.ephemeralContainers")}},
	})
}

func TestPodUpdateValidation(t *testing.T) {
	runUpdateCases(t, podStrategy{}, validPod, []updateCase[*corev1.Pod]{
		{name: "an unchanged pod is valid"},
		{name: "labels and annotations may change", update: func(p *corev1.Pod) {
			p.Labels = map[string]string{"tier": "front"}
			p.Annotations = map[string]string{"note": "x"}
		}},
		{name: "container images may change", update: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx:1.26" }},
		{name: "init container images may change",
			old: func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{p.Spec.Containers[0]}
				p.Spec.InitContainers[0].Name = "init"
			},
			update: func(p *corev1.Pod) { p.Spec.InitContainers[0].Image = "busybox:1.36" }},
		{name: "a container command may not change", update: func(p *corev1.Pod) { p.Spec.Containers[0].Command = []string{"sh"} },
			want: []fieldErr{forbidden("spec")}},
		{name: "containers may not be added", update: func(p *corev1.Pod) {
			c := p.Spec.Containers[0]
			c.Name = "sidecar"
			p.Spec.Containers = append(p.Spec.Containers, c)
		}, want: []fieldErr{forbidden("spec.containers")}},
		{name: "tolerations may be added", update: func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "gpu", Operator: corev1.TolerationOpExists})
		}},
		{name: "the tolerationSeconds of a toleration may change", update: func(p *corev1.Pod) {
			p.Spec.Tolerations[0].TolerationSeconds = ptrTo[int64](60)
		}},
		{name: "tolerations may not be removed", update: func(p *corev1.Pod) { p.Spec.Tolerations = p.Spec.Tolerations[1:] },
			want: []fieldErr{forbidden("spec.tolerations")}},
		{name: "activeDeadlineSeconds may be set", update: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptrTo[int64](60) }},
		{name: "activeDeadlineSeconds may be lowered",
			old:    func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptrTo[int64](60) },
			update: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptrTo[int64](30) }},
		{name: "activeDeadlineSeconds may not be raised",
			old:    func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptrTo[int64](60) },
			update: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptrTo[int64](90) },
			want:   []fieldErr{invalid("spec.activeDeadlineSeconds")}},
		{name: "activeDeadlineSeconds may not be removed",
			old:    func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptrTo[int64](60) },
			update: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = nil },
			want:   []fieldErr{invalid("spec.activeDeadlineSeconds")}},
		{name: "a negative grace period may be set to 1",
			old:    func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptrTo[int64](-1) },
			update: func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptrTo[int64](1) }},
		{name: "nodeName is not set by an update (pods are bound through pods/binding)",
			update: func(p *corev1.Pod) { p.Spec.NodeName = "node-1" },
			want:   []fieldErr{forbidden("spec")}},
		{name: "nodeName does not change once set",
			old:    func(p *corev1.Pod) { p.Spec.NodeName = "node-1" },
			update: func(p *corev1.Pod) { p.Spec.NodeName = "node-2" },
			want:   []fieldErr{forbidden("spec")}},
		{name: "the name does not change", update: func(p *corev1.Pod) { p.Name = "web-2" }, want: []fieldErr{invalid("metadata.name")}},
		{name: "an update names the resourceVersion it replaces", update: func(p *corev1.Pod) { p.ResourceVersion = "" },
			want: []fieldErr{invalid("metadata.resourceVersion")}},
	})
}

func TestPodForbiddenUpdateNamesTheChangedFields(t *testing.T) {
	old := validPod()
	old.ResourceVersion = "7"
	pod := old.DeepCopy()
	pod.Spec.NodeSelector = map[string]string{"disk": "ssd"}
	errs := podStrategy{}.ValidateUpdate(pod, old)
	if len(errs) != 1 {
		t.Fatalf("got %v, want one error", errs)
	}
	const want = "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`," +
		"`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations)," +
		"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n  changed: nodeSelector"
	if got := errs[0].Error(); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestPodFieldSet(t *testing.T) {
	pod := validPod()
	pod.Spec.NodeName = "node-1"
	pod.Spec.HostNetwork = true
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIPs: []corev1.PodIP{{IP: "10.244.1.5"}}, NominatedNodeName: "node-2"}
	want := fields.Set{
		"metadata.name":            "web",
		"metadata.namespace":       "default",
		"spec.nodeName":            "node-1",
		"spec.restartPolicy":       "Always",
		"spec.schedulerName":       "default-scheduler",
		"spec.serviceAccountName":  "default",
		"spec.hostNetwork":         "true",
		"status.phase":             "Running",
		"status.podIP":             "10.244.1.5",
		"status.nominatedNodeName": "node-2",
	}
	if got := (podStrategy{}).FieldSet(pod); !semanticEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestPodContainerDetailValidation(t *testing.T) {
	ctr := func(f func(c *corev1.Container)) func(*corev1.Pod) {
		return func(p *corev1.Pod) { f(&p.Spec.Containers[0]) }
	}
	initCtr := func(f func(c *corev1.Container)) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			c := container("init", "busybox")
			defaultContainer(&c)
			f(&c)
			p.Spec.InitContainers = []corev1.Container{c}
		}
	}
	exec := corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}
	runValidateCases(t, podStrategy{}, validPod, []validateCase[*corev1.Pod]{
		{"imagePullPolicy is required", ctr(func(c *corev1.Container) { c.ImagePullPolicy = "" }), []fieldErr{required("spec.containers[0].imagePullPolicy")}},
		{"a sidecar restarts Always", initCtr(func(c *corev1.Container) { c.RestartPolicy = ptrTo[corev1.ContainerRestartPolicy]("OnFailure") }),
			[]fieldErr{notSupported("spec.initContainers[0].restartPolicy")}},
		{"init containers have no lifecycle hooks", initCtr(func(c *corev1.Container) {
			c.Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: exec.Exec}}
		}), []fieldErr{forbidden("spec.initContainers[0].lifecycle")}},
		{"a probe's own grace period is positive", ctr(func(c *corev1.Container) {
			c.LivenessProbe = &corev1.Probe{ProbeHandler: exec, SuccessThreshold: 1, TerminationGracePeriodSeconds: ptrTo[int64](0)}
		}), []fieldErr{invalid("spec.containers[0].livenessProbe.terminationGracePeriodSeconds")}},
		{"HTTP probe header names are valid", ctr(func(c *corev1.Container) {
			c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: "/", Port: intstr.FromInt32(80), Scheme: "HTTP", HTTPHeaders: []corev1.HTTPHeader{{Name: "X Bad"}}}}}
		}), []fieldErr{invalid("spec.containers[0].readinessProbe.httpGet.httpHeaders")}},
		{"mount propagation is a known mode", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{volume("data", corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}})}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/d", MountPropagation: ptrTo[corev1.MountPropagationMode]("Shared")}}
		}, []fieldErr{notSupported("spec.containers[0].volumeMounts[0].mountPropagation")}},
		{"a fieldRef may read an annotation", ctr(func(c *corev1.Container) {
			c.Env = []corev1.EnvVar{{Name: "REV", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.annotations['example.com/rev']"}}}}
		}), nil},
		{"a fieldRef reads the v1 pod", ctr(func(c *corev1.Container) {
			c.Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v2", FieldPath: "metadata.name"}}}}
		}), []fieldErr{notSupported("spec.containers[0].env[0].valueFrom.fieldRef.apiVersion")}},
		{"envFrom has one source", ctr(func(c *corev1.Container) {
			c.EnvFrom = []corev1.EnvFromSource{{
				ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}},
				SecretRef:    &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}}}
		}), []fieldErr{invalid("spec.containers[0].envFrom[0]")}},
		{"a container may not add SYS_ADMIN while forbidding privilege escalation", ctr(func(c *corev1.Container) {
			c.SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: ptrTo(false),
				Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN"}}}
		}), []fieldErr{invalid("spec.containers[0].securityContext")}},
		{"a container group ID is not negative", ctr(func(c *corev1.Container) {
			c.SecurityContext = &corev1.SecurityContext{RunAsGroup: ptrTo[int64](-1)}
		}), []fieldErr{invalid("spec.containers[0].securityContext.runAsGroup")}},
		{"readiness gates name qualified condition types", func(p *corev1.Pod) {
			p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/ready to serve"}}
		}, []fieldErr{invalid("spec.readinessGates[0].conditionType")}},
		{"a priority class name is a DNS subdomain", func(p *corev1.Pod) { p.Spec.PriorityClassName = "High" },
			[]fieldErr{invalid("spec.priorityClassName")}},
		{"a subdomain is a DNS label", func(p *corev1.Pod) { p.Spec.Subdomain = "a.b" }, []fieldErr{invalid("spec.subdomain")}},
		{"minDomains is positive", func(p *corev1.Pod) {
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: corev1.DoNotSchedule, MinDomains: ptrTo[int32](0)}}
		}, []fieldErr{invalid("spec.topologySpreadConstraints[0].minDomains")}},
	})
}
