package registry

import (
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Pod volume validation, shared by pods and pod templates.

const (
	fileModeErrorMsg = "must be a number between 0 and 0777 (octal), both inclusive"
	// minTokenExpirationSeconds is ten minutes.
	minTokenExpirationSeconds = 600
	// maxTokenExpirationSeconds is 2^32 seconds.
	maxTokenExpirationSeconds = 1 << 32
)

// volumeFieldPaths are the pod fields a downwardAPI volume may expose.
var volumeFieldPaths = []string{
	"metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid",
}

// validateVolumes checks pod volumes and returns the names of the valid
// ones: the names volumeMounts may reference.
func validateVolumes(volumes []corev1.Volume, path *field.Path) (sets.Set[string], field.ErrorList) {
	names := sets.New[string]()
	var errs field.ErrorList
	for i := range volumes {
		v := &volumes[i]
		idx := path.Index(i)
		volErrs := validateVolumeSource(&v.VolumeSource, idx)
		if v.Name == "" {
			volErrs = append(volErrs, field.Required(idx.Child("name"), ""))
		} else {
			volErrs = append(volErrs, validateDNS1123Label(v.Name, idx.Child("name"))...)
		}
		if names.Has(v.Name) {
			volErrs = append(volErrs, field.Duplicate(idx.Child("name"), v.Name))
		}
		if len(volErrs) == 0 {
			names.Insert(v.Name)
		}
		errs = append(errs, volErrs...)
	}
	return names, errs
}

// validateVolumeSource checks that exactly one source is set, and the
// fields of the common sources.
func validateVolumeSource(src *corev1.VolumeSource, path *field.Path) field.ErrorList {
	set := setPointerFields(src)
	if len(set) == 0 {
		return field.ErrorList{field.Required(path, "must specify a volume type")}
	}
	if len(set) > 1 {
		var errs field.ErrorList
		for _, name := range set[1:] {
			errs = append(errs, field.Forbidden(path.Child(name), "may not specify more than 1 volume type"))
		}
		return errs
	}
	var errs field.ErrorList
	switch {
	case src.HostPath != nil:
		p := path.Child("hostPath")
		if src.HostPath.Path == "" {
			errs = append(errs, field.Required(p.Child("path"), ""))
		}
		if t := src.HostPath.Type; t != nil {
			errs = append(errs, oneOfOptional(*t, p.Child("type"),
				corev1.HostPathDirectoryOrCreate, corev1.HostPathDirectory, corev1.HostPathFileOrCreate,
				corev1.HostPathFile, corev1.HostPathSocket, corev1.HostPathCharDev, corev1.HostPathBlockDev)...)
		}
	case src.EmptyDir != nil:
		if q := src.EmptyDir.SizeLimit; q != nil && q.Sign() < 0 {
			errs = append(errs, field.Forbidden(path.Child("emptyDir", "sizeLimit"), "SizeLimit field must be a valid resource quantity"))
		}
	case src.Secret != nil:
		p := path.Child("secret")
		if src.Secret.SecretName == "" {
			errs = append(errs, field.Required(p.Child("secretName"), ""))
		} else {
			errs = append(errs, validateDNS1123Subdomain(src.Secret.SecretName, p.Child("secretName"))...)
		}
		errs = append(errs, validateFileMode(src.Secret.DefaultMode, p.Child("defaultMode"))...)
		errs = append(errs, validateKeyToPaths(src.Secret.Items, p.Child("items"))...)
	case src.ConfigMap != nil:
		p := path.Child("configMap")
		if src.ConfigMap.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else {
			errs = append(errs, validateDNS1123Subdomain(src.ConfigMap.Name, p.Child("name"))...)
		}
		errs = append(errs, validateFileMode(src.ConfigMap.DefaultMode, p.Child("defaultMode"))...)
		errs = append(errs, validateKeyToPaths(src.ConfigMap.Items, p.Child("items"))...)
	case src.PersistentVolumeClaim != nil:
		if src.PersistentVolumeClaim.ClaimName == "" {
			errs = append(errs, field.Required(path.Child("persistentVolumeClaim", "claimName"), ""))
		}
	case src.DownwardAPI != nil:
		p := path.Child("downwardAPI")
		errs = append(errs, validateFileMode(src.DownwardAPI.DefaultMode, p.Child("defaultMode"))...)
		for i := range src.DownwardAPI.Items {
			errs = append(errs, validateDownwardAPIFile(&src.DownwardAPI.Items[i], p.Child("items").Index(i))...)
		}
	case src.Projected != nil:
		errs = append(errs, validateProjected(src.Projected, path.Child("projected"))...)
	case src.NFS != nil:
		p := path.Child("nfs")
		if src.NFS.Server == "" {
			errs = append(errs, field.Required(p.Child("server"), ""))
		}
		if src.NFS.Path == "" {
			errs = append(errs, field.Required(p.Child("path"), ""))
		} else if !strings.HasPrefix(src.NFS.Path, "/") {
			errs = append(errs, field.Invalid(p.Child("path"), src.NFS.Path, "must be an absolute path"))
		}
	}
	return errs
}

func validateProjected(src *corev1.ProjectedVolumeSource, path *field.Path) field.ErrorList {
	errs := validateFileMode(src.DefaultMode, path.Child("defaultMode"))
	for i := range src.Sources {
		s := &src.Sources[i]
		p := path.Child("sources").Index(i)
		set := setPointerFields(s)
		if len(set) == 0 {
			errs = append(errs, field.Required(p, "must specify a volume projection"))
			continue
		}
		for _, name := range set[1:] {
			errs = append(errs, field.Forbidden(p.Child(name), "may not specify more than 1 volume type per source"))
		}
		switch {
		case s.Secret != nil:
			errs = append(errs, validateKeyToPaths(s.Secret.Items, p.Child("secret", "items"))...)
		case s.ConfigMap != nil:
			errs = append(errs, validateKeyToPaths(s.ConfigMap.Items, p.Child("configMap", "items"))...)
		case s.DownwardAPI != nil:
			for j := range s.DownwardAPI.Items {
				errs = append(errs, validateDownwardAPIFile(&s.DownwardAPI.Items[j], p.Child("downwardAPI", "items").Index(j))...)
			}
		case s.ServiceAccountToken != nil:
			t, tp := s.ServiceAccountToken, p.Child("serviceAccountToken")
			if t.ExpirationSeconds != nil {
				switch {
				case *t.ExpirationSeconds < minTokenExpirationSeconds:
					errs = append(errs, field.Invalid(tp.Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration less than 10 minutes"))
				case *t.ExpirationSeconds > maxTokenExpirationSeconds:
					errs = append(errs, field.Invalid(tp.Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration larger than 2^32 seconds"))
				}
			}
			if t.Path == "" {
				errs = append(errs, field.Required(tp.Child("path"), ""))
			} else {
				errs = append(errs, validateLocalNonReservedPath(t.Path, tp.Child("path"))...)
			}
		}
	}
	return errs
}

func validateKeyToPaths(items []corev1.KeyToPath, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, item := range items {
		idx := path.Index(i)
		if item.Key == "" {
			errs = append(errs, field.Required(idx.Child("key"), ""))
		}
		if item.Path == "" {
			errs = append(errs, field.Required(idx.Child("path"), ""))
		}
		errs = append(errs, validateLocalNonReservedPath(item.Path, idx.Child("path"))...)
		errs = append(errs, validateFileMode(item.Mode, idx.Child("mode"))...)
	}
	return errs
}

func validateDownwardAPIFile(f *corev1.DownwardAPIVolumeFile, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if f.Path == "" {
		errs = append(errs, field.Required(path.Child("path"), ""))
	}
	errs = append(errs, validateLocalNonReservedPath(f.Path, path.Child("path"))...)
	switch {
	case f.FieldRef != nil && f.ResourceFieldRef != nil:
		errs = append(errs, field.Invalid(path, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
	case f.FieldRef != nil:
		errs = append(errs, validateFieldRef(f.FieldRef, volumeFieldPaths, path.Child("fieldRef"))...)
	case f.ResourceFieldRef != nil:
		errs = append(errs, validateResourceFieldRef(f.ResourceFieldRef, true, path.Child("resourceFieldRef"))...)
	default:
		errs = append(errs, field.Required(path, "one of fieldRef and resourceFieldRef is required"))
	}
	return append(errs, validateFileMode(f.Mode, path.Child("mode"))...)
}

func validateFileMode(mode *int32, path *field.Path) field.ErrorList {
	if mode != nil && (*mode < 0 || *mode > 0o777) {
		return field.ErrorList{field.Invalid(path, *mode, fileModeErrorMsg)}
	}
	return nil
}

// validateLocalDescendingPath checks a relative path without "..".
func validateLocalDescendingPath(p string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if path.IsAbs(p) {
		errs = append(errs, field.Invalid(fldPath, p, "must be a relative path"))
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			errs = append(errs, field.Invalid(fldPath, p, "must not contain '..'"))
			break
		}
	}
	return errs
}

// validateLocalNonReservedPath is validateLocalDescendingPath that also
// rejects names starting with "..", reserved for atomic writers.
func validateLocalNonReservedPath(p string, fldPath *field.Path) field.ErrorList {
	errs := validateLocalDescendingPath(p, fldPath)
	if strings.HasPrefix(p, "..") && !strings.HasPrefix(p, "../") {
		errs = append(errs, field.Invalid(fldPath, p, "must not start with '..'"))
	}
	return errs
}
