package registry

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func validConfigMap() *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "app-config", Namespace: "default"},
		Data:       map[string]string{"app.properties": "debug=true", "LOG_LEVEL": "info"},
		BinaryData: map[string][]byte{"logo.png": {0x89, 0x50}},
	}
}

func TestConfigMapValidation(t *testing.T) {
	runValidateCases(t, configMapStrategy{}, validConfigMap, []validateCase[*corev1.ConfigMap]{
		{name: "a config map with text and binary data is valid"},
		{"a config map name is a DNS subdomain", func(cm *corev1.ConfigMap) { cm.Name = "App_Config" }, []fieldErr{invalid("metadata.name")}},
		{"a config map needs a namespace", func(cm *corev1.ConfigMap) { cm.Namespace = "" }, []fieldErr{required("metadata.namespace")}},
		{"data keys are file-name-like", func(cm *corev1.ConfigMap) { cm.Data["a/b"] = "x" }, []fieldErr{invalid("data[a/b]")}},
		{"binaryData keys are file-name-like", func(cm *corev1.ConfigMap) { cm.BinaryData[".."] = nil }, []fieldErr{invalid("binaryData[..]")}},
		{"a key is in data or binaryData, not both", func(cm *corev1.ConfigMap) { cm.BinaryData["LOG_LEVEL"] = []byte("x") },
			[]fieldErr{invalid("data[LOG_LEVEL]")}},
		{"data holds at most 1 MiB", func(cm *corev1.ConfigMap) { cm.Data["big"] = strings.Repeat("x", 1<<20) }, []fieldErr{tooLong("data")}},
	})
}

func TestConfigMapUpdateValidation(t *testing.T) {
	immutable := func(cm *corev1.ConfigMap) { cm.Immutable = ptrTo(true) }
	runUpdateCases(t, configMapStrategy{}, validConfigMap, []updateCase[*corev1.ConfigMap]{
		{name: "data may change", update: func(cm *corev1.ConfigMap) { cm.Data["LOG_LEVEL"] = "debug" }},
		{name: "a config map may be made immutable", update: immutable},
		{name: "an immutable config map keeps its data", old: immutable,
			update: func(cm *corev1.ConfigMap) { cm.Data["LOG_LEVEL"] = "debug" }, want: []fieldErr{forbidden("data")}},
		{name: "an immutable config map keeps its binary data", old: immutable,
			update: func(cm *corev1.ConfigMap) { delete(cm.BinaryData, "logo.png") }, want: []fieldErr{forbidden("binaryData")}},
		{name: "an immutable config map stays immutable", old: immutable,
			update: func(cm *corev1.ConfigMap) { cm.Immutable = nil }, want: []fieldErr{forbidden("immutable")}},
		{name: "an immutable config map may still be relabelled", old: immutable,
			update: func(cm *corev1.ConfigMap) { cm.Labels = map[string]string{"v": "2"} }},
	})
}
