package registry

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Pod spec validation shared by pods and every pod template, modelled on
// upstream's ValidatePodSpec (pkg/apis/core/validation).

const (
	maxDNSNameservers     = 3
	maxDNSSearchPaths     = 32
	maxDNSSearchListChars = 2048
	initOnlyMsg           = "may not be set for init containers without restartPolicy=Always"
)

// envFieldPaths are the pod fields a container env var may read through
// valueFrom.fieldRef (besides metadata.labels['k'] and
// metadata.annotations['k']).
var envFieldPaths = []string{
	"metadata.name", "metadata.namespace", "metadata.uid",
	"spec.nodeName", "spec.serviceAccountName",
	"status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs",
}

// containerResourceFields are what resourceFieldRef may select.
var containerResourceFields = []string{
	"limits.cpu", "limits.ephemeral-storage", "limits.memory",
	"requests.cpu", "requests.ephemeral-storage", "requests.memory",
}

// validatePodTemplate checks a workload's pod template: its labels and
// annotations and its spec. claimNames are extra volume names the
// containers may mount (a StatefulSet's volumeClaimTemplates).
func validatePodTemplate(t *corev1.PodTemplateSpec, path *field.Path, claimNames ...string) field.ErrorList {
	meta := path.Child("metadata")
	errs := metav1validation.ValidateLabels(t.Labels, meta.Child("labels"))
	errs = append(errs, validation.ValidateAnnotations(t.Annotations, meta.Child("annotations"))...)
	errs = append(errs, validatePodSpec(&t.Spec, path.Child("spec"), claimNames...)...)
	if len(t.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(path.Child("spec", "ephemeralContainers"), "ephemeral containers not allowed in pod template"))
	}
	return errs
}

// validatePodSpec checks a pod spec; extraVolumes are volume names that
// exist outside spec.volumes.
func validatePodSpec(spec *corev1.PodSpec, path *field.Path, extraVolumes ...string) field.ErrorList {
	volumes, errs := validateVolumes(spec.Volumes, path.Child("volumes"))
	volumes.Insert(extraVolumes...)

	if len(spec.Containers) == 0 {
		errs = append(errs, field.Required(path.Child("containers"), ""))
	}
	names := sets.New[string]()
	for i := range spec.Containers {
		errs = append(errs, validateContainer(&spec.Containers[i], false, volumes, names, path.Child("containers").Index(i))...)
	}
	for i := range spec.InitContainers {
		errs = append(errs, validateContainer(&spec.InitContainers[i], true, volumes, names, path.Child("initContainers").Index(i))...)
	}
	errs = append(errs, validateHostPorts(spec, path.Child("containers"))...)

	errs = append(errs, supported(spec.RestartPolicy, path.Child("restartPolicy"),
		corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever)...)
	errs = append(errs, supported(spec.DNSPolicy, path.Child("dnsPolicy"),
		corev1.DNSClusterFirstWithHostNet, corev1.DNSClusterFirst, corev1.DNSDefault, corev1.DNSNone)...)
	errs = append(errs, validateDNSConfig(spec.DNSConfig, spec.DNSPolicy, path.Child("dnsConfig"))...)
	errs = append(errs, metav1validation.ValidateLabels(spec.NodeSelector, path.Child("nodeSelector"))...)
	errs = append(errs, validatePodSecurityContext(spec.SecurityContext, path.Child("securityContext"))...)
	errs = append(errs, validateAffinity(spec.Affinity, path.Child("affinity"))...)
	errs = append(errs, validateTolerations(spec.Tolerations, path.Child("tolerations"))...)
	errs = append(errs, validateTopologySpread(spec.TopologySpreadConstraints, path.Child("topologySpreadConstraints"))...)
	errs = append(errs, validateHostAliases(spec.HostAliases, path.Child("hostAliases"))...)

	if spec.ServiceAccountName != "" {
		errs = append(errs, invalidEach(path.Child("serviceAccountName"), spec.ServiceAccountName, validation.ValidateServiceAccountName(spec.ServiceAccountName, false))...)
	}
	if spec.NodeName != "" {
		errs = append(errs, validateDNS1123Subdomain(spec.NodeName, path.Child("nodeName"))...)
	}
	if spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, validateInt32Range(*spec.ActiveDeadlineSeconds, 1, maxInt32, path.Child("activeDeadlineSeconds"))...)
	}
	if spec.Hostname != "" {
		errs = append(errs, validateDNS1123Label(spec.Hostname, path.Child("hostname"))...)
	}
	if spec.Subdomain != "" {
		errs = append(errs, validateDNS1123Label(spec.Subdomain, path.Child("subdomain"))...)
	}
	if spec.PriorityClassName != "" {
		errs = append(errs, validateDNS1123Subdomain(spec.PriorityClassName, path.Child("priorityClassName"))...)
	}
	if spec.PreemptionPolicy != nil {
		errs = append(errs, supported(*spec.PreemptionPolicy, path.Child("preemptionPolicy"),
			corev1.PreemptLowerPriority, corev1.PreemptNever)...)
	}
	for i, g := range spec.ReadinessGates {
		errs = append(errs, validateQualifiedName(string(g.ConditionType), path.Child("readinessGates").Index(i).Child("conditionType"))...)
	}
	return errs
}

// validateContainer checks one container. names collects container names
// across init and regular containers to catch duplicates.
func validateContainer(c *corev1.Container, init bool, volumes, names sets.Set[string], path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if c.Name == "" {
		errs = append(errs, field.Required(path.Child("name"), ""))
	} else {
		errs = append(errs, validateDNS1123Label(c.Name, path.Child("name"))...)
		if names.Has(c.Name) {
			errs = append(errs, field.Duplicate(path.Child("name"), c.Name))
		}
		names.Insert(c.Name)
	}
	if c.Image == "" {
		errs = append(errs, field.Required(path.Child("image"), ""))
	}
	errs = append(errs, validateContainerPorts(c.Ports, path.Child("ports"))...)
	errs = append(errs, validateEnv(c.Env, path.Child("env"))...)
	errs = append(errs, validateEnvFrom(c.EnvFrom, path.Child("envFrom"))...)
	errs = append(errs, validateVolumeMounts(c.VolumeMounts, volumes, path.Child("volumeMounts"))...)
	errs = append(errs, validateResources(&c.Resources, path.Child("resources"))...)
	errs = append(errs, supported(c.ImagePullPolicy, path.Child("imagePullPolicy"),
		corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever)...)
	errs = append(errs, supported(c.TerminationMessagePolicy, path.Child("terminationMessagePolicy"),
		corev1.TerminationMessageReadFile, corev1.TerminationMessageFallbackToLogsOnError)...)
	errs = append(errs, validateContainerSecurityContext(c.SecurityContext, path.Child("securityContext"))...)

	// Only init containers may set restartPolicy, and only to Always: that
	// makes them sidecars, which may have probes and lifecycle hooks.
	sidecar := false
	if c.RestartPolicy != nil {
		switch {
		case !init:
			errs = append(errs, field.Forbidden(path.Child("restartPolicy"), "may not be set for non-init containers"))
		case *c.RestartPolicy != corev1.ContainerRestartPolicyAlways:
			errs = append(errs, field.NotSupported(path.Child("restartPolicy"), *c.RestartPolicy, []corev1.ContainerRestartPolicy{corev1.ContainerRestartPolicyAlways}))
		default:
			sidecar = true
		}
	}
	if init && !sidecar {
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"lifecycle", c.Lifecycle != nil},
			{"livenessProbe", c.LivenessProbe != nil},
			{"readinessProbe", c.ReadinessProbe != nil},
			{"startupProbe", c.StartupProbe != nil},
		} {
			if f.set {
				errs = append(errs, field.Forbidden(path.Child(f.name), initOnlyMsg))
			}
		}
		return errs
	}
	errs = append(errs, validateProbe(c.LivenessProbe, true, path.Child("livenessProbe"))...)
	errs = append(errs, validateProbe(c.ReadinessProbe, false, path.Child("readinessProbe"))...)
	errs = append(errs, validateProbe(c.StartupProbe, true, path.Child("startupProbe"))...)
	if c.Lifecycle != nil {
		errs = append(errs, validateLifecycleHandler(c.Lifecycle.PostStart, path.Child("lifecycle", "postStart"))...)
		errs = append(errs, validateLifecycleHandler(c.Lifecycle.PreStop, path.Child("lifecycle", "preStop"))...)
	}
	return errs
}

func validateContainerPorts(ports []corev1.ContainerPort, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, p := range ports {
		idx := path.Index(i)
		if p.Name != "" {
			if msgs := utilvalidation.IsValidPortName(p.Name); len(msgs) > 0 {
				errs = append(errs, invalidEach(idx.Child("name"), p.Name, msgs)...)
			} else if names.Has(p.Name) {
				errs = append(errs, field.Duplicate(idx.Child("name"), p.Name))
			}
			names.Insert(p.Name)
		}
		if p.ContainerPort == 0 {
			errs = append(errs, field.Required(idx.Child("containerPort"), ""))
		} else {
			errs = append(errs, validatePortNumber(p.ContainerPort, idx.Child("containerPort"))...)
		}
		if p.HostPort != 0 {
			errs = append(errs, validatePortNumber(p.HostPort, idx.Child("hostPort"))...)
		}
		errs = append(errs, validateProtocol(p.Protocol, idx.Child("protocol"))...)
	}
	return errs
}

// validateHostPorts rejects two regular containers claiming the same host
// port and, on the host network, host ports that differ from the
// container port.
func validateHostPorts(spec *corev1.PodSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	for i, c := range spec.Containers {
		for j, p := range c.Ports {
			hostPort := path.Index(i).Child("ports").Index(j).Child("hostPort")
			if spec.HostNetwork && p.HostPort != 0 && p.HostPort != p.ContainerPort {
				errs = append(errs, field.Invalid(hostPort, p.HostPort, "must match `containerPort` when `hostNetwork` is true"))
			}
			if p.HostPort == 0 {
				continue
			}
			key := fmt.Sprintf("%s/%s/%d", p.Protocol, p.HostIP, p.HostPort)
			if seen.Has(key) {
				errs = append(errs, field.Duplicate(hostPort, key))
			}
			seen.Insert(key)
		}
	}
	return errs
}

func validateEnv(env []corev1.EnvVar, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ev := range env {
		idx := path.Index(i)
		if ev.Name == "" {
			errs = append(errs, field.Required(idx.Child("name"), ""))
		} else {
			errs = append(errs, invalidEach(idx.Child("name"), ev.Name, utilvalidation.IsRelaxedEnvVarName(ev.Name))...)
		}
		errs = append(errs, validateEnvVarSource(ev, idx.Child("valueFrom"))...)
	}
	return errs
}

func validateEnvVarSource(ev corev1.EnvVar, path *field.Path) field.ErrorList {
	from := ev.ValueFrom
	if from == nil {
		return nil
	}
	var errs field.ErrorList
	if from.FieldRef != nil {
		errs = append(errs, validateFieldRef(from.FieldRef, envFieldPaths, path.Child("fieldRef"))...)
	}
	if from.ResourceFieldRef != nil {
		errs = append(errs, validateResourceFieldRef(from.ResourceFieldRef, false, path.Child("resourceFieldRef"))...)
	}
	if ref := from.ConfigMapKeyRef; ref != nil {
		errs = append(errs, validateKeySelector(ref.Name, ref.Key, path.Child("configMapKeyRef"))...)
	}
	if ref := from.SecretKeyRef; ref != nil {
		errs = append(errs, validateKeySelector(ref.Name, ref.Key, path.Child("secretKeyRef"))...)
	}
	switch n := len(setPointerFields(from)); {
	case n == 0:
		errs = append(errs, field.Invalid(path, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
	case ev.Value != "":
		errs = append(errs, field.Invalid(path, "", "may not be specified when `value` is not empty"))
	case n > 1:
		errs = append(errs, field.Invalid(path, "", "may not have more than one field specified at a time"))
	}
	return errs
}

// validateKeySelector checks a configMapKeyRef or secretKeyRef.
func validateKeySelector(name, key string, path *field.Path) field.ErrorList {
	errs := validateDNS1123Subdomain(name, path.Child("name"))
	if key == "" {
		return append(errs, field.Required(path.Child("key"), ""))
	}
	return append(errs, invalidEach(path.Child("key"), key, utilvalidation.IsConfigMapKey(key))...)
}

// validateFieldRef checks a downward API field selector against the
// fields that may be exposed, plus subscripted labels and annotations.
func validateFieldRef(f *corev1.ObjectFieldSelector, valid []string, path *field.Path) field.ErrorList {
	switch {
	case f.APIVersion == "":
		return field.ErrorList{field.Required(path.Child("apiVersion"), "")}
	case f.FieldPath == "":
		return field.ErrorList{field.Required(path.Child("fieldPath"), "")}
	case f.APIVersion != "v1":
		return field.ErrorList{field.NotSupported(path.Child("apiVersion"), f.APIVersion, []string{"v1"})}
	}
	if base, key, ok := splitSubscript(f.FieldPath); ok {
		switch base {
		case "metadata.annotations":
			return invalidEach(path.Child("fieldPath"), f.FieldPath, content.IsLabelKey(strings.ToLower(key)))
		case "metadata.labels":
			return invalidEach(path.Child("fieldPath"), f.FieldPath, content.IsLabelKey(key))
		}
		return field.ErrorList{field.NotSupported(path.Child("fieldPath"), base, []string{"metadata.annotations", "metadata.labels"})}
	}
	for _, v := range valid {
		if f.FieldPath == v {
			return nil
		}
	}
	return field.ErrorList{field.NotSupported(path.Child("fieldPath"), f.FieldPath, valid)}
}

// splitSubscript splits "metadata.labels['key']" into its path and key.
func splitSubscript(p string) (base, key string, ok bool) {
	if !strings.HasSuffix(p, "']") {
		return "", "", false
	}
	base, key, ok = strings.Cut(strings.TrimSuffix(p, "']"), "['")
	return base, key, ok
}

func validateResourceFieldRef(f *corev1.ResourceFieldSelector, inVolume bool, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if inVolume && f.ContainerName == "" {
		errs = append(errs, field.Required(path.Child("containerName"), ""))
	}
	switch {
	case f.Resource == "":
		errs = append(errs, field.Required(path.Child("resource"), ""))
	case strings.HasPrefix(f.Resource, "limits.hugepages-"), strings.HasPrefix(f.Resource, "requests.hugepages-"):
	case !sets.New(containerResourceFields...).Has(f.Resource):
		errs = append(errs, field.NotSupported(path.Child("resource"), f.Resource, containerResourceFields))
	}
	if f.Divisor.Sign() < 0 {
		errs = append(errs, field.Invalid(path.Child("divisor"), f.Divisor.String(), "must be greater than or equal to 0"))
	}
	return errs
}

func validateEnvFrom(sources []corev1.EnvFromSource, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, s := range sources {
		idx := path.Index(i)
		if s.Prefix != "" {
			errs = append(errs, invalidEach(idx.Child("prefix"), s.Prefix, utilvalidation.IsRelaxedEnvVarName(s.Prefix))...)
		}
		if s.ConfigMapRef != nil {
			errs = append(errs, validateRefName(s.ConfigMapRef.Name, idx.Child("configMapRef", "name"))...)
		}
		if s.SecretRef != nil {
			errs = append(errs, validateRefName(s.SecretRef.Name, idx.Child("secretRef", "name"))...)
		}
		switch n := len(setPointerFields(&s)); {
		case n == 0:
			errs = append(errs, field.Invalid(idx, "", "must specify one of: `configMapRef` or `secretRef`"))
		case n > 1:
			errs = append(errs, field.Invalid(idx, "", "may not have more than one field specified at a time"))
		}
	}
	return errs
}

// validateRefName checks the required DNS-1123 subdomain name of a
// referenced ConfigMap or Secret.
func validateRefName(name string, path *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(path, "")}
	}
	return validateDNS1123Subdomain(name, path)
}

func validateVolumeMounts(mounts []corev1.VolumeMount, volumes sets.Set[string], path *field.Path) field.ErrorList {
	var errs field.ErrorList
	mountPaths := sets.New[string]()
	for i, m := range mounts {
		idx := path.Index(i)
		if m.Name == "" {
			errs = append(errs, field.Required(idx.Child("name"), ""))
		} else if !volumes.Has(m.Name) {
			errs = append(errs, field.NotFound(idx.Child("name"), m.Name))
		}
		if m.MountPath == "" {
			errs = append(errs, field.Required(idx.Child("mountPath"), ""))
		} else if mountPaths.Has(m.MountPath) {
			errs = append(errs, field.Invalid(idx.Child("mountPath"), m.MountPath, "must be unique"))
		}
		mountPaths.Insert(m.MountPath)
		if m.SubPath != "" {
			errs = append(errs, validateLocalDescendingPath(m.SubPath, idx.Child("subPath"))...)
		}
		if m.SubPathExpr != "" {
			if m.SubPath != "" {
				errs = append(errs, field.Invalid(idx.Child("subPathExpr"), m.SubPathExpr, "subPathExpr and subPath are mutually exclusive"))
			}
			errs = append(errs, validateLocalDescendingPath(m.SubPathExpr, idx.Child("subPathExpr"))...)
		}
		if m.MountPropagation != nil {
			errs = append(errs, supported(*m.MountPropagation, idx.Child("mountPropagation"),
				corev1.MountPropagationBidirectional, corev1.MountPropagationHostToContainer, corev1.MountPropagationNone)...)
		}
	}
	return errs
}

// validateResources checks resource names, non-negative quantities and
// requests <= limits (== for resources that cannot be overcommitted).
func validateResources(r *corev1.ResourceRequirements, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	limPath, reqPath := path.Child("limits"), path.Child("requests")
	for _, name := range sortedResourceNames(r.Limits) {
		q := r.Limits[name]
		errs = append(errs, validateResourceQuantity(name, q, limPath.Key(string(name)))...)
	}
	for _, name := range sortedResourceNames(r.Requests) {
		q := r.Requests[name]
		errs = append(errs, validateResourceQuantity(name, q, reqPath.Key(string(name)))...)
		limit, hasLimit := r.Limits[name]
		switch {
		case hasLimit && !overcommitAllowed(name) && q.Cmp(limit) != 0:
			errs = append(errs, field.Invalid(reqPath, q.String(), fmt.Sprintf("must be equal to %s limit of %s", name, limit.String())))
		case hasLimit && q.Cmp(limit) > 0:
			errs = append(errs, field.Invalid(reqPath, q.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, limit.String())))
		case !hasLimit && !overcommitAllowed(name):
			errs = append(errs, field.Required(limPath, "Limit must be set for non overcommitable resources"))
		}
	}
	return errs
}

func validateResourceQuantity(name corev1.ResourceName, q resource.Quantity, path *field.Path) field.ErrorList {
	s := string(name)
	errs := validateQualifiedName(s, path)
	if len(errs) == 0 && !strings.Contains(s, "/") && !isStandardContainerResource(s) {
		errs = append(errs, field.Invalid(path, s, "must be a standard resource for containers"))
	}
	if q.Sign() < 0 {
		errs = append(errs, field.Invalid(path, q.String(), "must be greater than or equal to 0"))
	}
	return errs
}

func isStandardContainerResource(name string) bool {
	switch corev1.ResourceName(name) {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
		return true
	}
	return strings.HasPrefix(name, corev1.ResourceHugePagesPrefix)
}

// overcommitAllowed is true for native resources other than huge pages:
// their requests may be below their limits.
func overcommitAllowed(name corev1.ResourceName) bool {
	s := string(name)
	native := !strings.Contains(s, "/") || strings.Contains(s, "kubernetes.io/")
	return native && !strings.HasPrefix(s, corev1.ResourceHugePagesPrefix)
}

func sortedResourceNames(l corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(l))
	for n := range l {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	return names
}

// validateProbe checks a probe; liveness and startup probes must succeed
// once (successThreshold 1).
func validateProbe(p *corev1.Probe, successOnce bool, path *field.Path) field.ErrorList {
	if p == nil {
		return nil
	}
	h := &p.ProbeHandler
	errs := validateHandlers(path, []handler{
		{"exec", h.Exec != nil, func(p *field.Path) field.ErrorList { return validateExec(h.Exec, p) }},
		{"httpGet", h.HTTPGet != nil, func(p *field.Path) field.ErrorList { return validateHTTPGet(h.HTTPGet, p) }},
		{"tcpSocket", h.TCPSocket != nil, func(p *field.Path) field.ErrorList { return validatePortNumOrName(h.TCPSocket.Port, p.Child("port")) }},
		{"grpc", h.GRPC != nil, func(p *field.Path) field.ErrorList { return validatePortNumber(h.GRPC.Port, p.Child("port")) }},
	})
	errs = append(errs, nonNegative(int64(p.InitialDelaySeconds), path.Child("initialDelaySeconds"))...)
	errs = append(errs, nonNegative(int64(p.TimeoutSeconds), path.Child("timeoutSeconds"))...)
	errs = append(errs, nonNegative(int64(p.PeriodSeconds), path.Child("periodSeconds"))...)
	errs = append(errs, nonNegative(int64(p.SuccessThreshold), path.Child("successThreshold"))...)
	errs = append(errs, nonNegative(int64(p.FailureThreshold), path.Child("failureThreshold"))...)
	if successOnce && p.SuccessThreshold != 1 {
		errs = append(errs, field.Invalid(path.Child("successThreshold"), p.SuccessThreshold, "must be 1"))
	}
	if p.TerminationGracePeriodSeconds != nil {
		errs = append(errs, positive(*p.TerminationGracePeriodSeconds, path.Child("terminationGracePeriodSeconds"))...)
	}
	return errs
}

func validateLifecycleHandler(h *corev1.LifecycleHandler, path *field.Path) field.ErrorList {
	if h == nil {
		return nil
	}
	return validateHandlers(path, []handler{
		{"exec", h.Exec != nil, func(p *field.Path) field.ErrorList { return validateExec(h.Exec, p) }},
		{"httpGet", h.HTTPGet != nil, func(p *field.Path) field.ErrorList { return validateHTTPGet(h.HTTPGet, p) }},
		{"tcpSocket", h.TCPSocket != nil, func(p *field.Path) field.ErrorList { return validatePortNumOrName(h.TCPSocket.Port, p.Child("port")) }},
		{"sleep", h.Sleep != nil, func(p *field.Path) field.ErrorList { return nonNegative(h.Sleep.Seconds, p.Child("seconds")) }},
	})
}

// handler is one member of a probe's or hook's one-of.
type handler struct {
	name     string
	set      bool
	validate func(*field.Path) field.ErrorList
}

// validateHandlers checks that exactly one handler is set, and validates it.
func validateHandlers(path *field.Path, handlers []handler) field.ErrorList {
	var errs field.ErrorList
	n := 0
	for _, h := range handlers {
		if !h.set {
			continue
		}
		if n++; n > 1 {
			errs = append(errs, field.Forbidden(path.Child(h.name), "may not specify more than 1 handler type"))
			continue
		}
		errs = append(errs, h.validate(path.Child(h.name))...)
	}
	if n == 0 {
		errs = append(errs, field.Required(path, "must specify a handler type"))
	}
	return errs
}

func validateExec(e *corev1.ExecAction, path *field.Path) field.ErrorList {
	if len(e.Command) == 0 {
		return field.ErrorList{field.Required(path.Child("command"), "")}
	}
	return nil
}

func validateHTTPGet(h *corev1.HTTPGetAction, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if h.Path == "" {
		errs = append(errs, field.Required(path.Child("path"), ""))
	}
	errs = append(errs, validatePortNumOrName(h.Port, path.Child("port"))...)
	errs = append(errs, supported(h.Scheme, path.Child("scheme"), corev1.URISchemeHTTP, corev1.URISchemeHTTPS)...)
	for _, header := range h.HTTPHeaders {
		errs = append(errs, invalidEach(path.Child("httpHeaders"), header.Name, utilvalidation.IsHTTPHeaderName(header.Name))...)
	}
	return errs
}

func validatePodSecurityContext(sc *corev1.PodSecurityContext, path *field.Path) field.ErrorList {
	if sc == nil {
		return nil
	}
	var errs field.ErrorList
	if sc.RunAsUser != nil {
		errs = append(errs, invalidEach(path.Child("runAsUser"), *sc.RunAsUser, utilvalidation.IsValidUserID(*sc.RunAsUser))...)
	}
	if sc.RunAsGroup != nil {
		errs = append(errs, invalidEach(path.Child("runAsGroup"), *sc.RunAsGroup, utilvalidation.IsValidGroupID(*sc.RunAsGroup))...)
	}
	if sc.FSGroup != nil {
		errs = append(errs, invalidEach(path.Child("fsGroup"), *sc.FSGroup, utilvalidation.IsValidGroupID(*sc.FSGroup))...)
	}
	for i, g := range sc.SupplementalGroups {
		errs = append(errs, invalidEach(path.Child("supplementalGroups").Index(i), g, utilvalidation.IsValidGroupID(g))...)
	}
	return errs
}

func validateContainerSecurityContext(sc *corev1.SecurityContext, path *field.Path) field.ErrorList {
	if sc == nil {
		return nil
	}
	var errs field.ErrorList
	if sc.RunAsUser != nil {
		errs = append(errs, invalidEach(path.Child("runAsUser"), *sc.RunAsUser, utilvalidation.IsValidUserID(*sc.RunAsUser))...)
	}
	if sc.RunAsGroup != nil {
		errs = append(errs, invalidEach(path.Child("runAsGroup"), *sc.RunAsGroup, utilvalidation.IsValidGroupID(*sc.RunAsGroup))...)
	}
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		if sc.Privileged != nil && *sc.Privileged {
			errs = append(errs, field.Invalid(path, sc, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
		}
		if sc.Capabilities != nil {
			for _, c := range sc.Capabilities.Add {
				if c == "SYS_ADMIN" || c == "CAP_SYS_ADMIN" {
					errs = append(errs, field.Invalid(path, sc, "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"))
				}
			}
		}
	}
	return errs
}

func validateDNSConfig(c *corev1.PodDNSConfig, policy corev1.DNSPolicy, path *field.Path) field.ErrorList {
	if policy == corev1.DNSNone {
		if c == nil {
			return field.ErrorList{field.Required(path, fmt.Sprintf("must provide `dnsConfig` when `dnsPolicy` is %s", corev1.DNSNone))}
		}
		if len(c.Nameservers) == 0 {
			return field.ErrorList{field.Required(path.Child("nameservers"), fmt.Sprintf("must provide at least one DNS nameserver when `dnsPolicy` is %s", corev1.DNSNone))}
		}
	}
	if c == nil {
		return nil
	}
	var errs field.ErrorList
	if len(c.Nameservers) > maxDNSNameservers {
		errs = append(errs, field.Invalid(path.Child("nameservers"), c.Nameservers, fmt.Sprintf("must not have more than %v nameservers", maxDNSNameservers)))
	}
	for i, ns := range c.Nameservers {
		errs = append(errs, utilvalidation.IsValidIP(path.Child("nameservers").Index(i), ns)...)
	}
	if len(c.Searches) > maxDNSSearchPaths {
		errs = append(errs, field.Invalid(path.Child("searches"), c.Searches, fmt.Sprintf("must not have more than %v search paths", maxDNSSearchPaths)))
	}
	if len(strings.Join(c.Searches, " ")) > maxDNSSearchListChars {
		errs = append(errs, field.Invalid(path.Child("searches"), c.Searches, fmt.Sprintf("must not have more than %v characters (including spaces) in the search list", maxDNSSearchListChars)))
	}
	for i, s := range c.Searches {
		errs = append(errs, validateDNS1123Subdomain(strings.TrimSuffix(s, "."), path.Child("searches").Index(i))...)
	}
	for i, o := range c.Options {
		if o.Name == "" {
			errs = append(errs, field.Required(path.Child("options").Index(i), "must not be empty"))
		}
	}
	return errs
}

func validateHostAliases(aliases []corev1.HostAlias, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, a := range aliases {
		idx := path.Index(i)
		errs = append(errs, utilvalidation.IsValidIP(idx.Child("ip"), a.IP)...)
		for j, h := range a.Hostnames {
			errs = append(errs, validateDNS1123Subdomain(h, idx.Child("hostnames").Index(j))...)
		}
	}
	return errs
}
