package container

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
)

// Plugin directory names under <pod>/volumes, as upstream's kubelet names
// them (so tools that know the layout find their way).
const (
	PluginEmptyDir    = "kubernetes.io~empty-dir"
	PluginConfigMap   = "kubernetes.io~configmap"
	PluginSecret      = "kubernetes.io~secret"
	PluginDownwardAPI = "kubernetes.io~downward-api"
	PluginProjected   = "kubernetes.io~projected"
)

// Default file modes of projected files (the API server's defaults).
const defaultVolumeMode int32 = 0o644

// Volumes materializes a pod's volumes on disk, keeps the ones projected
// from the API (configMap, secret, downwardAPI, projected) current, and
// removes them. Besides the service account tokens of projected volumes
// (kept in memory until 80% of their life has passed; a restarted kubelet
// requests new ones), everything it needs is on disk, so a restarted
// kubelet carries on. Use it through a pointer (Builder.Volumes).
type Volumes struct {
	// RootDir is the kubelet's root; pods live in RootDir/pods/<uid>.
	RootDir string
	// Client reads configMaps and secrets.
	Client kubernetes.Interface
	// Clock names the timestamped data directories.
	Clock clock.PassiveClock
	// NodeAllocatable supplies defaults for resourceFieldRef limits in
	// downwardAPI volumes (nil: none).
	NodeAllocatable func() corev1.ResourceList
	// Recorder receives events about the pod (optional).
	Recorder record.EventRecorder

	// tokens are the service account tokens of projected volumes.
	tokens tokenCache
}

// PodDir is RootDir/pods/<uid>.
func (v *Volumes) PodDir(uid types.UID) string {
	return filepath.Join(v.RootDir, "pods", string(uid))
}

// VolumeDir is where a volume of the given plugin lives:
// RootDir/pods/<uid>/volumes/<plugin>/<name>.
func (v *Volumes) VolumeDir(uid types.UID, plugin, name string) string {
	return filepath.Join(v.PodDir(uid), "volumes", plugin, name)
}

// Source tells where a pod volume is found on the host and whether
// containers must mount it read-only (configMap, secret, downwardAPI and
// projected volumes always are, as upstream).
func (v *Volumes) Source(pod *corev1.Pod, name string) (hostPath string, readOnly bool, err error) {
	for i := range pod.Spec.Volumes {
		vol := &pod.Spec.Volumes[i]
		if vol.Name != name {
			continue
		}
		switch {
		case vol.EmptyDir != nil:
			return v.VolumeDir(pod.UID, PluginEmptyDir, name), false, nil
		case vol.HostPath != nil:
			return vol.HostPath.Path, false, nil
		case vol.ConfigMap != nil:
			return v.VolumeDir(pod.UID, PluginConfigMap, name), true, nil
		case vol.Secret != nil:
			return v.VolumeDir(pod.UID, PluginSecret, name), true, nil
		case vol.DownwardAPI != nil:
			return v.VolumeDir(pod.UID, PluginDownwardAPI, name), true, nil
		case vol.Projected != nil:
			return v.VolumeDir(pod.UID, PluginProjected, name), true, nil
		}
		return "", false, fmt.Errorf("volume %q: unsupported volume type", name)
	}
	return "", false, fmt.Errorf("cannot find volume %q to mount", name)
}

// mountError wraps a volume's failure as upstream's FailedMount message:
// `MountVolume.SetUp failed for volume "x" : <cause>`.
func mountError(name string, err error) error {
	return fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", name, err)
}

// Setup creates every volume of the pod: emptyDirs (tmpfs-backed for
// medium Memory), hostPath type checks (creating the path for the
// ...OrCreate types), and the files of configMap, secret, downwardAPI and
// projected volumes. It is safe to repeat. The first failing volume's
// error is returned, in upstream's FailedMount form.
func (v *Volumes) Setup(ctx context.Context, pod *corev1.Pod) error {
	for i := range pod.Spec.Volumes {
		vol := &pod.Spec.Volumes[i]
		var err error
		switch {
		case vol.EmptyDir != nil:
			err = v.setupEmptyDir(pod, vol)
		case vol.HostPath != nil:
			err = checkHostPathType(vol.HostPath.Path, vol.HostPath.Type)
		case vol.ConfigMap != nil, vol.Secret != nil, vol.DownwardAPI != nil, vol.Projected != nil:
			_, err = v.syncVolume(ctx, pod, vol)
		default:
			err = errors.New("unsupported volume type")
		}
		if err != nil {
			return mountError(vol.Name, err)
		}
	}
	return nil
}

// Sync re-writes the configMap, secret, downwardAPI and projected volumes
// of the pod from the API's current contents. Containers see a change at
// once through the "..data" swap. It returns the names of the volumes
// whose contents changed. Errors of single volumes are joined; the others
// are still synced.
func (v *Volumes) Sync(ctx context.Context, pod *corev1.Pod) (changed []string, err error) {
	var errs []error
	for i := range pod.Spec.Volumes {
		vol := &pod.Spec.Volumes[i]
		if vol.ConfigMap == nil && vol.Secret == nil && vol.DownwardAPI == nil && vol.Projected == nil {
			continue
		}
		ch, err := v.syncVolume(ctx, pod, vol)
		if err != nil {
			errs = append(errs, mountError(vol.Name, err))
			continue
		}
		if ch {
			changed = append(changed, vol.Name)
		}
	}
	return changed, errors.Join(errs...)
}

// Teardown unmounts whatever is mounted under the pod's directory
// (tmpfs emptyDirs) and removes the directory. It is safe to repeat.
func (v *Volumes) Teardown(uid types.UID) error {
	v.tokens.forget(uid)
	dir := v.PodDir(uid)
	if err := unmountUnder(dir); err != nil {
		return fmt.Errorf("tear down volumes of pod %s: %w", uid, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove pod dir %s: %w", dir, err)
	}
	return nil
}

func (v *Volumes) setupEmptyDir(pod *corev1.Pod, vol *corev1.Volume) error {
	dir := v.VolumeDir(pod.UID, PluginEmptyDir, vol.Name)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return fmt.Errorf("create emptyDir: %w", err)
	}
	if vol.EmptyDir.Medium == corev1.StorageMediumMemory {
		mounted, err := isMountPoint(dir)
		if err != nil {
			return err
		}
		if !mounted {
			opts := "mode=0777"
			if sl := vol.EmptyDir.SizeLimit; sl != nil && sl.Sign() > 0 {
				opts += fmt.Sprintf(",size=%d", sl.Value())
			}
			if err := mountTmpfs(dir, opts); err != nil {
				return err
			}
		}
	}
	// MkdirAll's mode is filtered by the umask; emptyDirs are 0777.
	if err := os.Chmod(dir, 0o777); err != nil {
		return fmt.Errorf("chmod emptyDir: %w", err)
	}
	if gid := fsGroup(pod); gid != nil {
		setVolumeOwnership(dir, *gid, false)
	}
	return nil
}

func fsGroup(pod *corev1.Pod) *int64 {
	if pod.Spec.SecurityContext == nil {
		return nil
	}
	return pod.Spec.SecurityContext.FSGroup
}

// syncVolume writes one API-projected volume; changed reports a swap.
func (v *Volumes) syncVolume(ctx context.Context, pod *corev1.Pod, vol *corev1.Volume) (changed bool, err error) {
	var (
		payload map[string]fileProjection
		plugin  string
	)
	switch {
	case vol.ConfigMap != nil:
		plugin = PluginConfigMap
		payload, err = v.configMapPayload(ctx, pod.Namespace, vol.ConfigMap.Name, vol.ConfigMap.Items,
			modeOr(vol.ConfigMap.DefaultMode, defaultVolumeMode), vol.ConfigMap.Optional)
	case vol.Secret != nil:
		plugin = PluginSecret
		payload, err = v.secretPayload(ctx, pod.Namespace, vol.Secret.SecretName, vol.Secret.Items,
			modeOr(vol.Secret.DefaultMode, defaultVolumeMode), vol.Secret.Optional)
	case vol.DownwardAPI != nil:
		plugin = PluginDownwardAPI
		payload, err = v.downwardAPIPayload(pod, vol.DownwardAPI.Items, modeOr(vol.DownwardAPI.DefaultMode, defaultVolumeMode))
	case vol.Projected != nil:
		plugin = PluginProjected
		payload, err = v.projectedPayload(ctx, pod, vol.Projected)
	}
	if err != nil {
		return false, err
	}
	dir := v.VolumeDir(pod.UID, plugin, vol.Name)
	gid := fsGroup(pod)
	if gid != nil {
		// Group-readable files, as upstream's SetVolumeOwnership leaves them.
		for p, fp := range payload {
			fp.Mode |= 0o040
			payload[p] = fp
		}
	}
	changed, err = writeAtomic(dir, payload, v.now())
	if err != nil {
		return changed, err
	}
	if changed && gid != nil {
		setVolumeOwnership(dir, *gid, true)
	}
	return changed, nil
}

func (v *Volumes) now() time.Time {
	if v.Clock == nil {
		return clock.RealClock{}.Now()
	}
	return v.Clock.Now()
}

func modeOr(m *int32, def int32) int32 {
	if m != nil {
		return *m
	}
	return def
}

func isOptional(b *bool) bool { return b != nil && *b }

func (v *Volumes) builder() *Builder { return &Builder{Client: v.Client} }

func (v *Volumes) configMapPayload(ctx context.Context, ns, name string, items []corev1.KeyToPath, defMode int32, optional *bool) (map[string]fileProjection, error) {
	cm, err := v.builder().getConfigMap(ctx, ns, name)
	if err != nil {
		if apierrors.IsNotFound(err) && isOptional(optional) {
			return map[string]fileProjection{}, nil
		}
		return nil, err
	}
	payload := map[string]fileProjection{}
	if len(items) == 0 {
		for k, d := range cm.Data {
			payload[k] = fileProjection{Data: []byte(d), Mode: defMode}
		}
		for k, d := range cm.BinaryData {
			payload[k] = fileProjection{Data: d, Mode: defMode}
		}
		return payload, nil
	}
	for _, it := range items {
		var data []byte
		if s, ok := cm.Data[it.Key]; ok {
			data = []byte(s)
		} else if b, ok := cm.BinaryData[it.Key]; ok {
			data = b
		} else {
			if isOptional(optional) {
				continue
			}
			return nil, fmt.Errorf("configmap references non-existent config key: %s", it.Key)
		}
		payload[it.Path] = fileProjection{Data: data, Mode: modeOr(it.Mode, defMode)}
	}
	return payload, nil
}

func (v *Volumes) secretPayload(ctx context.Context, ns, name string, items []corev1.KeyToPath, defMode int32, optional *bool) (map[string]fileProjection, error) {
	s, err := v.builder().getSecret(ctx, ns, name)
	if err != nil {
		if apierrors.IsNotFound(err) && isOptional(optional) {
			return map[string]fileProjection{}, nil
		}
		return nil, err
	}
	data := make(map[string][]byte, len(s.Data)+len(s.StringData))
	for k, d := range s.Data {
		data[k] = d
	}
	for k, d := range s.StringData {
		if _, ok := data[k]; !ok {
			data[k] = []byte(d)
		}
	}
	payload := map[string]fileProjection{}
	if len(items) == 0 {
		for k, d := range data {
			payload[k] = fileProjection{Data: d, Mode: defMode}
		}
		return payload, nil
	}
	for _, it := range items {
		d, ok := data[it.Key]
		if !ok {
			if isOptional(optional) {
				continue
			}
			return nil, fmt.Errorf("references non-existent secret key: %s", it.Key)
		}
		payload[it.Path] = fileProjection{Data: d, Mode: modeOr(it.Mode, defMode)}
	}
	return payload, nil
}

func (v *Volumes) downwardAPIPayload(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, defMode int32) (map[string]fileProjection, error) {
	var alloc corev1.ResourceList
	if v.NodeAllocatable != nil {
		alloc = v.NodeAllocatable()
	}
	payload := map[string]fileProjection{}
	for _, it := range items {
		var (
			val string
			err error
		)
		switch {
		case it.FieldRef != nil:
			val, err = podFieldValue(pod, it.FieldRef.FieldPath, PodInfo{})
		case it.ResourceFieldRef != nil:
			c := findContainer(pod, it.ResourceFieldRef.ContainerName)
			if c == nil {
				return nil, fmt.Errorf("downwardAPI %s: container %q not found", it.Path, it.ResourceFieldRef.ContainerName)
			}
			val, err = containerResourceValue(it.ResourceFieldRef, c, alloc)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("downwardAPI %s: %w", it.Path, err)
		}
		payload[it.Path] = fileProjection{Data: []byte(val), Mode: modeOr(it.Mode, defMode)}
	}
	return payload, nil
}

func (v *Volumes) projectedPayload(ctx context.Context, pod *corev1.Pod, src *corev1.ProjectedVolumeSource) (map[string]fileProjection, error) {
	defMode := modeOr(src.DefaultMode, defaultVolumeMode)
	payload := map[string]fileProjection{}
	for _, s := range src.Sources {
		var (
			sub map[string]fileProjection
			err error
		)
		switch {
		case s.ConfigMap != nil:
			sub, err = v.configMapPayload(ctx, pod.Namespace, s.ConfigMap.Name, s.ConfigMap.Items, defMode, s.ConfigMap.Optional)
		case s.Secret != nil:
			sub, err = v.secretPayload(ctx, pod.Namespace, s.Secret.Name, s.Secret.Items, defMode, s.Secret.Optional)
		case s.DownwardAPI != nil:
			sub, err = v.downwardAPIPayload(pod, s.DownwardAPI.Items, defMode)
		case s.ServiceAccountToken != nil:
			var tok string
			if tok, err = v.serviceAccountToken(ctx, pod, s.ServiceAccountToken); err == nil {
				sub = map[string]fileProjection{s.ServiceAccountToken.Path: {Data: []byte(tok), Mode: defMode}}
			}
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		for p, fp := range sub {
			payload[p] = fp
		}
	}
	return payload, nil
}

// setVolumeOwnership gives fsGroup the volume's files, as upstream's
// SetVolumeOwnership: group ownership, group read (and write unless
// readOnly), setgid on directories. Best effort: failures are ignored.
func setVolumeOwnership(dir string, gid int64, readOnly bool) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		_ = os.Lchown(p, -1, int(gid))
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		mode := info.Mode()
		add := fs.FileMode(0o040)
		if !readOnly {
			add |= 0o020
		}
		if d.IsDir() {
			add |= 0o010 | fs.ModeSetgid
		}
		_ = os.Chmod(p, mode|add)
		return nil
	})
}

// checkHostPathType is upstream's hostPath type check.
func checkHostPathType(path string, t *corev1.HostPathType) error {
	if t == nil || *t == corev1.HostPathUnset {
		return nil
	}
	st, statErr := os.Stat(path)
	exists := statErr == nil
	switch *t {
	case corev1.HostPathDirectoryOrCreate:
		if !exists {
			if err := os.MkdirAll(path, 0o755); err != nil {
				return fmt.Errorf("hostPath type check failed: create %s: %w", path, err)
			}
			return nil
		}
		fallthrough
	case corev1.HostPathDirectory:
		if !exists || !st.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a directory", path)
		}
	case corev1.HostPathFileOrCreate:
		if !exists {
			f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
			if err != nil {
				return fmt.Errorf("hostPath type check failed: create %s: %w", path, err)
			}
			return f.Close()
		}
		fallthrough
	case corev1.HostPathFile:
		if !exists || !st.Mode().IsRegular() {
			return fmt.Errorf("hostPath type check failed: %s is not a file", path)
		}
	case corev1.HostPathSocket:
		if !exists || st.Mode()&fs.ModeSocket == 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a socket file", path)
		}
	case corev1.HostPathCharDev:
		if !exists || st.Mode()&fs.ModeCharDevice == 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a character device", path)
		}
	case corev1.HostPathBlockDev:
		if !exists || st.Mode()&fs.ModeDevice == 0 || st.Mode()&fs.ModeCharDevice != 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a block device", path)
		}
	default:
		return fmt.Errorf("%s is an invalid volume type", *t)
	}
	return nil
}

// subPathIn joins a volumeMount's subPath to the volume's host path,
// refusing paths that leave the volume.
func subPathIn(base, sub string) (string, error) {
	if filepath.IsAbs(sub) {
		return "", fmt.Errorf("subPath %q must be a relative path", sub)
	}
	for _, part := range strings.Split(filepath.ToSlash(sub), "/") {
		if part == ".." {
			return "", fmt.Errorf("subPath %q must not contain '..'", sub)
		}
	}
	return filepath.Join(base, sub), nil
}
