package rootcacertpublisher

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/controllers/internal/ctrltest"
)

// startOn runs the publisher against the test API server, publishing the
// server's own CA, until the test ends.
func startOn(t *testing.T, srv *apitest.Server) {
	t.Helper()
	ctrltest.Start(t, New, ctrltest.Context(t, srv.Client, Name, clock.RealClock{}, map[string]string{OptionRootCAFile: filepath.Join(srv.DataDir, "pki", "ca.crt")}))
}

// waitPublished waits until ns/kube-root-ca.crt holds exactly the
// server's CA with upstream's description, in an object other than the
// one with UID not, and returns it.
func waitPublished(t *testing.T, srv *apitest.Server, ns, not string) *corev1.ConfigMap {
	t.Helper()
	var cm *corev1.ConfigMap
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		cm, err = srv.Client.CoreV1().ConfigMaps(ns).Get(ctx, ConfigMapName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		return string(cm.UID) != not && len(cm.Data) == 1 && cm.Data["ca.crt"] == string(srv.CAPEM) &&
			cm.Annotations[DescriptionAnnotation] == Description, nil
	})
	if err != nil {
		t.Fatalf("%s/%s does not hold the cluster CA: %v; last seen %+v", ns, ConfigMapName, err, cm)
	}
	return cm
}

func TestEveryNamespaceGetsTheRootCAAndKeepsIt(t *testing.T) {
	srv := apitest.Start(t)
	startOn(t, srv)
	ctx := context.Background()
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		waitPublished(t, srv, ns, "")
	}
	if _, err := srv.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cm := waitPublished(t, srv, "team", "")

	// An edit is undone.
	cm.Data["ca.crt"] = "forged"
	cm.Data["extra"] = "x"
	delete(cm.Annotations, DescriptionAnnotation)
	if _, err := srv.Client.CoreV1().ConfigMaps("team").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	fixed := waitPublished(t, srv, "team", "")
	if fixed.UID != cm.UID {
		t.Errorf("the edited configmap was replaced (uid %s → %s), want it updated in place", cm.UID, fixed.UID)
	}

	// A deleted one comes back.
	if err := srv.Client.CoreV1().ConfigMaps("team").Delete(ctx, ConfigMapName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPublished(t, srv, "team", string(cm.UID))
}
