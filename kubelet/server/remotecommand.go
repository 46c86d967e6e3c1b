package server

// The remote command protocols kubectl speaks for exec and attach:
// WebSocket subprotocols v5.channel.k8s.io and v4.channel.k8s.io (and
// v4.base64.channel.k8s.io), one byte of channel number before each
// message; SPDY/3.1 with X-Stream-Protocol-Version v5..v2.channel.k8s.io,
// one SPDY stream per channel named by its streamType header.
//
// Channels: 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize. The error
// channel carries the outcome: from v4 on a metav1.Status (Success, or
// Failure with reason NonZeroExitCode and an ExitCode cause); before, the
// error's text. v5 adds channel 255 over WebSockets: the client closes its
// stdin with [255, 0].

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	remotecommandconsts "k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
	"k8s.io/streaming/pkg/httpstream/wsstream"

	"github.com/skiffk8s/skiff/runtime"
)

const (
	stdinChannel = iota
	stdoutChannel
	stderrChannel
	errorChannel
	resizeChannel
)

const v4Base64WebsocketProtocol = "v4.base64.channel.k8s.io"

// spdyProtocols are the SPDY subprotocols served, best first.
var spdyProtocols = []string{
	remotecommandconsts.StreamProtocolV5Name,
	remotecommandconsts.StreamProtocolV4Name,
	remotecommandconsts.StreamProtocolV3Name,
	remotecommandconsts.StreamProtocolV2Name,
}

// streamOptions are which streams a session asked for.
type streamOptions struct {
	stdin, stdout, stderr, tty bool
}

// parseStreamOptions reads the stream query flags: input, output, error
// and tty as upstream's API server sends them to kubelets ("1"), or
// stdin, stdout, stderr as in the pods/exec API (for direct callers).
func parseStreamOptions(r *http.Request) (streamOptions, *httpError) {
	var o streamOptions
	q := r.URL.Query()
	for _, f := range []struct {
		name, alias string
		dst         *bool
	}{{"stdin", corev1.ExecStdinParam, &o.stdin}, {"stdout", corev1.ExecStdoutParam, &o.stdout},
		{"stderr", corev1.ExecStderrParam, &o.stderr}, {"tty", corev1.ExecTTYParam, &o.tty}} {
		v := q.Get(f.name)
		if v == "" {
			v = q.Get(f.alias)
		}
		if v == "" {
			continue
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return o, errorf(http.StatusBadRequest, "invalid %s %q: must be true or false", f.name, v)
		}
		*f.dst = b
	}
	if o.tty && o.stderr {
		o.stderr = false // a terminal has one output stream, as upstream
	}
	if !o.stdin && !o.stdout && !o.stderr {
		return o, errorf(http.StatusBadRequest, "you must specify at least 1 of stdin, stdout, stderr")
	}
	return o, nil
}

// session is an upgraded exec/attach connection.
type session struct {
	stdin          io.Reader // nil when not asked for
	stdout, stderr io.Writer // nil when not asked for
	resize         chan runtime.TerminalSize
	// done is closed when the client goes away.
	done <-chan struct{}
	// writeStatus reports the outcome on the error channel.
	writeStatus func(err error) error
	close       func()
}

// exitCodeError is a process's non-zero exit.
type exitCodeError struct {
	cmd  []string
	code int
}

func (e *exitCodeError) Error() string {
	return fmt.Sprintf("command terminated with non-zero exit code: error executing command %v, exit code %d", e.cmd, e.code)
}

// statusFor is the v4 error-channel message for err (nil: Success).
func statusFor(err error) metav1.Status {
	st := metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}}
	var ec *exitCodeError
	switch {
	case err == nil:
		st.Status = metav1.StatusSuccess
	case errors.As(err, &ec):
		st.Status = metav1.StatusFailure
		st.Reason = remotecommandconsts.NonZeroExitCodeReason
		st.Message = err.Error()
		st.Details = &metav1.StatusDetails{Causes: []metav1.StatusCause{{
			Type:    remotecommandconsts.ExitCodeCauseType,
			Message: strconv.Itoa(ec.code),
		}}}
	default:
		st.Status = metav1.StatusFailure
		st.Reason = metav1.StatusReasonInternalError
		st.Message = err.Error()
	}
	return st
}

// v4Status writes statusFor(err) as JSON to w.
func v4Status(w io.Writer) func(error) error {
	return func(err error) error {
		b, merr := json.Marshal(statusFor(err))
		if merr != nil {
			return merr
		}
		_, werr := w.Write(b)
		return werr
	}
}

// v1Status writes the error's text to w (nothing on success).
func v1Status(w io.Writer) func(error) error {
	return func(err error) error {
		if err == nil {
			return nil
		}
		_, werr := w.Write([]byte(err.Error()))
		return werr
	}
}

// decodeResizes reads TerminalSize JSON objects from r into ch until r
// ends, then calls end.
func decodeResizes(r io.Reader, ch chan runtime.TerminalSize, end func()) {
	defer end()
	dec := json.NewDecoder(r)
	for {
		var sz struct{ Width, Height uint16 }
		if err := dec.Decode(&sz); err != nil {
			return
		}
		// Keep only the newest size: never block the reader.
		next := runtime.TerminalSize{Width: sz.Width, Height: sz.Height}
		for sent := false; !sent; {
			select {
			case ch <- next:
				sent = true
			default:
				select {
				case <-ch: // drop the stale size
				default:
				}
			}
		}
	}
}

// upgrade turns r into a session: a WebSocket when the client asks for
// one, SPDY otherwise. On failure it has written the HTTP error.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request, o streamOptions) (*session, bool) {
	if wsstream.IsWebSocketRequest(r) {
		return s.upgradeWebSocket(w, r, o)
	}
	if !httpstream.IsUpgradeRequest(r) {
		http.Error(w, "exec and attach need a connection upgrade (websocket or SPDY/3.1)", http.StatusBadRequest)
		return nil, false
	}
	return s.upgradeSPDY(w, r, o)
}

func (s *Server) upgradeWebSocket(w http.ResponseWriter, r *http.Request, o streamOptions) (*session, bool) {
	// Stdin and resize are always readable channels: they end only when
	// the connection does (a client without stdin or tty never writes
	// them), which is how the session learns the client went away.
	channels := []wsstream.ChannelType{
		wsstream.ReadChannel, writeIf(o.stdout), writeIf(o.stderr), wsstream.WriteChannel, wsstream.ReadChannel,
	}
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
		remotecommandconsts.StreamProtocolV5Name: {Binary: true, Channels: channels},
		remotecommandconsts.StreamProtocolV4Name: {Binary: true, Channels: channels},
		v4Base64WebsocketProtocol:                {Binary: false, Channels: channels},
	})
	conn.SetIdleTimeout(s.cfg.StreamIdleTimeout)
	_, streams, err := conn.Open(w, r)
	if err != nil {
		s.log.Debug("websocket upgrade", "err", err)
		return nil, false
	}
	// An empty message on the first output channel tells the client the
	// streams are ready, as upstream does.
	switch {
	case o.stdout:
		_, _ = streams[stdoutChannel].Write(nil)
	case o.stderr:
		_, _ = streams[stderrChannel].Write(nil)
	default:
		_, _ = streams[errorChannel].Write(nil)
	}
	done := make(chan struct{})
	var once sync.Once
	gone := func() { once.Do(func() { close(done) }) }
	sess := &session{
		resize:      make(chan runtime.TerminalSize, 1),
		done:        done,
		writeStatus: v4Status(streams[errorChannel]),
		close:       func() { conn.Close() },
	}
	if o.stdin {
		sess.stdin = streams[stdinChannel]
	} else {
		go func() { _, _ = io.Copy(io.Discard, streams[stdinChannel]) }()
	}
	if o.stdout {
		sess.stdout = streams[stdoutChannel]
	}
	if o.stderr {
		sess.stderr = streams[stderrChannel]
	}
	go decodeResizes(streams[resizeChannel], sess.resize, gone)
	return sess, true
}

func writeIf(b bool) wsstream.ChannelType {
	if b {
		return wsstream.WriteChannel
	}
	return wsstream.IgnoreChannel
}

// spdyStream is a new stream and the signal that its reply was sent.
type spdyStream struct {
	stream    httpstream.Stream
	replySent <-chan struct{}
}

func (s *Server) upgradeSPDY(w http.ResponseWriter, r *http.Request, o streamOptions) (*session, bool) {
	protocol, err := httpstream.Handshake(r, w, spdyProtocols)
	if err != nil {
		return nil, false // Handshake wrote the error
	}
	streamCh := make(chan spdyStream)
	conn := spdy.NewResponseUpgrader().UpgradeResponse(w, r, func(st httpstream.Stream, replySent <-chan struct{}) error {
		streamCh <- spdyStream{st, replySent}
		return nil
	})
	if conn == nil {
		return nil, false // UpgradeResponse wrote the error
	}
	conn.SetIdleTimeout(s.cfg.StreamIdleTimeout)
	expected := 1 // error
	for _, b := range []bool{o.stdin, o.stdout, o.stderr, o.tty && protocol != remotecommandconsts.StreamProtocolV2Name} {
		if b {
			expected++
		}
	}
	byType := map[string]httpstream.Stream{}
	var replies []<-chan struct{}
	timeout := time.NewTimer(remotecommandconsts.DefaultStreamCreationTimeout)
	defer timeout.Stop()
	for len(byType) < expected {
		select {
		case st := <-streamCh:
			byType[st.stream.Headers().Get(corev1.StreamType)] = st.stream
			replies = append(replies, st.replySent)
		case <-timeout.C:
			s.log.Debug("spdy streams not created in time", "got", len(byType), "want", expected)
			conn.Close()
			return nil, false
		}
	}
	for _, c := range replies {
		<-c
	}
	errStream := byType[corev1.StreamTypeError]
	if errStream == nil {
		conn.Close()
		return nil, false
	}
	done := make(chan struct{})
	go func() {
		<-conn.CloseChan()
		close(done)
	}()
	sess := &session{
		resize: make(chan runtime.TerminalSize, 1),
		done:   done,
		close: func() {
			for _, st := range byType {
				st.Close()
			}
			conn.Close()
		},
	}
	switch protocol {
	case remotecommandconsts.StreamProtocolV5Name, remotecommandconsts.StreamProtocolV4Name:
		sess.writeStatus = v4Status(errStream)
	default:
		sess.writeStatus = v1Status(errStream)
	}
	if st := byType[corev1.StreamTypeStdin]; st != nil {
		sess.stdin = st
	}
	if st := byType[corev1.StreamTypeStdout]; st != nil {
		sess.stdout = st
	}
	if st := byType[corev1.StreamTypeStderr]; st != nil {
		sess.stderr = st
	}
	if st := byType[corev1.StreamTypeResize]; st != nil {
		go decodeResizes(st, sess.resize, func() {})
	}
	return sess, true
}
