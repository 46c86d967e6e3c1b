package network

import (
	"fmt"
	"os"

	"github.com/coreos/go-iptables/iptables"
)

const (
	// postroutingChain (nat) masquerades pod traffic leaving the cluster
	// CIDR; jumped to from POSTROUTING.
	postroutingChain = "SKIFF-POSTROUTING"
	// forwardChain (filter) accepts traffic into and out of the bridge;
	// jumped to from the top of FORWARD, ahead of a DROP policy.
	forwardChain = "SKIFF-FORWARD"
)

// jump rules from the built-in chains, with comments so operators see who
// put them there.
func postroutingJump() []string {
	return []string{"-m", "comment", "--comment", "skiff: pod masquerade", "-j", postroutingChain}
}

func forwardJump() []string {
	return []string{"-m", "comment", "--comment", "skiff: pod forwarding", "-j", forwardChain}
}

// natRules renders the SKIFF-POSTROUTING chain: traffic from the cluster
// CIDR to the cluster CIDR and traffic out of the bridge keep their source;
// other traffic from the cluster CIDR is masqueraded.
func natRules(cluster, bridge string) [][]string {
	return [][]string{
		{"-s", cluster, "-d", cluster, "-j", "RETURN"},
		{"-s", cluster, "-o", bridge, "-j", "RETURN"},
		{"-s", cluster, "!", "-d", "224.0.0.0/4", "-j", "MASQUERADE"},
	}
}

// forwardRules renders the SKIFF-FORWARD chain.
func forwardRules(bridge string) [][]string {
	return [][]string{
		{"-i", bridge, "-j", "ACCEPT"},
		{"-o", bridge, "-j", "ACCEPT"},
	}
}

// ensureIPTables writes the skiff chains and their jumps. It must run in
// the node's namespace (inNetNS). It is idempotent: the chains are flushed
// and rewritten, the jumps added only if missing.
func ensureIPTables(ipt *iptables.IPTables, cluster, bridge string) error {
	if err := writeChain(ipt, "nat", postroutingChain, natRules(cluster, bridge)); err != nil {
		return err
	}
	if err := ipt.AppendUnique("nat", "POSTROUTING", postroutingJump()...); err != nil {
		return fmt.Errorf("add nat POSTROUTING jump to %s: %w", postroutingChain, err)
	}
	if err := writeChain(ipt, "filter", forwardChain, forwardRules(bridge)); err != nil {
		return err
	}
	if err := ipt.InsertUnique("filter", "FORWARD", 1, forwardJump()...); err != nil {
		return fmt.Errorf("add filter FORWARD jump to %s: %w", forwardChain, err)
	}
	return nil
}

func writeChain(ipt *iptables.IPTables, table, chain string, rules [][]string) error {
	if err := ipt.ClearChain(table, chain); err != nil { // creates it if missing
		return fmt.Errorf("flush %s chain %s: %w", table, chain, err)
	}
	for _, r := range rules {
		if err := ipt.Append(table, chain, r...); err != nil {
			return fmt.Errorf("append to %s chain %s: %w", table, chain, err)
		}
	}
	return nil
}

// removeIPTables deletes the jumps and the skiff chains; absent ones are no
// error. It must run in the node's namespace.
func removeIPTables(ipt *iptables.IPTables) error {
	for _, c := range []struct {
		table, builtin, chain string
		jump                  []string
	}{
		{"nat", "POSTROUTING", postroutingChain, postroutingJump()},
		{"filter", "FORWARD", forwardChain, forwardJump()},
	} {
		// Without the chain there is no jump to it either.
		ok, err := ipt.ChainExists(c.table, c.chain)
		if err != nil {
			return fmt.Errorf("check %s chain %s: %w", c.table, c.chain, err)
		}
		if !ok {
			continue
		}
		if err := ipt.DeleteIfExists(c.table, c.builtin, c.jump...); err != nil {
			return fmt.Errorf("delete %s %s jump to %s: %w", c.table, c.builtin, c.chain, err)
		}
		if err := ipt.ClearAndDeleteChain(c.table, c.chain); err != nil {
			return fmt.Errorf("delete %s chain %s: %w", c.table, c.chain, err)
		}
	}
	return nil
}

// enableIPForward sets net.ipv4.ip_forward=1 in the calling thread's
// namespace (run it inNetNS).
func enableIPForward() error {
	const p = "/proc/sys/net/ipv4/ip_forward"
	if b, err := os.ReadFile(p); err == nil && len(b) > 0 && b[0] == '1' {
		return nil
	}
	if err := os.WriteFile(p, []byte("1\n"), 0o644); err != nil {
		return fmt.Errorf("enable ip_forward: %w", err)
	}
	return nil
}

// bridgeNFCallIPTables is the sysctl that makes bridged traffic (pod to pod
// on one node) traverse iptables, so a Service's DNAT is undone on the
// reply of an endpoint on the same bridge (br_netfilter).
const bridgeNFCallIPTables = "/proc/sys/net/bridge/bridge-nf-call-iptables"

// enableBridgeNetfilter sets bridge-nf-call-iptables=1 in the calling
// thread's namespace (run it inNetNS). Without the br_netfilter module the
// sysctl does not exist: ok is false and nothing is changed (the package
// loads the module at boot; the kubelet does not load kernel modules).
func enableBridgeNetfilter() (ok bool, err error) {
	b, err := os.ReadFile(bridgeNFCallIPTables)
	if err != nil {
		if os.IsNotExist(err) {
			return false, nil
		}
		return false, fmt.Errorf("read bridge-nf-call-iptables: %w", err)
	}
	if len(b) > 0 && b[0] == '1' {
		return true, nil
	}
	if err := os.WriteFile(bridgeNFCallIPTables, []byte("1\n"), 0o644); err != nil {
		return false, fmt.Errorf("enable bridge-nf-call-iptables: %w", err)
	}
	return true, nil
}
