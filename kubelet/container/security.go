package container

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffk8s/skiff/runtime"
)

// effectiveSecurityContext merges the pod's securityContext into the
// container's (the container's fields win), as upstream's
// DetermineEffectiveSecurityContext.
func effectiveSecurityContext(pod *corev1.Pod, c *corev1.Container) *corev1.SecurityContext {
	var sc corev1.SecurityContext
	if c.SecurityContext != nil {
		sc = *c.SecurityContext.DeepCopy()
	}
	if psc := pod.Spec.SecurityContext; psc != nil {
		if sc.RunAsUser == nil {
			sc.RunAsUser = psc.RunAsUser
		}
		if sc.RunAsGroup == nil {
			sc.RunAsGroup = psc.RunAsGroup
		}
		if sc.RunAsNonRoot == nil {
			sc.RunAsNonRoot = psc.RunAsNonRoot
		}
		if sc.SELinuxOptions == nil {
			sc.SELinuxOptions = psc.SELinuxOptions
		}
		if sc.SeccompProfile == nil {
			sc.SeccompProfile = psc.SeccompProfile
		}
	}
	return &sc
}

// formatPod is upstream's format.Pod: "name_namespace(uid)".
func formatPod(pod *corev1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}

// parseImageUser splits an image's User ("1000", "1000:1000", "app",
// "app:staff") into a numeric uid (nil when not numeric) and the user
// name. An empty user is root, as upstream assumes.
func parseImageUser(user string) (uid *int64, name string) {
	u, _, _ := strings.Cut(user, ":")
	if u == "" {
		zero := int64(0)
		return &zero, ""
	}
	if n, err := strconv.ParseInt(u, 10, 64); err == nil {
		return &n, ""
	}
	return nil, u
}

// Security resolves the container's effective securityContext for the
// runtime, and refuses (with upstream's messages) a runAsNonRoot
// container that would run as root or whose image user cannot be
// verified. imageUser is the image's configured User.
func Security(pod *corev1.Pod, c *corev1.Container, imageUser string) (runtime.Security, error) {
	sc := effectiveSecurityContext(pod, c)
	if err := verifyRunAsNonRoot(pod, c, sc, imageUser); err != nil {
		return runtime.Security{}, err
	}
	var out runtime.Security
	out.RunAsUser = sc.RunAsUser
	out.RunAsGroup = sc.RunAsGroup
	if sc.ReadOnlyRootFilesystem != nil {
		out.ReadOnlyRootFS = *sc.ReadOnlyRootFilesystem
	}
	if sc.Privileged != nil {
		out.Privileged = *sc.Privileged
	}
	if caps := sc.Capabilities; caps != nil {
		for _, cp := range caps.Add {
			out.CapAdd = append(out.CapAdd, normalizeCap(cp))
		}
		for _, cp := range caps.Drop {
			out.CapDrop = append(out.CapDrop, normalizeCap(cp))
		}
	}
	if sc.AllowPrivilegeEscalation != nil {
		out.NoNewPrivileges = !*sc.AllowPrivilegeEscalation
	}
	if psc := pod.Spec.SecurityContext; psc != nil {
		out.SupplementalGroups = append(out.SupplementalGroups, psc.SupplementalGroups...)
		if psc.FSGroup != nil {
			out.SupplementalGroups = append(out.SupplementalGroups, *psc.FSGroup)
		}
	}
	return out, nil
}

func normalizeCap(c corev1.Capability) string {
	s := strings.ToUpper(string(c))
	return strings.TrimPrefix(s, "CAP_")
}

// verifyRunAsNonRoot is upstream's verifyRunAsNonRoot.
func verifyRunAsNonRoot(pod *corev1.Pod, c *corev1.Container, sc *corev1.SecurityContext, imageUser string) error {
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		return nil
	}
	if sc.RunAsUser != nil {
		if *sc.RunAsUser == 0 {
			return fmt.Errorf("container's runAsUser breaks non-root policy (pod: %q, container: %s)", formatPod(pod), c.Name)
		}
		return nil
	}
	uid, name := parseImageUser(imageUser)
	switch {
	case uid != nil && *uid == 0:
		return fmt.Errorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", formatPod(pod), c.Name)
	case uid == nil && name != "":
		return fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root (pod: %q, container: %s)", name, formatPod(pod), c.Name)
	}
	return nil
}
