package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNodeEnvAndVolumes(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	if _, err := n.cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "settings"},
		Data:       map[string]string{"color": "blue", "size": "large"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.cs.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "creds"},
		Data:       map[string][]byte{"password": []byte("s3cr3t"), "user": []byte("admin")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "from-host.txt"), []byte("written-by-the-test\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	group(t, "pods", map[string]func(t *testing.T){
		"env from a configMap and a secret": func(t *testing.T) {
			p := busyboxPod("env", corev1.RestartPolicyNever, "env | sort; echo env-done")
			c := &p.Spec.Containers[0]
			c.Env = []corev1.EnvVar{
				{Name: "COLOR", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "color"}}},
				{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "password"}}},
				{Name: "PLAIN", Value: "literal"},
			}
			c.EnvFrom = []corev1.EnvFromSource{
				{Prefix: "CM_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}},
				{Prefix: "SEC_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}},
			}
			pod := n.waitPhase(t, n.create(t, p).Name, corev1.PodSucceeded)
			log := n.waitLog(t, pod, "main", 0, "env-done")
			for _, want := range []string{"COLOR=blue", "PASSWORD=s3cr3t", "PLAIN=literal", "CM_color=blue", "CM_size=large", "SEC_password=s3cr3t", "SEC_user=admin"} {
				if !strings.Contains(log, " "+want+"\n") {
					t.Errorf("env lacks %s:\n%s", want, log)
				}
			}
		},

		"an emptyDir is shared by two containers": func(t *testing.T) {
			p := busyboxPod("shared", corev1.RestartPolicyNever, "echo from-writer > /data/msg; sleep 3")
			p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
			reader := p.Spec.Containers[0]
			reader.Name = "reader"
			reader.Command = []string{"sh", "-c", "for i in $(seq 50); do [ -s /shared/msg ] && break; sleep 0.1; done; echo read: $(cat /shared/msg)"}
			reader.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/shared"}}
			p.Spec.Containers = append(p.Spec.Containers, reader)
			pod := n.create(t, p)
			n.waitLog(t, pod, "reader", 0, "read: from-writer")
		},

		"configMap, secret and downwardAPI volumes are files": func(t *testing.T) {
			p := busyboxPod("files", corev1.RestartPolicyNever,
				"echo cm=$(cat /cm/color); echo secret=$(cat /secret/user); echo labels:; cat /info/labels; echo; echo files-done")
			p.Labels["tier"] = "backend"
			p.Spec.Volumes = []corev1.Volume{
				{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}},
				{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}},
				{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
					{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}},
			}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{
				{Name: "cm", MountPath: "/cm"}, {Name: "secret", MountPath: "/secret"}, {Name: "info", MountPath: "/info"}}
			pod := n.waitPhase(t, n.create(t, p).Name, corev1.PodSucceeded)
			log := n.waitLog(t, pod, "main", 0, "files-done")
			for _, want := range []string{"cm=blue", "secret=admin", `e2e="files"`, `tier="backend"`} {
				if !strings.Contains(log, want) {
					t.Errorf("output lacks %s:\n%s", want, log)
				}
			}
		},

		"an emptyDir of medium Memory is a tmpfs": func(t *testing.T) {
			p := busyboxPod("memdir", corev1.RestartPolicyNever, "grep ' /mem ' /proc/mounts; echo x > /mem/f && echo writable")
			p.Spec.Volumes = []corev1.Volume{{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "mem", MountPath: "/mem"}}
			pod := n.waitPhase(t, n.create(t, p).Name, corev1.PodSucceeded)
			log := n.waitLog(t, pod, "main", 0, "writable")
			if !strings.Contains(log, "tmpfs /mem tmpfs") {
				t.Errorf("/mem is not a tmpfs:\n%s", log)
			}
		},

		"a projected volume joins a configMap, a secret and the downward API": func(t *testing.T) {
			p := busyboxPod("projected", corev1.RestartPolicyNever, "echo $(cat /p/size) $(cat /p/pw) $(cat /p/name) projected-done")
			p.Spec.Volumes = []corev1.Volume{{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"},
					Items: []corev1.KeyToPath{{Key: "size", Path: "size"}}}},
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"},
					Items: []corev1.KeyToPath{{Key: "password", Path: "pw"}}}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
					{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}},
			}}}}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "p", MountPath: "/p"}}
			pod := n.waitPhase(t, n.create(t, p).Name, corev1.PodSucceeded)
			n.waitLog(t, pod, "main", 0, "large s3cr3t projected projected-done")
		},

		"a missing configMap gives a clear error and starts nothing": func(t *testing.T) {
			p := busyboxPod("nocm", corev1.RestartPolicyNever, "echo must-not-run")
			p.Spec.Volumes = []corev1.Volume{{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}}}}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "cm", MountPath: "/cm"}}
			pod := n.create(t, p)
			n.waitEvent(t, "nocm", "Warning FailedMount", `volume "cm"`, `configmap "absent" not found`)
			if log := n.logFile(pod, "main", 0); log != "" {
				t.Errorf("the container ran: %q", log)
			}
			if got := n.get(t, "nocm"); got.Status.Phase != corev1.PodPending {
				t.Errorf("phase %s, want Pending", got.Status.Phase)
			}
		},

		"securityContext: runAsUser, runAsGroup and a read-only root filesystem": func(t *testing.T) {
			p := busyboxPod("secctx", corev1.RestartPolicyNever, "echo uid=$(id -u) gid=$(id -g); touch /rootfs-file 2>/dev/null && echo rootfs-writable || echo rootfs-read-only")
			uid, gid, ro := int64(65534), int64(65534), true
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: &uid, RunAsGroup: &gid, ReadOnlyRootFilesystem: &ro}
			pod := n.waitPhase(t, n.create(t, p).Name, corev1.PodSucceeded)
			n.waitLog(t, pod, "main", 0, "uid=65534 gid=65534")
			n.waitLog(t, pod, "main", 0, "rootfs-read-only")
		},

		"env from fieldRef and resourceFieldRef, and workingDir": func(t *testing.T) {
			p := busyboxPod("fields", corev1.RestartPolicyNever, "env | sort; echo pwd=$(pwd); echo fields-done")
			c := &p.Spec.Containers[0]
			c.WorkingDir = "/tmp"
			c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}
			field := func(name, path string) corev1.EnvVar {
				return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
			}
			c.Env = []corev1.EnvVar{
				field("POD_NAME", "metadata.name"), field("POD_NS", "metadata.namespace"), field("NODE", "spec.nodeName"),
				field("POD_IP", "status.podIP"), field("LABEL", "metadata.labels['e2e']"),
				{Name: "MEM", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory"}}},
				{Name: "GREETING", Value: "hello $(POD_NAME)"},
			}
			pod := n.waitPhase(t, n.create(t, p).Name, corev1.PodSucceeded)
			log := n.waitLog(t, pod, "main", 0, "fields-done")
			for _, want := range []string{"POD_NAME=fields", "POD_NS=default", "NODE=" + nodeName, "POD_IP=" + pod.Status.PodIP,
				"LABEL=fields", "MEM=67108864", "GREETING=hello fields", "pwd=/tmp"} {
				if !strings.Contains(log, " "+want+"\n") {
					t.Errorf("output lacks %s:\n%s", want, log)
				}
			}
		},

		"/etc/hosts and /etc/resolv.conf are the pod's": func(t *testing.T) {
			p := busyboxPod("dnsfiles", corev1.RestartPolicyNever, "cat /etc/hosts /etc/resolv.conf; echo dns-done")
			pod := n.waitPhase(t, n.create(t, p).Name, corev1.PodSucceeded)
			log := n.waitLog(t, pod, "main", 0, "dns-done")
			for _, want := range []string{"127.0.0.1", pod.Status.PodIP + "\tdnsfiles", "nameserver 10.96.0.10", "search default.svc.cluster.local svc.cluster.local cluster.local"} {
				if !strings.Contains(log, want) {
					t.Errorf("/etc/hosts or resolv.conf lacks %q:\n%s", want, log)
				}
			}
		},

		"terminationMessagePath and FallbackToLogsOnError": func(t *testing.T) {
			p := busyboxPod("termmsg", corev1.RestartPolicyNever, "echo goodbye-from-file > /dev/termination-log; exit 2")
			n.create(t, p)
			p = busyboxPod("termlogs", corev1.RestartPolicyNever, "echo last-words-in-log; exit 1")
			p.Spec.Containers[0].TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
			n.create(t, p)
			for name, want := range map[string]string{"termmsg": "goodbye-from-file", "termlogs": "last-words-in-log"} {
				pod := n.waitPhase(t, name, corev1.PodFailed)
				if tm := status(pod, "main").State.Terminated; tm == nil || !strings.Contains(tm.Message, want) {
					t.Errorf("%s: terminated %+v, want message %q", name, tm, want)
				}
			}
		},

		"a configMap change reaches its volume": func(t *testing.T) {
			if _, err := n.cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: "live"}, Data: map[string]string{"color": "red"},
			}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			p := busyboxPod("livecm", corev1.RestartPolicyAlways, "while true; do echo color=$(cat /cm/color); sleep 0.2; done")
			p.Spec.Volumes = []corev1.Volume{{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "live"}}}}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "cm", MountPath: "/cm"}}
			pod := n.create(t, p)
			n.waitLog(t, pod, "main", 0, "color=red")
			if _, err := n.cs.CoreV1().ConfigMaps("default").Update(ctx, &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: "live"}, Data: map[string]string{"color": "green"},
			}, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			n.waitLog(t, pod, "main", 0, "color=green")
		},

		"a hostPath Directory shows the host's file": func(t *testing.T) {
			p := busyboxPod("hostpath", corev1.RestartPolicyNever, "cat /host/from-host.txt")
			dir := corev1.HostPathDirectory
			p.Spec.Volumes = []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: hostDir, Type: &dir}}}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "host", MountPath: "/host", ReadOnly: true}}
			pod := n.waitPhase(t, n.create(t, p).Name, corev1.PodSucceeded)
			n.waitLog(t, pod, "main", 0, "written-by-the-test")
		},

		"a hostPath of the wrong type fails the mount and starts nothing": func(t *testing.T) {
			p := busyboxPod("wrongtype", corev1.RestartPolicyAlways, "echo must-not-run; sleep 3600")
			file := corev1.HostPathFile
			p.Spec.Volumes = []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: hostDir, Type: &file}}}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "host", MountPath: "/host"}}
			pod := n.create(t, p)
			n.waitEvent(t, "wrongtype", "Warning FailedMount", `volume "host"`, hostDir, "is not a file")
			time.Sleep(time.Second) // a few relists: the container must still not exist
			pod = n.get(t, "wrongtype")
			if pod.Status.Phase != corev1.PodPending {
				t.Errorf("phase %s, want Pending", pod.Status.Phase)
			}
			st := status(pod, "main")
			if st.State.Waiting == nil || st.State.Waiting.Reason != "ContainerCreating" || st.ContainerID != "" {
				t.Errorf("container status %+v, want waiting ContainerCreating and no container", st)
			}
			if log := n.logFile(pod, "main", 0); log != "" {
				t.Errorf("the container ran: %q", log)
			}
		},
	})
}
