// Package endpoints is the Endpoints controller (upstream's "endpoint"):
// for each Service with a selector it writes an Endpoints object of the
// same name listing the selected pods' addresses (ready ones under
// addresses, the others under notReadyAddresses) with the Service's ports
// resolved on each pod. Services without a selector and default/kubernetes
// (kept by the API servers) are left alone.
package endpoints

import (
	"context"
	"log/slog"

	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/controllers"
	"github.com/skiffk8s/skiff/controllers/internal/controllerutil"
	"github.com/skiffk8s/skiff/controllers/internal/endpointsutil"
)

// Name is the controller's name (upstream's --controllers name).
const Name = "endpoint"

// Upstream's label and value marking Endpoints written by this controller,
// and the capacity rules.
const (
	LabelManagedBy = "endpoints.kubernetes.io/managed-by"
	ControllerName = "endpoint-controller"
	// MaxCapacity is the most addresses one Endpoints object lists.
	MaxCapacity = 1000
	truncated   = "truncated"
)

// Controller keeps Endpoints in step with Services and pods.
type Controller struct {
	client   kubernetes.Interface
	services corelisters.ServiceLister
	pods     corelisters.PodLister
	eps      corelisters.EndpointsLister
	recorder record.EventRecorder
	clock    clock.PassiveClock
	logger   *slog.Logger
	queue    controllerutil.Queue
	synced   []cache.InformerSynced
}

var _ controllers.Controller = (*Controller)(nil)

// New builds the controller on c's shared informers (services, pods,
// endpoints). It reads no options.
func New(ctx context.Context, c controllers.Context) (controllers.Controller, error) {
	svcInf := c.Informers.Core().V1().Services()
	podInf := c.Informers.Core().V1().Pods()
	epInf := c.Informers.Core().V1().Endpoints()
	logger := c.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctl := &Controller{
		client:   c.Client,
		services: svcInf.Lister(),
		pods:     podInf.Lister(),
		eps:      epInf.Lister(),
		recorder: c.Recorder,
		clock:    c.Clock,
		logger:   logger.With("controller", Name),
		queue:    controllerutil.NewQueue(Name, c),
		synced:   []cache.InformerSynced{svcInf.Informer().HasSynced, podInf.Informer().HasSynced, epInf.Informer().HasSynced},
	}
	serviceHandler := controllerutil.EnqueueHandler(ctl.queue)
	if _, err := svcInf.Informer().AddEventHandler(serviceHandler); err != nil {
		return nil, err
	}
	if _, err := podInf.Informer().AddEventHandler(endpointsutil.PodHandler(ctl.services, ctl.queue)); err != nil {
		return nil, err
	}
	// A deleted Endpoints is rewritten if its Service still wants it.
	if _, err := epInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: serviceHandler.DeleteFunc}); err != nil {
		return nil, err
	}
	return ctl, nil
}

// Name implements controllers.Controller.
func (c *Controller) Name() string { return Name }

// Run implements controllers.Controller.
func (c *Controller) Run(ctx context.Context, n int) error {
	return controllerutil.Run(ctx, Name, c.logger, c.queue, n, c.sync, c.synced...)
}
