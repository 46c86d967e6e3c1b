package nodeipam

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
)

// errCIDRRangeNoCIDRsRemaining is returned when the cluster CIDR is used up.
var errCIDRRangeNoCIDRsRemaining = errors.New("CIDR allocation failed; there are no remaining CIDRs left to allocate in the accepted range")

// errOutOfRange is returned for a CIDR outside the cluster CIDR.
var errOutOfRange = errors.New("CIDR is out of the cluster CIDR")

// maxSubnetBits bounds node mask size − cluster mask size, as upstream.
const maxSubnetBits = 16

// cidrSet hands out the subnets of one size of a cluster CIDR, as
// upstream's cidrset: allocation goes round the range from after the
// last subnet handed out, so a released subnet is reused once the others
// have been. Not safe for concurrent use.
type cidrSet struct {
	cluster  netip.Prefix
	maskSize int
	used     []bool
	count    int
	next     int
}

func newCIDRSet(cluster netip.Prefix, maskSize int) (*cidrSet, error) {
	cluster = cluster.Masked()
	if maskSize < cluster.Bits() || maskSize > cluster.Addr().BitLen() {
		return nil, fmt.Errorf("node mask size %d does not fit cluster CIDR %s", maskSize, cluster)
	}
	if maskSize-cluster.Bits() > maxSubnetBits {
		return nil, fmt.Errorf("node mask size %d is too big for cluster CIDR %s: at most %d bits more than the cluster's", maskSize, cluster, maxSubnetBits)
	}
	return &cidrSet{cluster: cluster, maskSize: maskSize, used: make([]bool, 1<<(maskSize-cluster.Bits()))}, nil
}

// subnet is the i-th subnet.
func (s *cidrSet) subnet(i int) netip.Prefix {
	base := new(big.Int).SetBytes(s.cluster.Addr().AsSlice())
	off := new(big.Int).Lsh(big.NewInt(int64(i)), uint(s.cluster.Addr().BitLen()-s.maskSize))
	b := new(big.Int).Add(base, off).FillBytes(make([]byte, s.cluster.Addr().BitLen()/8))
	a, _ := netip.AddrFromSlice(b)
	return netip.PrefixFrom(a, s.maskSize)
}

// indexes are the subnets that p covers (or lies in).
func (s *cidrSet) indexes(p netip.Prefix) (first, last int, err error) {
	p = p.Masked()
	if p.Addr().Is4() != s.cluster.Addr().Is4() || p.Bits() < s.cluster.Bits() || !s.cluster.Contains(p.Addr()) {
		return 0, 0, fmt.Errorf("%s: %w %s", p, errOutOfRange, s.cluster)
	}
	shift := uint(p.Addr().BitLen() - s.maskSize)
	base := new(big.Int).SetBytes(s.cluster.Addr().AsSlice())
	a := new(big.Int).SetBytes(p.Addr().AsSlice())
	first = int(new(big.Int).Rsh(new(big.Int).Sub(a, base), shift).Int64())
	last = first
	if p.Bits() < s.maskSize {
		last = first + 1<<(s.maskSize-p.Bits()) - 1
	}
	return first, last, nil
}

// allocate marks the next free subnet used and returns it.
func (s *cidrSet) allocate() (netip.Prefix, error) {
	n := len(s.used)
	for k := range n {
		i := (s.next + k) % n
		if !s.used[i] {
			s.used[i] = true
			s.count++
			s.next = (i + 1) % n
			return s.subnet(i), nil
		}
	}
	return netip.Prefix{}, errCIDRRangeNoCIDRsRemaining
}

// occupy marks the subnets p covers used.
func (s *cidrSet) occupy(p netip.Prefix) error {
	first, last, err := s.indexes(p)
	if err != nil {
		return err
	}
	for i := first; i <= last; i++ {
		if !s.used[i] {
			s.used[i] = true
			s.count++
		}
	}
	return nil
}

// release marks the subnets p covers free.
func (s *cidrSet) release(p netip.Prefix) error {
	first, last, err := s.indexes(p)
	if err != nil {
		return err
	}
	for i := first; i <= last; i++ {
		if s.used[i] {
			s.used[i] = false
			s.count--
		}
	}
	return nil
}
