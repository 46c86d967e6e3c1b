package container

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// podFieldValue evaluates a downward-API fieldRef against pod. podIPs and
// hostIPs come from the kubelet (the pod's status may not carry them yet);
// an empty slice falls back to the pod's status.
func podFieldValue(pod *corev1.Pod, fieldPath string, info PodInfo) (string, error) {
	if path, key, ok := splitMapKey(fieldPath); ok {
		switch path {
		case "metadata.labels":
			return pod.Labels[key], nil
		case "metadata.annotations":
			return pod.Annotations[key], nil
		}
		return "", fmt.Errorf("unsupported fieldPath %q", fieldPath)
	}
	podIPs := info.podIPs(pod)
	hostIPs := info.hostIPs(pod)
	switch fieldPath {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		if pod.Spec.NodeName == "" {
			return info.NodeName, nil
		}
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP":
		if len(podIPs) == 0 {
			return "", nil
		}
		return podIPs[0], nil
	case "status.podIPs":
		return strings.Join(podIPs, ","), nil
	case "status.hostIP":
		if len(hostIPs) == 0 {
			return "", nil
		}
		return hostIPs[0], nil
	case "status.hostIPs":
		return strings.Join(hostIPs, ","), nil
	}
	return "", fmt.Errorf("unsupported fieldPath %q", fieldPath)
}

// splitMapKey splits "metadata.labels['key']" into its parts.
func splitMapKey(fieldPath string) (path, key string, ok bool) {
	open := strings.Index(fieldPath, "['")
	if open < 0 || !strings.HasSuffix(fieldPath, "']") {
		return "", "", false
	}
	return fieldPath[:open], fieldPath[open+2 : len(fieldPath)-2], true
}

// formatMap renders labels or annotations as a downward-API file does:
// key="value" lines sorted by key, without a trailing newline.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s=%s", k, strconv.Quote(m[k]))
	}
	return b.String()
}

// containerResourceValue evaluates a resourceFieldRef for container c.
// Unset limits default to the node's allocatable, as upstream's kubelet
// does; unset requests default to the limit when one is set.
func containerResourceValue(fs *corev1.ResourceFieldSelector, c *corev1.Container, allocatable corev1.ResourceList) (string, error) {
	divisor := fs.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	var (
		q     resource.Quantity
		name  corev1.ResourceName
		found bool
	)
	switch fs.Resource {
	case "limits.cpu", "limits.memory", "limits.ephemeral-storage":
		name = corev1.ResourceName(strings.TrimPrefix(fs.Resource, "limits."))
		q, found = c.Resources.Limits[name]
		if !found {
			q, found = allocatable[name]
		}
	case "requests.cpu", "requests.memory", "requests.ephemeral-storage":
		name = corev1.ResourceName(strings.TrimPrefix(fs.Resource, "requests."))
		q, found = c.Resources.Requests[name]
		if !found {
			q, found = c.Resources.Limits[name]
		}
	default:
		return "", fmt.Errorf("unsupported container resource: %v", fs.Resource)
	}
	if !found {
		q = resource.Quantity{}
	}
	if name == corev1.ResourceCPU {
		// ceil(milli / divisor milli), as upstream.
		v := int64(math.Ceil(float64(q.MilliValue()) / float64(divisor.MilliValue())))
		return strconv.FormatInt(v, 10), nil
	}
	v := int64(math.Ceil(float64(q.Value()) / float64(divisor.Value())))
	return strconv.FormatInt(v, 10), nil
}
