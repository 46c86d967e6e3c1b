package apiserver

import (
	"context"
	"slices"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiffk8s/skiff/apiserver/auth"
)

// prepareForCreate sets the server-owned fields a new object starts with.
func (s *server) prepareForCreate(res *resource, obj runtime.Object) {
	switch o := obj.(type) {
	case *corev1.Pod:
		o.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: podQOS(&o.Spec)}
	case *corev1.Namespace:
		o.Status.Phase = corev1.NamespaceActive
	}
}

// prepareForUpdate keeps server-owned fields across an update.
func (s *server) prepareForUpdate(res *resource, obj, old runtime.Object) {
	switch o := obj.(type) {
	case *corev1.Pod:
		if o.Status.QOSClass == "" {
			o.Status.QOSClass = old.(*corev1.Pod).Status.QOSClass
		}
	case *corev1.Namespace:
		if o.Status.Phase == "" {
			o.Status.Phase = old.(*corev1.Namespace).Status.Phase
		}
	case *corev1.Service:
		oldSvc := old.(*corev1.Service)
		// Clients that do not send the clusterIP (kubectl replace, apply)
		// keep the allocated one.
		if o.Spec.ClusterIP == "" && o.Spec.Type != corev1.ServiceTypeExternalName {
			o.Spec.ClusterIP = oldSvc.Spec.ClusterIP
			o.Spec.ClusterIPs = oldSvc.Spec.ClusterIPs
			o.Spec.IPFamilies = oldSvc.Spec.IPFamilies
		}
		if len(o.Spec.ClusterIPs) == 0 && o.Spec.ClusterIP != "" {
			o.Spec.ClusterIPs = []string{o.Spec.ClusterIP}
		}
		if !needsNodePorts(o) {
			// Fields that only mean something with node ports go with them.
			o.Spec.ExternalTrafficPolicy = ""
			o.Spec.HealthCheckNodePort = 0
		}
		if needsNodePorts(o) {
			for i := range o.Spec.Ports {
				p := &o.Spec.Ports[i]
				if p.NodePort != 0 {
					continue
				}
				for _, op := range oldSvc.Spec.Ports {
					if op.Port == p.Port && op.Protocol == p.Protocol && op.NodePort != 0 {
						p.NodePort = op.NodePort
					}
				}
			}
		}
	}
}

// setRequester records who asks for a certificate, as upstream: a CSR's
// username, uid and groups come from authentication, never from the body,
// so that approvers can trust them.
func setRequester(ctx context.Context, csr *certificatesv1.CertificateSigningRequest) {
	csr.Spec.Username, csr.Spec.UID, csr.Spec.Groups, csr.Spec.Extra = "", "", nil, nil
	if u, ok := ctx.Value(userKey{}).(*auth.User); ok && u != nil {
		csr.Spec.Username, csr.Spec.UID, csr.Spec.Groups = u.Name, u.UID, slices.Clone(u.Groups)
	}
}

// podQOS computes the pod's QoS class as upstream does: Guaranteed when
// every container has equal cpu and memory requests and limits, BestEffort
// when none has any, Burstable otherwise.
func podQOS(spec *corev1.PodSpec) corev1.PodQOSClass {
	containers := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	any, guaranteed := false, true
	for _, c := range containers {
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[r]
			lim, hasLim := c.Resources.Limits[r]
			if hasReq && !req.IsZero() || hasLim && !lim.IsZero() {
				any = true
			}
			if !hasLim || lim.IsZero() {
				guaranteed = false
				continue
			}
			if hasReq && req.Cmp(lim) != 0 {
				guaranteed = false
			}
		}
	}
	switch {
	case !any:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}
