package apiserver

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/proxy"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"
)

// The pod subresources served by the pod's kubelet, and nodes/proxy, as
// upstream serves them: the API server finds the kubelet from the Node
// (kubeletURL), authenticates to it with its kubelet client certificate and
// relays the bytes. Upgrades (SPDY, WebSocket) are relayed transparently by
// apimachinery's UpgradeAwareHandler: the client's Upgrade, Connection,
// Sec-WebSocket-* and X-Stream-Protocol-Version headers reach the kubelet,
// then the two connections are copied both ways until one side closes.

// servePodKubelet handles pods/log, pods/exec, pods/attach and
// pods/portforward.
func (s *server) servePodKubelet(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo) {
	gr := schema.GroupResource{Resource: "pods/" + ri.Subresource}
	switch {
	case ri.Subresource == "log" && ri.Verb != "get",
		ri.Subresource != "log" && ri.Verb != "get" && ri.Verb != "create":
		s.writeError(w, r, apierrors.NewMethodNotSupported(gr, ri.Verb))
		return
	}
	obj, err := res.store.Get(r.Context(), res.store.Key(ri.Namespace, ri.Name))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pod := obj.(*corev1.Pod)
	q := r.URL.Query()
	var (
		path   string
		params = url.Values{}
	)
	switch ri.Subresource {
	case "log":
		s.podLog(w, r, pod)
		return
	case "exec", "attach":
		container, err := podContainer(pod, q.Get("container"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		// The kubelet's names and values are upstream's: input=1,
		// output=1, error=1, tty=1 (not the API's stdin=true...).
		for _, f := range []struct{ in, out string }{{"stdin", corev1.ExecStdinParam}, {"stdout", corev1.ExecStdoutParam}, {"stderr", corev1.ExecStderrParam}, {"tty", corev1.ExecTTYParam}} {
			on, err := boolParam(q, f.in)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			if on {
				params.Set(f.out, "1")
			}
		}
		if ri.Subresource == "exec" {
			if len(q["command"]) == 0 {
				s.writeError(w, r, apierrors.NewBadRequest("you must specify at least 1 command"))
				return
			}
			params["command"] = q["command"]
		}
		path = fmt.Sprintf("/%s/%s/%s/%s", ri.Subresource, pod.Namespace, pod.Name, container)
	case "portforward":
		var ports []string
		for _, v := range q["ports"] {
			for _, p := range strings.Split(v, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(p))
				if err != nil || n < 1 || n > 65535 {
					s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("invalid port %q: must be between 1 and 65535, inclusive", p)))
					return
				}
				ports = append(ports, strconv.Itoa(n))
			}
		}
		if len(ports) > 0 {
			params.Set(corev1.PortHeader, strings.Join(ports, ","))
		}
		path = fmt.Sprintf("/portForward/%s/%s", pod.Namespace, pod.Name)
	}
	if pod.Spec.NodeName == "" {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name)))
		return
	}
	loc, err := s.nodeKubelet(r.Context(), pod.Spec.NodeName)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	loc.Path, loc.RawQuery = path, params.Encode()
	s.proxyToKubelet(w, r, loc, true)
}

// serveNodeProxy handles nodes/{name}/proxy/{path}: any verb, relayed to
// https://<kubelet>/{path} with the request's query. The name may carry a
// port ("node:10255") or a scheme and a port ("http:node:10255").
func (s *server) serveNodeProxy(w http.ResponseWriter, r *http.Request, ri requestInfo) {
	scheme, name, port, ok := utilnet.SplitSchemeNamePort(ri.Name)
	if !ok {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("invalid node request %q", ri.Name)))
		return
	}
	loc, err := s.nodeKubelet(r.Context(), name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if scheme != "" {
		loc.Scheme = scheme
	}
	if port != "" {
		loc.Host = strings.TrimSuffix(loc.Host, ":"+loc.Port()) + ":" + port
	}
	if ri.ProxyPath != "" {
		loc.Path = "/" + ri.ProxyPath
	}
	s.proxyToKubelet(w, r, loc, false)
}

// proxyToKubelet relays r to loc with the kubelet transport. With
// upgradeRequired, a request that is not an upgrade is a 400.
func (s *server) proxyToKubelet(w http.ResponseWriter, r *http.Request, loc *url.URL, upgradeRequired bool) {
	// The caller's credentials are for us, not for the kubelet.
	r.Header.Del("Authorization")
	r = r.WithContext(klog.NewContext(r.Context(), logr.FromSlogHandler(s.log.Handler())))
	h := proxy.NewUpgradeAwareHandler(loc, s.kubelets.transport, false, upgradeRequired, proxyResponder{s})
	h.UseLocationHost = true
	h.ServeHTTP(w, r)
}

// proxyResponder writes proxy errors as Status objects.
type proxyResponder struct{ s *server }

func (p proxyResponder) Error(w http.ResponseWriter, r *http.Request, err error) {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		// As upstream: the transport's own words ("dial tcp ...: connect:
		// connection refused"), code 500.
		err = &apierrors.StatusError{ErrStatus: statusFromError(err)}
	}
	p.s.writeError(w, r, err)
}

// podLog streams a container's log from the kubelet's /containerLogs,
// flushing each read so that follow streams line by line. A pod without a
// node has no log yet: an empty body, as upstream.
func (s *server) podLog(w http.ResponseWriter, r *http.Request, pod *corev1.Pod) {
	q := r.URL.Query()
	container, err := podContainer(pod, q.Get("container"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	params, insecure, err := logParams(q, pod.Name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	if pod.Spec.NodeName == "" {
		w.WriteHeader(http.StatusOK)
		return
	}
	loc, err := s.nodeKubelet(r.Context(), pod.Spec.NodeName)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	loc.Path = fmt.Sprintf("/containerLogs/%s/%s/%s", pod.Namespace, pod.Name, container)
	loc.RawQuery = params.Encode()
	transport := s.kubelets.transport
	if insecure {
		transport = s.kubelets.insecure
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, loc.String(), nil)
	if err != nil {
		s.writeError(w, r, apierrors.NewInternalError(err))
		return
	}
	resp, err := transport.RoundTrip(req)
	if err != nil {
		proxyResponder{s}.Error(w, r, err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 206 {
		s.writeError(w, r, kubeletError(resp, schema.GroupResource{Resource: "pods/log"}, pod.Name))
		return
	}
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && r.Context().Err() == nil {
				s.log.Debug("pod log stream ended", "pod", pod.Namespace+"/"+pod.Name, "err", err)
			}
			return
		}
	}
}

// kubeletError turns a kubelet's error response into an API error, as
// upstream's GenericHttpResponseChecker: its body is the message.
func kubeletError(resp *http.Response, gr schema.GroupResource, name string) error {
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	msg := strings.TrimSpace(string(body))
	switch resp.StatusCode {
	case http.StatusInternalServerError:
		return apierrors.NewInternalError(errors.New(msg))
	case http.StatusBadRequest:
		return apierrors.NewBadRequest(msg)
	}
	return apierrors.NewGenericServerResponse(resp.StatusCode, "", gr, name, msg, 0, false)
}

// logParams validates the PodLogOptions query of pods/log and returns the
// kubelet's /containerLogs query and whether to skip verifying the
// kubelet's certificate (insecureSkipTLSVerifyBackend).
func logParams(q url.Values, podName string) (url.Values, bool, error) {
	out := url.Values{}
	var errs field.ErrorList
	for _, name := range []string{"follow", "previous", "timestamps"} {
		on, err := boolParam(q, name)
		if err != nil {
			return nil, false, err
		}
		if on {
			out.Set(name, "true")
		}
	}
	insecure, err := boolParam(q, "insecureSkipTLSVerifyBackend")
	if err != nil {
		return nil, false, err
	}
	ints := map[string]*int64{}
	for _, name := range []string{"tailLines", "limitBytes", "sinceSeconds"} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, false, apierrors.NewBadRequest(fmt.Sprintf("%s: invalid value %q: %v", name, v, err))
		}
		ints[name] = &n
		out.Set(name, strconv.FormatInt(n, 10))
	}
	if n := ints["tailLines"]; n != nil && *n < 0 {
		errs = append(errs, field.Invalid(field.NewPath("tailLines"), *n, "must be greater than or equal to 0"))
	}
	if n := ints["limitBytes"]; n != nil && *n < 1 {
		errs = append(errs, field.Invalid(field.NewPath("limitBytes"), *n, "must be greater than 0"))
	}
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return nil, false, apierrors.NewBadRequest(fmt.Sprintf("sinceTime: invalid value %q: %v", v, err))
		}
		if ints["sinceSeconds"] != nil {
			errs = append(errs, field.Forbidden(field.NewPath("sinceSeconds"), "at most one of `sinceTime` or `sinceSeconds` may be specified"))
		}
		out.Set("sinceTime", t.Format(time.RFC3339))
	} else if n := ints["sinceSeconds"]; n != nil && *n < 1 {
		errs = append(errs, field.Invalid(field.NewPath("sinceSeconds"), *n, "must be greater than 0"))
	}
	if len(errs) > 0 {
		return nil, false, apierrors.NewInvalid(schema.GroupKind{Kind: "PodLogOptions"}, podName, errs)
	}
	return out, insecure, nil
}

// podContainer returns the container a pod subresource addresses: the
// named one, which must exist (init, regular or ephemeral), or the only
// container. Errors are upstream's.
func podContainer(pod *corev1.Pod, name string) (string, error) {
	var names []string
	for _, c := range pod.Spec.InitContainers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		names = append(names, c.Name)
	}
	if name == "" {
		switch len(pod.Spec.Containers) {
		case 1:
			return pod.Spec.Containers[0].Name, nil
		case 0:
			return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s", pod.Name))
		}
		return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %s", pod.Name, names))
	}
	for _, n := range names {
		if n == name {
			return name, nil
		}
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
}

// boolParam parses a boolean query parameter ("true", "1", "false", ...);
// absent is false.
func boolParam(q url.Values, name string) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, apierrors.NewBadRequest(fmt.Sprintf("%s: invalid value %q: must be true or false", name, v))
	}
	return b, nil
}

// statusFromError is upstream's Status for an error that is not an API
// error: code 500, reason Unknown, the error's own words.
func statusFromError(err error) metav1.Status {
	return metav1.Status{Status: metav1.StatusFailure, Code: http.StatusInternalServerError, Reason: metav1.StatusReasonUnknown, Message: err.Error()}
}
