package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/skiffk8s/skiff/apiserver/pki"
	"github.com/skiffk8s/skiff/kubelet"
	"github.com/skiffk8s/skiff/kubelet/network"
	"github.com/skiffk8s/skiff/kubelet/server"
	"github.com/skiffk8s/skiff/kubelet/stats"
	"github.com/skiffk8s/skiff/kubelet/stats/nodeusage"
	"github.com/skiffk8s/skiff/runtime"
)

// podSource hands the kubelet's pod lister to the server and the reporter
// once the kubelet has it; before that they see no pods.
type podSource struct {
	lister atomic.Pointer[corelisters.PodLister]
}

func (s *podSource) set(l corelisters.PodLister) { s.lister.Store(&l) }

// pods lists the pods bound to this node.
func (s *podSource) pods() []*corev1.Pod {
	l := s.lister.Load()
	if l == nil {
		return nil
	}
	pods, _ := (*l).List(labels.Everything())
	return pods
}

// servingCert returns the kubelet server's certificate and key: the files
// when given, else a certificate for the node's name and addresses issued
// from the CA files.
func servingCert(cfg Config, nodeName string, nodeIP net.IP, now time.Time) (certPEM, keyPEM []byte, err error) {
	if cfg.ServerCertFile != "" || cfg.ServerKeyFile != "" {
		if certPEM, err = os.ReadFile(cfg.ServerCertFile); err != nil {
			return nil, nil, fmt.Errorf("kubelet server certificate: %w", err)
		}
		if keyPEM, err = os.ReadFile(cfg.ServerKeyFile); err != nil {
			return nil, nil, fmt.Errorf("kubelet server key: %w", err)
		}
		return certPEM, keyPEM, nil
	}
	if cfg.CACertFile == "" || cfg.CAKeyFile == "" {
		return nil, nil, errors.New("kubelet server: give a serving certificate and key, or the cluster CA's certificate and key to issue one")
	}
	ca, err := pki.LoadCAFiles(cfg.CACertFile, cfg.CAKeyFile, func() time.Time { return now })
	if err != nil {
		return nil, nil, fmt.Errorf("kubelet server: %w", err)
	}
	return ca.IssueServingCert("system:node:"+nodeName, servingHosts(nodeName, nodeIP), 365*24*time.Hour)
}

// servingHosts are the names and addresses the kubelet server's
// certificate covers: the node name, the node IP (or, before the kubelet
// has picked it, every global unicast address of the host) and the host
// name.
func servingHosts(nodeName string, nodeIP net.IP) []string {
	hosts := []string{nodeName}
	if nodeIP != nil {
		hosts = append(hosts, nodeIP.String())
	} else if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.IsGlobalUnicast() {
				hosts = append(hosts, n.IP.String())
			}
		}
	}
	if h, err := os.Hostname(); err == nil && h != nodeName {
		hosts = append(hosts, h)
	}
	return hosts
}

// serverConfig is the kubelet server's config: pods from the kubelet,
// exec and attach through containerd, port-forward into the pod's network
// namespace, stats from the reporter (nil: none).
func serverConfig(ctx context.Context, cfg Config, rt *runtime.Containerd, nw *network.Bridge, pods *podSource, reporter *stats.Reporter) (server.Config, error) {
	var (
		certPEM, keyPEM []byte
		current         func() *tls.Certificate
		err             error
	)
	if cfg.ServingCertificate != nil {
		// Exactly the node's name and InternalIP: what an approver can
		// check against the Node's addresses.
		ip := cfg.NodeIP
		if ip == nil {
			if ip, err = kubelet.HostIPv4(); err != nil {
				return server.Config{}, err
			}
		}
		if current, err = cfg.ServingCertificate(ctx, []string{cfg.NodeName, ip.String()}); err != nil {
			return server.Config{}, fmt.Errorf("kubelet server certificate: %w", err)
		}
	} else if certPEM, keyPEM, err = servingCert(cfg, cfg.NodeName, cfg.NodeIP, time.Now()); err != nil {
		return server.Config{}, err
	}
	clientCA := cfg.ClientCAFile
	if clientCA == "" {
		clientCA = cfg.CACertFile
	}
	if clientCA == "" {
		return server.Config{}, errors.New("kubelet server: a client CA (the cluster CA certificate) is required to authenticate the API server")
	}
	sc := server.Config{
		Addr:    net.JoinHostPort(cfg.ServerBindAddress, strconv.Itoa(cfg.ServerPort)),
		CertPEM: certPEM, KeyPEM: keyPEM, GetCertificate: current, ClientCAFile: clientCA,
		Pods: pods.pods, PodLogsDir: cfg.PodLogsDir, Streamer: rt,
		DialPod: func(ctx context.Context, pod *corev1.Pod, port int32) (net.Conn, error) {
			ns := nw.NetNSPath(string(pod.UID))
			if pod.Spec.HostNetwork {
				ns = cfg.HostNetNS
			}
			return network.DialerIn(ns)(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
		},
		Logger: cfg.Logger.With("component", "kubelet-server"),
	}
	if reporter != nil {
		sc.Stats = reporter
	}
	return sc, nil
}

// newReporter builds the resource reporter over the runtime's containers.
func newReporter(cfg Config, rt *runtime.Containerd, pods *podSource) (*stats.Reporter, error) {
	return stats.New(stats.Config{
		NodeName: cfg.NodeName, CgroupRoot: cfg.CgroupRoot, RootDir: cfg.RootDir, ImageFSDir: cfg.ImageFSDir,
		PodLogsDir: cfg.PodLogsDir, HousekeepingInterval: cfg.StatsInterval, Pods: pods.pods,
		Containers: func(ctx context.Context) (map[string]stats.Container, error) {
			list, err := rt.ListContainers(ctx, nil)
			if err != nil {
				return nil, err
			}
			out := make(map[string]stats.Container, len(list))
			for _, c := range list {
				uid := c.Labels[kubelet.LabelPodUID]
				if uid == "" {
					continue
				}
				out[c.ID] = stats.Container{PodUID: types.UID(uid), Name: c.Labels[kubelet.LabelContainerName], StartTime: c.StartedAt}
			}
			return out, nil
		},
		Logger: cfg.Logger.With("component", "stats"),
	})
}

// signals measures eviction signals with the reporter, falling back to
// the host's files before its first sample.
func signals(r *stats.Reporter, rootDir, imageDir string) func() (kubelet.Signals, error) {
	return func() (kubelet.Signals, error) {
		if r != nil {
			if s, err := r.Signals(); err == nil {
				return s, nil
			}
		}
		return kubelet.HostSignals(rootDir, imageDir)
	}
}

// publishUsage keeps the Node's nodeusage annotation current.
func publishUsage(ctx context.Context, cfg Config, nodeName string, r *stats.Reporter) {
	p, err := stats.NewPublisher(stats.PublisherConfig{
		Client: cfg.Client, NodeName: nodeName,
		Usage:  func() (nodeusage.Usage, error) { return r.NodeUsage(time.Minute) },
		Logger: cfg.Logger.With("component", "usage-publisher"),
	})
	if err != nil {
		cfg.Logger.Warn("node usage publisher", "err", err)
		return
	}
	if err := p.Run(ctx); err != nil && ctx.Err() == nil {
		cfg.Logger.Warn("node usage publisher", "err", err)
	}
}
