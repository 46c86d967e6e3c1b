package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/skiffk8s/skiff/dns"
)

// clusterDNSIP is the cluster DNS Service's address: the tenth address of
// the default service CIDR, the nameserver the kubelet writes into pods'
// resolv.conf.
const clusterDNSIP = "10.96.0.10"

// clusterDNSAddr gives the loopback of the node's network namespace
// (netnsPath; empty: this process's) the cluster DNS address as a /32 and
// opens the DNS server's UDP and TCP sockets on ip:53 there. Pods route
// to their node, so the address on the node's loopback is enough for them
// to reach the server; no proxy rule is involved. The returned release
// function closes nothing (the DNS server owns the sockets) but removes
// the address again, unless it was already there before.
func clusterDNSAddr(netnsPath, ip string) (net.PacketConn, net.Listener, func() error, error) {
	type result struct {
		pc      net.PacketConn
		l       net.Listener
		release func() error
		err     error
	}
	inNS := func(fn func() result) result {
		if netnsPath == "" {
			return fn()
		}
		res := make(chan result, 1)
		go func() {
			// The thread stays locked and dies with the goroutine, so no
			// other goroutine ever runs in the node's namespace by accident.
			runtime.LockOSThread()
			ns, err := netns.GetFromPath(netnsPath)
			if err != nil {
				res <- result{err: err}
				return
			}
			defer ns.Close()
			if err := netns.Set(ns); err != nil {
				res <- result{err: err}
				return
			}
			res <- fn()
		}()
		return <-res
	}
	addr, err := netlink.ParseAddr(ip + "/32")
	if err != nil {
		return nil, nil, nil, err
	}
	r := inNS(func() result {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return result{err: err}
		}
		added := true
		if err := netlink.AddrAdd(lo, addr); errors.Is(err, unix.EEXIST) {
			added = false
		} else if err != nil {
			return result{err: fmt.Errorf("add %s to lo: %w", addr, err)}
		}
		release := func() error {
			if !added {
				return nil
			}
			return inNS(func() result {
				lo, err := netlink.LinkByName("lo")
				if err == nil {
					err = netlink.AddrDel(lo, addr)
				}
				return result{err: err}
			}).err
		}
		hp := net.JoinHostPort(ip, "53")
		pc, err := net.ListenPacket("udp", hp)
		if err != nil {
			_ = release()
			return result{err: err}
		}
		l, err := net.Listen("tcp", hp)
		if err != nil {
			pc.Close()
			_ = release()
			return result{err: err}
		}
		return result{pc: pc, l: l, release: release}
	})
	return r.pc, r.l, r.release, r.err
}

// ensureKubeDNSService creates the kube-dns Service in kube-system at ip
// (ports dns/53 UDP and dns-tcp/53 TCP, no selector) and its
// EndpointSlice, whose one endpoint is ip itself: every node serves
// cluster DNS on that address, and the proxy, which rejects traffic to a
// Service without endpoints, then sends it to the local server. Existing
// objects are left alone.
func ensureKubeDNSService(ctx context.Context, client kubernetes.Interface, ip string) error {
	ports := []corev1.ServicePort{
		{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(53)},
		{Name: "dns-tcp", Protocol: corev1.ProtocolTCP, Port: 53, TargetPort: intstr.FromInt32(53)},
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: metav1.NamespaceSystem,
			Labels: map[string]string{"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}},
		Spec: corev1.ServiceSpec{ClusterIP: ip, Ports: ports},
	}
	// Look first: creating it again fails on the taken IP before the name.
	if _, err := client.CoreV1().Services(metav1.NamespaceSystem).Get(ctx, svc.Name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		if _, err := client.CoreV1().Services(metav1.NamespaceSystem).Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create Service kube-system/kube-dns: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("get Service kube-system/kube-dns: %w", err)
	}
	ready := true
	var eps []discoveryv1.EndpointPort
	for _, p := range ports {
		eps = append(eps, discoveryv1.EndpointPort{Name: &p.Name, Protocol: &p.Protocol, Port: &p.Port})
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns-node-local", Namespace: metav1.NamespaceSystem,
			Labels: map[string]string{discoveryv1.LabelServiceName: "kube-dns", discoveryv1.LabelManagedBy: "skiff-up"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       eps,
	}
	if _, err := client.DiscoveryV1().EndpointSlices(metav1.NamespaceSystem).Create(ctx, slice, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create EndpointSlice kube-system/kube-dns-node-local: %w", err)
	}
	return nil
}

// runUpDNS serves cluster DNS on ip:53 in the node's namespace until ctx
// ends, then removes the address it added.
func runUpDNS(ctx context.Context, client kubernetes.Interface, netnsPath, ip string, logger *slog.Logger) error {
	return runNodeDNS(ctx, dns.Config{Client: client, Logger: logger}, netnsPath, ip)
}

// runNodeDNS is runUpDNS with the rest of the server's config (domain,
// upstreams, metrics) from base.
func runNodeDNS(ctx context.Context, base dns.Config, netnsPath, ip string) error {
	client, logger := base.Client, base.Logger
	if err := ensureKubeDNSService(ctx, client, ip); err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	pc, l, release, err := clusterDNSAddr(netnsPath, ip)
	if err != nil {
		return fmt.Errorf("dns: listen on %s:53: %w", ip, err)
	}
	defer func() {
		if err := release(); err != nil {
			logger.Warn("dns: remove the cluster DNS address", "err", err)
		}
	}()
	cfg := base
	cfg.Listen, cfg.PacketConn, cfg.Listener = net.JoinHostPort(ip, "53"), pc, l
	err = dns.Run(ctx, cfg)
	if err != nil {
		pc.Close()
		l.Close()
	}
	return err
}
