package tokencleaner

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"

	"github.com/skiffk8s/skiff/controllers/internal/ctrltest"
)

func tokenSecret(ns, id, expiration string) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: bootstrapapi.BootstrapTokenSecretPrefix + id, UID: types.UID("uid-" + id)},
		Type:       bootstrapapi.SecretTypeBootstrapToken,
		Data: map[string][]byte{
			bootstrapapi.BootstrapTokenIDKey:     []byte(id),
			bootstrapapi.BootstrapTokenSecretKey: []byte("0123456789abcdef"),
		},
	}
	if expiration != "" {
		s.Data[bootstrapapi.BootstrapTokenExpirationKey] = []byte(expiration)
	}
	return s
}

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

func TestSync(t *testing.T) {
	past := ctrltest.Epoch.Add(-time.Second).Format(time.RFC3339)
	future := ctrltest.Epoch.Add(time.Hour).Format(time.RFC3339)
	opaque := tokenSecret("kube-system", "abcdef", past)
	opaque.Type = corev1.SecretTypeOpaque
	tests := []struct {
		name   string
		secret *corev1.Secret
		want   []string
	}{
		{"an expired token is deleted", tokenSecret("kube-system", "abcdef", past), []string{"delete secrets bootstrap-token-abcdef"}},
		{"a token with an unparseable expiration is deleted, as upstream", tokenSecret("kube-system", "abcdef", "soon"), []string{"delete secrets bootstrap-token-abcdef"}},
		{"a token that expires later is kept", tokenSecret("kube-system", "abcdef", future), nil},
		{"a token without expiration is kept", tokenSecret("kube-system", "abcdef", ""), nil},
		{"an expired token outside kube-system is not ours", tokenSecret("default", "abcdef", past), nil},
		{"an opaque Secret with an expiration key is not a token", opaque, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, u := newUnit(t, tt.secret)
			if err := c.sync(context.Background(), tt.secret.Namespace+"/"+tt.secret.Name); err != nil {
				t.Fatalf("sync: %v", err)
			}
			if got := u.Writes(); !slices.Equal(got, tt.want) {
				t.Errorf("writes %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDeleteIsPreconditionedOnTheUID(t *testing.T) {
	s := tokenSecret("kube-system", "abcdef", ctrltest.Epoch.Add(-time.Minute).Format(time.RFC3339))
	c, u := newUnit(t, s)
	if err := c.sync(context.Background(), "kube-system/bootstrap-token-abcdef"); err != nil {
		t.Fatal(err)
	}
	for _, a := range u.Fake.Actions() {
		if d, ok := a.(interface{ GetDeleteOptions() metav1.DeleteOptions }); ok {
			p := d.GetDeleteOptions().Preconditions
			if p == nil || p.UID == nil || *p.UID != s.UID {
				t.Errorf("delete preconditions %+v, want UID %s", p, s.UID)
			}
			return
		}
	}
	t.Fatal("no delete")
}

func TestATokenIsDeletedAtItsExpiration(t *testing.T) {
	exp := ctrltest.Epoch.Add(90 * time.Minute)
	s := tokenSecret("kube-system", "abcdef", exp.Format(time.RFC3339))
	c, u := newUnit(t, s)
	key := "kube-system/bootstrap-token-abcdef"
	if err := c.sync(context.Background(), key); err != nil {
		t.Fatal(err)
	}
	if w := u.Writes(); len(w) != 0 {
		t.Fatalf("a live token was touched: %v", w)
	}
	u.Clock.Step(90*time.Minute - time.Second)
	if n := c.queue.Len(); n != 0 {
		t.Fatalf("the token is looked at again %d times before it expires", n)
	}
	u.Clock.Step(time.Second)
	ctrltest.Eventually(t, "the requeue at the expiration", func() bool { return c.queue.Len() == 1 })
	got, _ := c.queue.Get()
	c.queue.Done(got)
	if got != key {
		t.Fatalf("requeued %q, want %q", got, key)
	}
	if err := c.sync(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Fake.CoreV1().Secrets("kube-system").Get(context.Background(), s.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the expired token is still there: %v", err)
	}
}

func TestGoneSecretIsDone(t *testing.T) {
	c, u := newUnit(t)
	if err := c.sync(context.Background(), "kube-system/bootstrap-token-abcdef"); err != nil {
		t.Fatalf("sync of a gone secret: %v", err)
	}
	if w := u.Writes(); len(w) != 0 {
		t.Errorf("writes %v, want none", w)
	}
}

func TestEventsEnqueueOnlyTokens(t *testing.T) {
	c, _ := newUnit(t)
	c.secretChanged(tokenSecret("default", "abcdef", ""))
	o := tokenSecret("kube-system", "ghijkl", "")
	o.Type = corev1.SecretTypeOpaque
	c.secretChanged(o)
	c.secretChanged(tokenSecret("kube-system", "abcdef", ""))
	if n := c.queue.Len(); n != 1 {
		t.Fatalf("queue holds %d keys, want 1 (the kube-system token)", n)
	}
}
