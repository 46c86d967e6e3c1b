package scheduler

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

func TestConfigErrorsNameTheField(t *testing.T) {
	head := "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"an unknown score plugin is named by its place", head + `
profiles:
- plugins:
    score:
      enabled:
      - name: TestLeastPods
      - name: Foo
`, `profiles[0].plugins.score.enabled[1].name: unknown plugin "Foo"`},
		{"an unknown field is an error", head + "profiles:\n- schedulerName: x\n  plugin: {}\n", `unknown field "plugin"`},
		{"a wrong apiVersion is an error", "apiVersion: kubescheduler.config.k8s.io/v1beta3\nkind: KubeSchedulerConfiguration\n", "apiVersion"},
		{"a plugin enabled where it has no code is an error", head + `
profiles:
- plugins:
    filter:
      enabled:
      - name: TestLeastPods
`, `profiles[0].plugins.filter.enabled[0].name: plugin "TestLeastPods" does not implement the filter extension point`},
		{"two profiles with one schedulerName is an error", head + `
profiles:
- schedulerName: a
- schedulerName: a
`, `profiles[1].schedulerName: duplicate "a"`},
		{"a negative weight is an error", head + `
profiles:
- plugins:
    score:
      enabled:
      - name: TestLeastPods
        weight: -1
`, `profiles[0].plugins.score.enabled[0].weight: -1 must be positive`},
		{"args for an unknown plugin are an error", head + `
profiles:
- pluginConfig:
  - name: Nope
    args: {}
`, `profiles[0].pluginConfig[0].name: unknown plugin "Nope"`},
		{"a percentage over 100 is an error", head + "percentageOfNodesToScore: 101\n", "percentageOfNodesToScore: 101 is not in [0, 100]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tc.yaml))
			if err == nil {
				_, err = New(context.Background(), Config{Client: fake.NewSimpleClientset(), Registry: testRegistry(), Logger: slog.New(slog.DiscardHandler), SchedulerConfig: cfg})
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestTheDefaultProfileHasUpstreamsWeightsForThePluginsPresent(t *testing.T) {
	reg := testRegistry()
	for _, name := range []string{"TaintToleration", "NodeAffinity", "NodeLoad"} {
		reg[name] = plugin(namedScore(name))
	}
	s, err := New(context.Background(), Config{Client: fake.NewSimpleClientset(), Registry: reg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(s.profiles[DefaultSchedulerName].ScorePluginNames(), " ")
	if want := "NodeAffinity=2 NodeLoad=1 TaintToleration=3"; got != want {
		t.Errorf("default score plugins = %q, want %q", got, want)
	}
}

type namedScore string

func (n namedScore) Name() string { return string(n) }
func (namedScore) Score(context.Context, *framework.CycleState, *corev1.Pod, *framework.NodeInfo) (int64, *framework.Status) {
	return 0, nil
}
func (namedScore) ScoreExtensions() framework.ScoreExtensions { return nil }
