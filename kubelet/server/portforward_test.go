package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/transport/spdy"
)

func TestPortForwardReportsADialFailureOnTheErrorStream(t *testing.T) {
	pod := testPod("default", "box", "app")
	ts := startServer(t, Config{
		Pods: func() []*corev1.Pod { return []*corev1.Pod{pod} },
		DialPod: func(_ context.Context, p *corev1.Pod, port int32) (net.Conn, error) {
			return nil, errors.New("connection refused")
		},
	})
	rt, upgrader, err := spdy.RoundTripperFor(ts.restConfig(t, "admin"))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(ts.URL + "/portForward/default/box")
	conn, proto, err := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, "POST", u).Dial("portforward.k8s.io")
	if err != nil || proto != "portforward.k8s.io" {
		t.Fatalf("dial: %v (protocol %q)", err, proto)
	}
	defer conn.Close()
	h := http.Header{}
	h.Set(corev1.StreamType, corev1.StreamTypeError)
	h.Set(corev1.PortHeader, "9")
	h.Set(corev1.PortForwardRequestIDHeader, "0")
	errStream, err := conn.CreateStream(h)
	if err != nil {
		t.Fatal(err)
	}
	errStream.Close() // the client never writes it
	h.Set(corev1.StreamType, corev1.StreamTypeData)
	if _, err := conn.CreateStream(h); err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(errStream)
	if !strings.Contains(string(msg), "error forwarding port 9 to pod default/box: connection refused") {
		t.Fatalf("error stream = %q", msg)
	}
}

func TestPortForwardToAnUnknownPodIs404(t *testing.T) {
	ts := startServer(t, Config{DialPod: func(context.Context, *corev1.Pod, int32) (net.Conn, error) { return nil, nil }})
	code, body := get(t, ts.authed(t), ts.URL+"/portForward/default/nope")
	if code != http.StatusNotFound || !strings.Contains(body, `pod "nope" not found`) {
		t.Fatalf("%d %q", code, body)
	}
}
