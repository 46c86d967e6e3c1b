package apiserver_test

import (
	"errors"
	"net/http"
	"reflect"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/skiffk8s/skiff/apiserver"
	"github.com/skiffk8s/skiff/apiserver/apitest"
)

// ServiceAccount admission (as upstream's ServiceAccount admission
// plugin) and the service-account token authenticator's audience and
// expiry checks.

const saMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"

// cgStrictServer is a test server that refuses pods whose service
// account is missing, as a cluster does.
func cgStrictServer(t *testing.T, opts ...apitest.Option) *apitest.Server {
	return apitest.Start(t, append(opts, apitest.WithConfig(func(c *apiserver.Config) { c.AdmitPodsWithoutServiceAccount = false }))...)
}

func cgCreateAccount(t *testing.T, cs kubernetes.Interface, ns string, sa *corev1.ServiceAccount) {
	t.Helper()
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(cgCtx(t), sa, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create serviceaccount %s: %v", sa.Name, err)
	}
}

// wantTokenVolume is upstream's projected volume, with the given name.
func wantTokenVolume(name string) corev1.Volume {
	mode, exp := int32(0o644), int64(3607)
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: &mode,
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: &exp}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
				Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace",
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
		},
	}}}
}

func TestServiceAccountAdmissionMountsTheToken(t *testing.T) {
	srv := cgStrictServer(t)
	cs := srv.Client
	cgCreateAccount(t, cs, "default", &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "registry-creds"}}})
	pod := cgPod("web", nil)
	pod.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox"}}
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "own-mount", Image: "busybox",
		VolumeMounts: []corev1.VolumeMount{{Name: "mine", MountPath: saMountPath}}})
	pod.Spec.Volumes = []corev1.Volume{{Name: "mine", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	got, err := cs.CoreV1().Pods("default").Create(cgCtx(t), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod: %v", err)
	}
	if got.Spec.ServiceAccountName != "default" {
		t.Errorf("serviceAccountName = %q, want default", got.Spec.ServiceAccountName)
	}
	if len(got.Spec.Volumes) != 2 {
		t.Fatalf("volumes %+v, want the pod's own and the token volume", got.Spec.Volumes)
	}
	vol := got.Spec.Volumes[1]
	if !regexp.MustCompile(`^kube-api-access-[a-z0-9]{5}$`).MatchString(vol.Name) {
		t.Errorf("token volume named %q, want kube-api-access-<5 random characters>", vol.Name)
	}
	if want := wantTokenVolume(vol.Name); !reflect.DeepEqual(vol, want) {
		t.Errorf("token volume\n got %+v\nwant %+v", vol, want)
	}
	wantMount := corev1.VolumeMount{Name: vol.Name, ReadOnly: true, MountPath: saMountPath}
	for _, c := range append(got.Spec.InitContainers, got.Spec.Containers...) {
		want := []corev1.VolumeMount{wantMount}
		if c.Name == "own-mount" {
			want = []corev1.VolumeMount{{Name: "mine", MountPath: saMountPath}}
		}
		if !reflect.DeepEqual(c.VolumeMounts, want) {
			t.Errorf("container %s mounts %+v, want %+v", c.Name, c.VolumeMounts, want)
		}
	}
	if want := []corev1.LocalObjectReference{{Name: "registry-creds"}}; !reflect.DeepEqual(got.Spec.ImagePullSecrets, want) {
		t.Errorf("imagePullSecrets = %v, want the account's %v", got.Spec.ImagePullSecrets, want)
	}
}

func TestServiceAccountAdmissionAutomount(t *testing.T) {
	srv := cgStrictServer(t)
	cs := srv.Client
	no, yes := false, true
	cgCreateAccount(t, cs, "default", &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}})
	cgCreateAccount(t, cs, "default", &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "quiet"}, AutomountServiceAccountToken: &no})
	tests := []struct {
		name      string
		account   string
		automount *bool
		want      bool
	}{
		{name: "a pod that opts out gets no token", account: "default", automount: &no, want: false},
		{name: "an account that opts out gives its pods no token", account: "quiet", want: false},
		{name: "a pod that opts in wins over its account", account: "quiet", automount: &yes, want: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := cgPod("p"+string(rune('a'+i)), nil)
			pod.Spec.ServiceAccountName = tt.account
			pod.Spec.AutomountServiceAccountToken = tt.automount
			got, err := cs.CoreV1().Pods("default").Create(cgCtx(t), pod, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("create pod: %v", err)
			}
			mounted := len(got.Spec.Volumes) == 1 && len(got.Spec.Containers[0].VolumeMounts) == 1 &&
				got.Spec.Containers[0].VolumeMounts[0].MountPath == saMountPath
			if mounted != tt.want || (!tt.want && len(got.Spec.Volumes) != 0) {
				t.Errorf("volumes %+v, mounts %+v; want token mounted: %v", got.Spec.Volumes, got.Spec.Containers[0].VolumeMounts, tt.want)
			}
		})
	}
}

func TestServiceAccountAdmissionRefusesAMissingAccount(t *testing.T) {
	srv := cgStrictServer(t)
	cs := srv.Client
	ns := cgNamespace(t, cs, "sa")
	_, err := cs.CoreV1().Pods(ns).Create(cgCtx(t), cgPod("web", nil), metav1.CreateOptions{})
	cgWantCode(t, err, http.StatusForbidden, "a pod in a namespace without its default account")
	want := `pods "web" is forbidden: error looking up service account ` + ns + `/default: serviceaccount "default" not found`
	if err.Error() != want {
		t.Errorf("message %q\nwant    %q", err.Error(), want)
	}
	pod := cgPod("robot-pod", nil)
	pod.Spec.ServiceAccountName = "robot"
	_, err = cs.CoreV1().Pods(ns).Create(cgCtx(t), pod, metav1.CreateOptions{})
	cgWantCode(t, err, http.StatusForbidden, "a pod naming a missing account")

	_, err = cs.CoreV1().Pods("no-such-namespace").Create(cgCtx(t), cgPod("web", nil), metav1.CreateOptions{})
	cgWantCode(t, err, http.StatusNotFound, "a pod in a missing namespace")

	cgCreateAccount(t, cs, ns, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}})
	if _, err := cs.CoreV1().Pods(ns).Create(cgCtx(t), cgPod("web", nil), metav1.CreateOptions{}); err != nil {
		t.Errorf("the pod once its account exists: %v", err)
	}
}

func TestServiceAccountAdmissionCanAdmitPodsWithoutAccount(t *testing.T) {
	srv := apitest.Start(t) // AdmitPodsWithoutServiceAccount, as harnesses
	got, err := srv.Client.CoreV1().Pods("default").Create(cgCtx(t), cgPod("web", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod: %v", err)
	}
	if got.Spec.ServiceAccountName != "default" || len(got.Spec.Volumes) != 0 || len(got.Spec.Containers[0].VolumeMounts) != 0 {
		t.Errorf("pod without an account: serviceAccountName %q, volumes %+v, mounts %+v; want default and no token volume",
			got.Spec.ServiceAccountName, got.Spec.Volumes, got.Spec.Containers[0].VolumeMounts)
	}
}

// cgTokenCode returns the HTTP code of a pod list made with token.
func cgTokenCode(t *testing.T, srv *apitest.Server, token string) int {
	t.Helper()
	cfg := rest.AnonymousClientConfig(srv.Config)
	cfg.BearerToken = token
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CoreV1().Pods("default").List(cgCtx(t), metav1.ListOptions{})
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		return int(st.Status().Code)
	}
	if err != nil {
		t.Fatal(err)
	}
	return http.StatusOK
}

func cgToken(t *testing.T, cs kubernetes.Interface, spec authenticationv1.TokenRequestSpec) string {
	t.Helper()
	tr, err := cs.CoreV1().ServiceAccounts("default").CreateToken(cgCtx(t), "robot", &authenticationv1.TokenRequest{Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	return tr.Status.Token
}

func TestServiceAccountTokenForAnotherAudienceIsRefused(t *testing.T) {
	srv := apitest.Start(t)
	cgCreateAccount(t, srv.Client, "default", &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}})
	api := "https://kubernetes.default.svc.cluster.local"
	if c := cgTokenCode(t, srv, cgToken(t, srv.Client, authenticationv1.TokenRequestSpec{Audiences: []string{"vault"}})); c != http.StatusUnauthorized {
		t.Errorf("a token for audience vault: %d, want 401", c)
	}
	if c := cgTokenCode(t, srv, cgToken(t, srv.Client, authenticationv1.TokenRequestSpec{Audiences: []string{"vault", api}})); c != http.StatusOK {
		t.Errorf("a token for vault and the API server: %d, want 200", c)
	}
}

func TestServiceAccountTokenExpires(t *testing.T) {
	var skew atomic.Int64 // how far the server's clock is ahead
	srv := apitest.Start(t, apitest.WithConfig(func(c *apiserver.Config) {
		c.Clock = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	}))
	cgCreateAccount(t, srv.Client, "default", &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}})
	ten := int64(600) // upstream's shortest
	token := cgToken(t, srv.Client, authenticationv1.TokenRequestSpec{ExpirationSeconds: &ten})
	if c := cgTokenCode(t, srv, token); c != http.StatusOK {
		t.Fatalf("a fresh token: %d, want 200", c)
	}
	skew.Store(int64(9 * time.Minute))
	if c := cgTokenCode(t, srv, token); c != http.StatusOK {
		t.Errorf("a token 9 minutes into its 10: %d, want 200", c)
	}
	skew.Store(int64(11 * time.Minute))
	if c := cgTokenCode(t, srv, token); c != http.StatusUnauthorized {
		t.Errorf("a token past its expiry: %d, want 401", c)
	}
}
