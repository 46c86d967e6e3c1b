package apiserver_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/skiffk8s/skiff/apiserver"
	"github.com/skiffk8s/skiff/apiserver/apitest"
)

// TestClientGoTwoServers runs two API servers on one etcd: what one writes
// the other reads, lists and watches.
func TestClientGoTwoServers(t *testing.T) {
	first := apitest.Start(t)
	second := apitest.Start(t, apitest.WithEtcd(first.EtcdEndpoints()))
	ctx := cgCtx(t)
	ns := cgNamespace(t, first.Client, "shared")
	a, b := first.Client.CoreV1().ConfigMaps(ns), second.Client.CoreV1().ConfigMaps(ns)

	l, err := b.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list through the second server in a namespace made through the first: %v", err)
	}
	w, err := b.Watch(ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	created, err := a.Create(ctx, cgConfigMap("from-first", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cgExpectEvent(t, w, watch.Added, "from-first")
	got, err := b.Get(ctx, "from-first", metav1.GetOptions{})
	if err != nil || got.UID != created.UID || got.ResourceVersion != created.ResourceVersion {
		t.Fatalf("get through the second server: %v (uid %s rv %s, want %s %s)", err, got.UID, got.ResourceVersion, created.UID, created.ResourceVersion)
	}
	list, err := b.List(ctx, metav1.ListOptions{})
	if err != nil || fmt.Sprint(cgNames(t, list)) != "[from-first]" {
		t.Fatalf("list through the second server: %v %v", err, cgNames(t, list))
	}
	// A write through the second makes the first's copy stale.
	got.Data["by"] = "second"
	if _, err := b.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	cgExpectEvent(t, w, watch.Modified, "from-first")
	created.Data["by"] = "first"
	if _, err := a.Update(ctx, created, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("stale update through the first server: %v, want Conflict", err)
	}
	if err := a.Delete(ctx, "from-first", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	cgExpectEvent(t, w, watch.Deleted, "from-first")

	// Both allocate service IPs from one pool.
	seen := map[string]bool{"10.96.0.1": true}
	for i := 0; i < 10; i++ {
		cs := []kubernetes.Interface{first.Client, second.Client}[i%2]
		s, err := cs.CoreV1().Services(ns).Create(ctx, cgService(fmt.Sprintf("svc-%d", i)), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if seen[s.Spec.ClusterIP] {
			t.Fatalf("cluster IP %s handed out twice across servers", s.Spec.ClusterIP)
		}
		seen[s.Spec.ClusterIP] = true
	}
}

// cgFreePort returns a loopback TCP port that was free a moment ago.
func cgFreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

const cgEtcdBinary = "/usr/bin/etcd"

// cgStartEtcd runs Debian's etcd-server on loopback with a temporary
// data dir until the test ends, and returns its client URL.
func cgStartEtcd(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(cgEtcdBinary); err != nil {
		if os.Geteuid() != 0 {
			t.Skipf("%s is missing and the test is not root: install Debian's etcd-server (make test-deps) to run it", cgEtcdBinary)
		}
		t.Fatalf("%s is missing: run `make test-deps` (apt-get install etcd-server)", cgEtcdBinary)
	}
	dir := t.TempDir()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		client := "http://127.0.0.1:" + strconv.Itoa(cgFreePort(t))
		peer := "http://127.0.0.1:" + strconv.Itoa(cgFreePort(t))
		var out bytes.Buffer
		cmd := exec.Command(cgEtcdBinary,
			"--name", "skiff-test",
			"--data-dir", filepath.Join(dir, fmt.Sprintf("data-%d", attempt)),
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", "skiff-test="+peer, "--initial-cluster-state", "new",
			"--log-level", "warn")
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.Env = append(os.Environ(), "ETCD_UNSUPPORTED_ARCH="+runtime.GOARCH)
		if err := cmd.Start(); err != nil {
			t.Fatalf("start etcd: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		stop := func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		}
		if err := cgWaitEtcd(client, exited); err != nil {
			stop()
			lastErr = fmt.Errorf("%v\n%s", err, out.String())
			continue // most likely a port taken in between
		}
		t.Cleanup(stop)
		return client
	}
	t.Fatalf("external etcd did not start: %v", lastErr)
	return ""
}

// cgWaitEtcd waits until etcd at url answers, or exited fires.
func cgWaitEtcd(url string, exited <-chan error) error {
	deadline := time.Now().Add(20 * time.Second)
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{url}, DialTimeout: time.Second})
	if err != nil {
		return err
	}
	defer c.Close()
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("etcd exited: %v", err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Get(ctx, "health")
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd at %s not ready: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestClientGoExternalEtcd runs the API server on an etcd process of its
// own (Debian's etcd-server), as an HA control plane does.
func TestClientGoExternalEtcd(t *testing.T) {
	url := cgStartEtcd(t)
	srv := apitest.Start(t, apitest.WithEtcd([]string{url}))
	ctx := cgCtx(t)
	cs := srv.Client
	if eps := srv.EtcdEndpoints(); len(eps) != 1 || eps[0] != url {
		t.Fatalf("server uses etcd %v, want %s", eps, url)
	}
	if svc, err := cs.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{}); err != nil || svc.Spec.ClusterIP != "10.96.0.1" {
		t.Fatalf("kubernetes service: %v", err)
	}
	ns := cgNamespace(t, cs, "external")
	cms := cs.CoreV1().ConfigMaps(ns)
	l, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	c, err := cms.Create(ctx, cgConfigMap("smoke", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cgExpectEvent(t, w, watch.Added, "smoke")
	c.Data["key"] = "v2"
	if c, err = cms.Update(ctx, c, metav1.UpdateOptions{}); err != nil || c.Data["key"] != "v2" {
		t.Fatalf("update: %v", err)
	}
	cgExpectEvent(t, w, watch.Modified, "smoke")
	if got, err := cms.Get(ctx, "smoke", metav1.GetOptions{}); err != nil || got.ResourceVersion != c.ResourceVersion {
		t.Fatalf("get: %v", err)
	}
	list, err := cms.List(ctx, metav1.ListOptions{Limit: 10})
	if err != nil || fmt.Sprint(cgNames(t, list)) != "[smoke]" {
		t.Fatalf("list: %v %v", err, cgNames(t, list))
	}
	// The data is in etcd under upstream's key layout.
	kv, err := srv.EtcdClient().Get(ctx, "/registry/configmaps/"+ns+"/smoke")
	if err != nil || len(kv.Kvs) != 1 || !bytes.HasPrefix(kv.Kvs[0].Value, []byte("k8s\x00")) {
		t.Fatalf("etcd key /registry/configmaps/%s/smoke: %v %v", ns, err, kv)
	}
	if err := cms.Delete(ctx, "smoke", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	cgExpectEvent(t, w, watch.Deleted, "smoke")
	if _, err := srv.Compact(ctx); err != nil {
		t.Fatalf("compact on external etcd: %v", err)
	}
	_, err = cms.Watch(ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion})
	if err == nil || !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
		t.Fatalf("watch from before compaction on external etcd: %v, want 410", err)
	}
}

// TestClientGoAuth checks that anonymous API calls get 401 and that static
// bearer tokens authenticate.
func TestClientGoAuth(t *testing.T) {
	tokens := filepath.Join(t.TempDir(), "tokens.csv")
	if err := os.WriteFile(tokens, []byte("# token,user,uid,groups\n"+
		"s3cr3t-jane-token,jane,1001,\"developers,ops\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := apitest.Start(t, apitest.WithConfig(func(c *apiserver.Config) { c.TokenAuthFile = tokens }))
	ctx := cgCtx(t)
	config := func(token string) kubernetes.Interface {
		cfg := &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{CAData: srv.CAPEM}, BearerToken: token}
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}

	anon := config("")
	_, err := anon.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if !apierrors.IsUnauthorized(err) {
		t.Fatalf("anonymous list: %v, want 401 Unauthorized", err)
	}
	_, err = anon.CoreV1().ConfigMaps("default").Create(ctx, cgConfigMap("anon", nil), metav1.CreateOptions{})
	if !apierrors.IsUnauthorized(err) {
		t.Fatalf("anonymous create: %v, want 401 Unauthorized", err)
	}
	// Health and version are public.
	if v, err := anon.Discovery().ServerVersion(); err != nil || v.GitVersion == "" {
		t.Fatalf("anonymous /version: %v", err)
	}
	body, err := anon.Discovery().RESTClient().Get().AbsPath("/healthz").DoRaw(ctx)
	if err != nil || string(body) != "ok" {
		t.Fatalf("anonymous /healthz: %v %q", err, body)
	}

	_, err = config("wrong-token").CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if !apierrors.IsUnauthorized(err) {
		t.Fatalf("wrong token: %v, want 401 Unauthorized", err)
	}

	jane := config("s3cr3t-jane-token")
	if _, err := jane.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("get with jane's token: %v", err)
	}
	cm, err := jane.CoreV1().ConfigMaps("default").Create(ctx, cgConfigMap("janes", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create with jane's token: %v", err)
	}
	if _, err := jane.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{ResourceVersion: cm.ResourceVersion}); err != nil {
		t.Fatalf("watch with jane's token: %v", err)
	}
	// The server records who asked for a certificate.
	req, err := jane.CertificatesV1().CertificateSigningRequests().Create(ctx, cgCSR(t, "jane"), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create CSR with jane's token: %v", err)
	}
	if req.Spec.Username != "jane" || req.Spec.UID != "1001" || !slices.Contains(req.Spec.Groups, "developers") || !slices.Contains(req.Spec.Groups, "ops") {
		t.Errorf("CSR requester %q uid %q groups %v, want jane 1001 with developers and ops", req.Spec.Username, req.Spec.UID, req.Spec.Groups)
	}
	// The admin client certificate still works next to tokens.
	if _, err := srv.Client.CoreV1().ConfigMaps("default").Get(ctx, "janes", metav1.GetOptions{}); err != nil {
		t.Fatalf("admin get: %v", err)
	}
}
