package proxy

import (
	"context"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/skiffk8s/skiff/test/nodetest"
)

// routedNode builds a node namespace that routes between a client
// namespace (10.1.0.2, outside the cluster CIDR) and an endpoint
// namespace (10.2.0.2), with the filter FORWARD policy DROP. It returns
// the three namespace paths.
func routedNode(t *testing.T) (node, client, endpoint string) {
	node, client, endpoint = nodetest.NewNetNS(t), nodetest.NewNetNS(t), nodetest.NewNetNS(t)
	nsenter(t, node, "ip", "link", "add", "nc", "type", "veth", "peer", "name", "cn")
	nsenter(t, node, "ip", "link", "add", "ne", "type", "veth", "peer", "name", "en")
	inNS(t, node, func() error {
		for link, path := range map[string]string{"cn": client, "en": endpoint} {
			l, err := netlink.LinkByName(link)
			if err != nil {
				return err
			}
			h, err := netns.GetFromPath(path)
			if err != nil {
				return err
			}
			defer h.Close()
			if err := netlink.LinkSetNsFd(l, int(h)); err != nil {
				return err
			}
		}
		return nil
	})
	nsenter(t, node, "ip", "addr", "add", "10.1.0.1/24", "dev", "nc")
	nsenter(t, node, "ip", "addr", "add", "10.2.0.1/24", "dev", "ne")
	nsenter(t, node, "ip", "link", "set", "nc", "up")
	nsenter(t, node, "ip", "link", "set", "ne", "up")
	nsenter(t, node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	nsenter(t, node, "iptables", "-P", "FORWARD", "DROP")
	nsenter(t, client, "ip", "addr", "add", "10.1.0.2/24", "dev", "cn")
	nsenter(t, client, "ip", "link", "set", "cn", "up")
	nsenter(t, client, "ip", "route", "add", "default", "via", "10.1.0.1")
	nsenter(t, endpoint, "ip", "addr", "add", "10.2.0.2/24", "dev", "en")
	nsenter(t, endpoint, "ip", "link", "set", "en", "up")
	nsenter(t, endpoint, "ip", "route", "add", "default", "via", "10.2.0.1")
	var ln net.Listener
	inNS(t, endpoint, func() (err error) { ln, err = net.Listen("tcp", "10.2.0.2:8080"); return err })
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, "hello from the endpoint\n")
			c.Close()
		}
	}()
	return node, client, endpoint
}

// fetch dials addr from namespace ns and returns what it reads, or the
// error.
func fetch(t *testing.T, ns, addr string) (reply string, err error) {
	inNS(t, ns, func() error {
		var c net.Conn
		// 3 s covers a SYN retransmitted after 1 s (a fresh veth may drop
		// the first one).
		c, err = net.DialTimeout("tcp", addr, 3*time.Second)
		if err != nil {
			return nil
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		var b []byte
		b, err = io.ReadAll(c)
		reply = string(b)
		return nil
	})
	return reply, err
}

func TestForwardedServiceTrafficPassesADropPolicy(t *testing.T) {
	nodetest.RequireRoot(t)
	node, client, _ := routedNode(t)
	in := Input{NodeName: "node-a", NodeIPs: []string{"10.1.0.1"}, ClusterCIDR: "10.244.0.0/16",
		Services: append(bigCluster(0, 0).Services, service("default", "web", "10.96.0.20")),
		Slices:   append(bigCluster(0, 0).Slices, slice("default", "web", ready("10.2.0.2", "node-b")))}
	a := &Applier{NetNS: node}
	if _, err := a.Apply(context.Background(), Render(in), true); err != nil {
		t.Fatal(err)
	}
	if reply, err := fetch(t, client, "10.96.0.20:80"); err != nil || reply != "hello from the endpoint\n" {
		t.Fatalf("ClusterIP from a routed client under FORWARD DROP: %q, %v", reply, err)
	}
	// Without the forward accept the same request is dropped: the rule
	// is what lets it through.
	nsenter(t, node, "iptables", "-D", "FORWARD", "-m", "comment", "--comment", "skiff forwarding rules", "-j", chainForward)
	if reply, err := fetch(t, client, "10.96.0.20:80"); err == nil {
		t.Errorf("without %s the request still passed: %q", chainForward, reply)
	}
}

func TestLocalhostNodePorts(t *testing.T) {
	nodetest.RequireRoot(t)
	node, _, _ := routedNode(t)
	in := Input{NodeName: "node-a", NodeIPs: []string{"10.1.0.1"}, ClusterCIDR: "10.244.0.0/16", LocalhostNodePorts: true,
		Services: append(bigCluster(0, 0).Services, service("default", "web", "10.96.0.20", nodePort(30080))),
		Slices:   append(bigCluster(0, 0).Slices, slice("default", "web", ready("10.2.0.2", "node-b")))}
	if got := dump(Render(in)); !strings.Contains(got, `-d 127.0.0.1 -j SKIFF-NODEPORTS`) || !strings.Contains(got, "-d 127.0.0.0/8 ! -s 127.0.0.0/8") {
		t.Errorf("rendering with LocalhostNodePorts lacks the 127.0.0.1 nodeport jump or the localnet block:\n%s", got)
	}
	off := in
	off.LocalhostNodePorts = false
	if got := dump(Render(off)); strings.Contains(got, "127.0.0") {
		t.Errorf("rendering without LocalhostNodePorts mentions 127.0.0:\n%s", got)
	}
	a := &Applier{NetNS: node}
	if _, err := a.Apply(context.Background(), Render(in), true); err != nil {
		t.Fatal(err)
	}
	if reply, err := fetch(t, node, "127.0.0.1:30080"); err == nil {
		t.Errorf("127.0.0.1:30080 answered before route_localnet was set: %q", reply)
	}
	hostBefore, _ := os.ReadFile(routeLocalnetPath)
	if err := a.EnableRouteLocalnet(); err != nil {
		t.Fatal(err)
	}
	if hostAfter, _ := os.ReadFile(routeLocalnetPath); string(hostAfter) != string(hostBefore) {
		t.Errorf("route_localnet of the test's own namespace changed: %q -> %q", hostBefore, hostAfter)
	}
	if v := strings.TrimSpace(nsenter(t, node, "cat", routeLocalnetPath)); v != "1" {
		t.Errorf("route_localnet in the node namespace = %s, want 1", v)
	}
	if reply, err := fetch(t, node, "127.0.0.1:30080"); err != nil || reply != "hello from the endpoint\n" {
		t.Errorf("NodePort on 127.0.0.1: %q, %v", reply, err)
	}
	if reply, err := fetch(t, node, "10.1.0.1:30080"); err != nil || reply != "hello from the endpoint\n" {
		t.Errorf("NodePort on the node address: %q, %v", reply, err)
	}
}
