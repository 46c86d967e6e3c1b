package apiserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/skiffk8s/skiff/apiserver/pki"
)

// DefaultKubeletPort is the kubelet's HTTPS port when a Node does not
// report status.daemonEndpoints.kubeletEndpoint.port.
const DefaultKubeletPort = 10250

// kubeletAddressTypes are the Node address types tried, in order, to reach
// its kubelet.
var kubeletAddressTypes = []corev1.NodeAddressType{
	corev1.NodeInternalIP, corev1.NodeExternalIP, corev1.NodeHostName,
	corev1.NodeInternalDNS, corev1.NodeExternalDNS,
}

// kubeletClient reaches kubelets over HTTPS, presenting the API server's
// kubelet client certificate (kube-apiserver-kubelet-client).
type kubeletClient struct {
	// transport verifies the kubelet's serving certificate.
	transport *http.Transport
	// insecure skips that verification, for requests that ask for it
	// (pods/log insecureSkipTLSVerifyBackend), still presenting the client
	// certificate.
	insecure *http.Transport
}

// newKubeletClient builds the TLS client config towards kubelets:
// cfg.KubeletTLSConfig when set, else the kubelet client certificate of
// bundle and, as roots, cfg.KubeletCAFile or the cluster CA.
func newKubeletClient(cfg Config, bundle *pki.Bundle) (*kubeletClient, error) {
	var tlsCfg *tls.Config
	if cfg.KubeletTLSConfig != nil {
		tlsCfg = cfg.KubeletTLSConfig.Clone()
	} else {
		pool := x509.NewCertPool()
		if cfg.KubeletCAFile != "" {
			pemBytes, err := os.ReadFile(cfg.KubeletCAFile)
			if err != nil {
				return nil, fmt.Errorf("apiserver: --kubelet-certificate-authority: %w", err)
			}
			if !pool.AppendCertsFromPEM(pemBytes) {
				return nil, fmt.Errorf("apiserver: --kubelet-certificate-authority %s: no PEM certificates", cfg.KubeletCAFile)
			}
		} else {
			pool.AddCert(bundle.CA)
		}
		tlsCfg = &tls.Config{
			Certificates: []tls.Certificate{bundle.KubeletClientCert},
			RootCAs:      pool,
			MinVersion:   tls.VersionTLS12,
		}
	}
	insecureCfg := tlsCfg.Clone()
	insecureCfg.InsecureSkipVerify = true
	return &kubeletClient{transport: newKubeletTransport(tlsCfg), insecure: newKubeletTransport(insecureCfg)}, nil
}

func newKubeletTransport(tlsCfg *tls.Config) *http.Transport {
	return &http.Transport{
		TLSClientConfig:     tlsCfg,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
	}
}

// kubeletURL returns the https:// base URL of node's kubelet: its first
// address in kubeletAddressTypes order and its reported kubelet port
// (DefaultKubeletPort when none).
func kubeletURL(node *corev1.Node) (*url.URL, error) {
	port := int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port <= 0 {
		port = DefaultKubeletPort
	}
	for _, t := range kubeletAddressTypes {
		for _, a := range node.Status.Addresses {
			if a.Type == t && a.Address != "" {
				return &url.URL{Scheme: "https", Host: net.JoinHostPort(a.Address, strconv.Itoa(port))}, nil
			}
		}
	}
	return nil, fmt.Errorf("no preferred addresses found; known addresses: %v", node.Status.Addresses)
}

// nodeKubelet looks up a Node and returns its kubelet's base URL. An
// unknown node is a NotFound error.
func (s *server) nodeKubelet(ctx context.Context, nodeName string) (*url.URL, error) {
	nodes := s.lookup("", "v1", "nodes")
	obj, err := nodes.store.Get(ctx, nodes.store.Key("", nodeName))
	if err != nil {
		return nil, err
	}
	u, err := kubeletURL(obj.(*corev1.Node))
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("node %s: %w", nodeName, err))
	}
	return u, nil
}
