package deployment_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/controllers"
	"github.com/skiffk8s/skiff/controllers/deployment"
	"github.com/skiffk8s/skiff/controllers/replicaset"
)

// startControllers runs the replicaset and deployment controllers against
// srv with the given client config until the test ends.
func startControllers(t testing.TB, cfg *rest.Config) {
	t.Helper()
	client := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(client, 0)
	bc := record.NewBroadcaster(record.WithContext(ctx))
	bc.StartRecordingToSink(&eventSink{client})
	c := controllers.Context{
		Client: client, Informers: factory, Clock: clock.RealClock{},
		Logger: slog.New(slog.DiscardHandler),
	}
	var ctrls []controllers.Controller
	for _, p := range []struct {
		name string
		init controllers.InitFunc
	}{{replicaset.Name, replicaset.New}, {deployment.Name, deployment.New}} {
		cc := c
		cc.Recorder = bc.NewRecorder(scheme.Scheme, corev1.EventSource{Component: p.name + "-controller"})
		ctrl, err := p.init(ctx, cc)
		if err != nil {
			t.Fatalf("new %s: %v", p.name, err)
		}
		ctrls = append(ctrls, ctrl)
	}
	factory.Start(ctx.Done())
	var wg sync.WaitGroup
	for _, ctrl := range ctrls {
		wg.Go(func() { _ = ctrl.Run(ctx, 5) })
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		factory.Shutdown()
		bc.Shutdown()
	})
}

type eventSink struct{ client kubernetes.Interface }

func (s *eventSink) Create(e *corev1.Event) (*corev1.Event, error) {
	return s.client.CoreV1().Events(e.Namespace).Create(context.Background(), e, metav1.CreateOptions{})
}
func (s *eventSink) Update(e *corev1.Event) (*corev1.Event, error) {
	return s.client.CoreV1().Events(e.Namespace).Update(context.Background(), e, metav1.UpdateOptions{})
}
func (s *eventSink) Patch(e *corev1.Event, data []byte) (*corev1.Event, error) {
	return s.client.CoreV1().Events(e.Namespace).Patch(context.Background(), e.Name, "application/strategic-merge-patch+json", data, metav1.PatchOptions{})
}

// fakeKubelet marks every pod of namespace Running and Ready after delay,
// as a kubelet would, until the test ends.
func fakeKubelet(t testing.TB, client kubernetes.Interface, namespace string, delay time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w, err := client.CoreV1().Pods(namespace).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("watch pods: %v", err)
	}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type != watch.Added || pod.DeletionTimestamp != nil {
				continue
			}
			go func() {
				select {
				case <-ctx.Done():
					return
				case <-time.After(delay):
				}
				now := metav1.Now()
				pod := pod.DeepCopy()
				pod.Status.Phase = corev1.PodRunning
				pod.Status.Conditions = []corev1.PodCondition{
					{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
				}
				_, _ = client.CoreV1().Pods(namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
			}()
		}
	}()
}

func newNamespace(t testing.TB, client kubernetes.Interface, name string) {
	t.Helper()
	_, err := client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
}

func newDeployment(ns, name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox:1"}}},
			},
		},
	}
}

func rolling(d *appsv1.Deployment, surge, unavailable int) *appsv1.Deployment {
	s, u := intstr.FromInt32(int32(surge)), intstr.FromInt32(int32(unavailable))
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &s, MaxUnavailable: &u}}
	return d
}

// waitFor polls cond every 50 ms until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s (last error: %v)", what, lastErr)
}

func getDeployment(t testing.TB, client kubernetes.Interface, ns, name string) *appsv1.Deployment {
	t.Helper()
	d, err := client.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get deployment: %v", err)
	}
	return d
}

// waitComplete waits until the deployment's rollout of its current
// generation is complete with every replica available.
func waitComplete(t testing.TB, client kubernetes.Interface, ns, name string) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	waitFor(t, 20*time.Second, "deployment "+name+" complete", func() (bool, error) {
		var err error
		d, err = client.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		r := *d.Spec.Replicas
		st := d.Status
		return st.ObservedGeneration >= d.Generation && st.UpdatedReplicas == r && st.Replicas == r && st.AvailableReplicas == r, fmt.Errorf("status %+v", st)
	})
	return d
}

func updateDeployment(t testing.TB, client kubernetes.Interface, ns, name string, f func(*appsv1.Deployment)) {
	t.Helper()
	for range 10 {
		d := getDeployment(t, client, ns, name)
		f(d)
		_, err := client.AppsV1().Deployments(ns).Update(context.Background(), d, metav1.UpdateOptions{})
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			t.Fatalf("update deployment: %v", err)
		}
	}
	t.Fatalf("update deployment: too many conflicts")
}

// kubectl runs the embedded upstream kubectl in-process against srv.
func kubectl(t testing.TB, srv *apitest.Server, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	all := append([]string{"--kubeconfig", srv.Kubeconfig, "--cache-dir", t.TempDir()}, args...)
	cmd := kubectlcmd.NewKubectlCommand(kubectlcmd.KubectlOptions{
		Arguments: append([]string{"kubectl"}, all...),
		IOStreams: genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
	})
	cmd.SetArgs(all)
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				if f, ok := r.(kubectlFatal); ok {
					err = fmt.Errorf("exit %d: %s", f.code, f.msg)
					return
				}
				panic(r)
			}
		}()
		cmdutil.BehaviorOnFatal(func(msg string, code int) { panic(kubectlFatal{msg, code}) })
		defer cmdutil.DefaultBehaviorOnFatal()
		err = cmd.Execute()
	}()
	if err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %w\nstderr: %s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

type kubectlFatal struct {
	msg  string
	code int
}
