package proxy

import (
	"context"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/skiffk8s/skiff/test/nodetest"
)

func TestStaleUDP(t *testing.T) {
	set := func(ips ...string) map[string]bool {
		m := map[string]bool{}
		for _, ip := range ips {
			m[ip] = true
		}
		return m
	}
	prev := map[string]map[string]bool{"10.96.0.10": set("10.244.0.2", "10.244.0.3"), "10.96.0.11": set("10.244.0.4")}
	next := map[string]map[string]bool{"10.96.0.10": set("10.244.0.3", "10.244.0.5")}
	got := staleUDP(prev, next)
	if len(got) != 2 || !slices.Equal(got["10.96.0.10"], []string{"10.244.0.2"}) || !slices.Equal(got["10.96.0.11"], []string{"10.244.0.4"}) {
		t.Errorf("staleUDP = %v, want 10.96.0.10: [10.244.0.2], 10.96.0.11: [10.244.0.4]", got)
	}
	if got := staleUDP(next, next); len(got) != 0 {
		t.Errorf("staleUDP of an unchanged set = %v, want none", got)
	}
}

// TestSyncFlushesStaleUDPConntrack: a UDP client keeps one socket (as a
// resolver does) and talks to a ClusterIP; when its endpoint is replaced,
// the sync deletes the conntrack entry that pins the flow to the old
// endpoint, so the next datagram from the same socket reaches the new
// one. Both endpoints keep answering, so a stale entry would show.
func TestSyncFlushesStaleUDPConntrack(t *testing.T) {
	nodetest.RequireRoot(t)
	ns := nodetest.NewNetNS(t)
	ctx := context.Background()
	nsenter(t, ns, "ip", "link", "set", "lo", "up")
	nsenter(t, ns, "ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1")
	nsenter(t, ns, "ip", "addr", "add", "10.0.0.1/24", "dev", "v0")
	nsenter(t, ns, "ip", "link", "set", "v0", "up")
	nsenter(t, ns, "ip", "link", "set", "v1", "up")
	nsenter(t, ns, "ip", "route", "add", "10.96.0.0/12", "dev", "v0")
	for _, ip := range []string{"10.244.7.7", "10.244.7.8"} {
		nsenter(t, ns, "ip", "addr", "add", ip+"/32", "dev", "lo")
		var pc net.PacketConn
		inNS(t, ns, func() (err error) { pc, err = net.ListenPacket("udp", ip+":5353"); return err })
		t.Cleanup(func() { pc.Close() })
		go func() {
			buf := make([]byte, 512)
			for {
				_, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				_, _ = pc.WriteTo([]byte(ip), from)
			}
		}()
	}

	// The UDP service 10.96.0.30:53 with one endpoint ip:5353.
	input := func(ip string) Input {
		svc := service("default", "dns", "10.96.0.30", func(s *corev1.Service) {
			s.Spec.Ports[0] = corev1.ServicePort{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53}
		})
		es := slice("default", "dns", ready(ip, "node-b"))
		es.Ports = []discoveryv1.EndpointPort{{Name: ptr("dns"), Protocol: ptr(corev1.ProtocolUDP), Port: ptr(int32(5353))}}
		return Input{NodeName: "node-a", ClusterCIDR: "10.0.0.0/8", Services: []*corev1.Service{svc}, Slices: []*discoveryv1.EndpointSlice{es}}
	}
	p := newProxier(Config{NetNS: ns, SyncPeriod: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	current := input("10.244.7.7")
	p.input = func() (Input, error) { return current, nil }
	p.sync(ctx, true)

	var client net.PacketConn
	inNS(t, ns, func() (err error) { client, err = net.ListenPacket("udp", "10.0.0.1:0"); return err })
	defer client.Close()
	ask := func() string {
		t.Helper()
		svc := &net.UDPAddr{IP: net.ParseIP("10.96.0.30"), Port: 53}
		buf := make([]byte, 64)
		// A datagram may meet the rules mid-change; ask a few times.
		for range 5 {
			if _, err := client.WriteTo([]byte("who"), svc); err != nil {
				t.Fatal(err)
			}
			_ = client.SetReadDeadline(time.Now().Add(time.Second))
			if n, _, err := client.ReadFrom(buf); err == nil {
				return string(buf[:n])
			}
		}
		t.Fatal("no UDP answer through the ClusterIP")
		return ""
	}
	if got := ask(); got != "10.244.7.7" {
		t.Fatalf("answer from %s, want 10.244.7.7", got)
	}

	current = input("10.244.7.8")
	p.sync(ctx, false)
	if got := ask(); got != "10.244.7.8" {
		t.Errorf("after the endpoint moved the same socket was answered by %s, want 10.244.7.8 (stale conntrack entry)", got)
	}
}
