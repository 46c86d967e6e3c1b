// Package rootcacertpublisher is the root CA certificate publisher: it
// keeps a ConfigMap kube-root-ca.crt holding the cluster CA certificate
// (key ca.crt) in every namespace, as upstream's kube-controller-manager
// "root-ca-cert-publisher" controller. Pods' projected service-account
// volumes take ca.crt from it, so in-cluster clients can verify the API
// server.
package rootcacertpublisher

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"maps"
	"os"

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
const Name = "root-ca-cert-publisher"

// What the published ConfigMap looks like, as upstream.
const (
	ConfigMapName         = "kube-root-ca.crt"
	DescriptionAnnotation = "kubernetes.io/description"
	Description           = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. " +
		"No other usage is guaranteed across distributions of Kubernetes clusters."
)

// Options the controller reads from controllers.Context.Options.
const (
	// OptionRootCAFile names the PEM file of the CA certificate(s) to
	// publish (upstream's --root-ca-file).
	OptionRootCAFile = "root-ca-file"
	// DefaultRootCAFile is the cluster CA a default API server writes.
	DefaultRootCAFile = "/var/lib/skiff/pki/ca.crt"
)

// Controller creates kube-root-ca.crt in each namespace, recreates it
// when deleted and puts its data and description annotation back when
// they are edited. Other keys, labels and annotations a user adds to the
// ConfigMap are kept, except that data holds only ca.crt.
type Controller struct {
	client   kubernetes.Interface
	rootCA   string
	cmLister corelisters.ConfigMapLister
	synced   []cache.InformerSynced
	queue    controllerutil.Queue
	log      *slog.Logger
}

var _ controllers.Controller = (*Controller)(nil)

// New builds the controller. It reads the CA bundle from the file named
// by the "root-ca-file" option (default /var/lib/skiff/pki/ca.crt) and
// fails, naming the option, when the file cannot be read or holds no PEM
// certificate. Queue keys are namespace names.
func New(ctx context.Context, c controllers.Context) (controllers.Controller, error) {
	file := c.Options[OptionRootCAFile]
	if file == "" {
		file = DefaultRootCAFile
	}
	ca, err := readRootCA(file)
	if err != nil {
		return nil, fmt.Errorf("%s: --%s: %w", Name, OptionRootCAFile, err)
	}
	nsInf := c.Informers.Core().V1().Namespaces()
	cmInf := c.Informers.Core().V1().ConfigMaps()
	ctl := &Controller{
		client:   c.Client,
		rootCA:   string(ca),
		cmLister: cmInf.Lister(),
		synced:   []cache.InformerSynced{nsInf.Informer().HasSynced, cmInf.Informer().HasSynced},
		queue:    controllerutil.NewQueue(Name, c),
		log:      c.Logger,
	}
	if ctl.log == nil {
		ctl.log = slog.New(slog.DiscardHandler)
	}
	if _, err := nsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    ctl.namespaceChanged,
		UpdateFunc: func(_, obj any) { ctl.namespaceChanged(obj) },
	}); err != nil {
		return nil, fmt.Errorf("%s: namespace handler: %w", Name, err)
	}
	if _, err := cmInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) { ctl.configMapChanged(obj) },
		DeleteFunc: ctl.configMapChanged,
	}); err != nil {
		return nil, fmt.Errorf("%s: configmap handler: %w", Name, err)
	}
	return ctl, nil
}

// readRootCA reads a PEM bundle holding at least one certificate.
func readRootCA(file string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	rest, found := b, false
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" {
			if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			found = true
		}
	}
	if !found {
		return nil, fmt.Errorf("%s: no PEM certificate", file)
	}
	return b, nil
}

// Name implements controllers.Controller.
func (c *Controller) Name() string { return Name }

// namespaceChanged enqueues a new namespace and an active one that
// changed (a terminating one gets nothing new).
func (c *Controller) namespaceChanged(obj any) {
	if ns, ok := obj.(*corev1.Namespace); ok && ns.Status.Phase != corev1.NamespaceTerminating {
		c.queue.Add(ns.Name)
	}
}

func (c *Controller) configMapChanged(obj any) {
	if cm, ok := controllerutil.FromEvent[*corev1.ConfigMap](obj); ok && cm.Name == ConfigMapName {
		c.queue.Add(cm.Namespace)
	}
}

// Run implements controllers.Controller. Queue keys are namespace names.
func (c *Controller) Run(ctx context.Context, workers int) error {
	return controllerutil.Run(ctx, Name, c.log.With("controller", Name), c.queue, workers, c.sync, c.synced...)
}

// sync makes kube-root-ca.crt in namespace ns hold the CA and the
// description annotation. A namespace that is gone or terminating is
// left alone (the create is refused there and not retried).
func (c *Controller) sync(ctx context.Context, ns string) error {
	want := map[string]string{"ca.crt": c.rootCA}
	cm, err := c.cmLister.ConfigMaps(ns).Get(ConfigMapName)
	switch {
	case apierrors.IsNotFound(err):
		_, err = c.client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName, Namespace: ns,
				Annotations: map[string]string{DescriptionAnnotation: Description}},
			Data: want,
		}, metav1.CreateOptions{})
		if err == nil || apierrors.IsAlreadyExists(err) || apierrors.IsNotFound(err) ||
			apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil
		}
		return fmt.Errorf("create configmap %s/%s: %w", ns, ConfigMapName, err)
	case err != nil:
		return err
	}
	if maps.Equal(cm.Data, want) && cm.Annotations[DescriptionAnnotation] != "" {
		return nil
	}
	cm = cm.DeepCopy()
	cm.Data = want
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[DescriptionAnnotation] = Description
	if _, err := c.client.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update configmap %s/%s: %w", ns, ConfigMapName, err)
	}
	return nil
}
