package apiserver

import (
	"fmt"
	"net/http"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/skiffk8s/skiff/apiserver/registry"
	"github.com/skiffk8s/skiff/apiserver/storage"
)

// The resource metrics API (metrics.k8s.io/v1beta1), served by the API
// server itself rather than by an aggregated metrics-server: NodeMetrics
// ("nodes", cluster-scoped) and PodMetrics ("pods", namespaced), read-only
// (get and list, with label selectors and metadata.name/namespace field
// selectors), computed from the Ready nodes' kubelets' /stats/summary
// (metricsScraper). Nothing is stored. What `kubectl top` reads.

// metricsResources are the metrics API's resources, for discovery.
var metricsResources = []*registry.Resource{
	{Group: metricsv1beta1.GroupName, Version: "v1beta1", Resource: "nodes", Kind: "NodeMetrics", SingularName: ""},
	{Group: metricsv1beta1.GroupName, Version: "v1beta1", Resource: "pods", Kind: "PodMetrics", SingularName: "", Namespaced: true},
}

// metricsVerbs are the verbs of the metrics resources.
var metricsVerbs = []string{"get", "list"}

var (
	nodeMetricsListGVK = metricsv1beta1.SchemeGroupVersion.WithKind("NodeMetricsList")
	nodeMetricsGVK     = metricsv1beta1.SchemeGroupVersion.WithKind("NodeMetrics")
	podMetricsListGVK  = metricsv1beta1.SchemeGroupVersion.WithKind("PodMetricsList")
	podMetricsGVK      = metricsv1beta1.SchemeGroupVersion.WithKind("PodMetrics")
)

// serveMetrics handles /apis/metrics.k8s.io/v1beta1/... requests.
func (s *server) serveMetrics(w http.ResponseWriter, r *http.Request, ri requestInfo) {
	if ri.Version != "v1beta1" || (ri.Resource != "nodes" && ri.Resource != "pods") ||
		ri.Subresource != "" || (ri.Resource == "nodes" && ri.Namespace != "") {
		s.writeError(w, r, errNoSuchPath())
		return
	}
	gr := schema.GroupResource{Group: metricsv1beta1.GroupName, Resource: ri.Resource}
	if ri.Verb != "get" && ri.Verb != "list" {
		s.writeError(w, r, apierrors.NewMethodNotSupported(gr, ri.Verb))
		return
	}
	match, err := metricsSelector(r, ri.Resource == "pods")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	nodes, err := s.listAll(r, "nodes", "")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	nodeObjs := make([]*corev1.Node, len(nodes))
	for i, o := range nodes {
		nodeObjs[i] = o.(*corev1.Node)
	}
	snap := s.metricsScraper.snapshot(r.Context(), nodeObjs)

	if ri.Resource == "nodes" {
		list := &metricsv1beta1.NodeMetricsList{}
		for _, n := range nodeObjs {
			u, ok := snap.nodes[n.Name]
			if !ok || (ri.Name != "" && n.Name != ri.Name) || !match(n.Labels, n.Name, "") {
				continue
			}
			list.Items = append(list.Items, nodeMetrics(n, u))
		}
		if ri.Name != "" {
			if len(list.Items) == 0 {
				s.writeError(w, r, apierrors.NewNotFound(gr, ri.Name))
				return
			}
			s.writeObject(w, r, http.StatusOK, &list.Items[0], nodeMetricsGVK)
			return
		}
		s.writeObject(w, r, http.StatusOK, list, nodeMetricsListGVK)
		return
	}

	pods, err := s.listAll(r, "pods", ri.Namespace)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list := &metricsv1beta1.PodMetricsList{}
	for _, o := range pods {
		p := o.(*corev1.Pod)
		u, ok := snap.pods[types.NamespacedName{Namespace: p.Namespace, Name: p.Name}]
		if !ok || (ri.Name != "" && p.Name != ri.Name) || !match(p.Labels, p.Name, p.Namespace) {
			continue
		}
		list.Items = append(list.Items, podMetrics(p, u))
	}
	sort.Slice(list.Items, func(i, j int) bool {
		a, b := list.Items[i], list.Items[j]
		return a.Namespace < b.Namespace || a.Namespace == b.Namespace && a.Name < b.Name
	})
	if ri.Name != "" {
		if len(list.Items) == 0 {
			s.writeError(w, r, apierrors.NewNotFound(gr, ri.Name))
			return
		}
		s.writeObject(w, r, http.StatusOK, &list.Items[0], podMetricsGVK)
		return
	}
	s.writeObject(w, r, http.StatusOK, list, podMetricsListGVK)
}

// listAll lists every object of a core resource in namespace ("" for all).
func (s *server) listAll(r *http.Request, resourceName, namespace string) ([]runtime.Object, error) {
	res := s.lookup("", "v1", resourceName)
	l, err := res.store.List(r.Context(), res.store.KeyPrefix(namespace), storage.ListOptions{})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// metricsSelector parses labelSelector and fieldSelector (metadata.name,
// and metadata.namespace when namespaced) into a match function.
func metricsSelector(r *http.Request, namespaced bool) (func(l map[string]string, name, namespace string) bool, error) {
	q := r.URL.Query()
	lsel, err := labels.Parse(q.Get("labelSelector"))
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	fsel, err := fields.ParseSelector(q.Get("fieldSelector"))
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	for _, req := range fsel.Requirements() {
		if req.Field != "metadata.name" && !(namespaced && req.Field == "metadata.namespace") {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
		}
	}
	return func(l map[string]string, name, namespace string) bool {
		set := fields.Set{"metadata.name": name}
		if namespaced {
			set["metadata.namespace"] = namespace
		}
		return lsel.Matches(labels.Set(l)) && fsel.Matches(set)
	}, nil
}
