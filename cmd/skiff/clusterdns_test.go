package main

import (
	"context"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/test/nodetest"
)

// TestUpClusterDNS runs what `skiff up` runs for cluster DNS against an
// in-process API server, in a network namespace the test creates: the
// kube-dns Service and its node-local EndpointSlice exist (twice is no
// error), the server answers on 10.96.0.10:53 there, and the address is
// gone from the namespace's loopback after shutdown.
func TestUpClusterDNS(t *testing.T) {
	nodetest.RequireRoot(t)
	srv := apitest.Start(t)
	ns := nodetest.NewNetNS(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := ensureKubeDNSService(ctx, srv.Client, clusterDNSIP); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- runUpDNS(ctx, srv.Client, ns, clusterDNSIP, slog.New(slog.DiscardHandler)) }()
	svc, err := srv.Client.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
	if err != nil || svc.Spec.ClusterIP != clusterDNSIP || len(svc.Spec.Ports) != 2 {
		t.Fatalf("kube-dns Service: %v %+v", err, svc)
	}
	if _, err := srv.Client.DiscoveryV1().EndpointSlices("kube-system").Get(ctx, "kube-dns-node-local", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	// Ask from inside the namespace with busybox nslookup when the host
	// has busybox; else only the address is checked.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := exec.Command("nsenter", "--net="+ns, "ip", "-o", "addr", "show", "dev", "lo").CombinedOutput()
		if strings.Contains(string(out), clusterDNSIP+"/32") {
			if _, err := exec.LookPath("busybox"); err != nil {
				break
			}
			out, err := exec.Command("nsenter", "--net="+ns, "busybox", "nslookup", "kube-dns.kube-system.svc.cluster.local", clusterDNSIP).CombinedOutput()
			if err == nil && strings.Contains(string(out), "Name:") && strings.Contains(string(out), "Address: "+clusterDNSIP) {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("runUpDNS ended early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster DNS did not answer on %s in the namespace: %s", clusterDNSIP, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("runUpDNS did not return after its context ended")
	}
	out, _ := exec.Command("nsenter", "--net="+ns, "ip", "-o", "addr", "show", "dev", "lo").CombinedOutput()
	if strings.Contains(string(out), clusterDNSIP) {
		t.Errorf("%s is still on the namespace's loopback: %s", clusterDNSIP, out)
	}
}
