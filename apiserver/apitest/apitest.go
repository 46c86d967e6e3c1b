// Package apitest starts a real API server on a real embedded etcd in a
// temporary directory, for integration tests of the API server and of the
// components that use it.
package apitest

import (
	"context"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiffk8s/skiff/apiserver"
)

// Server is an API server under test.
type Server struct {
	*apiserver.Server
	// Config is an admin client config (client certificate of the
	// system:masters group).
	Config *rest.Config
	// Client is a typed clientset using Config.
	Client kubernetes.Interface
	// DataDir is the server's data directory.
	DataDir string
}

// Option changes the test server's config.
type Option func(*apiserver.Config)

// WithEtcd uses an existing etcd (e.g. another test server's) instead of a
// new embedded one.
func WithEtcd(endpoints []string) Option {
	return func(c *apiserver.Config) { c.EtcdServers = endpoints }
}

// WithConfig applies f to the config.
func WithConfig(f func(*apiserver.Config)) Option { return f }

// Start starts a server on 127.0.0.1 with a free port and stops it when the
// test ends. Set SKIFF_TEST_LOG=1 to see its logs.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	dir := t.TempDir()
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("SKIFF_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	cfg := apiserver.Config{
		DataDir:            dir,
		BindAddress:        "127.0.0.1",
		AdvertiseAddress:   net.IPv4(127, 0, 0, 1),
		CompactionInterval: -1,
		Logger:             logger,
		// No serviceaccount controller runs here: pods in namespaces
		// without their account are admitted as they are. Tests of the
		// ServiceAccount admission step turn this off.
		AdmitPodsWithoutServiceAccount: true,
	}
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := apiserver.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start API server: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Logf("stop API server: %v", err)
		}
	})
	rc, err := clientcmd.BuildConfigFromFlags("", srv.Kubeconfig)
	if err != nil {
		t.Fatalf("load kubeconfig: %v", err)
	}
	rc.QPS, rc.Burst = -1, 0 // no client-side throttling in tests
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatalf("clientset: %v", err)
	}
	return &Server{Server: srv, Config: rc, Client: cs, DataDir: dir}
}
