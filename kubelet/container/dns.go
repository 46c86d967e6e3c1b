package container

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

const (
	managedHostsHeader            = "# Kubernetes-managed hosts file.\n"
	managedHostsHeaderHostNetwork = "# Kubernetes-managed hosts file (host network).\n"
	maxDNSSearchPaths             = 32
	maxDNSSearchListChars         = 2048
)

// PodHostnameAndDomain returns the pod's hostname (spec.hostname or the
// pod's name, cut to 63 characters) and, when spec.subdomain is set, its
// domain "<subdomain>.<ns>.svc.<clusterDomain>".
func PodHostnameAndDomain(pod *corev1.Pod, clusterDomain string) (hostname, domain string) {
	hostname = pod.Name
	if pod.Spec.Hostname != "" {
		hostname = pod.Spec.Hostname
	}
	if len(hostname) > 63 {
		hostname = strings.TrimRight(hostname[:63], "-.")
	}
	if pod.Spec.Subdomain != "" {
		domain = fmt.Sprintf("%s.%s.svc.%s", pod.Spec.Subdomain, pod.Namespace, clusterDomain)
	}
	return hostname, domain
}

// HostsFileContent renders the pod's /etc/hosts as upstream's kubelet:
// the localhost entries, one line per pod IP naming the pod's hostname
// (and fqdn when the pod has a subdomain), then the hostAliases.
func HostsFileContent(podIPs []string, hostname, domain string, aliases []corev1.HostAlias) []byte {
	var b bytes.Buffer
	b.WriteString(managedHostsHeader)
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\n")
	b.WriteString("fe00::0\tip6-mcastprefix\n")
	b.WriteString("fe00::1\tip6-allnodes\n")
	b.WriteString("fe00::2\tip6-allrouters\n")
	for _, ip := range podIPs {
		if domain != "" {
			fmt.Fprintf(&b, "%s\t%s.%s\t%s\n", ip, hostname, domain, hostname)
		} else {
			fmt.Fprintf(&b, "%s\t%s\n", ip, hostname)
		}
	}
	b.Write(hostAliasEntries(aliases))
	return b.Bytes()
}

// HostNetworkHostsFileContent is a hostNetwork pod's /etc/hosts: the
// node's own hosts file plus the hostAliases, as upstream.
func HostNetworkHostsFileContent(nodeHosts []byte, aliases []corev1.HostAlias) []byte {
	var b bytes.Buffer
	b.WriteString(managedHostsHeaderHostNetwork)
	b.Write(nodeHosts)
	b.Write(hostAliasEntries(aliases))
	return b.Bytes()
}

func hostAliasEntries(aliases []corev1.HostAlias) []byte {
	if len(aliases) == 0 {
		return nil
	}
	var b bytes.Buffer
	b.WriteString("\n# Entries added by HostAliases.\n")
	for _, a := range aliases {
		fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
	}
	return b.Bytes()
}

// DNSConfig is a resolv.conf's content.
type DNSConfig struct {
	Nameservers, Searches, Options []string
}

// ParseResolvConf reads nameserver, search/domain and options lines.
func ParseResolvConf(data []byte) DNSConfig {
	var c DNSConfig
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) > 1 {
				c.Nameservers = append(c.Nameservers, f[1])
			}
		case "domain":
			if len(f) > 1 {
				c.Searches = []string{f[1]}
			}
		case "search":
			c.Searches = nil
			for _, s := range f[1:] {
				if s != "." {
					c.Searches = append(c.Searches, strings.TrimSuffix(s, "."))
				}
			}
		case "options":
			c.Options = appendOptions(c.Options, f[1:]...)
		}
	}
	return c
}

// Render writes the config as containerd's CRI plugin does.
func (c DNSConfig) Render() []byte {
	var b bytes.Buffer
	if len(c.Searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(c.Searches, " "))
	}
	for _, ns := range c.Nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(c.Options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(c.Options, " "))
	}
	return b.Bytes()
}

// appendOptions merges options by name ("ndots:2" replaces "ndots:5").
func appendOptions(opts []string, add ...string) []string {
	for _, o := range add {
		name, _, _ := strings.Cut(o, ":")
		replaced := false
		for i, e := range opts {
			if en, _, _ := strings.Cut(e, ":"); en == name {
				opts[i] = o
				replaced = true
				break
			}
		}
		if !replaced {
			opts = append(opts, o)
		}
	}
	return opts
}

func appendUnique(list []string, add ...string) []string {
	for _, a := range add {
		dup := false
		for _, e := range list {
			if e == a {
				dup = true
				break
			}
		}
		if !dup {
			list = append(list, a)
		}
	}
	return list
}

// PodDNSConfig computes the pod's resolv.conf as upstream's kubelet
// (pkg/kubelet/network/dns): ClusterFirst uses the cluster DNS and the
// cluster search domains before the host's, with ndots:5;
// ClusterFirstWithHostNet does so for hostNetwork pods too, while a
// hostNetwork pod with ClusterFirst gets Default; Default copies the
// host's file; None starts empty. spec.dnsConfig is merged last.
// Without a cluster DNS address, ClusterFirst falls back to Default.
func PodDNSConfig(pod *corev1.Pod, host DNSConfig, clusterDNS []string, clusterDomain string) DNSConfig {
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	switch policy {
	case corev1.DNSClusterFirstWithHostNet:
		policy = corev1.DNSClusterFirst
	case corev1.DNSClusterFirst:
		if pod.Spec.HostNetwork {
			policy = corev1.DNSDefault
		}
	}
	if policy == corev1.DNSClusterFirst && len(clusterDNS) == 0 {
		policy = corev1.DNSDefault
	}
	var c DNSConfig
	switch policy {
	case corev1.DNSClusterFirst:
		c.Nameservers = append([]string(nil), clusterDNS...)
		if clusterDomain != "" {
			nsDomain := fmt.Sprintf("%s.svc.%s", pod.Namespace, clusterDomain)
			c.Searches = []string{nsDomain, "svc." + clusterDomain, clusterDomain}
		}
		c.Searches = appendUnique(c.Searches, host.Searches...)
		c.Options = []string{"ndots:5"}
	case corev1.DNSDefault:
		c.Nameservers = append([]string(nil), host.Nameservers...)
		c.Searches = append([]string(nil), host.Searches...)
		c.Options = append([]string(nil), host.Options...)
	case corev1.DNSNone:
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		c.Nameservers = appendUnique(c.Nameservers, dc.Nameservers...)
		c.Searches = appendUnique(c.Searches, dc.Searches...)
		for _, o := range dc.Options {
			opt := o.Name
			if o.Value != nil {
				opt += ":" + *o.Value
			}
			c.Options = appendOptions(c.Options, opt)
		}
	}
	c.Searches = trimSearches(c.Searches)
	return c
}

// trimSearches keeps the search list within resolv.conf's limits.
func trimSearches(s []string) []string {
	if len(s) > maxDNSSearchPaths {
		s = s[:maxDNSSearchPaths]
	}
	for len(s) > 0 && len(strings.Join(s, " ")) > maxDNSSearchListChars {
		s = s[:len(s)-1]
	}
	return s
}

// readFileOr reads a file, returning nil when it cannot be read.
func readFileOr(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return b
}
