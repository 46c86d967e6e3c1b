package proxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"
)

// This file reads two things straight from the kernel's nf_tables over
// netlink, where iptables (nf_tables backend) keeps its rules: the ruleset
// generation and the chain names of a table. Both cost microseconds to
// milliseconds where iptables-save of a large table costs most of a
// second. The calling thread's network namespace is the one read.

// nfgenHeader is the size of a netlink header plus struct nfgenmsg.
const nfgenHeader = unix.SizeofNlMsghdr + 4

// nftRequest sends one nf_tables request of message type msg (NFT_MSG_*)
// for the address family and calls each with the attributes of every
// reply message, until the reply (or a dump's NLMSG_DONE) is complete.
func nftRequest(msg uint16, family uint8, dump bool, each func(attrs []byte) error) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(fd)
	req := make([]byte, nfgenHeader)
	binary.NativeEndian.PutUint32(req[0:], nfgenHeader)
	binary.NativeEndian.PutUint16(req[4:], unix.NFNL_SUBSYS_NFTABLES<<8|msg)
	flags := uint16(unix.NLM_F_REQUEST)
	if dump {
		flags |= unix.NLM_F_DUMP
	}
	binary.NativeEndian.PutUint16(req[6:], flags)
	binary.NativeEndian.PutUint32(req[8:], 1) // sequence
	req[16] = family
	req[17] = unix.NFNETLINK_V0
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink send: %w", err)
	}
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return fmt.Errorf("netlink receive: %w", err)
		}
		done, err := eachMessage(buf[:n], each)
		if err != nil || done || !dump {
			return err
		}
	}
}

// eachMessage walks the netlink messages in b, calling each with the
// attributes of every data message. done is true at NLMSG_DONE; an
// NLMSG_ERROR message is returned as its errno.
func eachMessage(b []byte, each func(attrs []byte) error) (done bool, err error) {
	for len(b) >= unix.SizeofNlMsghdr {
		l := int(binary.NativeEndian.Uint32(b))
		if l < unix.SizeofNlMsghdr || l > len(b) {
			return false, errors.New("netlink: truncated message")
		}
		m := b[:l]
		b = b[min((l+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1), len(b)):]
		switch binary.NativeEndian.Uint16(m[4:]) {
		case unix.NLMSG_DONE:
			return true, nil
		case unix.NLMSG_ERROR:
			if len(m) < unix.SizeofNlMsghdr+4 {
				return false, errors.New("netlink: short error message")
			}
			if code := int32(binary.NativeEndian.Uint32(m[unix.SizeofNlMsghdr:])); code != 0 {
				return false, unix.Errno(-code)
			}
			return true, nil // an acknowledgement
		}
		if len(m) < nfgenHeader {
			return false, errors.New("netlink: short message")
		}
		if err := each(m[nfgenHeader:]); err != nil {
			return false, err
		}
	}
	return false, nil
}

// attr finds attribute typ among netlink attributes.
func attr(attrs []byte, typ uint16) ([]byte, bool) {
	for len(attrs) >= 4 {
		l := int(binary.NativeEndian.Uint16(attrs))
		if l < 4 || l > len(attrs) {
			return nil, false
		}
		if binary.NativeEndian.Uint16(attrs[2:])&^(unix.NLA_F_NESTED|unix.NLA_F_NET_BYTEORDER) == typ {
			return attrs[4:l], true
		}
		attrs = attrs[min((l+3)&^3, len(attrs)):]
	}
	return nil, false
}

// nftGeneration returns the nf_tables ruleset generation. The kernel
// increments it with every committed change to any table of the namespace
// (whoever makes it) and leaves it alone on reads and failed transactions,
// so an unchanged generation means an unchanged ruleset.
func nftGeneration() (uint32, error) {
	var gen uint32
	found := false
	err := nftRequest(unix.NFT_MSG_GETGEN, unix.AF_UNSPEC, false, func(attrs []byte) error {
		if v, ok := attr(attrs, unix.NFTA_GEN_ID); ok && len(v) >= 4 {
			gen, found = binary.BigEndian.Uint32(v), true
		}
		return nil
	})
	switch {
	case err != nil:
		return 0, fmt.Errorf("nf_tables generation: %w", err)
	case !found:
		return 0, errors.New("nf_tables generation: reply without NFTA_GEN_ID")
	}
	return gen, nil
}

// nftChains returns the names of the chains of the IPv4 table (as
// iptables names it: "nat", "filter") in one dump.
func nftChains(table string) ([]string, error) {
	var names []string
	err := nftRequest(unix.NFT_MSG_GETCHAIN, unix.NFPROTO_IPV4, true, func(attrs []byte) error {
		t, _ := attr(attrs, unix.NFTA_CHAIN_TABLE)
		n, ok := attr(attrs, unix.NFTA_CHAIN_NAME)
		if ok && cString(t) == table {
			names = append(names, cString(n))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("nf_tables chains of %s: %w", table, err)
	}
	return names, nil
}

// cString is a NUL-terminated netlink string attribute as a Go string.
func cString(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// nftBackend reports whether the iptables binary on PATH is the nf_tables
// one ("iptables v1.8.9 (nf_tables)"); with the legacy backend nf_tables
// says nothing about its tables.
func nftBackend() (bool, error) {
	out, err := exec.Command("iptables", "--version").Output()
	if err != nil {
		return false, fmt.Errorf("iptables --version: %w", err)
	}
	return strings.Contains(string(out), "nf_tables"), nil
}
