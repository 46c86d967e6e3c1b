package network

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// ErrExhausted is wrapped by the error an allocation returns when every
// usable address of the pod CIDR is leased.
var ErrExhausted = errors.New("no free address")

// ipam hands out IPv4 addresses from a CIDR and keeps one file per lease
// under dir: the file is named by the address and holds the pod UID. A lease
// file appears atomically and exclusively (a fully written temporary file
// hard-linked to its final name, which fails if the name exists), so an
// address is never handed out twice, even by two processes or across
// restarts, and a crash never leaves a half-written lease.
//
// The network address, the gateway (first address) and the broadcast
// address are never handed out.
type ipam struct {
	dir string

	mu sync.Mutex // serializes allocations of this process; files do the rest
}

func newIPAM(dir string) (*ipam, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create IPAM dir %s: %w", dir, err)
	}
	return &ipam{dir: dir}, nil
}

// leases returns every lease on disk: address → pod UID. Files that are not
// leases (temporary files, the allocation cursor) are ignored.
func (a *ipam) leases() (map[string]string, error) {
	entries, err := os.ReadDir(a.dir)
	if err != nil {
		return nil, fmt.Errorf("read IPAM dir %s: %w", a.dir, err)
	}
	out := make(map[string]string, len(entries))
	for _, e := range entries {
		ip := net.ParseIP(e.Name())
		if ip == nil || ip.To4() == nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(a.dir, e.Name()))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // released meanwhile
			}
			return nil, fmt.Errorf("read lease %s: %w", e.Name(), err)
		}
		out[e.Name()] = strings.TrimSpace(string(b))
	}
	return out, nil
}

// lookup returns the address leased to podUID, or nil.
func (a *ipam) lookup(podUID string) (net.IP, error) {
	ls, err := a.leases()
	if err != nil {
		return nil, err
	}
	for ip, uid := range ls {
		if uid == podUID {
			return net.ParseIP(ip).To4(), nil
		}
	}
	return nil, nil
}

// allocate returns the address leased to podUID in cidr, leasing a free one
// if it holds none there. Leases the pod holds outside cidr are released
// (the node's CIDR changed). Allocation continues after the last address
// handed out, so a released address is not reused at once.
func (a *ipam) allocate(cidr *net.IPNet, podUID string) (net.IP, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ls, err := a.leases()
	if err != nil {
		return nil, err
	}
	for ipStr, uid := range ls {
		if uid != podUID {
			continue
		}
		ip := net.ParseIP(ipStr).To4()
		if cidr.Contains(ip) {
			return ip, nil
		}
		if err := a.releaseIP(ipStr); err != nil {
			return nil, err
		}
	}
	first, last, err := usableRange(cidr)
	if err != nil {
		return nil, err
	}
	start := first
	if b, err := os.ReadFile(filepath.Join(a.dir, "last")); err == nil {
		if prev := net.ParseIP(strings.TrimSpace(string(b))).To4(); prev != nil && cidr.Contains(prev) {
			if p := ipToU32(prev); p >= first && p < last {
				start = p + 1
			}
		}
	}
	n := last - first + 1
	for i := uint32(0); i < n; i++ {
		cand := first + (start-first+i)%n
		ip := u32ToIP(cand)
		if _, taken := ls[ip.String()]; taken {
			continue
		}
		ok, err := a.create(ip, podUID)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue // leased by another process meanwhile
		}
		// The cursor is a hint only: losing it costs nothing.
		_ = os.WriteFile(filepath.Join(a.dir, "last"), []byte(ip.String()+"\n"), 0o600)
		return ip, nil
	}
	return nil, fmt.Errorf("allocate address in %s for pod %s: all %d addresses leased: %w", cidr, podUID, n, ErrExhausted)
}

// create writes the lease file for ip exclusively; ok is false when the
// address is already leased.
func (a *ipam) create(ip net.IP, podUID string) (ok bool, err error) {
	tmp, err := os.CreateTemp(a.dir, ".lease-*")
	if err != nil {
		return false, fmt.Errorf("create lease for %s: %w", ip, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(podUID); err != nil {
		tmp.Close()
		return false, fmt.Errorf("write lease for %s: %w", ip, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, fmt.Errorf("sync lease for %s: %w", ip, err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("close lease for %s: %w", ip, err)
	}
	if err := os.Link(tmp.Name(), filepath.Join(a.dir, ip.String())); err != nil {
		if errors.Is(err, os.ErrExist) {
			return false, nil
		}
		return false, fmt.Errorf("commit lease for %s: %w", ip, err)
	}
	return true, nil
}

// release removes every lease podUID holds. Releasing nothing is no error.
func (a *ipam) release(podUID string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	ls, err := a.leases()
	if err != nil {
		return err
	}
	for ip, uid := range ls {
		if uid == podUID {
			if err := a.releaseIP(ip); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *ipam) releaseIP(ip string) error {
	if err := os.Remove(filepath.Join(a.dir, ip)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("release lease %s: %w", ip, err)
	}
	return nil
}

// usableRange returns the first and last address IPAM may hand out in
// cidr: after the network address and the gateway, before the broadcast.
func usableRange(cidr *net.IPNet) (first, last uint32, err error) {
	ip := cidr.IP.To4()
	ones, bits := cidr.Mask.Size()
	if ip == nil || bits != 32 {
		return 0, 0, fmt.Errorf("pod CIDR %s: only IPv4 is supported", cidr)
	}
	if ones > 29 {
		return 0, 0, fmt.Errorf("pod CIDR %s: too small, need at most /29", cidr)
	}
	base := ipToU32(ip) &^ (1<<(32-ones) - 1)
	size := uint32(1) << (32 - ones)
	return base + 2, base + size - 2, nil
}

// gatewayOf returns the first address of cidr, the node's bridge address.
func gatewayOf(cidr *net.IPNet) net.IP {
	ones, _ := cidr.Mask.Size()
	base := ipToU32(cidr.IP.To4()) &^ (1<<(32-ones) - 1)
	return u32ToIP(base + 1)
}

func ipToU32(ip net.IP) uint32 { return binary.BigEndian.Uint32(ip.To4()) }

func u32ToIP(v uint32) net.IP {
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, v)
	return ip
}
