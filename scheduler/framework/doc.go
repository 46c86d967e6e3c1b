// Package framework is the scheduler's plugin framework: the extension
// points (one small interface each), the Status a plugin returns, the
// per-cycle CycleState, and the NodeInfo snapshot plugins read.
//
// A scheduling cycle for one pod runs, in order: PreFilter (once), Filter
// (per node, in parallel), PostFilter (only when no node fits: preemption),
// PreScore (once), Score (per node, in parallel) and NormalizeScore (per
// plugin), then Reserve, Permit, and asynchronously PreBind and Bind. A
// plugin implements the interfaces of the points it takes part in and
// nothing else. Plugins never write to the API in Filter or Score; they
// read the cycle's snapshot (Handle.SnapshotSharedLister), which does not
// change during the cycle.
//
// Status codes keep "does not fit" (Unschedulable,
// UnschedulableAndUnresolvable) apart from "broke" (Error).
package framework
