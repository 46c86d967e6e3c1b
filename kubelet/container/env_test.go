package container

import (
	"context"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "alpha", "B": "beta", "EMPTY": ""}
	for _, tc := range []struct{ in, want string }{
		{"$(A)", "alpha"},
		{"x-$(A)-$(B)-y", "x-alpha-beta-y"},
		{"$$(A)", "$(A)"},
		{"$$$(A)", "$alpha"},
		{"$(UNKNOWN)", "$(UNKNOWN)"},
		{"$(EMPTY)x", "x"},
		{"$(A", "$(A"},
		{"$A", "$A"},
		{"trailing$", "trailing$"},
		{"", ""},
		{"$()", "$()"},
	} {
		if got := expand(tc.in, mappingFor(vars)); got != tc.want {
			t.Errorf("expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestEnvResolution(t *testing.T) {
	objs := []any{
		configMap("cfg", map[string]string{"color": "blue", "size": "L", "bad=key": "x", "1ok": "y"}),
		secret("creds", map[string]string{"user": "admin", "pass": "s3cret"}),
	}
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi")}
	for _, tc := range []struct {
		name    string
		c       corev1.Container
		want    []string
		wantErr string
	}{
		{
			name: "plain values expand earlier variables and keep $$ escapes",
			c: corev1.Container{Env: []corev1.EnvVar{
				{Name: "A", Value: "one"}, {Name: "B", Value: "$(A)-two"}, {Name: "C", Value: "$$(A) $(NOPE)"},
			}},
			want: []string{"A=one", "B=one-two", "C=$(A) $(NOPE)"},
		},
		{
			name: "fieldRefs read the pod",
			c: corev1.Container{Env: []corev1.EnvVar{
				fieldEnv("NAME", "metadata.name"), fieldEnv("NS", "metadata.namespace"), fieldEnv("UID", "metadata.uid"),
				fieldEnv("APP", "metadata.labels['app']"), fieldEnv("NOTE", "metadata.annotations['note']"),
				fieldEnv("NODE", "spec.nodeName"), fieldEnv("SA", "spec.serviceAccountName"),
				fieldEnv("IP", "status.podIP"), fieldEnv("IPS", "status.podIPs"),
				fieldEnv("HOST", "status.hostIP"), fieldEnv("HOSTS", "status.hostIPs"),
			}},
			want: []string{"NAME=web", "NS=shop", "UID=1234-abcd", "APP=web", `NOTE=hi "there"`, "NODE=node-1", "SA=builder",
				"IP=10.244.0.5", "IPS=10.244.0.5,fd00::5", "HOST=192.168.1.10", "HOSTS=192.168.1.10"},
		},
		{
			name: "resourceFieldRefs use the divisor and default limits to node allocatable",
			c: corev1.Container{
				Resources: resources(map[corev1.ResourceName]string{"cpu": "250m"}, map[corev1.ResourceName]string{"memory": "64Mi"}),
				Env: []corev1.EnvVar{
					resEnv("CPU_REQ", "requests.cpu", "1m"), resEnv("CPU_REQ_CORES", "requests.cpu", ""),
					resEnv("CPU_LIM", "limits.cpu", ""), resEnv("MEM_LIM", "limits.memory", "1Mi"),
					resEnv("MEM_REQ", "requests.memory", ""),
				},
			},
			want: []string{"CPU_REQ=250", "CPU_REQ_CORES=1", "CPU_LIM=4", "MEM_LIM=64", "MEM_REQ=67108864"},
		},
		{
			name: "configMap and secret keys",
			c: corev1.Container{Env: []corev1.EnvVar{
				{Name: "COLOR", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: cmKey("cfg", "color", nil)}},
				{Name: "USER", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: secKey("creds", "user", nil)}},
				{Name: "GREETING", Value: "$(USER) likes $(COLOR)"},
			}},
			want: []string{"COLOR=blue", "USER=admin", "GREETING=admin likes blue"},
		},
		{
			name: "optional missing configMap, secret and keys leave the variable unset",
			c: corev1.Container{Env: []corev1.EnvVar{
				{Name: "A", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: cmKey("nope", "x", ptr(true))}},
				{Name: "B", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: cmKey("cfg", "nokey", ptr(true))}},
				{Name: "C", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: secKey("nope", "x", ptr(true))}},
				{Name: "D", Value: "d"},
			}},
			want: []string{"D=d"},
		},
		{
			name:    "a missing configMap is upstream's error",
			c:       corev1.Container{Env: []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: cmKey("nope", "x", nil)}}}},
			wantErr: `configmap "nope" not found`,
		},
		{
			name:    "a missing secret is upstream's error",
			c:       corev1.Container{Env: []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: secKey("nope", "x", ptr(false))}}}},
			wantErr: `secret "nope" not found`,
		},
		{
			name:    "a missing configMap key",
			c:       corev1.Container{Env: []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: cmKey("cfg", "nokey", nil)}}}},
			wantErr: "couldn't find key nokey in ConfigMap shop/cfg",
		},
		{
			name:    "a missing secret key",
			c:       corev1.Container{Env: []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: secKey("creds", "nokey", nil)}}}},
			wantErr: "couldn't find key nokey in Secret shop/creds",
		},
		{
			name: "envFrom with a prefix skips invalid keys; env overrides envFrom",
			c: corev1.Container{
				EnvFrom: []corev1.EnvFromSource{
					{Prefix: "CM_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
					{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}},
					{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Optional: ptr(true)}},
				},
				Env: []corev1.EnvVar{{Name: "user", Value: "override"}},
			},
			want: []string{"CM_1ok=y", "CM_color=blue", "CM_size=L", "pass=s3cret", "user=override"},
		},
		{
			name: "envFrom of a missing non-optional configMap fails",
			c: corev1.Container{EnvFrom: []corev1.EnvFromSource{
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}}}}},
			wantErr: `configmap "gone" not found`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := testBuilder(t, toObjects(objs)...)
			rec := record.NewFakeRecorder(10)
			b.Recorder = rec
			pod := testPod()
			tc.c.Name = "app"
			pod.Spec.Containers = []corev1.Container{tc.c}
			got, err := b.Env(context.Background(), pod, &pod.Spec.Containers[0], PodInfo{NodeAllocatable: alloc})
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(tc.wantErr, "not found") && !apierrors.IsNotFound(err) {
					t.Fatalf("err %v does not match IsNotFound", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("env = %q\nwant  %q", got, tc.want)
			}
			if strings.HasPrefix(tc.name, "envFrom with") {
				select {
				case e := <-rec.Events:
					want := "Warning InvalidEnvironmentVariableNames Keys [CM_bad=key] from the EnvFrom configMap shop/cfg were skipped since they are considered invalid environment variable names."
					if e != want {
						t.Fatalf("event %q, want %q", e, want)
					}
				default:
					t.Fatal("no event about the skipped key")
				}
			}
		})
	}
}

func TestCommandAndArgsExpansion(t *testing.T) {
	c := &corev1.Container{
		Command: []string{"/bin/$(PROG)", "$$(PROG)"},
		Args:    []string{"--name=$(NAME)", "$(MISSING)", "$$$$"},
	}
	cmd, args := ExpandCommandAndArgs(c, []string{"PROG=server", "NAME=a=b"})
	if !reflect.DeepEqual(cmd, []string{"/bin/server", "$(PROG)"}) || !reflect.DeepEqual(args, []string{"--name=a=b", "$(MISSING)", "$$"}) {
		t.Fatalf("command %q args %q", cmd, args)
	}
}

func fieldEnv(name, path string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
}

func resEnv(name, res, divisor string) corev1.EnvVar {
	fs := &corev1.ResourceFieldSelector{Resource: res}
	if divisor != "" {
		fs.Divisor = resource.MustParse(divisor)
	}
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: fs}}
}

func cmKey(name, key string, optional *bool) *corev1.ConfigMapKeySelector {
	return &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: optional}
}

func secKey(name, key string, optional *bool) *corev1.SecretKeySelector {
	return &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: optional}
}

func TestEnvHasTheKubernetesServiceVariables(t *testing.T) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "kubernetes"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.1", Ports: []corev1.ServicePort{
			{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}}},
	}
	b := testBuilder(t, svc)
	pod := testPod()
	pod.Spec.Containers = []corev1.Container{{Name: "app", Env: []corev1.EnvVar{
		{Name: "URL", Value: "https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)"},
		{Name: "KUBERNETES_SERVICE_PORT", Value: "8443"},
	}}}
	got, err := b.Env(context.Background(), pod, &pod.Spec.Containers[0], PodInfo{})
	if err != nil {
		t.Fatal(err)
	}
	// Upstream's kubelet: the container's own variables first (they may
	// refer to the service's and win over them), then the service's.
	want := []string{
		"URL=https://10.96.0.1:443", "KUBERNETES_SERVICE_PORT=8443",
		"KUBERNETES_SERVICE_HOST=10.96.0.1", "KUBERNETES_SERVICE_PORT_HTTPS=443",
		"KUBERNETES_PORT=tcp://10.96.0.1:443", "KUBERNETES_PORT_443_TCP=tcp://10.96.0.1:443",
		"KUBERNETES_PORT_443_TCP_PROTO=tcp", "KUBERNETES_PORT_443_TCP_PORT=443", "KUBERNETES_PORT_443_TCP_ADDR=10.96.0.1",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("env = %q\nwant  %q", got, want)
	}
}
