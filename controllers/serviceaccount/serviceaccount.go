// Package serviceaccount is the service-account controller: it keeps a
// `default` ServiceAccount in every active namespace, as upstream's
// kube-controller-manager "serviceaccount" controller. The ServiceAccount
// admission step of the API server gives pods that name no account this
// one, and refuses pods whose account does not exist.
package serviceaccount

import (
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/skiffk8s/skiff/controllers"
	"github.com/skiffk8s/skiff/controllers/internal/controllerutil"
)

// Name is the controller's name in --controllers, logs and metrics.
const Name = "serviceaccount"

// DefaultServiceAccountName is the account every namespace gets and pods
// run as when they name none.
const DefaultServiceAccountName = "default"

// Controller creates the default ServiceAccount of each namespace when
// the namespace appears and again whenever the account is deleted. It
// reads no options.
type Controller struct {
	client   kubernetes.Interface
	nsLister corelisters.NamespaceLister
	saLister corelisters.ServiceAccountLister
	synced   []cache.InformerSynced
	queue    controllerutil.Queue
	log      *slog.Logger
}

var _ controllers.Controller = (*Controller)(nil)

// New builds the controller on c's shared namespace and service-account
// informers. Queue keys are namespace names.
func New(ctx context.Context, c controllers.Context) (controllers.Controller, error) {
	nsInf := c.Informers.Core().V1().Namespaces()
	saInf := c.Informers.Core().V1().ServiceAccounts()
	ctl := &Controller{
		client:   c.Client,
		nsLister: nsInf.Lister(),
		saLister: saInf.Lister(),
		synced:   []cache.InformerSynced{nsInf.Informer().HasSynced, saInf.Informer().HasSynced},
		queue:    controllerutil.NewQueue(Name, c),
		log:      c.Logger,
	}
	if ctl.log == nil {
		ctl.log = slog.New(slog.DiscardHandler)
	}
	if _, err := nsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    ctl.enqueueNamespace,
		UpdateFunc: func(_, obj any) { ctl.enqueueNamespace(obj) },
	}); err != nil {
		return nil, fmt.Errorf("%s: namespace handler: %w", Name, err)
	}
	if _, err := saInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: ctl.serviceAccountDeleted,
	}); err != nil {
		return nil, fmt.Errorf("%s: serviceaccount handler: %w", Name, err)
	}
	return ctl, nil
}

// Name implements controllers.Controller.
func (c *Controller) Name() string { return Name }

func (c *Controller) enqueueNamespace(obj any) {
	if ns, ok := obj.(*corev1.Namespace); ok {
		c.queue.Add(ns.Name)
	}
}

func (c *Controller) serviceAccountDeleted(obj any) {
	if sa, ok := controllerutil.FromEvent[*corev1.ServiceAccount](obj); ok && sa.Name == DefaultServiceAccountName {
		c.queue.Add(sa.Namespace)
	}
}

// Run implements controllers.Controller. Queue keys are namespace names.
func (c *Controller) Run(ctx context.Context, workers int) error {
	return controllerutil.Run(ctx, Name, c.log.With("controller", Name), c.queue, workers, c.sync, c.synced...)
}

// sync makes sure namespace ns, when active, has the default account.
// A namespace that is gone or terminating needs nothing.
func (c *Controller) sync(ctx context.Context, ns string) error {
	namespace, err := c.nsLister.Get(ns)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if namespace.Status.Phase != corev1.NamespaceActive || namespace.DeletionTimestamp != nil {
		return nil
	}
	_, err = c.saLister.ServiceAccounts(ns).Get(DefaultServiceAccountName)
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: DefaultServiceAccountName, Namespace: ns}}
	_, err = c.client.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{})
	switch {
	case err == nil, apierrors.IsAlreadyExists(err):
		return nil
	case apierrors.IsNotFound(err), apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		// The namespace went away or began terminating meanwhile.
		return nil
	}
	return fmt.Errorf("create serviceaccount %s/%s: %w", ns, DefaultServiceAccountName, err)
}
