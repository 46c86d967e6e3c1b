// Package bootstrapsigner keeps the ConfigMap kube-public/cluster-info
// signed with the bootstrap tokens, as upstream's kube-controller-manager
// "bootstrapsigner" controller: for every valid (named, unexpired)
// bootstrap token Secret in kube-system with usage-bootstrap-signing
// "true", cluster-info holds the key jws-kubeconfig-<token-id>, the
// detached JWS (HS256, key the token secret, kid the token id) of its
// "kubeconfig" value. A joining node that knows a token reads
// cluster-info anonymously and trusts the kubeconfig when the signature
// for its token verifies. Signatures of tokens that are gone, expired or
// not for signing are removed; all are recomputed when the kubeconfig
// changes. The controller never creates cluster-info (`skiff init` does).
package bootstrapsigner

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"k8s.io/cluster-bootstrap/token/jws"
	bootstrapsecrets "k8s.io/cluster-bootstrap/util/secrets"
	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/controllers"
	"github.com/skiffk8s/skiff/controllers/internal/controllerutil"
)

// Name is the controller's name in --controllers, logs and metrics.
const Name = "bootstrapsigner"

// key is the only queue key: the signed ConfigMap.
const key = metav1.NamespacePublic + "/" + bootstrapapi.ConfigMapClusterInfo

// Controller signs kube-public/cluster-info.
type Controller struct {
	client       kubernetes.Interface
	cmLister     corelisters.ConfigMapLister
	secretLister corelisters.SecretLister
	synced       []cache.InformerSynced
	queue        controllerutil.Queue
	clock        clock.Clock
	log          *slog.Logger
}

var _ controllers.Controller = (*Controller)(nil)

// New builds the controller; it takes no options.
func New(ctx context.Context, c controllers.Context) (controllers.Controller, error) {
	cmInf := c.Informers.Core().V1().ConfigMaps()
	secretInf := c.Informers.Core().V1().Secrets()
	ctl := &Controller{
		client:       c.Client,
		cmLister:     cmInf.Lister(),
		secretLister: secretInf.Lister(),
		synced:       []cache.InformerSynced{cmInf.Informer().HasSynced, secretInf.Informer().HasSynced},
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
	if _, err := cmInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    ctl.configMapChanged,
		UpdateFunc: func(_, obj any) { ctl.configMapChanged(obj) },
	}); err != nil {
		return nil, fmt.Errorf("%s: configmap handler: %w", Name, err)
	}
	if _, err := secretInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    ctl.secretChanged,
		UpdateFunc: func(_, obj any) { ctl.secretChanged(obj) },
		DeleteFunc: ctl.secretChanged,
	}); err != nil {
		return nil, fmt.Errorf("%s: secret handler: %w", Name, err)
	}
	return ctl, nil
}

// Name implements controllers.Controller.
func (c *Controller) Name() string { return Name }

// Run implements controllers.Controller. One worker is enough: there is
// one key.
func (c *Controller) Run(ctx context.Context, workers int) error {
	return controllerutil.Run(ctx, Name, c.log.With("controller", Name), c.queue, workers, c.sync, c.synced...)
}

func (c *Controller) configMapChanged(obj any) {
	if cm, ok := controllerutil.FromEvent[*corev1.ConfigMap](obj); ok &&
		cm.Namespace == metav1.NamespacePublic && cm.Name == bootstrapapi.ConfigMapClusterInfo {
		c.queue.Add(key)
	}
}

func (c *Controller) secretChanged(obj any) {
	if s, ok := controllerutil.FromEvent[*corev1.Secret](obj); ok && isTokenSecret(s) {
		c.queue.Add(key)
	}
}

// isTokenSecret tells whether s is a bootstrap token Secret: of the
// bootstrap token type, in kube-system.
func isTokenSecret(s *corev1.Secret) bool {
	return s.Namespace == metav1.NamespaceSystem && s.Type == bootstrapapi.SecretTypeBootstrapToken
}

// sync makes cluster-info's signatures those of the signing tokens, and
// requeues when the first of those tokens expires. A missing
// cluster-info, or one without a kubeconfig, is left alone.
func (c *Controller) sync(ctx context.Context, _ string) error {
	cm, err := c.cmLister.ConfigMaps(metav1.NamespacePublic).Get(bootstrapapi.ConfigMapClusterInfo)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	secrets, err := c.secretLister.Secrets(metav1.NamespaceSystem).List(labels.Everything())
	if err != nil {
		return err
	}
	now := c.clock.Now()
	tokens, next := SigningTokens(secrets, now)
	data, changed, err := Signed(cm.Data, tokens)
	if err != nil {
		return err
	}
	if next > 0 {
		c.queue.AddAfter(key, next)
	}
	if !changed {
		return nil
	}
	cm = cm.DeepCopy()
	cm.Data = data
	if _, err := c.client.CoreV1().ConfigMaps(cm.Namespace).Update(ctx, cm, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update configmap %s: %w", key, err)
	}
	c.log.Info("signed cluster-info", "tokens", len(tokens))
	return nil
}

// SigningTokens returns, by token id, the secrets of the tokens that may
// sign cluster-info at now, and how long until the first of them expires
// (0 when none expires). As upstream, a token may sign when its Secret is
// a bootstrap token Secret named bootstrap-token-<token-id> whose
// token-id matches the name, whose token-secret is not empty, whose
// expiration (RFC 3339; unparseable means expired) has not passed, and
// whose usage-bootstrap-signing is "true".
func SigningTokens(secrets []*corev1.Secret, now time.Time) (tokens map[string]string, next time.Duration) {
	tokens = map[string]string{}
	for _, s := range secrets {
		if s.Type != bootstrapapi.SecretTypeBootstrapToken {
			continue
		}
		id, ok := bootstrapsecrets.ParseName(s.Name)
		if !ok || bootstrapsecrets.GetData(s, bootstrapapi.BootstrapTokenIDKey) != id {
			continue
		}
		secret := bootstrapsecrets.GetData(s, bootstrapapi.BootstrapTokenSecretKey)
		if secret == "" || bootstrapsecrets.GetData(s, bootstrapapi.BootstrapTokenUsageSigningKey) != "true" {
			continue
		}
		left, expired := bootstrapsecrets.GetExpiration(s, now)
		if expired {
			continue
		}
		if left > 0 && (next == 0 || left < next) {
			next = left
		}
		tokens[id] = secret
	}
	return tokens, next
}

// Signed returns cluster-info's data with exactly one signature per
// token (key jws-kubeconfig-<id>) over data's "kubeconfig", and whether
// that differs from data. Data without a kubeconfig is returned
// unchanged, as upstream (there is nothing to sign).
func Signed(data map[string]string, tokens map[string]string) (map[string]string, bool, error) {
	content, ok := data[bootstrapapi.KubeConfigKey]
	if !ok {
		return data, false, nil
	}
	out := map[string]string{}
	for k, v := range data {
		if !strings.HasPrefix(k, bootstrapapi.JWSSignatureKeyPrefix) {
			out[k] = v
		}
	}
	for id, secret := range tokens {
		sig, err := jws.ComputeDetachedSignature(content, id, secret)
		if err != nil {
			return nil, false, fmt.Errorf("sign with token %s: %w", id, err)
		}
		out[bootstrapapi.JWSSignatureKeyPrefix+id] = sig
	}
	return out, !maps.Equal(out, data), nil
}
