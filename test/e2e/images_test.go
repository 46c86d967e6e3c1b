package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffk8s/skiff/test/nodetest"
)

func TestNodeImages(t *testing.T) {
	n := startNode(t)
	registry := nodetest.StartRegistry(t)
	pushed := nodetest.PushBusybox(t, registry, "e2e/busybox:pushed")

	t.Run("a missing image gives ErrImagePull then ImagePullBackOff with the registry's message", func(t *testing.T) {
		ref := registry + "/e2e/busybox:missing"
		p := busyboxPod("missing", corev1.RestartPolicyAlways, "sleep 3600")
		p.Spec.Containers[0].Image, p.Spec.Containers[0].ImagePullPolicy = ref, corev1.PullAlways
		updates := n.watchPod(t, "missing")
		n.create(t, p)
		var seen []string
		var errPull, backOff *corev1.ContainerStateWaiting
		deadline := time.After(20 * time.Second)
		for backOff == nil {
			select {
			case pod := <-updates:
				w := waiting(pod, "main")
				if w == nil {
					continue
				}
				if len(seen) == 0 || seen[len(seen)-1] != w.Reason {
					seen = append(seen, w.Reason)
				}
				switch w.Reason {
				case "ErrImagePull":
					errPull = w
				case "ImagePullBackOff":
					backOff = w
				}
			case <-deadline:
				t.Fatalf("no ImagePullBackOff in 20 s; waiting reasons seen: %v", seen)
			}
		}
		if errPull == nil {
			t.Errorf("ImagePullBackOff without ErrImagePull before it; reasons seen: %v", seen)
		} else if !strings.Contains(errPull.Message, ref) || !strings.Contains(errPull.Message, "manifest unknown") {
			t.Errorf("ErrImagePull message %q should name %s and the registry's message (manifest unknown)", errPull.Message, ref)
		}
		if !strings.Contains(backOff.Message, ref) || !strings.Contains(backOff.Message, "manifest unknown") {
			t.Errorf("ImagePullBackOff message %q should name %s and the registry's message (manifest unknown)", backOff.Message, ref)
		}
		if pod := n.get(t, "missing"); pod.Status.Phase != corev1.PodPending {
			t.Errorf("phase %s, want Pending", pod.Status.Phase)
		}
		n.waitEvent(t, "missing", "Pulling", ref)
		n.waitEvent(t, "missing", "Warning Failed", "manifest unknown")
		n.waitEvent(t, "missing", "BackOff", ref)
	})

	t.Run("an image pulled from the registry runs", func(t *testing.T) {
		p := busyboxPod("pulled", corev1.RestartPolicyAlways, "echo pulled-and-running; sleep 3600")
		p.Spec.Containers[0].Image, p.Spec.Containers[0].ImagePullPolicy = pushed, corev1.PullAlways
		n.create(t, p)
		pod := n.waitPhase(t, "pulled", corev1.PodRunning)
		n.waitLog(t, pod, "main", 0, "pulled-and-running")
		st := status(pod, "main")
		if !strings.Contains(st.Image, registry+"/e2e/busybox") || !strings.Contains(st.ImageID, "sha256:") {
			t.Errorf("image %q imageID %q, want the pulled image and its digest", st.Image, st.ImageID)
		}
		n.waitEvent(t, "pulled", "Pulled", pushed)
	})

	t.Run("pull policy Never with an image not present gives ErrImageNeverPull", func(t *testing.T) {
		p := busyboxPod("neverpull", corev1.RestartPolicyAlways, "true")
		p.Spec.Containers[0].Image = registry + "/e2e/busybox:not-here"
		n.create(t, p)
		pod := n.waitPod(t, "neverpull", "waiting reason ErrImageNeverPull", 20*time.Second, func(p *corev1.Pod) bool {
			w := waiting(p, "main")
			return w != nil && w.Reason == "ErrImageNeverPull"
		})
		if w := waiting(pod, "main"); !strings.Contains(w.Message, "e2e/busybox:not-here") {
			t.Errorf("message %q does not name the image", w.Message)
		}
	})

	t.Run("an invalid image reference gives InvalidImageName", func(t *testing.T) {
		p := busyboxPod("badref", corev1.RestartPolicyAlways, "true")
		p.Spec.Containers[0].Image = "busybox:::bad"
		n.create(t, p)
		pod := n.waitPod(t, "badref", "waiting reason InvalidImageName", 20*time.Second, func(p *corev1.Pod) bool {
			w := waiting(p, "main")
			return w != nil && w.Reason == "InvalidImageName"
		})
		if w := waiting(pod, "main"); !strings.Contains(w.Message, "busybox:::bad") {
			t.Errorf("message %q does not name the image", w.Message)
		}
		if pod.Status.Phase != corev1.PodPending {
			t.Errorf("phase %s, want Pending", pod.Status.Phase)
		}
		n.waitEvent(t, "badref", "InvalidImageName")
	})

	t.Run("imagePullSecrets authenticate pulls from a private registry", func(t *testing.T) {
		const user, password = "e2e-user", "e2e-secret-pw"
		private := nodetest.StartAuthRegistry(t, user, password)
		ref := nodetest.PushImage(t, private, "e2e/busybox:private", nodetest.BusyboxImage(t),
			remote.WithAuth(&authn.Basic{Username: user, Password: password}))

		// Without credentials the registry refuses, and the pod says so.
		p := busyboxPod("noauth", corev1.RestartPolicyAlways, "sleep 3600")
		p.Spec.Containers[0].Image, p.Spec.Containers[0].ImagePullPolicy = ref, corev1.PullAlways
		n.create(t, p)
		pod := n.waitPod(t, "noauth", "waiting reason ErrImagePull or ImagePullBackOff", 20*time.Second, func(p *corev1.Pod) bool {
			w := waiting(p, "main")
			return w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff")
		})
		if w := waiting(pod, "main"); !strings.Contains(w.Message, ref) || !strings.Contains(w.Message, "authorization") {
			t.Errorf("message %q should name %s and say the registry wants authorization", w.Message, ref)
		}

		// With a dockerconfigjson secret in imagePullSecrets it runs.
		auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
		sec := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "regcred"},
			Type:       corev1.SecretTypeDockerConfigJson,
			Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, private, auth))},
		}
		if _, err := n.cs.CoreV1().Secrets("default").Create(context.Background(), sec, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p = busyboxPod("withauth", corev1.RestartPolicyAlways, "echo pulled-with-secret; sleep 3600")
		p.Spec.Containers[0].Image, p.Spec.Containers[0].ImagePullPolicy = ref, corev1.PullAlways
		p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}}
		n.create(t, p)
		pod = n.waitPhase(t, "withauth", corev1.PodRunning)
		n.waitLog(t, pod, "main", 0, "pulled-with-secret")
		n.waitEvent(t, "withauth", "Pulled", ref)
	})

	t.Run("an image comes from the mirror in registries.yaml", func(t *testing.T) {
		// The mirrored registry is a loopback address where nothing listens,
		// so a pull that ignored the mirror fails and stays on this host.
		const upstream = "127.0.0.2:9"
		nodetest.PushBusybox(t, registry, "e2e/busybox:mirrored")
		conf := fmt.Sprintf("mirrors:\n  %q:\n    endpoint: [\"http://%s\"]\n", upstream, registry)
		if err := os.WriteFile(n.cfg.RegistriesConfig, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		n.stop(t) // the agent reads registries.yaml when it starts
		n.start(t)
		p := busyboxPod("mirrored", corev1.RestartPolicyAlways, "echo from-the-mirror; sleep 3600")
		p.Spec.Containers[0].Image, p.Spec.Containers[0].ImagePullPolicy = upstream+"/e2e/busybox:mirrored", corev1.PullAlways
		n.create(t, p)
		pod := n.waitPhase(t, "mirrored", corev1.PodRunning)
		n.waitLog(t, pod, "main", 0, "from-the-mirror")
		if st := status(pod, "main"); !strings.Contains(st.Image, upstream+"/e2e/busybox:mirrored") || !strings.Contains(st.ImageID, "sha256:") {
			t.Errorf("image %q imageID %q, want the mirrored reference and a digest", st.Image, st.ImageID)
		}
	})
}
