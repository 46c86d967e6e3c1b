package apiserver_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
	"k8s.io/streaming/pkg/httpstream/wsstream"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/apiserver/pki"
)

// fakeKubelet is a kubelet's HTTPS API on loopback, with a serving
// certificate from the test cluster's CA, requiring client certificates
// from that CA, as a real kubelet set up by `skiff up` does. It serves:
//
//   - /containerLogs/{ns}/{pod}/{container}: "line 1".."line 3" (honouring
//     tailLines and timestamps), "previous line" with previous=true, then
//     with follow=true every string sent on follow; container "waiting"
//     answers 400 as a kubelet does for a container not started.
//   - /exec/{ns}/{pod}/{container} over SPDY (v4.channel.k8s.io) and
//     WebSocket (v5/v4.channel.k8s.io): stdout gets "<command>: <stdin>";
//     command "fail ..." exits 3.
//   - /portForward/{ns}/{pod} over SPDY: each data stream echoes.
//   - /stats/summary: summary.
//   - /healthz: "ok".
//
// Every request's client certificate subject and URL are recorded.
type fakeKubelet struct {
	srv  *httptest.Server
	port int
	// follow feeds lines to a following log stream.
	follow chan string

	mu       sync.Mutex
	subjects []string   // guarded by mu: "CN=...,O=..." of each request
	requests []*url.URL // guarded by mu
	summary  statsv1alpha1.Summary
}

// startFakeKubelet starts a fake kubelet whose certificates come from srv's
// cluster CA.
func startFakeKubelet(t *testing.T, srv *apitest.Server) *fakeKubelet {
	t.Helper()
	ca, err := pki.LoadCA(filepath.Join(srv.DataDir, "pki"), nil)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueServingCert("fake-kubelet", []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.CA)
	k := &fakeKubelet{follow: make(chan string, 10)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", k.containerLogs)
	mux.HandleFunc("/exec/{ns}/{pod}/{container}", k.exec)
	mux.HandleFunc("/portForward/{ns}/{pod}", k.portForward)
	mux.HandleFunc("GET /stats/summary", func(w http.ResponseWriter, r *http.Request) {
		k.mu.Lock()
		b, _ := json.Marshal(k.summary)
		k.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	k.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.mu.Lock()
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			s := r.TLS.PeerCertificates[0].Subject
			k.subjects = append(k.subjects, "CN="+s.CommonName+",O="+strings.Join(s.Organization, "+"))
		}
		k.requests = append(k.requests, r.URL)
		k.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	k.srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	k.srv.StartTLS()
	t.Cleanup(k.srv.Close)
	k.port = k.srv.Listener.Addr().(*net.TCPAddr).Port
	return k
}

// lastRequest returns the URL of the last request whose path starts with
// prefix, and the client subject it came with.
func (k *fakeKubelet) lastRequest(t *testing.T, prefix string) (*url.URL, string) {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	for i := len(k.requests) - 1; i >= 0; i-- {
		if strings.HasPrefix(k.requests[i].Path, prefix) {
			return k.requests[i], k.subjects[i]
		}
	}
	t.Fatalf("the kubelet saw no request under %s; it saw %v", prefix, k.requests)
	return nil, ""
}

func (k *fakeKubelet) setSummary(s statsv1alpha1.Summary) {
	k.mu.Lock()
	k.summary = s
	k.mu.Unlock()
}

func (k *fakeKubelet) containerLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.PathValue("container") == "waiting" {
		http.Error(w, fmt.Sprintf("container %q in pod %q is waiting to start: ContainerCreating", "waiting", r.PathValue("pod")), http.StatusBadRequest)
		return
	}
	lines := []string{"line 1", "line 2", "line 3"}
	if q.Get("previous") == "true" {
		lines = []string{"previous line"}
	}
	if n, err := strconv.Atoi(q.Get("tailLines")); err == nil && n < len(lines) {
		lines = lines[len(lines)-n:]
	}
	write := func(line string) {
		if q.Get("timestamps") == "true" {
			line = "2026-01-02T03:04:05.000000000Z " + line
		}
		io.WriteString(w, line+"\n")
		w.(http.Flusher).Flush()
	}
	w.Header().Set("Content-Type", "text/plain")
	for _, l := range lines {
		write(l)
	}
	if q.Get("follow") != "true" {
		return
	}
	for {
		select {
		case l := <-k.follow:
			write(l)
		case <-r.Context().Done():
			return
		}
	}
}

// execResult is what the fake runs: stdout and the exit code.
func execResult(command []string, stdin string) (string, int) {
	out := strings.Join(command, " ") + ": " + stdin
	if len(command) > 0 && command[0] == "fail" {
		return out, 3
	}
	return out, 0
}

// exitStatus is the v4/v5 error-stream message for an exit code.
func exitStatus(code int) []byte {
	st := metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess}
	if code != 0 {
		st = metav1.Status{TypeMeta: st.TypeMeta, Status: metav1.StatusFailure, Reason: "NonZeroExitCode",
			Message: fmt.Sprintf("command terminated with non-zero exit code: %d", code),
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: "ExitCode", Message: strconv.Itoa(code)}}}}
	}
	b, _ := json.Marshal(st)
	return b
}

func (k *fakeKubelet) exec(w http.ResponseWriter, r *http.Request) {
	command := r.URL.Query()["command"]
	if wsstream.IsWebSocketRequest(r) {
		rw := []wsstream.ChannelType{wsstream.ReadChannel, wsstream.WriteChannel, wsstream.WriteChannel, wsstream.WriteChannel, wsstream.ReadChannel}
		conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
			"v5.channel.k8s.io": {Binary: true, Channels: rw},
			"v4.channel.k8s.io": {Binary: true, Channels: rw},
		})
		_, chans, err := conn.Open(w, r)
		if err != nil {
			return
		}
		defer conn.Close()
		var in []byte
		if r.URL.Query().Get("input") == "1" {
			in, _ = io.ReadAll(chans[0])
		}
		out, code := execResult(command, string(in))
		chans[1].Write([]byte(out))
		chans[3].Write(exitStatus(code))
		return
	}
	if _, err := httpstream.Handshake(r, w, []string{"v4.channel.k8s.io"}); err != nil {
		return
	}
	want := 1 // error
	for _, p := range []string{"input", "output", "error", "tty"} {
		if r.URL.Query().Get(p) == "1" {
			want++
		}
	}
	streams := make(chan httpstream.Stream, want)
	conn := spdy.NewResponseUpgrader().UpgradeResponse(w, r, func(s httpstream.Stream, _ <-chan struct{}) error {
		streams <- s
		return nil
	})
	if conn == nil {
		return
	}
	defer conn.Close()
	byType := map[string]httpstream.Stream{}
	for len(byType) < want {
		select {
		case s := <-streams:
			byType[s.Headers().Get(corev1.StreamType)] = s
		case <-time.After(10 * time.Second):
			return
		}
	}
	var in []byte
	if s := byType[corev1.StreamTypeStdin]; s != nil {
		in, _ = io.ReadAll(s)
	}
	out, code := execResult(command, string(in))
	if s := byType[corev1.StreamTypeStdout]; s != nil {
		s.Write([]byte(out))
		s.Close()
	}
	byType[corev1.StreamTypeError].Write(exitStatus(code))
	byType[corev1.StreamTypeError].Close()
	select {
	case <-conn.CloseChan():
	case <-time.After(10 * time.Second):
	}
}

func (k *fakeKubelet) portForward(w http.ResponseWriter, r *http.Request) {
	if _, err := httpstream.Handshake(r, w, []string{"portforward.k8s.io"}); err != nil {
		return
	}
	conn := spdy.NewResponseUpgrader().UpgradeResponse(w, r, func(s httpstream.Stream, _ <-chan struct{}) error {
		if s.Headers().Get(corev1.StreamType) == corev1.StreamTypeData {
			go func() {
				io.Copy(s, s)
				s.Close()
			}()
		}
		return nil
	})
	if conn == nil {
		return
	}
	defer conn.Close()
	<-conn.CloseChan()
}

// kubeletNode is a Ready node whose kubelet is k, with 4 CPUs and 8Gi of
// allocatable memory.
func kubeletNode(name string, k *fakeKubelet) *corev1.Node {
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi")}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Status: corev1.NodeStatus{
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "unresolvable.invalid"}, {Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(k.port)}},
			Capacity:        alloc, Allocatable: alloc,
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
}
