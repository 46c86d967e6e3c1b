package container

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// envVar is one resolved variable.
type envVar struct{ name, value string }

// envList keeps variables in first-definition order; a later definition
// replaces the value in place.
type envList struct {
	vars  []envVar
	index map[string]int
}

func (l *envList) set(name, value string) {
	if l.index == nil {
		l.index = map[string]int{}
	}
	if i, ok := l.index[name]; ok {
		l.vars[i].value = value
		return
	}
	l.index[name] = len(l.vars)
	l.vars = append(l.vars, envVar{name, value})
}

func (l *envList) asMap() map[string]string {
	m := make(map[string]string, len(l.vars))
	for _, v := range l.vars {
		m[v.name] = v.value
	}
	return m
}

func (l *envList) strings() []string {
	out := make([]string, 0, len(l.vars))
	for _, v := range l.vars {
		out = append(out, v.name+"="+v.value)
	}
	return out
}

// configMapNotFound is the error users see in CreateContainerConfigError
// and FailedMount: `configmap "x" not found`. It matches
// apierrors.IsNotFound.
func configMapNotFound(name string) error {
	return apierrors.NewNotFound(schema.GroupResource{Resource: "configmap"}, name)
}

// secretNotFound is `secret "x" not found`.
func secretNotFound(name string) error {
	return apierrors.NewNotFound(schema.GroupResource{Resource: "secret"}, name)
}

// getConfigMap fetches a configMap; a missing one is configMapNotFound.
func (b *Builder) getConfigMap(ctx context.Context, ns, name string) (*corev1.ConfigMap, error) {
	if b.Client == nil {
		return nil, fmt.Errorf("get configmap %s/%s: no API client", ns, name)
	}
	cm, err := b.Client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, configMapNotFound(name)
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't get configMap %s/%s: %w", ns, name, err)
	}
	return cm, nil
}

// getSecret fetches a secret; a missing one is secretNotFound.
func (b *Builder) getSecret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	if b.Client == nil {
		return nil, fmt.Errorf("get secret %s/%s: no API client", ns, name)
	}
	s, err := b.Client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, secretNotFound(name)
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't get secret %s/%s: %w", ns, name, err)
	}
	return s, nil
}

// isValidEnvName is the relaxed rule upstream applies since v1.34: any
// printable ASCII except '='.
func isValidEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] < ' ' || name[i] > '~' || name[i] == '=' {
			return false
		}
	}
	return true
}

// Env resolves a container's environment as upstream's kubelet does:
// envFrom sources in order, then env entries in order (each value
// expanded against the variables defined before it), later definitions
// winning. Missing non-optional configMaps, secrets or keys are errors
// with upstream's messages; invalid keys from envFrom are skipped and
// reported as an event.
func (b *Builder) Env(ctx context.Context, pod *corev1.Pod, c *corev1.Container, info PodInfo) ([]string, error) {
	l, err := b.env(ctx, pod, c, info)
	if err != nil {
		return nil, err
	}
	return l.strings(), nil
}

func (b *Builder) env(ctx context.Context, pod *corev1.Pod, c *corev1.Container, info PodInfo) (*envList, error) {
	svcEnv, err := b.kubernetesServiceEnv(ctx)
	if err != nil {
		return nil, err
	}
	l := &envList{}
	for _, from := range c.EnvFrom {
		var (
			data     map[string]string
			kind     string
			name     string
			optional bool
		)
		switch {
		case from.ConfigMapRef != nil:
			kind, name = "configMap", from.ConfigMapRef.Name
			optional = from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional
			cm, err := b.getConfigMap(ctx, pod.Namespace, name)
			if err != nil {
				if apierrors.IsNotFound(err) && optional {
					continue
				}
				return nil, err
			}
			data = cm.Data
		case from.SecretRef != nil:
			kind, name = "secret", from.SecretRef.Name
			optional = from.SecretRef.Optional != nil && *from.SecretRef.Optional
			s, err := b.getSecret(ctx, pod.Namespace, name)
			if err != nil {
				if apierrors.IsNotFound(err) && optional {
					continue
				}
				return nil, err
			}
			data = make(map[string]string, len(s.Data)+len(s.StringData))
			for k, v := range s.Data {
				data[k] = string(v)
			}
			for k, v := range s.StringData {
				data[k] = v
			}
		default:
			continue
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var invalid []string
		for _, k := range keys {
			key := from.Prefix + k
			if !isValidEnvName(key) {
				invalid = append(invalid, key)
				continue
			}
			l.set(key, data[k])
		}
		if len(invalid) > 0 && b.Recorder != nil {
			b.Recorder.Eventf(pod, corev1.EventTypeWarning, "InvalidEnvironmentVariableNames",
				"Keys [%s] from the EnvFrom %s %s/%s were skipped since they are considered invalid environment variable names.",
				strings.Join(invalid, ", "), kind, pod.Namespace, name)
		}
	}

	for _, ev := range c.Env {
		value := ev.Value
		switch {
		case value != "":
			value = expand(value, mappingFor(l.asMap(), svcEnv.asMap()))
		case ev.ValueFrom != nil:
			v, skip, err := b.envValueFrom(ctx, pod, c, info, ev.ValueFrom)
			if err != nil {
				return nil, err
			}
			if skip {
				continue
			}
			value = v
		}
		l.set(ev.Name, value)
	}
	for _, v := range svcEnv.vars {
		if _, set := l.index[v.name]; !set {
			l.set(v.name, v.value)
		}
	}
	return l, nil
}

// kubernetesServiceEnv returns the variables upstream's kubelet gives
// every container for the API server's Service, default/kubernetes, so
// in-cluster clients find it: KUBERNETES_SERVICE_HOST,
// KUBERNETES_SERVICE_PORT, KUBERNETES_SERVICE_PORT_<NAME> for named
// ports, and the Docker-link set KUBERNETES_PORT and
// KUBERNETES_PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR]. There are none
// without a client or without that Service (or its cluster IP). Other
// Services' variables (enableServiceLinks) are not set.
func (b *Builder) kubernetesServiceEnv(ctx context.Context) (*envList, error) {
	l := &envList{}
	if b.Client == nil {
		return l, nil
	}
	svc, err := b.Client.CoreV1().Services(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return l, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to get the kubernetes service when setting up env vars: %w", err)
	}
	ip := svc.Spec.ClusterIP
	if ip == "" || ip == corev1.ClusterIPNone || len(svc.Spec.Ports) == 0 {
		return l, nil
	}
	const prefix = "KUBERNETES"
	l.set(prefix+"_SERVICE_HOST", ip)
	l.set(prefix+"_SERVICE_PORT", strconv.Itoa(int(svc.Spec.Ports[0].Port)))
	for _, p := range svc.Spec.Ports {
		if p.Name != "" {
			l.set(prefix+"_SERVICE_PORT_"+envVarName(p.Name), strconv.Itoa(int(p.Port)))
		}
	}
	for i, p := range svc.Spec.Ports {
		proto := string(corev1.ProtocolTCP)
		if p.Protocol != "" {
			proto = string(p.Protocol)
		}
		url := strings.ToLower(proto) + "://" + net.JoinHostPort(ip, strconv.Itoa(int(p.Port)))
		if i == 0 {
			l.set(prefix+"_PORT", url)
		}
		pp := fmt.Sprintf("%s_PORT_%d_%s", prefix, p.Port, strings.ToUpper(proto))
		l.set(pp, url)
		l.set(pp+"_PROTO", strings.ToLower(proto))
		l.set(pp+"_PORT", strconv.Itoa(int(p.Port)))
		l.set(pp+"_ADDR", ip)
	}
	return l, nil
}

// envVarName turns a Service or port name into a variable name part, as
// upstream: upper case, dashes to underscores.
func envVarName(s string) string {
	return strings.ToUpper(strings.ReplaceAll(s, "-", "_"))
}

// envValueFrom resolves one valueFrom; skip is true for an optional
// reference that is absent (the variable is then not set at all).
func (b *Builder) envValueFrom(ctx context.Context, pod *corev1.Pod, c *corev1.Container, info PodInfo, from *corev1.EnvVarSource) (value string, skip bool, err error) {
	switch {
	case from.FieldRef != nil:
		v, err := podFieldValue(pod, from.FieldRef.FieldPath, info)
		return v, false, err
	case from.ResourceFieldRef != nil:
		target := c
		if n := from.ResourceFieldRef.ContainerName; n != "" && n != c.Name {
			if target = findContainer(pod, n); target == nil {
				return "", false, fmt.Errorf("container %q referenced by resourceFieldRef not found", n)
			}
		}
		v, err := containerResourceValue(from.ResourceFieldRef, target, info.NodeAllocatable)
		return v, false, err
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		optional := ref.Optional != nil && *ref.Optional
		cm, err := b.getConfigMap(ctx, pod.Namespace, ref.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && optional {
				return "", true, nil
			}
			return "", false, err
		}
		v, ok := cm.Data[ref.Key]
		if !ok {
			if bv, ok2 := cm.BinaryData[ref.Key]; ok2 {
				return string(bv), false, nil
			}
			if optional {
				return "", true, nil
			}
			return "", false, fmt.Errorf("couldn't find key %v in ConfigMap %v/%v", ref.Key, pod.Namespace, ref.Name)
		}
		return v, false, nil
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		optional := ref.Optional != nil && *ref.Optional
		s, err := b.getSecret(ctx, pod.Namespace, ref.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && optional {
				return "", true, nil
			}
			return "", false, err
		}
		v, ok := s.Data[ref.Key]
		if !ok {
			if sv, ok2 := s.StringData[ref.Key]; ok2 {
				return sv, false, nil
			}
			if optional {
				return "", true, nil
			}
			return "", false, fmt.Errorf("couldn't find key %v in Secret %v/%v", ref.Key, pod.Namespace, ref.Name)
		}
		return string(v), false, nil
	}
	return "", true, nil
}

// findContainer finds a container or init container by name.
func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	return nil
}

// ExpandCommandAndArgs expands $(VAR) references in a container's command
// and args against its resolved environment (KEY=VALUE strings).
func ExpandCommandAndArgs(c *corev1.Container, env []string) (command, args []string) {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	mapping := mappingFor(m)
	for _, s := range c.Command {
		command = append(command, expand(s, mapping))
	}
	for _, s := range c.Args {
		args = append(args, expand(s, mapping))
	}
	return command, args
}
