package pluginstate

import (
	"testing"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

type data struct{ n int }

func (d *data) Clone() framework.StateData { c := *d; return &c }

type other struct{}

func (other) Clone() framework.StateData { return other{} }

func TestRead(t *testing.T) {
	cs := framework.NewCycleState()
	if _, err := Read[*data](cs, "k"); err == nil || err.Error() != `reading "k" from cycle state: cycle state: "k" not found` {
		t.Errorf("missing: got %v", err)
	}
	cs.Write("k", other{})
	if _, err := Read[*data](cs, "k"); err == nil || err.Error() != `"k" in cycle state is a pluginstate.other` {
		t.Errorf("another type: got %v", err)
	}
	cs.Write("k", &data{n: 3})
	if d, err := Read[*data](cs, "k"); err != nil || d.n != 3 {
		t.Errorf("got %v, %v", d, err)
	}
}
