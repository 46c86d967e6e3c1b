package e2e

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/controllers"
	"github.com/skiffk8s/skiff/controllers/rootcacertpublisher"
	"github.com/skiffk8s/skiff/controllers/serviceaccount"
)

// kubernetesServiceIP is the default cluster IP of the kubernetes Service.
const kubernetesServiceIP = "10.96.0.1"

// TestInClusterClientGo runs a static client-go program in a pod: with
// rest.InClusterConfig it finds the API server through the
// KUBERNETES_SERVICE_HOST/PORT variables the kubelet sets, and
// authenticates with the token, ca.crt and namespace the ServiceAccount
// admission step mounts and the kubelet projects, then lists pods.
//
// Network: the pod's default route leads to the node's host namespace,
// which this test created. There the test gives its loopback the
// kubernetes Service's IP (10.96.0.1) and listens on 10.96.0.1:443,
// relaying each connection to the API server on 127.0.0.1 (TLS passes
// through untouched; the serving certificate names 10.96.0.1). No
// traffic leaves the namespaces the test made and the host's loopback.
func TestInClusterClientGo(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	runAccountControllers(t, n)
	relayKubernetesService(t, n)
	bin := buildInClusterBinary(t)

	waitDefault := func(what string, get func() error) {
		n.waitFor(t, what, func() (bool, error) { return get() == nil, nil })
	}
	waitDefault("the default serviceaccount", func() error {
		_, err := n.cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err
	})
	waitDefault("kube-root-ca.crt", func() error {
		_, err := n.cs.CoreV1().ConfigMaps("default").Get(ctx, rootcacertpublisher.ConfigMapName, metav1.GetOptions{})
		return err
	})

	p := busyboxPod("incluster", corev1.RestartPolicyNever, "")
	p.Spec.Containers[0].Command = []string{"/incluster/incluster"}
	p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "bin", MountPath: "/incluster", ReadOnly: true}}
	p.Spec.Volumes = []corev1.Volume{{Name: "bin", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: filepath.Dir(bin)}}}}
	created := n.create(t, p)
	if len(created.Spec.Volumes) != 2 || !strings.HasPrefix(created.Spec.Volumes[1].Name, "kube-api-access-") {
		t.Fatalf("the pod got no service-account token volume: %+v", created.Spec.Volumes)
	}
	pod := n.waitPhase(t, created.Name, corev1.PodSucceeded)
	log := n.waitLog(t, pod, "main", 0, "in-cluster-done")
	for _, want := range []string{"host https://" + kubernetesServiceIP + ":443", "pod default/incluster"} {
		if !strings.Contains(log, want) {
			t.Errorf("the in-cluster client's output lacks %q:\n%s", want, log)
		}
	}
}

// runAccountControllers runs the serviceaccount and root CA publisher
// controllers against the node's API server until the test ends.
func runAccountControllers(t *testing.T, n *node) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	inf := informers.NewSharedInformerFactory(n.cs, 0)
	c := controllers.Context{Client: n.cs, Informers: inf, Clock: clock.RealClock{},
		Options: map[string]string{rootcacertpublisher.OptionRootCAFile: filepath.Join(filepath.Dir(n.kubeconfig), "pki", "ca.crt")}}
	var wg sync.WaitGroup
	for _, newFn := range []controllers.InitFunc{serviceaccount.New, rootcacertpublisher.New} {
		ctl, err := newFn(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { _ = ctl.Run(ctx, 1) })
	}
	inf.Start(ctx.Done())
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		inf.Shutdown()
	})
}

// relayKubernetesService listens on 10.96.0.1:443 inside the node's host
// namespace and relays connections to the API server on loopback.
func relayKubernetesService(t *testing.T, n *node) {
	t.Helper()
	kc, err := clientcmd.BuildConfigFromFlags("", n.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	apiAddr := strings.TrimPrefix(kc.Host, "https://")
	type result struct {
		l   net.Listener
		err error
	}
	res := make(chan result, 1)
	go func() {
		// This thread enters the test's namespace and stays locked, so Go
		// discards it when the goroutine ends; the socket stays there.
		goruntime.LockOSThread()
		l, err := listenInNetNS(n.cfg.HostNetNS, kubernetesServiceIP+":443")
		res <- result{l, err}
	}()
	r := <-res
	if r.err != nil {
		t.Fatalf("listen on the kubernetes Service IP in the node namespace: %v", r.err)
	}
	// Relays end with their connections (at the latest when the API
	// server stops); the accept loop ends with the test.
	var wg sync.WaitGroup
	t.Cleanup(func() { r.l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			in, err := r.l.Accept()
			if err != nil {
				return
			}
			go relay(in, apiAddr)
		}
	})
}

// listenInNetNS moves the calling (locked) thread into the network
// namespace pinned at path, gives its loopback the address of addr and
// listens there.
func listenInNetNS(path, addr string) (net.Listener, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return nil, err
	}
	a, err := netlink.ParseAddr(host + "/32")
	if err != nil {
		return nil, err
	}
	if err := netlink.AddrAdd(lo, a); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, err
	}
	return net.Listen("tcp", addr)
}

// relay copies bytes both ways between in and a new connection to to.
func relay(in net.Conn, to string) {
	defer in.Close()
	out, err := net.DialTimeout("tcp", to, 5*time.Second)
	if err != nil {
		return
	}
	defer out.Close()
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(out, in)
	go cp(in, out)
	<-done
	<-done
}

// buildInClusterBinary builds testdata/incluster as a static binary (the
// busybox image has no libc) in a directory of its own and returns its
// path.
func buildInClusterBinary(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(goruntime.GOROOT(), "bin", "go")
	}
	out := filepath.Join(t.TempDir(), "incluster")
	cmd := exec.Command(goBin, "build", "-o", out, "./testdata/incluster")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the in-cluster client: %v\n%s", err, b)
	}
	return out
}
