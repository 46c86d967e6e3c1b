package container

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffk8s/skiff/runtime"
)

func TestSecurity(t *testing.T) {
	for _, tc := range []struct {
		name      string
		podSC     *corev1.PodSecurityContext
		sc        *corev1.SecurityContext
		imageUser string
		want      runtime.Security
		wantErr   string
	}{
		{name: "nothing set", want: runtime.Security{}},
		{
			name:  "pod defaults apply, container fields win",
			podSC: &corev1.PodSecurityContext{RunAsUser: ptr(int64(1000)), RunAsGroup: ptr(int64(3000)), SupplementalGroups: []int64{4000}, FSGroup: ptr(int64(2000))},
			sc:    &corev1.SecurityContext{RunAsUser: ptr(int64(1001))},
			want:  runtime.Security{RunAsUser: ptr(int64(1001)), RunAsGroup: ptr(int64(3000)), SupplementalGroups: []int64{4000, 2000}},
		},
		{
			name: "flags and capabilities",
			sc: &corev1.SecurityContext{
				Privileged: ptr(true), ReadOnlyRootFilesystem: ptr(true), AllowPrivilegeEscalation: ptr(false),
				Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN", "CAP_SYS_TIME"}, Drop: []corev1.Capability{"ALL"}},
			},
			want: runtime.Security{Privileged: true, ReadOnlyRootFS: true, NoNewPrivileges: true,
				CapAdd: []string{"NET_ADMIN", "SYS_TIME"}, CapDrop: []string{"ALL"}},
		},
		{name: "allowPrivilegeEscalation true keeps privileges", sc: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr(true)}, want: runtime.Security{}},
		{name: "runAsNonRoot with a numeric non-root image user", podSC: &corev1.PodSecurityContext{RunAsNonRoot: ptr(true)}, imageUser: "1000:1000", want: runtime.Security{}},
		{name: "runAsNonRoot with an explicit non-root uid", sc: &corev1.SecurityContext{RunAsNonRoot: ptr(true), RunAsUser: ptr(int64(5))}, imageUser: "root",
			want: runtime.Security{RunAsUser: ptr(int64(5))}},
		{name: "runAsNonRoot and an image without a user (root)", sc: &corev1.SecurityContext{RunAsNonRoot: ptr(true)},
			wantErr: `container has runAsNonRoot and image will run as root (pod: "web_shop(1234-abcd)", container: app)`},
		{name: "runAsNonRoot and image user 0", podSC: &corev1.PodSecurityContext{RunAsNonRoot: ptr(true)}, imageUser: "0",
			wantErr: "container has runAsNonRoot and image will run as root"},
		{name: "runAsNonRoot and a named image user", sc: &corev1.SecurityContext{RunAsNonRoot: ptr(true)}, imageUser: "nginx",
			wantErr: "container has runAsNonRoot and image has non-numeric user (nginx), cannot verify user is non-root"},
		{name: "runAsNonRoot and runAsUser 0", sc: &corev1.SecurityContext{RunAsNonRoot: ptr(true), RunAsUser: ptr(int64(0))},
			wantErr: "container's runAsUser breaks non-root policy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod()
			pod.Spec.SecurityContext = tc.podSC
			pod.Spec.Containers[0].SecurityContext = tc.sc
			got, err := Security(pod, &pod.Spec.Containers[0], tc.imageUser)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want prefix %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestHostsFile(t *testing.T) {
	base := "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n"
	pod := testPod()
	h, d := PodHostnameAndDomain(pod, "cluster.local")
	if got := string(HostsFileContent([]string{"10.244.0.5"}, h, d, nil)); got != base+"10.244.0.5\tweb\n" {
		t.Fatalf("plain pod:\n%s", got)
	}
	pod.Spec.Hostname, pod.Spec.Subdomain = "db-0", "db"
	pod.Spec.HostAliases = []corev1.HostAlias{{IP: "1.2.3.4", Hostnames: []string{"foo.local", "bar.local"}}}
	h, d = PodHostnameAndDomain(pod, "cluster.local")
	want := base + "10.244.0.5\tdb-0.db.shop.svc.cluster.local\tdb-0\n\n# Entries added by HostAliases.\n1.2.3.4\tfoo.local\tbar.local\n"
	if got := string(HostsFileContent([]string{"10.244.0.5"}, h, d, pod.Spec.HostAliases)); got != want {
		t.Fatalf("subdomain + aliases:\n%s\nwant:\n%s", got, want)
	}
	got := string(HostNetworkHostsFileContent([]byte("127.0.0.1 localhost\n192.168.1.10 node-1\n"), nil))
	if got != "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n192.168.1.10 node-1\n" {
		t.Fatalf("host network:\n%s", got)
	}
}

func TestResolvConf(t *testing.T) {
	host := ParseResolvConf([]byte("# generated\nnameserver 192.168.1.1\nnameserver 8.8.8.8\nsearch corp.example lab.example\noptions edns0 ndots:2\n"))
	dns := []string{"10.96.0.10"}
	for _, tc := range []struct {
		name   string
		mutate func(*corev1.Pod)
		dns    []string
		want   string
	}{
		{"ClusterFirst", nil, dns,
			"search shop.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\nnameserver 10.96.0.10\noptions ndots:5\n"},
		{"ClusterFirst without a cluster DNS falls back to Default", nil, nil,
			"search corp.example lab.example\nnameserver 192.168.1.1\nnameserver 8.8.8.8\noptions edns0 ndots:2\n"},
		{"Default", func(p *corev1.Pod) { p.Spec.DNSPolicy = corev1.DNSDefault }, dns,
			"search corp.example lab.example\nnameserver 192.168.1.1\nnameserver 8.8.8.8\noptions edns0 ndots:2\n"},
		{"hostNetwork with ClusterFirst gets Default", func(p *corev1.Pod) { p.Spec.HostNetwork = true }, dns,
			"search corp.example lab.example\nnameserver 192.168.1.1\nnameserver 8.8.8.8\noptions edns0 ndots:2\n"},
		{"ClusterFirstWithHostNet", func(p *corev1.Pod) { p.Spec.HostNetwork = true; p.Spec.DNSPolicy = corev1.DNSClusterFirstWithHostNet }, dns,
			"search shop.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\nnameserver 10.96.0.10\noptions ndots:5\n"},
		{"None with dnsConfig", func(p *corev1.Pod) {
			p.Spec.DNSPolicy = corev1.DNSNone
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1"}, Searches: []string{"a.example"},
				Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr("1")}, {Name: "rotate"}}}
		}, dns, "search a.example\nnameserver 1.1.1.1\noptions ndots:1 rotate\n"},
		{"ClusterFirst merged with dnsConfig", func(p *corev1.Pod) {
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"10.96.0.10", "1.1.1.1"}, Searches: []string{"x.example"},
				Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr("2")}, {Name: "edns0"}}}
		}, dns, "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example x.example\n" +
			"nameserver 10.96.0.10\nnameserver 1.1.1.1\noptions ndots:2 edns0\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod()
			if tc.mutate != nil {
				tc.mutate(pod)
			}
			if got := string(PodDNSConfig(pod, host, tc.dns, "cluster.local").Render()); got != tc.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}
