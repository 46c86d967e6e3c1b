package apiserver

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
)

// What the ServiceAccount admission step adds to pods, as upstream.
const (
	// serviceAccountVolumePrefix starts the name of the projected volume
	// (kube-api-access-<5 random characters>).
	serviceAccountVolumePrefix = "kube-api-access"
	// serviceAccountMountPath is where in-cluster clients look for the
	// token, ca.crt and namespace.
	serviceAccountMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
	// serviceAccountTokenExpiration is the token's requested life
	// (upstream's WarnOnlyBoundTokenExpirationSeconds).
	serviceAccountTokenExpiration int64 = 3607
	// rootCAConfigMap is published in every namespace by the
	// root-ca-cert-publisher controller.
	rootCAConfigMap = "kube-root-ca.crt"
	// mirrorPodAnnotation marks a kubelet's mirror of a static pod.
	mirrorPodAnnotation = "kubernetes.io/config.mirror"
)

// admitServiceAccount is upstream's ServiceAccount admission plugin, run
// on pod create after defaulting (which names the "default" account when
// the pod names none) and before validation.
//
// The pod's service account must exist: a pod naming a missing one is
// refused with 403 Forbidden ("error looking up service account ns/name:
// serviceaccount "name" not found"), unless
// Config.AdmitPodsWithoutServiceAccount, when it is admitted unchanged. A
// pod without imagePullSecrets gets its account's. Unless
// automountServiceAccountToken is false (the pod's setting wins over the
// account's), the pod gets the projected volume kube-api-access-<random>
// (a bound token at "token", ca.crt from the kube-root-ca.crt ConfigMap,
// the namespace from the downward API) mounted read-only at
// /var/run/secrets/kubernetes.io/serviceaccount in every container and
// init container that mounts nothing there yet. Mirror pods are left
// alone.
func (s *server) admitServiceAccount(ctx context.Context, res *resource, obj runtime.Object) error {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil
	}
	if _, mirror := pod.Annotations[mirrorPodAnnotation]; mirror {
		return nil
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = "default"
		pod.Spec.DeprecatedServiceAccount = "default"
	}
	sa, err := s.serviceAccount(ctx, pod.Namespace, pod.Spec.ServiceAccountName)
	if apierrors.IsNotFound(err) {
		// A missing namespace is the answer users expect (404).
		if err := s.checkNamespace(ctx, pod.Namespace); err != nil {
			return err
		}
		if s.cfg.AdmitPodsWithoutServiceAccount {
			return nil
		}
	}
	if err != nil {
		return apierrors.NewForbidden(res.GroupResource(), pod.Name,
			fmt.Errorf("error looking up service account %s/%s: %w", pod.Namespace, pod.Spec.ServiceAccountName, err))
	}
	if shouldAutomount(sa, pod) {
		mountServiceAccountToken(pod)
	}
	if len(pod.Spec.ImagePullSecrets) == 0 && len(sa.ImagePullSecrets) > 0 {
		pod.Spec.ImagePullSecrets = append([]corev1.LocalObjectReference(nil), sa.ImagePullSecrets...)
	}
	return nil
}

// serviceAccount reads ns/name from the watch cache, or from etcd when
// the cache has no such account (it may lag one just made). A missing
// account is `serviceaccount "name" not found`, as upstream words it.
func (s *server) serviceAccount(ctx context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	saRes := s.lookup("", "v1", "serviceaccounts")
	key := saRes.store.Key(ns, name)
	obj, ok := saRes.store.GetCached(key)
	if !ok {
		var err error
		obj, err = saRes.store.Get(ctx, key)
		if apierrors.IsNotFound(err) {
			return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "serviceaccount"}, name)
		}
		if err != nil {
			return nil, err
		}
	}
	return obj.(*corev1.ServiceAccount), nil
}

// shouldAutomount: the pod's automountServiceAccountToken wins, then the
// account's; unset means true.
func shouldAutomount(sa *corev1.ServiceAccount, pod *corev1.Pod) bool {
	if pod.Spec.AutomountServiceAccountToken != nil {
		return *pod.Spec.AutomountServiceAccountToken
	}
	if sa.AutomountServiceAccountToken != nil {
		return *sa.AutomountServiceAccountToken
	}
	return true
}

// mountServiceAccountToken adds the token volume (reusing a
// kube-api-access-* volume the pod already has) and its mount to every
// container and init container without a mount at the token path.
func mountServiceAccountToken(pod *corev1.Pod) {
	volName := ""
	for _, v := range pod.Spec.Volumes {
		if strings.HasPrefix(v.Name, serviceAccountVolumePrefix+"-") {
			volName = v.Name
			break
		}
	}
	hasVolume := volName != ""
	if !hasVolume {
		volName = serviceAccountVolumePrefix + "-" + utilrand.String(5)
	}
	mount := corev1.VolumeMount{Name: volName, ReadOnly: true, MountPath: serviceAccountMountPath}
	needed := false
	addMount := func(cs []corev1.Container) {
		for i := range cs {
			mounted := false
			for _, m := range cs[i].VolumeMounts {
				if m.MountPath == serviceAccountMountPath {
					mounted = true
					break
				}
			}
			if !mounted {
				cs[i].VolumeMounts = append(cs[i].VolumeMounts, mount)
				needed = true
			}
		}
	}
	addMount(pod.Spec.InitContainers)
	addMount(pod.Spec.Containers)
	if needed && !hasVolume {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: volName, VolumeSource: corev1.VolumeSource{Projected: tokenVolumeSource()}})
	}
}

// tokenVolumeSource is upstream's projected service-account volume.
func tokenVolumeSource() *corev1.ProjectedVolumeSource {
	mode := corev1.ProjectedVolumeSourceDefaultMode
	exp := serviceAccountTokenExpiration
	return &corev1.ProjectedVolumeSource{
		DefaultMode: &mode,
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: &exp}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: rootCAConfigMap},
				Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace",
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
		},
	}
}
