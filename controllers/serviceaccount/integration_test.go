package serviceaccount

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/controllers/internal/ctrltest"
)

// startOn runs the controller against the test API server until the test
// ends.
func startOn(t *testing.T, srv *apitest.Server) {
	t.Helper()
	ctrltest.Start(t, New, ctrltest.Context(t, srv.Client, Name, clock.RealClock{}, nil))
}

// waitAccount waits until ns/default exists and returns its UID.
func waitAccount(t *testing.T, srv *apitest.Server, ns string, not string) string {
	t.Helper()
	var uid string
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		sa, err := srv.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		uid = string(sa.UID)
		return uid != not, nil
	})
	if err != nil {
		t.Fatalf("no default serviceaccount in %s: %v", ns, err)
	}
	return uid
}

func TestEveryNamespaceGetsADefaultAccountBack(t *testing.T) {
	srv := apitest.Start(t)
	startOn(t, srv)
	ctx := context.Background()
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		waitAccount(t, srv, ns, "")
	}
	if _, err := srv.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	first := waitAccount(t, srv, "team", "")

	if err := srv.Client.CoreV1().ServiceAccounts("team").Delete(ctx, "default", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitAccount(t, srv, "team", first)
}
