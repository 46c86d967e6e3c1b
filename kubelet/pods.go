package kubelet

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiffk8s/skiff/kubelet/network"
	"github.com/skiffk8s/skiff/runtime"
)

// podWorker syncs one pod. Its fields other than wake are owned by the
// worker's goroutine.
type podWorker struct {
	uid       types.UID
	namespace string
	name      string
	wake      chan struct{}

	last         *corev1.Pod
	attachment   *network.Attachment
	pullFailures map[string]pullFailure
	errors       map[string]*corev1.ContainerStateWaiting
	// backOffReported: the instance ID (or pull failure count) last
	// reported in a BackOff event, by container name.
	backOffReported map[string]string
	terminated      bool
	// resourcesSynced is when PodResources last synced the pod.
	resourcesSynced time.Time
	// messages are exited containers' termination messages, by container
	// ID (read once: the files do not change after exit).
	messages map[string]string
}

// fillMessages sets the termination messages of st's exited containers,
// reading each once.
func (k *kubelet) fillMessages(w *podWorker, pod *corev1.Pod, st *podState) {
	if k.cfg.TerminationMessage == nil {
		return
	}
	for name, l := range st.Containers {
		c := containerByName(pod, name)
		if c == nil {
			continue
		}
		for i := range l {
			in := &l[i]
			if in.State != runtime.StateExited {
				continue
			}
			msg, ok := w.messages[in.ID]
			if !ok {
				msg = k.cfg.TerminationMessage(pod, c, in.Restart, in.ExitCode, in.LogPath)
				if w.messages == nil {
					w.messages = map[string]string{}
				}
				w.messages[in.ID] = msg
			}
			in.Message = msg
		}
	}
}

// dispatch wakes the pod's worker, starting one if needed.
func (k *kubelet) dispatch(ctx context.Context, pod *corev1.Pod) {
	k.mu.Lock()
	defer k.mu.Unlock()
	w := k.workers[pod.UID]
	if w == nil {
		if k.stopping {
			return
		}
		w = &podWorker{
			uid: pod.UID, namespace: pod.Namespace, name: pod.Name,
			wake:            make(chan struct{}, 1),
			last:            pod,
			pullFailures:    map[string]pullFailure{},
			errors:          map[string]*corev1.ContainerStateWaiting{},
			backOffReported: map[string]string{},
		}
		k.workers[pod.UID] = w
		k.wg.Add(1)
		go k.runWorker(ctx, w)
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// wakeUID wakes the worker of a pod UID; it reports whether one exists.
func (k *kubelet) wakeUID(uid types.UID) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	w := k.workers[uid]
	if w == nil {
		return false
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return true
}

func (k *kubelet) runWorker(ctx context.Context, w *podWorker) {
	defer k.wg.Done()
	// dispatch wakes every new worker: the first sync follows that.
	select {
	case <-ctx.Done():
		return
	case <-w.wake:
	}
	for {
		done, requeue := k.syncPod(ctx, w)
		if done {
			k.mu.Lock()
			delete(k.workers, w.uid)
			delete(k.admitted, w.uid)
			k.mu.Unlock()
			return
		}
		if requeue <= 0 || requeue > k.cfg.PodResyncInterval {
			requeue = k.cfg.PodResyncInterval
		}
		t := k.clock.NewTimer(requeue)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-w.wake:
		case <-t.C():
		}
		t.Stop()
	}
}

// syncPod brings one pod towards its spec and reports its status. done
// means the pod is gone and cleaned up.
func (k *kubelet) syncPod(ctx context.Context, w *podWorker) (done bool, requeue time.Duration) {
	pod, err := k.podLister.Pods(w.namespace).Get(w.name)
	if err != nil || pod.UID != w.uid {
		// Gone from the API (deleted by us, or forcibly): clean up.
		k.forgetProbes(w.uid)
		if err := k.cleanupPod(ctx, w, w.last); err != nil {
			k.log.Warn("clean up pod", "pod", w.namespace+"/"+w.name, "err", err)
			return false, k.cfg.RelistInterval
		}
		return true, 0
	}
	w.last = pod
	log := k.log.With("pod", pod.Namespace+"/"+pod.Name)
	if pod.DeletionTimestamp != nil {
		k.forgetProbes(pod.UID)
		if !w.terminated {
			if err := k.terminatePod(ctx, w, pod); err != nil {
				log.Warn("terminate pod", "err", err)
				return false, k.cfg.RelistInterval
			}
			w.terminated = true
		}
		return false, 0
	}
	containers, err := k.cfg.Runtime.ListContainers(ctx, map[string]string{LabelPodUID: string(pod.UID)})
	if err != nil {
		log.Warn("list containers", "err", err)
		return false, k.cfg.RelistInterval
	}
	if !isTerminal(pod.Status.Phase) && !k.admit(ctx, pod, len(containers) > 0) {
		return false, 0
	}
	st := newPodState(pod, containers)
	k.fillMessages(w, pod, st)
	st.PullFailures = w.pullFailures
	st.NetworkReady = w.attachment != nil || pod.Spec.HostNetwork
	st.Unhealthy = k.unhealthyOf(pod.UID, containers)
	now := k.clock.Now()
	a := computePodActions(pod, st, now)
	k.syncResources(ctx, w, pod, len(containers) > 0 && len(a.Start) == 0 && len(a.StartExisting) == 0, now)
	if k.execute(ctx, w, pod, st, &a) {
		if containers, err = k.cfg.Runtime.ListContainers(ctx, map[string]string{LabelPodUID: string(pod.UID)}); err != nil {
			log.Warn("list containers", "err", err)
			return false, k.cfg.RelistInterval
		}
		st = newPodState(pod, containers)
		k.fillMessages(w, pod, st)
		st.PullFailures = w.pullFailures
		st.NetworkReady = w.attachment != nil || pod.Spec.HostNetwork
		st.Unhealthy = k.unhealthyOf(pod.UID, containers)
	}
	if len(w.errors) > 0 {
		a.requeue(k.cfg.RelistInterval)
	}
	if isTerminal(pod.Status.Phase) {
		k.forgetProbes(pod.UID)
		return false, a.RequeueAfter
	}
	in := statusInput{State: st, Waiting: a.Waiting, Errors: w.errors, HostIP: k.hostIP,
		Ready:   func(name, id string) bool { return k.cfg.Readiness.Ready(pod, name, id) },
		Started: k.startedFunc(pod)}
	if w.attachment != nil {
		in.PodIP = w.attachment.IP
	} else if pod.Spec.HostNetwork {
		in.PodIP = k.hostIP
	}
	podIP := ""
	if in.PodIP != nil {
		podIP = in.PodIP.String()
	}
	k.updateProber(pod, st, podIP)
	status := computePodStatus(pod, in, now)
	if err := k.writeStatus(ctx, pod, status); err != nil {
		log.Warn("write pod status", "err", err)
		a.requeue(k.cfg.RelistInterval)
	}
	if isTerminal(status.Phase) {
		a.requeue(k.cfg.RelistInterval) // stop and tear down
	}
	return false, a.RequeueAfter
}

// syncResources lets PodResources that can keep the pod's resources
// current (volumes projected from the API) do so, at most once per
// RelistInterval; setUp says the pod's resources exist and this sync
// does not set them up anyway.
func (k *kubelet) syncResources(ctx context.Context, w *podWorker, pod *corev1.Pod, setUp bool, now time.Time) {
	s, ok := k.cfg.PodResources.(PodResourcesSyncer)
	if !ok || !setUp || isTerminal(pod.Status.Phase) || now.Sub(w.resourcesSynced) < k.cfg.RelistInterval {
		return
	}
	w.resourcesSynced = now
	if err := s.Sync(ctx, pod); err != nil {
		k.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedMount", "%v", err)
	}
}

// admit runs admission once per pod: a pod whose containers already
// exist (a restarted kubelet) is admitted as it is. A rejected pod is
// marked Failed.
func (k *kubelet) admit(ctx context.Context, pod *corev1.Pod, running bool) bool {
	k.mu.Lock()
	if ok, seen := k.admitted[pod.UID]; seen {
		k.mu.Unlock()
		return ok
	}
	var others []*corev1.Pod
	if !running {
		pods, _ := k.podLister.List(everything)
		for _, p := range pods {
			if p.UID != pod.UID && k.admitted[p.UID] && !isTerminal(p.Status.Phase) {
				others = append(others, p)
			}
		}
	}
	ok, reason, msg := true, "", ""
	if !running {
		ok, reason, msg = admitPod(pod, others, k.allocatable)
		if ok {
			ok, reason, msg = admitUnderPressure(pod, k.pressure)
		}
	}
	k.admitted[pod.UID] = ok
	k.mu.Unlock()
	if ok {
		return true
	}
	k.recorder.Event(pod, corev1.EventTypeWarning, reason, msg)
	now := k.clock.Now()
	s := pod.Status.DeepCopy()
	s.Phase, s.Reason, s.Message = corev1.PodFailed, reason, msg
	s.QOSClass = qosClass(pod)
	if s.StartTime == nil {
		s.StartTime = mtimePtr(now)
	}
	if k.hostIP != nil {
		s.HostIP = k.hostIP.String()
		s.HostIPs = []corev1.HostIP{{IP: s.HostIP}}
	}
	if err := k.writeStatus(ctx, pod, *s); err != nil {
		k.log.Warn("write pod status", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		k.mu.Lock()
		delete(k.admitted, pod.UID) // decide again next time
		k.mu.Unlock()
	}
	return false
}

// writeStatus writes status through the status subresource when it
// differs from the pod's.
func (k *kubelet) writeStatus(ctx context.Context, pod *corev1.Pod, status corev1.PodStatus) error {
	if statusEqual(pod.Status, status) {
		return nil
	}
	p := pod.DeepCopy()
	p.Status = status
	pods := k.cfg.Client.CoreV1().Pods(pod.Namespace)
	_, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		cur, gerr := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if gerr != nil {
			return fmt.Errorf("get pod: %w", gerr)
		}
		if cur.UID != pod.UID {
			return nil
		}
		cur.Status = status
		_, err = pods.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("update status: %w", err)
	}
	return nil
}

// execute carries out a sync's actions; it reports whether the runtime's
// containers may have changed.
func (k *kubelet) execute(ctx context.Context, w *podWorker, pod *corev1.Pod, st *podState, a *podActions) bool {
	changed := false
	if a.SetupNetwork && !pod.Spec.HostNetwork {
		att, err := k.cfg.Network.SetupPod(ctx, network.PodRef{UID: string(pod.UID), Namespace: pod.Namespace, Name: pod.Name})
		if err != nil {
			k.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
			a.requeue(k.cfg.RelistInterval)
			a.Start, a.StartExisting = nil, nil
		} else {
			w.attachment = &att
		}
	}
	if len(a.Start) > 0 || len(a.StartExisting) > 0 {
		if err := k.cfg.PodResources.Setup(ctx, pod); err != nil {
			k.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedMount", "%v", err)
			a.requeue(k.cfg.RelistInterval)
			a.Start, a.StartExisting = nil, nil
		}
	}
	grace := terminationGrace(pod)
	for _, in := range a.Kill {
		changed = true
		name := in.Labels[LabelContainerName]
		msg := a.KillMessage[in.ID]
		if msg == "" {
			msg = "Stopping container " + name
		}
		g := grace
		if pg, ok := a.KillGrace[in.ID]; ok {
			g = pg
		}
		if err := k.killContainer(ctx, w, pod, name, in.ID, g, msg); err != nil {
			k.log.Warn("stop container", "id", in.ID, "err", err)
		}
	}
	for _, id := range a.Remove {
		changed = true
		if err := k.cfg.Runtime.RemoveContainer(ctx, id); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			k.log.Warn("remove container", "id", id, "err", err)
		}
	}
	for _, in := range a.StartExisting {
		changed = true
		name := in.Labels[LabelContainerName]
		if err := k.cfg.Runtime.StartContainer(ctx, in.ID); err != nil {
			k.failed(w, pod, name, "RunContainerError", fmt.Errorf("failed to start container %q: %w", name, err))
			continue
		}
		delete(w.errors, name)
		k.recorder.Eventf(pod, corev1.EventTypeNormal, "Started", "Started container %s", name)
		k.postStart(ctx, w, pod, containerByName(pod, name), in.ID)
	}
	for _, s := range a.Start {
		changed = true
		k.startContainer(ctx, w, pod, s)
	}
	if a.TeardownNetwork {
		if err := k.cfg.Network.TeardownPod(ctx, string(pod.UID)); err != nil {
			k.log.Warn("tear down pod network", "err", err)
		} else {
			w.attachment = nil
		}
	}
	for name, wt := range a.Waiting {
		var key, msg string
		typ := corev1.EventTypeWarning
		switch wt.Reason {
		case "CrashLoopBackOff":
			key = "crash/" + st.latest(name).ID
			msg = fmt.Sprintf("Back-off restarting failed container %s in pod %s_%s(%s)", name, pod.Name, pod.Namespace, pod.UID)
		case "ImagePullBackOff":
			key = "pull/" + strconv.Itoa(w.pullFailures[name].Count)
			typ = corev1.EventTypeNormal
			msg = fmt.Sprintf("Back-off pulling image %q", containerByName(pod, name).Image)
		default:
			continue
		}
		if w.backOffReported[name] != key {
			w.backOffReported[name] = key
			k.recorder.Event(pod, typ, "BackOff", msg)
		}
	}
	return changed
}

func containerByName(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	return &corev1.Container{Name: name}
}

// failed records a container's failure for its status and as an event.
func (k *kubelet) failed(w *podWorker, pod *corev1.Pod, name, reason string, err error) {
	w.errors[name] = &corev1.ContainerStateWaiting{Reason: reason, Message: err.Error()}
	k.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
}

// pullPolicy is the container's policy, defaulted as the API server does.
func pullPolicy(c *corev1.Container) runtime.PullPolicy {
	if c.ImagePullPolicy != "" {
		return runtime.PullPolicy(c.ImagePullPolicy)
	}
	ref := c.Image
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		ref = ref[i+1:]
	}
	if strings.Contains(ref, "@") {
		return runtime.PullIfNotPresent
	}
	if _, tag, ok := strings.Cut(ref, ":"); !ok || tag == "latest" {
		return runtime.PullAlways
	}
	return runtime.PullIfNotPresent
}

// podDir is the pod's directory under the root dir.
func (k *kubelet) podDir(uid types.UID) string {
	return filepath.Join(k.cfg.RootDir, "pods", string(uid))
}

// cgroupParent is the pod's cgroup as upstream's cgroupfs driver names it.
func cgroupParent(pod *corev1.Pod) string {
	switch qosClass(pod) {
	case corev1.PodQOSGuaranteed:
		return "/kubepods/pod" + string(pod.UID)
	case corev1.PodQOSBestEffort:
		return "/kubepods/besteffort/pod" + string(pod.UID)
	default:
		return "/kubepods/burstable/pod" + string(pod.UID)
	}
}

// startContainer pulls, creates and starts one new container instance.
func (k *kubelet) startContainer(ctx context.Context, w *podWorker, pod *corev1.Pod, s containerStart) {
	select {
	case k.starts <- struct{}{}:
		defer func() { <-k.starts }()
	case <-ctx.Done():
		return
	}
	c := s.Container
	policy := pullPolicy(c)
	if policy != runtime.PullNever {
		k.recorder.Eventf(pod, corev1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
	}
	began := k.clock.Now()
	img, err := k.cfg.Runtime.PullImage(ctx, c.Image, policy, k.pullAuth(ctx, pod))
	if err != nil {
		reason, msg := "ErrImagePull", fmt.Sprintf("failed to pull image %q: %v", c.Image, err)
		switch {
		case errors.Is(err, runtime.ErrInvalidImageName):
			reason, msg = "InvalidImageName", fmt.Sprintf("Failed to apply default image tag %q: %v", c.Image, err)
		case errors.Is(err, runtime.ErrImageNeverPull):
			reason, msg = "ErrImageNeverPull", fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image)
		}
		pf := w.pullFailures[c.Name]
		if pf.Image != c.Image {
			pf = pullFailure{Image: c.Image}
		}
		pf.Count++
		pf.Last, pf.Reason, pf.Message = k.clock.Now(), reason, msg
		w.pullFailures[c.Name] = pf
		w.errors[c.Name] = &corev1.ContainerStateWaiting{Reason: reason, Message: msg}
		k.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Failed to pull image %q: %v", c.Image, err)
		k.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %s", reason)
		return
	}
	delete(w.pullFailures, c.Name)
	if policy != runtime.PullNever {
		k.recorder.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Successfully pulled image %q in %s", c.Image, k.clock.Since(began).Round(time.Millisecond))
	}
	info := PodInfo{
		PodIP: k.hostIP, HostIP: k.hostIP, NodeName: k.cfg.NodeName,
		RestartCount: s.Restart,
		LogPath:      filepath.Join(k.cfg.PodLogsDir, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID), c.Name, strconv.Itoa(s.Restart)+".log"),
		CgroupParent: cgroupParent(pod),
		QOSClass:     qosClass(pod),
		PodDir:       k.podDir(pod.UID),
		Image:        img,
	}
	if w.attachment != nil {
		info.NetNSPath, info.PodIP = w.attachment.NetNSPath, w.attachment.IP
	} else if pod.Spec.HostNetwork {
		info.NetNSPath = k.cfg.HostNetNSPath
	}
	cfg, err := k.cfg.ContainerConfig(ctx, pod, c, info)
	if err != nil {
		k.failed(w, pod, c.Name, "CreateContainerConfigError", err)
		return
	}
	cfg.Name = fmt.Sprintf("%s-%s-%d", pod.UID, c.Name, s.Restart)
	cfg.Image = img
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	cfg.Labels[LabelPodUID] = string(pod.UID)
	cfg.Labels[LabelPodName] = pod.Name
	cfg.Labels[LabelPodNamespace] = pod.Namespace
	cfg.Labels[LabelContainerName] = c.Name
	cfg.Labels[LabelRestart] = strconv.Itoa(s.Restart)
	cfg.Labels[LabelBackOff] = strconv.Itoa(s.Streak)
	cfg.Labels[LabelInit] = strconv.FormatBool(s.Init)
	if cfg.NetNSPath == "" {
		cfg.NetNSPath = info.NetNSPath
	}
	if cfg.LogPath == "" {
		cfg.LogPath = info.LogPath
	}
	if cfg.CgroupParent == "" {
		cfg.CgroupParent = info.CgroupParent
	}
	if cfg.Hostname == "" && !pod.Spec.HostNetwork {
		cfg.Hostname = pod.Name
		if pod.Spec.Hostname != "" {
			cfg.Hostname = pod.Spec.Hostname
		}
	}
	id, err := k.cfg.Runtime.CreateContainer(ctx, cfg)
	if err != nil {
		k.failed(w, pod, c.Name, "CreateContainerError", err)
		return
	}
	k.recorder.Eventf(pod, corev1.EventTypeNormal, "Created", "Created container: %s", c.Name)
	if err := k.cfg.Runtime.StartContainer(ctx, id); err != nil {
		k.failed(w, pod, c.Name, "RunContainerError", fmt.Errorf("failed to start container %q: %w", c.Name, err))
		return
	}
	delete(w.errors, c.Name)
	k.recorder.Eventf(pod, corev1.EventTypeNormal, "Started", "Started container %s", c.Name)
	k.postStart(ctx, w, pod, c, id)
}

// pullAuth reads the pod's imagePullSecrets (dockerconfigjson).
func (k *kubelet) pullAuth(ctx context.Context, pod *corev1.Pod) []runtime.AuthConfig {
	var out []runtime.AuthConfig
	for _, ref := range pod.Spec.ImagePullSecrets {
		sec, err := k.cfg.Client.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			k.log.Warn("image pull secret", "secret", ref.Name, "err", err)
			continue
		}
		out = append(out, parseDockerConfig(sec)...)
	}
	return out
}

func parseDockerConfig(sec *corev1.Secret) []runtime.AuthConfig {
	var cfg struct {
		Auths map[string]struct {
			Username      string `json:"username"`
			Password      string `json:"password"`
			Auth          string `json:"auth"`
			IdentityToken string `json:"identitytoken"`
		} `json:"auths"`
	}
	if b, ok := sec.Data[corev1.DockerConfigJsonKey]; ok {
		_ = json.Unmarshal(b, &cfg)
	} else if b, ok := sec.Data[corev1.DockerConfigKey]; ok {
		_ = json.Unmarshal(b, &cfg.Auths)
	}
	var out []runtime.AuthConfig
	for host, a := range cfg.Auths {
		host = strings.TrimPrefix(strings.TrimPrefix(host, "https://"), "http://")
		host, _, _ = strings.Cut(host, "/")
		ac := runtime.AuthConfig{Registry: host, Username: a.Username, Password: a.Password, Auth: a.Auth, IdentityToken: a.IdentityToken}
		if ac.Username == "" && a.Auth != "" {
			if b, err := base64.StdEncoding.DecodeString(a.Auth); err == nil {
				ac.Username, ac.Password, _ = strings.Cut(string(b), ":")
			}
		}
		out = append(out, ac)
	}
	return out
}

// terminationGrace is the pod's grace period for stopping containers.
func terminationGrace(pod *corev1.Pod) time.Duration {
	switch {
	case pod.DeletionGracePeriodSeconds != nil:
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return 30 * time.Second
}

// stopPod stops every container of the pod (in parallel, with grace),
// tears down its network and removes its containers.
func (k *kubelet) stopPod(ctx context.Context, w *podWorker, pod *corev1.Pod, grace time.Duration) error {
	containers, err := k.cfg.Runtime.ListContainers(ctx, map[string]string{LabelPodUID: string(w.uid)})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(containers))
	for i, c := range containers {
		if c.State != runtime.StateRunning && c.State != runtime.StateCreated {
			continue
		}
		if pod != nil {
			k.recorder.Eventf(pod, corev1.EventTypeNormal, "Killing", "Stopping container %s", c.Labels[LabelContainerName])
		}
		hookPod := pod // preStop runs in running containers only
		if c.State != runtime.StateRunning {
			hookPod = nil
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = k.killContainer(ctx, w, hookPod, c.Labels[LabelContainerName], c.ID, grace, "")
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop containers: %w", err)
	}
	if err := k.cfg.Network.TeardownPod(ctx, string(w.uid)); err != nil {
		return fmt.Errorf("tear down network: %w", err)
	}
	w.attachment = nil
	if err := k.cfg.PodResources.Teardown(ctx, w.uid); err != nil {
		return fmt.Errorf("tear down pod resources: %w", err)
	}
	for _, c := range containers {
		if err := k.cfg.Runtime.RemoveContainer(ctx, c.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return fmt.Errorf("remove container %s: %w", c.ID, err)
		}
	}
	return nil
}

// terminatePod stops a pod being deleted and then deletes its object.
func (k *kubelet) terminatePod(ctx context.Context, w *podWorker, pod *corev1.Pod) error {
	if err := k.stopPod(ctx, w, pod, terminationGrace(pod)); err != nil {
		return err
	}
	zero := int64(0)
	err := k.cfg.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero,
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete pod: %w", err)
	}
	return nil
}

// cleanupPod removes what is left of a pod that is gone from the API.
func (k *kubelet) cleanupPod(ctx context.Context, w *podWorker, last *corev1.Pod) error {
	grace := 2 * time.Second
	if last != nil && last.DeletionGracePeriodSeconds != nil {
		grace = time.Duration(*last.DeletionGracePeriodSeconds) * time.Second
	}
	return k.stopPod(ctx, w, last, grace)
}
