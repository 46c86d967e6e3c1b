// Package endpointslice is the EndpointSlice controller: for each Service
// with a selector it keeps discovery.k8s.io/v1 EndpointSlices (named
// <service>-<random suffix>, labelled kubernetes.io/service-name and
// endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io,
// owned by the Service) listing the selected pods with their
// ready/serving/terminating conditions, node, zone and hostname, at most
// max-endpoints-per-slice endpoints per slice, changing existing slices
// as little as it can.
package endpointslice

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/skiffk8s/skiff/controllers"
	"github.com/skiffk8s/skiff/controllers/internal/controllerutil"
	"github.com/skiffk8s/skiff/controllers/internal/endpointsutil"
)

// Name is the controller's name (upstream's --controllers name).
const Name = "endpointslice"

// ControllerName is the managed-by label value of the slices it owns.
const ControllerName = "endpointslice-controller.k8s.io"

// DefaultMaxEndpointsPerSlice is upstream's default of
// --max-endpoints-per-slice.
const DefaultMaxEndpointsPerSlice = 100

// Controller keeps EndpointSlices in step with Services and pods.
type Controller struct {
	client   kubernetes.Interface
	services corelisters.ServiceLister
	pods     corelisters.PodLister
	nodes    corelisters.NodeLister
	slices   discoverylisters.EndpointSliceLister
	recorder record.EventRecorder
	logger   *slog.Logger
	queue    controllerutil.Queue
	synced   []cache.InformerSynced
	// maxPerSlice is the most endpoints one slice holds.
	maxPerSlice int
}

var _ controllers.Controller = (*Controller)(nil)

// New builds the controller on c's shared informers (services, pods,
// nodes, endpointslices). It reads c.Options["max-endpoints-per-slice"]
// (default 100, 1 to 1000).
func New(ctx context.Context, c controllers.Context) (controllers.Controller, error) {
	maxPer := DefaultMaxEndpointsPerSlice
	if v, ok := c.Options["max-endpoints-per-slice"]; ok && v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return nil, fmt.Errorf("max-endpoints-per-slice: %q is not an integer from 1 to 1000", v)
		}
		maxPer = n
	}
	svcInf := c.Informers.Core().V1().Services()
	podInf := c.Informers.Core().V1().Pods()
	nodeInf := c.Informers.Core().V1().Nodes()
	esInf := c.Informers.Discovery().V1().EndpointSlices()
	logger := c.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctl := &Controller{
		client:      c.Client,
		services:    svcInf.Lister(),
		pods:        podInf.Lister(),
		nodes:       nodeInf.Lister(),
		slices:      esInf.Lister(),
		recorder:    c.Recorder,
		logger:      logger.With("controller", Name),
		queue:       controllerutil.NewQueue(Name, c),
		maxPerSlice: maxPer,
		synced: []cache.InformerSynced{svcInf.Informer().HasSynced, podInf.Informer().HasSynced,
			nodeInf.Informer().HasSynced, esInf.Informer().HasSynced},
	}
	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{svcInf.Informer(), controllerutil.EnqueueHandler(ctl.queue)},
		{podInf.Informer(), endpointsutil.PodHandler(ctl.services, ctl.queue)},
		{esInf.Informer(), cache.ResourceEventHandlerFuncs{AddFunc: ctl.enqueueSlice,
			UpdateFunc: func(_, n any) { ctl.enqueueSlice(n) }, DeleteFunc: ctl.enqueueSlice}},
		{nodeInf.Informer(), cache.ResourceEventHandlerFuncs{AddFunc: ctl.enqueueNode,
			UpdateFunc: func(o, n any) { ctl.enqueueNodeChange(o, n) }, DeleteFunc: ctl.enqueueNode}},
	}
	for _, h := range handlers {
		if _, err := h.inf.AddEventHandler(h.h); err != nil {
			return nil, err
		}
	}
	return ctl, nil
}

// Name implements controllers.Controller.
func (c *Controller) Name() string { return Name }

// Run implements controllers.Controller.
func (c *Controller) Run(ctx context.Context, n int) error {
	return controllerutil.Run(ctx, Name, c.logger, c.queue, n, c.sync, c.synced...)
}

func (c *Controller) enqueuePod(obj any) { endpointsutil.EnqueuePod(c.services, c.queue, obj) }

// enqueueSlice adds the Service of a slice this controller manages, so
// that a slice changed or deleted by someone else is put right.
func (c *Controller) enqueueSlice(obj any) {
	es, ok := controllerutil.FromEvent[*discoveryv1.EndpointSlice](obj)
	if !ok || es.Labels[discoveryv1.LabelManagedBy] != ControllerName || es.Labels[discoveryv1.LabelServiceName] == "" {
		return
	}
	c.queue.Add(es.Namespace + "/" + es.Labels[discoveryv1.LabelServiceName])
}

// enqueueNode adds the Services of the pods on a node that appeared or
// went away (their endpoints wait for the node, and carry its zone).
func (c *Controller) enqueueNode(obj any) {
	node, ok := controllerutil.FromEvent[*corev1.Node](obj)
	if !ok {
		return
	}
	c.enqueuePodsOnNode(node.Name)
}

func (c *Controller) enqueueNodeChange(o, n any) {
	on, ok1 := o.(*corev1.Node)
	nn, ok2 := n.(*corev1.Node)
	if ok1 && ok2 && on.Labels[corev1.LabelTopologyZone] != nn.Labels[corev1.LabelTopologyZone] {
		c.enqueuePodsOnNode(nn.Name)
	}
}

func (c *Controller) enqueuePodsOnNode(node string) {
	pods, err := c.pods.List(everything)
	if err != nil {
		return
	}
	for _, p := range pods {
		if p.Spec.NodeName == node {
			c.enqueuePod(p)
		}
	}
}
