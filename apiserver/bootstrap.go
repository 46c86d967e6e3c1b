package apiserver

import (
	"context"
	"fmt"
	"net"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// systemNamespaces exist in every cluster.
var systemNamespaces = []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease}

// bootstrap creates what every cluster has: the system namespaces and the
// kubernetes Service at the first service IP. Safe to run on every start
// and on several servers at once.
func (s *server) bootstrap(ctx context.Context, kubeSvcIP net.IP) error {
	nsRes := s.lookup("", "v1", "namespaces")
	for _, name := range systemNamespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if _, err := s.createObject(ctx, nsRes, "", ns, writeOpts{manager: "skiff-apiserver"}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("namespace %s: %w", name, err)
		}
	}
	svcRes := s.lookup("", "v1", "services")
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeClusterIP,
			ClusterIP: kubeSvcIP.String(),
			Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP,
				TargetPort: intstr.FromInt32(int32(s.cfg.SecurePort))}},
			SessionAffinity: corev1.ServiceAffinityNone,
		},
	}
	if _, err := s.createObject(ctx, svcRes, metav1.NamespaceDefault, svc, writeOpts{manager: "skiff-apiserver"}); err != nil &&
		!apierrors.IsAlreadyExists(err) && !apierrors.IsInvalid(err) {
		return fmt.Errorf("kubernetes service: %w", err)
	}
	return s.reconcileKubernetesEndpoints(ctx)
}

// maintainKubernetesEndpoints keeps this server's address in the
// kubernetes Endpoints, and brings back the system namespaces and the
// kubernetes Service if they were deleted, as upstream's API servers do.
func (s *server) maintainKubernetesEndpoints(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.bootstrap(ctx, s.serviceIPs.ip(1)); err != nil && ctx.Err() == nil {
				s.log.Warn("kubernetes endpoints", "err", err)
			}
		}
	}
}

// reconcileKubernetesEndpoints adds this server's advertise address and
// port to default/kubernetes Endpoints and EndpointSlice.
func (s *server) reconcileKubernetesEndpoints(ctx context.Context) error {
	ip := s.cfg.AdvertiseAddress.String()
	port := int32(s.cfg.SecurePort)
	epRes := s.lookup("", "v1", "endpoints")
	key := epRes.store.Key(metav1.NamespaceDefault, "kubernetes")
	want := func(ep *corev1.Endpoints) bool {
		if len(ep.Subsets) != 1 || len(ep.Subsets[0].Ports) != 1 || ep.Subsets[0].Ports[0].Port != port {
			ep.Subsets = []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{{Name: "https", Port: port, Protocol: corev1.ProtocolTCP}}}}
		}
		if slices.ContainsFunc(ep.Subsets[0].Addresses, func(a corev1.EndpointAddress) bool { return a.IP == ip }) {
			return false
		}
		ep.Subsets[0].Addresses = append(ep.Subsets[0].Addresses, corev1.EndpointAddress{IP: ip})
		return true
	}
	_, err := epRes.store.Update(ctx, key, func(cur runtime.Object) (runtime.Object, error) {
		ep := cur.(*corev1.Endpoints)
		want(ep)
		return ep, nil
	})
	if apierrors.IsNotFound(err) {
		ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}}}
		want(ep)
		_, err = s.createObject(ctx, epRes, metav1.NamespaceDefault, ep, writeOpts{manager: "skiff-apiserver", system: true})
		if apierrors.IsAlreadyExists(err) {
			err = nil
		}
	}
	if err != nil {
		return err
	}
	return s.reconcileKubernetesEndpointSlice(ctx, ip, port)
}

// reconcileKubernetesEndpointSlice keeps default/kubernetes EndpointSlice
// listing this server, as upstream's API servers do.
func (s *server) reconcileKubernetesEndpointSlice(ctx context.Context, ip string, port int32) error {
	esRes := s.lookup("discovery.k8s.io", "v1", "endpointslices")
	key := esRes.store.Key(metav1.NamespaceDefault, "kubernetes")
	ready := true
	add := func(es *discoveryv1.EndpointSlice) {
		name, proto := "https", corev1.ProtocolTCP
		es.AddressType = discoveryv1.AddressTypeIPv4
		es.Ports = []discoveryv1.EndpointPort{{Name: &name, Port: &port, Protocol: &proto}}
		for _, e := range es.Endpoints {
			if slices.Contains(e.Addresses, ip) {
				return
			}
		}
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}})
	}
	_, err := esRes.store.Update(ctx, key, func(cur runtime.Object) (runtime.Object, error) {
		es := cur.(*discoveryv1.EndpointSlice)
		add(es)
		return es, nil
	})
	if apierrors.IsNotFound(err) {
		es := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{discoveryv1.LabelServiceName: "kubernetes", discoveryv1.LabelManagedBy: "skiff-apiserver"}}}
		add(es)
		_, err = s.createObject(ctx, esRes, metav1.NamespaceDefault, es, writeOpts{manager: "skiff-apiserver", system: true})
		if apierrors.IsAlreadyExists(err) {
			err = nil
		}
	}
	return err
}
