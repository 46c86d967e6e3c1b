package server

// Port-forward: SPDY/3.1 with subprotocol portforward.k8s.io. For each
// forwarded connection the client opens two streams with the same
// requestID and port headers: "error" (the server writes a failure's text
// there) and "data" (the bytes, both ways). kubectl first tries the same
// SPDY connection tunneled in a WebSocket (subprotocol
// "SPDY/3.1+portforward.k8s.io", SPDY frames as binary messages); both are
// served.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	gwebsocket "github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	portforwardconsts "k8s.io/apimachinery/pkg/util/portforward"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
	"k8s.io/streaming/pkg/httpstream/wsstream"
)

// pingPeriod keeps idle tunnels alive through proxies, as upstream.
const pingPeriod = 10 * time.Second

// handlePortForward serves /portForward/{ns}/{pod}.
func (s *Server) handlePortForward(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		http.Error(w, "method not allowed: use GET or POST", http.StatusMethodNotAllowed)
		return
	}
	if s.cfg.DialPod == nil {
		http.Error(w, "this kubelet cannot port-forward", http.StatusNotImplemented)
		return
	}
	pod, herr := s.findPod(r.PathValue("ns"), r.PathValue("pod"))
	if herr != nil {
		http.Error(w, herr.msg, herr.code)
		return
	}
	pf := &forwarder{s: s, pod: pod, streams: make(chan httpstream.Stream, 8)}
	newStream := func(st httpstream.Stream, _ <-chan struct{}) error {
		pf.streams <- st
		return nil
	}
	var conn httpstream.Connection
	if wsstream.IsWebSocketRequestWithTunnelingProtocol(r) {
		up := gwebsocket.Upgrader{
			Subprotocols: []string{portforwardconsts.WebsocketsSPDYTunnelingPortForwardV1},
			CheckOrigin:  func(*http.Request) bool { return true },
		}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return // Upgrade wrote the error
		}
		if ws.Subprotocol() != portforwardconsts.WebsocketsSPDYTunnelingPortForwardV1 {
			ws.Close()
			return
		}
		conn, err = spdy.NewServerConnectionWithPings(portforward.NewTunnelingConnection("server", ws), newStream, pingPeriod)
		if err != nil {
			s.log.Debug("port-forward tunnel", "err", err)
			ws.Close()
			return
		}
	} else {
		if _, err := httpstream.Handshake(r, w, []string{portforwardconsts.PortForwardV1Name}); err != nil {
			return // Handshake wrote the error
		}
		conn = spdy.NewResponseUpgraderWithPings(pingPeriod).UpgradeResponse(w, r, newStream)
		if conn == nil {
			return
		}
	}
	conn.SetIdleTimeout(s.cfg.StreamIdleTimeout)
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	pf.run(ctx, conn)
}

// forwarder pairs a connection's streams and forwards each pair.
type forwarder struct {
	s       *Server
	pod     *corev1.Pod
	streams chan httpstream.Stream
}

// streamPair is a forwarded connection's two streams.
type streamPair struct {
	data, errs httpstream.Stream
	created    time.Time
}

// run pairs streams until the connection closes; pairs left incomplete
// for 30 s are dropped.
func (f *forwarder) run(ctx context.Context, conn httpstream.Connection) {
	pairs := map[string]*streamPair{}
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-conn.CloseChan():
			return
		case now := <-tick.C:
			for id, p := range pairs {
				if now.Sub(p.created) > 30*time.Second {
					f.s.log.Debug("port-forward: incomplete stream pair dropped", "requestID", id)
					delete(pairs, id)
					conn.RemoveStreams(nonNil(p.data, p.errs)...)
				}
			}
		case st := <-f.streams:
			id := st.Headers().Get(corev1.PortForwardRequestIDHeader)
			p := pairs[id]
			if p == nil {
				p = &streamPair{created: time.Now()}
				pairs[id] = p
			}
			switch st.Headers().Get(corev1.StreamType) {
			case corev1.StreamTypeData:
				p.data = st
			case corev1.StreamTypeError:
				p.errs = st
			default:
				f.s.log.Debug("port-forward: unknown stream type", "type", st.Headers().Get(corev1.StreamType))
				st.Reset()
				continue
			}
			if p.data != nil && p.errs != nil {
				delete(pairs, id)
				wg.Go(func() {
					defer conn.RemoveStreams(p.data, p.errs)
					f.forward(ctx, p)
				})
			}
		}
	}
}

func nonNil(sts ...httpstream.Stream) []httpstream.Stream {
	var out []httpstream.Stream
	for _, s := range sts {
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}

// forward dials the pair's port in the pod and copies both ways until the
// pod side ends; a failure is written to the error stream.
func (f *forwarder) forward(ctx context.Context, p *streamPair) {
	defer p.errs.Close()
	defer p.data.Close()
	portStr := p.data.Headers().Get(corev1.PortHeader)
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		fmt.Fprintf(p.errs, "invalid port %q", portStr)
		return
	}
	conn, err := f.s.cfg.DialPod(ctx, f.pod, int32(port))
	if err != nil {
		fmt.Fprintf(p.errs, "error forwarding port %d to pod %s/%s: %v", port, f.pod.Namespace, f.pod.Name, err)
		return
	}
	defer conn.Close()
	go func() {
		_, _ = io.Copy(conn, p.data)
		if cw, ok := conn.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite() // the client is done sending
		}
	}()
	_, _ = io.Copy(p.data, conn)
}

var _ net.Conn = (*portforward.TunnelingConnection)(nil)
