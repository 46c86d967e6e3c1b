package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// handlePods serves the kubelet's pods as a v1 PodList.
func (s *Server) handlePods(w http.ResponseWriter, _ *http.Request) {
	list := corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}}
	for _, p := range s.cfg.Pods() {
		list.Items = append(list.Items, *p)
	}
	if list.Items == nil {
		list.Items = []corev1.Pod{}
	}
	writeJSON(w, list)
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// httpError is an error with the HTTP status it is served with.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func errorf(code int, format string, args ...any) *httpError {
	return &httpError{code: code, msg: fmt.Sprintf(format, args...)}
}

// findPod returns the pod ns/name the kubelet runs, or a 404.
func (s *Server) findPod(ns, name string) (*corev1.Pod, *httpError) {
	for _, p := range s.cfg.Pods() {
		if p.Namespace == ns && p.Name == name {
			return p, nil
		}
	}
	return nil, errorf(http.StatusNotFound, "pod %q not found in namespace %q on this node", name, ns)
}

// hasContainer reports whether the pod's spec has a container (regular,
// init or ephemeral) of that name.
func hasContainer(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// findContainer returns the pod ns/name and checks it has container, or a
// 404 naming what is missing.
func (s *Server) findContainer(ns, name, container string) (*corev1.Pod, *httpError) {
	pod, herr := s.findPod(ns, name)
	if herr != nil {
		return nil, herr
	}
	if !hasContainer(pod, container) {
		return nil, errorf(http.StatusNotFound, "container %q not found in pod %q", container, name)
	}
	return pod, nil
}

// ContainerFromStatus is the default Config.LookupContainer: it reads the
// container's status in pod.Status (regular, init and ephemeral).
func ContainerFromStatus(pod *corev1.Pod, container string) (ContainerInfo, bool) {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses, pod.Status.EphemeralContainerStatuses} {
		for _, st := range list {
			if st.Name != container || st.ContainerID == "" {
				continue
			}
			id := st.ContainerID
			if i := strings.Index(id, "://"); i >= 0 {
				id = id[i+3:]
			}
			return ContainerInfo{ID: id, Running: st.State.Running != nil}, true
		}
	}
	return ContainerInfo{}, false
}
