package registry

import (
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func validLease() *coordinationv1.Lease {
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "node-1", Namespace: "kube-node-lease"},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptrTo("node-1"), LeaseDurationSeconds: ptrTo[int32](40)},
	}
}

func TestLeaseValidation(t *testing.T) {
	runValidateCases(t, leaseStrategy{}, validLease, []validateCase[*coordinationv1.Lease]{
		{name: "a node heartbeat lease is valid"},
		{"a lease needs a namespace", func(l *coordinationv1.Lease) { l.Namespace = "" }, []fieldErr{required("metadata.namespace")}},
		{"a lease lasts a positive duration", func(l *coordinationv1.Lease) { l.Spec.LeaseDurationSeconds = ptrTo[int32](0) },
			[]fieldErr{invalid("spec.leaseDurationSeconds")}},
		{"lease transitions are not negative", func(l *coordinationv1.Lease) { l.Spec.LeaseTransitions = ptrTo[int32](-1) },
			[]fieldErr{invalid("spec.leaseTransitions")}},
		{"a preferred holder needs a strategy", func(l *coordinationv1.Lease) { l.Spec.PreferredHolder = ptrTo("node-2") },
			[]fieldErr{forbidden("spec.preferredHolder")}},
		{"a preferred holder with a strategy is valid", func(l *coordinationv1.Lease) {
			l.Spec.PreferredHolder = ptrTo("node-2")
			l.Spec.Strategy = ptrTo(coordinationv1.OldestEmulationVersion)
		}, nil},
		{"an unqualified strategy must be a known one", func(l *coordinationv1.Lease) {
			l.Spec.Strategy = ptrTo[coordinationv1.CoordinatedLeaseStrategy]("Newest")
		}, []fieldErr{notSupported("spec.strategy")}},
	})
}

func TestLeaseUpdateValidation(t *testing.T) {
	runUpdateCases(t, leaseStrategy{}, validLease, []updateCase[*coordinationv1.Lease]{
		{name: "a lease may be renewed", update: func(l *coordinationv1.Lease) { l.Spec.RenewTime = &metav1.MicroTime{} }},
		{name: "a lease may change holder", update: func(l *coordinationv1.Lease) { l.Spec.HolderIdentity = ptrTo("node-2") }},
		{name: "the name does not change", update: func(l *coordinationv1.Lease) { l.Name = "node-2" }, want: []fieldErr{invalid("metadata.name")}},
	})
}

func TestLeaseStrategyValidation(t *testing.T) {
	strategy := func(s string) func(*coordinationv1.Lease) {
		return func(l *coordinationv1.Lease) { l.Spec.Strategy = ptrTo(coordinationv1.CoordinatedLeaseStrategy(s)) }
	}
	runValidateCases(t, leaseStrategy{}, validLease, []validateCase[*coordinationv1.Lease]{
		{"a domain-qualified strategy is valid", strategy("example.com/newest"), nil},
		{"a domain-qualified strategy is a qualified name", strategy("example.com/newest first"), []fieldErr{invalid("spec.strategy")}},
	})
}
