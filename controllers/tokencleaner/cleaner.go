// Package tokencleaner deletes expired bootstrap tokens, as upstream's
// kube-controller-manager "tokencleaner" controller: a bootstrap token
// Secret (type bootstrap.kubernetes.io/token) in kube-system whose
// expiration (RFC 3339) has passed, or cannot be parsed, is deleted; one
// that expires later is looked at again at its expiration time.
package tokencleaner

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
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	bootstrapsecrets "k8s.io/cluster-bootstrap/util/secrets"
	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/controllers"
	"github.com/skiffk8s/skiff/controllers/internal/controllerutil"
)

// Name is the controller's name in --controllers, logs and metrics.
const Name = "tokencleaner"

// Controller deletes expired bootstrap token Secrets.
type Controller struct {
	client       kubernetes.Interface
	secretLister corelisters.SecretLister
	synced       cache.InformerSynced
	queue        controllerutil.Queue
	clock        clock.Clock
	log          *slog.Logger
}

var _ controllers.Controller = (*Controller)(nil)

// New builds the controller; it takes no options. Time comes from
// c.Clock. Queue keys are kube-system/<secret name>.
func New(ctx context.Context, c controllers.Context) (controllers.Controller, error) {
	inf := c.Informers.Core().V1().Secrets()
	ctl := &Controller{
		client:       c.Client,
		secretLister: inf.Lister(),
		synced:       inf.Informer().HasSynced,
		queue:        controllerutil.NewQueue(Name, c),
		clock:        c.Clock,
		log:          c.Logger,
	}
	if ctl.clock == nil {
		ctl.clock = clock.RealClock{}
	}
	if ctl.log == nil {
		ctl.log = slog.New(slog.DiscardHandler)
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    ctl.secretChanged,
		UpdateFunc: func(_, obj any) { ctl.secretChanged(obj) },
	}); err != nil {
		return nil, fmt.Errorf("%s: secret handler: %w", Name, err)
	}
	return ctl, nil
}

// Name implements controllers.Controller.
func (c *Controller) Name() string { return Name }

// Run implements controllers.Controller.
func (c *Controller) Run(ctx context.Context, workers int) error {
	return controllerutil.Run(ctx, Name, c.log.With("controller", Name), c.queue, workers, c.sync, c.synced)
}

func (c *Controller) secretChanged(obj any) {
	if s, ok := obj.(*corev1.Secret); ok && isTokenSecret(s) {
		c.queue.Add(controllerutil.Key(s))
	}
}

// isTokenSecret tells whether s is a bootstrap token Secret: of the
// bootstrap token type, in kube-system.
func isTokenSecret(s *corev1.Secret) bool {
	return s.Namespace == metav1.NamespaceSystem && s.Type == bootstrapapi.SecretTypeBootstrapToken
}

// sync deletes the token Secret key when it has expired (only that very
// object: the delete has a UID precondition), or looks again when it
// will. A Secret without expiration is kept.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	s, err := c.secretLister.Secrets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !isTokenSecret(s) {
		return nil
	}
	left, expired := bootstrapsecrets.GetExpiration(s, c.clock.Now())
	if !expired {
		if left > 0 {
			c.queue.AddAfter(key, left)
		}
		return nil
	}
	opts := metav1.DeleteOptions{}
	if s.UID != "" {
		opts.Preconditions = &metav1.Preconditions{UID: &s.UID}
	}
	err = c.client.CoreV1().Secrets(ns).Delete(ctx, name, opts)
	// NotFound: already gone; Conflict: the name now holds another Secret.
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete expired bootstrap token %s: %w", key, err)
	}
	if err == nil {
		c.log.Info("deleted expired bootstrap token", "secret", key,
			"expiration", bootstrapsecrets.GetData(s, bootstrapapi.BootstrapTokenExpirationKey))
	}
	return nil
}
