package bootstrapsigner

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"k8s.io/cluster-bootstrap/token/jws"

	"github.com/skiffk8s/skiff/controllers/internal/ctrltest"
)

const kubeconfig = "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://127.0.0.1:6443\n  name: \"\"\n"

func clusterInfo(data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespacePublic, Name: bootstrapapi.ConfigMapClusterInfo}, Data: data}
}

// token is a bootstrap token Secret abcdef.0123456789abcdef-like for id
// and secret; extra data overrides the defaults (signing "true").
func token(id, secret string, extra map[string]string) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceSystem, Name: bootstrapapi.BootstrapTokenSecretPrefix + id},
		Type:       bootstrapapi.SecretTypeBootstrapToken,
		Data: map[string][]byte{
			bootstrapapi.BootstrapTokenIDKey:           []byte(id),
			bootstrapapi.BootstrapTokenSecretKey:       []byte(secret),
			bootstrapapi.BootstrapTokenUsageSigningKey: []byte("true"),
		},
	}
	for k, v := range extra {
		if v == "" {
			delete(s.Data, k)
			continue
		}
		s.Data[k] = []byte(v)
	}
	return s
}

// newUnit builds the controller on a fake clientset and caches both
// holding objs.
func newUnit(t *testing.T, objs ...runtime.Object) (*Controller, *ctrltest.Unit) {
	t.Helper()
	u := ctrltest.NewUnit(t, objs...)
	c, err := New(context.Background(), u.Context)
	if err != nil {
		t.Fatal(err)
	}
	u.Add(t, objs...)
	return c.(*Controller), u
}

// syncOnce syncs and returns the cluster-info the controller wrote, or
// nil when it wrote nothing.
func syncOnce(t *testing.T, c *Controller, u *ctrltest.Unit) *corev1.ConfigMap {
	t.Helper()
	u.Fake.ClearActions()
	if err := c.sync(context.Background(), key); err != nil {
		t.Fatalf("sync: %v", err)
	}
	var out *corev1.ConfigMap
	for _, a := range u.Fake.Actions() {
		if a.GetVerb() == "get" || a.GetVerb() == "list" || a.GetVerb() == "watch" {
			continue
		}
		if !a.Matches("update", "configmaps") || out != nil {
			t.Fatalf("want at most one update of cluster-info, got %v", u.Writes())
		}
		out = a.(interface{ GetObject() runtime.Object }).GetObject().(*corev1.ConfigMap)
	}
	if out != nil {
		// The cache sees the write, as the informer would.
		u.Add(t, out)
	}
	return out
}

func TestSignatureVerifiesWithTheTokenAndGoesAwayWithIt(t *testing.T) {
	tok := token("abcdef", "0123456789abcdef", nil)
	c, u := newUnit(t, clusterInfo(map[string]string{bootstrapapi.KubeConfigKey: kubeconfig}), tok)

	cm := syncOnce(t, c, u)
	if cm == nil {
		t.Fatal("cluster-info was not signed")
	}
	sig := cm.Data["jws-kubeconfig-abcdef"]
	if !jws.DetachedTokenIsValid(sig, kubeconfig, "abcdef", "0123456789abcdef") {
		t.Errorf("signature %q does not verify with token abcdef.0123456789abcdef", sig)
	}
	if jws.DetachedTokenIsValid(sig, kubeconfig, "abcdef", "0123456789abcdeX") {
		t.Errorf("signature %q verifies with a wrong token secret", sig)
	}
	if cm.Data[bootstrapapi.KubeConfigKey] != kubeconfig || len(cm.Data) != 2 {
		t.Errorf("cluster-info data = %v, want the kubeconfig and one signature", cm.Data)
	}
	if again := syncOnce(t, c, u); again != nil {
		t.Errorf("a signed cluster-info was written again: %v", again.Data)
	}

	// The kubeconfig changes: the signature follows.
	changed := cm.DeepCopy()
	changed.Data[bootstrapapi.KubeConfigKey] = kubeconfig + "# moved\n"
	u.Add(t, changed)
	cm = syncOnce(t, c, u)
	if cm == nil || !jws.DetachedTokenIsValid(cm.Data["jws-kubeconfig-abcdef"], kubeconfig+"# moved\n", "abcdef", "0123456789abcdef") {
		t.Fatalf("after the kubeconfig changed, cluster-info is %v, want it re-signed", cm)
	}

	// The token is deleted: its signature goes.
	inf, _ := u.Informers.ForResource(corev1.SchemeGroupVersion.WithResource("secrets"))
	if err := inf.Informer().GetIndexer().Delete(tok); err != nil {
		t.Fatal(err)
	}
	cm = syncOnce(t, c, u)
	if cm == nil {
		t.Fatal("cluster-info kept the signature of a deleted token")
	}
	if _, ok := cm.Data["jws-kubeconfig-abcdef"]; ok || cm.Data[bootstrapapi.KubeConfigKey] != kubeconfig+"# moved\n" {
		t.Errorf("after the token was deleted, cluster-info data = %v, want the kubeconfig alone", cm.Data)
	}
}

func TestOnlyValidSigningTokensSign(t *testing.T) {
	past := ctrltest.Epoch.Add(-time.Second).Format(time.RFC3339)
	future := ctrltest.Epoch.Add(time.Hour).Format(time.RFC3339)
	stale := map[string]string{bootstrapapi.KubeConfigKey: kubeconfig, "jws-kubeconfig-zzzzzz": "old..sig", "other": "kept"}
	tests := []struct {
		name   string
		data   map[string]string
		secret *corev1.Secret
		want   []string // signature token ids; nil with wantWrite false means no write
		write  bool
	}{
		{name: "a token with usage-bootstrap-signing true and a future expiration signs",
			data: map[string]string{bootstrapapi.KubeConfigKey: kubeconfig}, secret: token("abcdef", "0123456789abcdef", map[string]string{"expiration": future}),
			want: []string{"abcdef"}, write: true},
		{name: "an expired token does not sign",
			data: map[string]string{bootstrapapi.KubeConfigKey: kubeconfig}, secret: token("abcdef", "0123456789abcdef", map[string]string{"expiration": past})},
		{name: "an unparseable expiration counts as expired",
			data: map[string]string{bootstrapapi.KubeConfigKey: kubeconfig}, secret: token("abcdef", "0123456789abcdef", map[string]string{"expiration": "tomorrow"})},
		{name: "a token not for signing does not sign",
			data: map[string]string{bootstrapapi.KubeConfigKey: kubeconfig}, secret: token("abcdef", "0123456789abcdef", map[string]string{bootstrapapi.BootstrapTokenUsageSigningKey: "false"})},
		{name: "a token whose id differs from its name does not sign",
			data: map[string]string{bootstrapapi.KubeConfigKey: kubeconfig}, secret: token("abcdef", "0123456789abcdef", map[string]string{bootstrapapi.BootstrapTokenIDKey: "ghijkl"})},
		{name: "a token without a secret does not sign",
			data: map[string]string{bootstrapapi.KubeConfigKey: kubeconfig}, secret: token("abcdef", "", nil)},
		{name: "a Secret of another type does not sign",
			data: map[string]string{bootstrapapi.KubeConfigKey: kubeconfig},
			secret: func() *corev1.Secret {
				s := token("abcdef", "0123456789abcdef", nil)
				s.Type = corev1.SecretTypeOpaque
				return s
			}()},
		{name: "a token outside kube-system does not sign",
			data: map[string]string{bootstrapapi.KubeConfigKey: kubeconfig},
			secret: func() *corev1.Secret {
				s := token("abcdef", "0123456789abcdef", nil)
				s.Namespace = "default"
				return s
			}()},
		{name: "a signature of an unknown token is removed and other keys are kept",
			data: stale, secret: token("abcdef", "0123456789abcdef", nil), want: []string{"abcdef"}, write: true},
		{name: "a cluster-info without a kubeconfig is left alone",
			data: map[string]string{"jws-kubeconfig-zzzzzz": "old..sig"}, secret: token("abcdef", "0123456789abcdef", nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, u := newUnit(t, clusterInfo(tt.data), tt.secret)
			cm := syncOnce(t, c, u)
			if !tt.write {
				if cm != nil {
					t.Fatalf("cluster-info was written: %v", cm.Data)
				}
				return
			}
			if cm == nil {
				t.Fatal("cluster-info was not written")
			}
			n := 0
			for k := range cm.Data {
				if len(k) > len(bootstrapapi.JWSSignatureKeyPrefix) && k[:len(bootstrapapi.JWSSignatureKeyPrefix)] == bootstrapapi.JWSSignatureKeyPrefix {
					n++
				}
			}
			if n != len(tt.want) {
				t.Errorf("cluster-info has %d signatures (%v), want %v", n, cm.Data, tt.want)
			}
			for _, id := range tt.want {
				if !jws.DetachedTokenIsValid(cm.Data[bootstrapapi.JWSSignatureKeyPrefix+id], kubeconfig, id, "0123456789abcdef") {
					t.Errorf("signature for %s missing or wrong in %v", id, cm.Data)
				}
			}
			for k, v := range tt.data {
				if k[0] != 'j' && cm.Data[k] != v {
					t.Errorf("key %s = %q, want %q kept", k, cm.Data[k], v)
				}
			}
		})
	}
}

func TestNoClusterInfoMeansNoWrite(t *testing.T) {
	c, u := newUnit(t, token("abcdef", "0123456789abcdef", nil))
	if cm := syncOnce(t, c, u); cm != nil {
		t.Errorf("wrote %v, want cluster-info left to skiff init", cm)
	}
}

func TestSignatureGoesWhenTheTokenExpires(t *testing.T) {
	exp := ctrltest.Epoch.Add(time.Hour)
	c, u := newUnit(t, clusterInfo(map[string]string{bootstrapapi.KubeConfigKey: kubeconfig}),
		token("abcdef", "0123456789abcdef", map[string]string{"expiration": exp.Format(time.RFC3339)}))
	if cm := syncOnce(t, c, u); cm == nil || cm.Data["jws-kubeconfig-abcdef"] == "" {
		t.Fatalf("cluster-info not signed by an unexpired token: %v", cm)
	}
	u.Clock.Step(time.Hour - time.Second)
	if n := c.queue.Len(); n != 0 {
		t.Fatalf("queue holds %d keys before the token expires, want 0", n)
	}
	u.Clock.Step(time.Second)
	ctrltest.Eventually(t, "the requeue at the token's expiry", func() bool { return c.queue.Len() == 1 })
	cm := syncOnce(t, c, u)
	if cm == nil || cm.Data["jws-kubeconfig-abcdef"] != "" {
		t.Errorf("after expiry cluster-info is %v, want the signature removed", cm)
	}
}

func TestEventsEnqueueOnlyClusterInfoAndTokens(t *testing.T) {
	c, _ := newUnit(t)
	other := clusterInfo(nil)
	other.Namespace = "default"
	c.configMapChanged(other)
	s := token("abcdef", "x", nil)
	s.Type = corev1.SecretTypeOpaque
	c.secretChanged(s)
	if n := c.queue.Len(); n != 0 {
		t.Fatalf("unrelated objects enqueued %d keys", n)
	}
	c.configMapChanged(clusterInfo(nil))
	c.secretChanged(token("abcdef", "x", nil))
	if n := c.queue.Len(); n != 1 {
		t.Fatalf("queue holds %d keys, want the one cluster-info key", n)
	}
}
