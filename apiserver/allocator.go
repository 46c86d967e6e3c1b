package apiserver

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// allocator hands out values (service IPs, node ports) with one etcd key per
// allocated value, created with a compare-and-swap, so that several API
// servers never hand out one value twice and a restart forgets nothing.
type allocator struct {
	client *clientv3.Client
	prefix string // e.g. "/registry/ranges/serviceips/"
	size   int64  // number of values: offsets 0..size-1
}

func (a *allocator) key(off int64) string { return a.prefix + strconv.FormatInt(off, 10) }

// claim takes offset off for owner; false when it is taken.
func (a *allocator) claim(ctx context.Context, off int64, owner string) (bool, error) {
	k := a.key(off)
	resp, err := a.client.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, owner)).Commit()
	if err != nil {
		return false, fmt.Errorf("allocator %s: %w", a.prefix, err)
	}
	return resp.Succeeded, nil
}

// taken reports whether off is allocated.
func (a *allocator) taken(ctx context.Context, off int64) (bool, error) {
	resp, err := a.client.Get(ctx, a.key(off), clientv3.WithCountOnly())
	if err != nil {
		return false, fmt.Errorf("allocator %s: %w", a.prefix, err)
	}
	return resp.Count > 0, nil
}

// next claims a free offset in [lo, a.size) for owner: random tries first,
// then a scan of what is allocated.
func (a *allocator) next(ctx context.Context, lo int64, owner string, dryRun bool) (int64, error) {
	n := a.size - lo
	if n <= 0 {
		return 0, fmt.Errorf("range is empty")
	}
	for i := 0; i < 32; i++ {
		off := lo + rand.Int64N(n)
		var ok bool
		var err error
		if dryRun {
			var t bool
			t, err = a.taken(ctx, off)
			ok = !t
		} else {
			ok, err = a.claim(ctx, off, owner)
		}
		if err != nil {
			return 0, err
		}
		if ok {
			return off, nil
		}
	}
	resp, err := a.client.Get(ctx, a.prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return 0, fmt.Errorf("allocator %s: %w", a.prefix, err)
	}
	used := make(map[int64]bool, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		if off, err := strconv.ParseInt(string(kv.Key[len(a.prefix):]), 10, 64); err == nil {
			used[off] = true
		}
	}
	for off := lo; off < a.size; off++ {
		if used[off] {
			continue
		}
		if dryRun {
			return off, nil
		}
		ok, err := a.claim(ctx, off, owner)
		if err != nil {
			return 0, err
		}
		if ok {
			return off, nil
		}
	}
	return 0, fmt.Errorf("range is full")
}

func (a *allocator) release(ctx context.Context, off int64) error {
	_, err := a.client.Delete(ctx, a.key(off))
	return err
}

// serviceIPs maps service CIDR addresses to offsets.
type serviceIPs struct {
	allocator
	base net.IP // network address, 4 bytes
	cidr *net.IPNet
}

func newServiceIPs(client *clientv3.Client, cidr *net.IPNet) *serviceIPs {
	ones, bits := cidr.Mask.Size()
	return &serviceIPs{
		allocator: allocator{client: client, prefix: "/registry/ranges/serviceips/", size: int64(1) << (bits - ones)},
		base:      cidr.IP.To4(),
		cidr:      cidr,
	}
}

func (s *serviceIPs) offset(ip net.IP) (int64, bool) {
	ip4 := ip.To4()
	if ip4 == nil || !s.cidr.Contains(ip4) {
		return 0, false
	}
	return int64(binary.BigEndian.Uint32(ip4) - binary.BigEndian.Uint32(s.base)), true
}

func (s *serviceIPs) ip(off int64) net.IP {
	out := make(net.IP, 4)
	binary.BigEndian.PutUint32(out, binary.BigEndian.Uint32(s.base)+uint32(off))
	return out
}

// nodePortBase is the first port of the default node port range 30000-32767.
const nodePortBase = 30000

func needsNodePorts(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
}

func needsClusterIP(svc *corev1.Service) bool {
	return svc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.ClusterIP != corev1.ClusterIPNone
}

// allocate claims what obj needs (a Service's cluster IP and node ports) and
// returns a function that gives back what this call claimed. old is the
// stored object on update, nil on create. With dryRun nothing is claimed,
// only checked.
func (s *server) allocate(ctx context.Context, res *resource, obj, old runtime.Object, dryRun bool) (func(), error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return func() {}, nil
	}
	var oldSvc *corev1.Service
	if old != nil {
		oldSvc = old.(*corev1.Service)
	}
	owner := svc.Namespace + "/" + svc.Name
	var undo []func()
	rollback := func() {
		for _, f := range undo {
			f()
		}
	}
	invalid := func(path *field.Path, value any, msg string) error {
		rollback()
		return apierrors.NewInvalid(res.GVK().GroupKind(), svc.Name, field.ErrorList{field.Invalid(path, value, msg)})
	}
	// Cluster IP: allocated on create; immutable afterwards (validation).
	if needsClusterIP(svc) && (oldSvc == nil || oldSvc.Spec.ClusterIP == "" || oldSvc.Spec.ClusterIP == corev1.ClusterIPNone) {
		path := field.NewPath("spec", "clusterIPs").Index(0)
		if svc.Spec.ClusterIP != "" {
			ip := net.ParseIP(svc.Spec.ClusterIP)
			off, inRange := s.serviceIPs.offset(ip)
			if ip == nil || !inRange {
				return nil, invalid(path, svc.Spec.ClusterIP, fmt.Sprintf("failed to allocate IP %s: the provided IP (%s) is not in the valid range. The range of valid IPs is %s", svc.Spec.ClusterIP, svc.Spec.ClusterIP, s.serviceIPs.cidr))
			}
			var free bool
			var err error
			if dryRun {
				var t bool
				t, err = s.serviceIPs.taken(ctx, off)
				free = !t
			} else {
				free, err = s.serviceIPs.claim(ctx, off, owner)
			}
			if err != nil {
				rollback()
				return nil, apierrors.NewInternalError(err)
			}
			if !free {
				return nil, invalid(path, svc.Spec.ClusterIP, fmt.Sprintf("failed to allocate IP %s: provided IP is already allocated", svc.Spec.ClusterIP))
			}
			if !dryRun {
				undo = append(undo, func() { _ = s.serviceIPs.release(context.Background(), off) })
			}
		} else {
			// Offset 0 is the network address; 1 is the kubernetes Service
			// (claimed at start-up), so random picks start past it.
			off, err := s.serviceIPs.next(ctx, 1, owner, dryRun)
			if err != nil {
				rollback()
				return nil, apierrors.NewInternalError(fmt.Errorf("failed to allocate a serviceIP: %w", err))
			}
			if !dryRun {
				undo = append(undo, func() { _ = s.serviceIPs.release(context.Background(), off) })
			}
			svc.Spec.ClusterIP = s.serviceIPs.ip(off).String()
		}
		svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
		svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
		if svc.Spec.IPFamilyPolicy == nil {
			p := corev1.IPFamilyPolicySingleStack
			svc.Spec.IPFamilyPolicy = &p
		}
	}
	// Node ports.
	oldPorts := map[int32]bool{}
	if oldSvc != nil && needsNodePorts(oldSvc) {
		for _, p := range oldSvc.Spec.Ports {
			if p.NodePort != 0 {
				oldPorts[p.NodePort] = true
			}
		}
	}
	if needsNodePorts(svc) {
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			path := field.NewPath("spec", "ports").Index(i).Child("nodePort")
			if p.NodePort != 0 && oldPorts[p.NodePort] {
				delete(oldPorts, p.NodePort) // kept
				continue
			}
			if p.NodePort != 0 {
				off := int64(p.NodePort) - nodePortBase
				if off < 0 || off >= s.nodePorts.size {
					return nil, invalid(path, p.NodePort, fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", nodePortBase, nodePortBase+s.nodePorts.size-1))
				}
				var free bool
				var err error
				if dryRun {
					var t bool
					t, err = s.nodePorts.taken(ctx, off)
					free = !t
				} else {
					free, err = s.nodePorts.claim(ctx, off, owner)
				}
				if err != nil {
					rollback()
					return nil, apierrors.NewInternalError(err)
				}
				if !free {
					return nil, invalid(path, p.NodePort, "provided port is already allocated")
				}
				if !dryRun {
					undo = append(undo, func() { _ = s.nodePorts.release(context.Background(), off) })
				}
				continue
			}
			off, err := s.nodePorts.next(ctx, 0, owner, dryRun)
			if err != nil {
				rollback()
				return nil, apierrors.NewInternalError(fmt.Errorf("failed to allocate a nodePort: %w", err))
			}
			if !dryRun {
				undo = append(undo, func() { _ = s.nodePorts.release(context.Background(), off) })
			}
			p.NodePort = int32(nodePortBase + off)
		}
	} else {
		for i := range svc.Spec.Ports {
			svc.Spec.Ports[i].NodePort = 0
		}
	}
	// Ports the update no longer uses go back to the pool.
	if !dryRun {
		for port := range oldPorts {
			_ = s.nodePorts.release(ctx, int64(port)-nodePortBase)
		}
	}
	return rollback, nil
}

// release gives back what a deleted object held.
func (s *server) release(ctx context.Context, res *resource, obj runtime.Object) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return
	}
	if ip := net.ParseIP(svc.Spec.ClusterIP); ip != nil {
		if off, ok := s.serviceIPs.offset(ip); ok {
			if err := s.serviceIPs.release(ctx, off); err != nil {
				s.log.Error("release service IP", "ip", ip, "err", err)
			}
		}
	}
	if needsNodePorts(svc) {
		for _, p := range svc.Spec.Ports {
			if p.NodePort != 0 {
				if err := s.nodePorts.release(ctx, int64(p.NodePort)-nodePortBase); err != nil {
					s.log.Error("release node port", "port", p.NodePort, "err", err)
				}
			}
		}
	}
}
