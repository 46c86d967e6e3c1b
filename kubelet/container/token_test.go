package container

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
)

// tokenIssuer answers TokenRequests on a fake clientset: tokens tok-1,
// tok-2, ... expiring after the requested seconds; it records requests.
type tokenIssuer struct {
	clock *clocktesting.FakeClock
	fail  error

	mu       sync.Mutex
	requests []struct {
		account string
		spec    authenticationv1.TokenRequestSpec
	}
}

func (ti *tokenIssuer) install(c *fake.Clientset) {
	c.PrependReactor("create", "serviceaccounts", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "token" {
			return false, nil, nil
		}
		ca := a.(k8stesting.CreateActionImpl)
		tr := ca.GetObject().(*authenticationv1.TokenRequest).DeepCopy()
		ti.mu.Lock()
		defer ti.mu.Unlock()
		if ti.fail != nil {
			return true, nil, ti.fail
		}
		ti.requests = append(ti.requests, struct {
			account string
			spec    authenticationv1.TokenRequestSpec
		}{ca.Name, tr.Spec})
		tr.Status.Token = fmt.Sprintf("tok-%d", len(ti.requests))
		tr.Status.ExpirationTimestamp = metav1.NewTime(ti.clock.Now().Add(time.Duration(*tr.Spec.ExpirationSeconds) * time.Second))
		return true, tr, nil
	})
}

func (ti *tokenIssuer) count() int {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	return len(ti.requests)
}

func tokenVolume(path, audience string, exp *int64) corev1.Volume {
	return corev1.Volume{Name: "kube-api-access-x1", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: ptr(int32(0o600)),
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: path, Audience: audience, ExpirationSeconds: exp}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
		}}}}
}

func TestServiceAccountTokenIsRequestedBoundToThePod(t *testing.T) {
	b := testBuilder(t)
	clk := b.Clock.(*clocktesting.FakeClock)
	ti := &tokenIssuer{clock: clk}
	ti.install(b.Client.(*fake.Clientset))
	v := b.Volumes()
	pod := testPod()
	pod.Spec.Volumes = []corev1.Volume{tokenVolume("token", "vault", nil)}
	if err := v.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(v.VolumeDir(pod.UID, PluginProjected, "kube-api-access-x1"), "token")
	if got := readFile(t, file); got != "tok-1" {
		t.Errorf("token file = %q, want tok-1", got)
	}
	if got := mode(t, file); got != 0o600 {
		t.Errorf("token file mode = %o, want 600 (the volume's defaultMode)", got)
	}
	if got := readFile(t, filepath.Join(filepath.Dir(file), "namespace")); got != "shop" {
		t.Errorf("namespace file = %q", got)
	}
	r := ti.requests[0]
	ref := r.spec.BoundObjectRef
	if r.account != "builder" || fmt.Sprint(r.spec.Audiences) != "[vault]" || *r.spec.ExpirationSeconds != 3600 ||
		ref == nil || ref.Kind != "Pod" || ref.APIVersion != "v1" || ref.Name != "web" || ref.UID != pod.UID {
		t.Errorf("token request for %q: %+v (bound to %+v); want account builder, audience vault, 3600 s, bound to pod web/%s", r.account, r.spec, ref, pod.UID)
	}
}

func TestServiceAccountTokenIsRefreshedAfter80PercentOfItsLife(t *testing.T) {
	b := testBuilder(t)
	clk := b.Clock.(*clocktesting.FakeClock)
	ti := &tokenIssuer{clock: clk}
	ti.install(b.Client.(*fake.Clientset))
	v := b.Volumes()
	pod := testPod()
	pod.Spec.ServiceAccountName = ""
	pod.Spec.Volumes = []corev1.Volume{tokenVolume("token", "", ptr(int64(1000)))}
	ctx := context.Background()
	if err := v.Setup(ctx, pod); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(v.VolumeDir(pod.UID, PluginProjected, "kube-api-access-x1"), "token")

	clk.Step(799 * time.Second)
	changed, err := v.Sync(ctx, pod)
	if err != nil || len(changed) != 0 || ti.count() != 1 {
		t.Fatalf("sync at 79.9%% of the token's life: changed %v, err %v, %d requests; want no change and no new request", changed, err, ti.count())
	}
	clk.Step(2 * time.Second)
	changed, err = v.Sync(ctx, pod)
	if err != nil || len(changed) != 1 || ti.count() != 2 {
		t.Fatalf("sync past 80%%: changed %v, err %v, %d requests; want the volume refreshed", changed, err, ti.count())
	}
	if got := readFile(t, file); got != "tok-2" {
		t.Errorf("token file = %q, want tok-2", got)
	}
	if r := ti.requests[1]; r.account != "default" || len(r.spec.Audiences) != 0 || *r.spec.ExpirationSeconds != 1000 {
		t.Errorf("refresh request for %q: %+v; want the default account, the API server's audiences, 1000 s", r.account, r.spec)
	}

	// A teardown forgets the pod's tokens: a pod set up again asks anew.
	if err := v.Teardown(pod.UID); err != nil {
		t.Fatal(err)
	}
	if err := v.Setup(ctx, pod); err != nil || ti.count() != 3 {
		t.Errorf("setup after teardown: err %v, %d requests; want a new token", err, ti.count())
	}
}

func TestServiceAccountTokenFailureIsAMountError(t *testing.T) {
	b := testBuilder(t)
	ti := &tokenIssuer{clock: b.Clock.(*clocktesting.FakeClock), fail: fmt.Errorf(`serviceaccounts "builder" not found`)}
	ti.install(b.Client.(*fake.Clientset))
	v := b.Volumes()
	pod := testPod()
	pod.Spec.Volumes = []corev1.Volume{tokenVolume("token", "", nil)}
	err := v.Setup(context.Background(), pod)
	if err == nil || !strings.Contains(err.Error(), `MountVolume.SetUp failed for volume "kube-api-access-x1" : failed to fetch token: serviceaccounts "builder" not found`) {
		t.Fatalf("Setup = %v; want a FailedMount-style error naming the token failure", err)
	}
	if _, err := os.Stat(filepath.Join(v.VolumeDir(pod.UID, PluginProjected, "kube-api-access-x1"), "token")); !os.IsNotExist(err) {
		t.Errorf("token file written despite the failure: %v", err)
	}
}
