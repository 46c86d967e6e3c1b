package proxy

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
)

// staleUDP returns, per ClusterIP, the UDP endpoint IPs of prev that next
// no longer has.
func staleUDP(prev, next map[string]map[string]bool) map[string][]string {
	out := map[string][]string{}
	for cip, eps := range prev {
		for ip := range eps {
			if !next[cip][ip] {
				out[cip] = append(out[cip], ip)
			}
		}
	}
	return out
}

// flushConntrack deletes the UDP conntrack entries to each ClusterIP that
// were DNATed to a stale endpoint, so clients stop sending to it. It needs
// the conntrack tool (Debian's conntrack package).
func flushConntrack(ctx context.Context, stale map[string][]string) error {
	bin, err := exec.LookPath("conntrack")
	if err != nil {
		return fmt.Errorf("UDP flows to removed endpoints are kept: %w", err)
	}
	var errs []error
	for cip, ips := range stale {
		for _, ip := range ips {
			out, err := exec.CommandContext(ctx, bin, "-D", "-p", "udp", "--orig-dst", cip, "--dst-nat", ip).CombinedOutput()
			var ee *exec.ExitError
			if errors.As(err, &ee) && ee.ExitCode() == 1 {
				continue // no entry matched
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("conntrack -D %s -> %s: %w: %s", cip, ip, err, out))
			}
		}
	}
	return errors.Join(errs...)
}
