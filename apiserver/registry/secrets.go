package registry

import (
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// secretStrategy holds the rules of core/v1 Secrets.
type secretStrategy struct{}

func (secretStrategy) Default(obj runtime.Object) {
	secret := obj.(*corev1.Secret)
	if secret.Type == "" {
		secret.Type = corev1.SecretTypeOpaque
	}
	// stringData is write-only: merged into data, as upstream's conversion
	// does, and never stored.
	for k, v := range secret.StringData {
		if secret.Data == nil {
			secret.Data = map[string][]byte{}
		}
		secret.Data[k] = []byte(v)
	}
	secret.StringData = nil
}

func (secretStrategy) Validate(obj runtime.Object) field.ErrorList {
	secret := obj.(*corev1.Secret)
	errs := validateMeta(secret, true, validation.NameIsDNSSubdomain)
	dataPath := field.NewPath("data")
	size := 0
	for _, key := range sortedKeys(secret.Data) {
		errs = append(errs, invalidEach(dataPath.Key(key), key, utilvalidation.IsConfigMapKey(key))...)
		size += len(secret.Data[key])
	}
	if size > maxDataSize {
		errs = append(errs, field.TooLong(dataPath, "", maxDataSize))
	}
	return append(errs, validateSecretType(secret, dataPath)...)
}

// validateSecretType checks the keys each well-known secret type requires.
func validateSecretType(secret *corev1.Secret, dataPath *field.Path) field.ErrorList {
	has := func(key string) bool { _, ok := secret.Data[key]; return ok }
	requireJSON := func(key string) field.ErrorList {
		if !has(key) {
			return field.ErrorList{field.Required(dataPath.Key(key), "")}
		}
		if err := json.Unmarshal(secret.Data[key], &map[string]any{}); err != nil {
			return field.ErrorList{field.Invalid(dataPath.Key(key), "<secret contents redacted>", err.Error())}
		}
		return nil
	}
	switch secret.Type {
	case corev1.SecretTypeServiceAccountToken:
		if secret.Annotations[corev1.ServiceAccountNameKey] == "" {
			return field.ErrorList{field.Required(field.NewPath("metadata", "annotations").Key(corev1.ServiceAccountNameKey), "")}
		}
	case corev1.SecretTypeDockercfg:
		return requireJSON(corev1.DockerConfigKey)
	case corev1.SecretTypeDockerConfigJson:
		return requireJSON(corev1.DockerConfigJsonKey)
	case corev1.SecretTypeBasicAuth:
		if !has(corev1.BasicAuthUsernameKey) && !has(corev1.BasicAuthPasswordKey) {
			return field.ErrorList{
				field.Required(dataPath.Key(corev1.BasicAuthUsernameKey), ""),
				field.Required(dataPath.Key(corev1.BasicAuthPasswordKey), ""),
			}
		}
	case corev1.SecretTypeSSHAuth:
		if len(secret.Data[corev1.SSHAuthPrivateKey]) == 0 {
			return field.ErrorList{field.Required(dataPath.Key(corev1.SSHAuthPrivateKey), "")}
		}
	case corev1.SecretTypeTLS:
		var errs field.ErrorList
		for _, key := range []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey} {
			if !has(key) {
				errs = append(errs, field.Required(dataPath.Key(key), ""))
			}
		}
		return errs
	}
	return nil
}

func (s secretStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	secret, oldSecret := obj.(*corev1.Secret), old.(*corev1.Secret)
	errs := s.Validate(secret)
	errs = append(errs, validateMetaUpdate(secret, oldSecret)...)
	errs = append(errs, immutable(secret.Type, oldSecret.Type, field.NewPath("type"))...)
	if isTrue(oldSecret.Immutable) {
		if !isTrue(secret.Immutable) {
			errs = append(errs, field.Forbidden(field.NewPath("immutable"), immutableMsg))
		}
		if !semanticEqual(secret.Data, oldSecret.Data) {
			errs = append(errs, field.Forbidden(field.NewPath("data"), immutableMsg))
		}
	}
	return errs
}

func (secretStrategy) FieldSet(obj runtime.Object) fields.Set {
	secret := obj.(*corev1.Secret)
	return namespacedFields(secret, fields.Set{"type": string(secret.Type)})
}
