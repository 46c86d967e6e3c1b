// Package plugins holds the in-tree scheduler plugins, one package each,
// and the registry that names them.
package plugins

import (
	"github.com/skiffk8s/skiff/scheduler/framework"
	"github.com/skiffk8s/skiff/scheduler/plugins/defaultbinder"
	"github.com/skiffk8s/skiff/scheduler/plugins/defaultpreemption"
	"github.com/skiffk8s/skiff/scheduler/plugins/imagelocality"
	"github.com/skiffk8s/skiff/scheduler/plugins/interpodaffinity"
	"github.com/skiffk8s/skiff/scheduler/plugins/nodeaffinity"
	"github.com/skiffk8s/skiff/scheduler/plugins/nodeload"
	"github.com/skiffk8s/skiff/scheduler/plugins/nodename"
	"github.com/skiffk8s/skiff/scheduler/plugins/nodeports"
	"github.com/skiffk8s/skiff/scheduler/plugins/noderesources"
	"github.com/skiffk8s/skiff/scheduler/plugins/nodeunschedulable"
	"github.com/skiffk8s/skiff/scheduler/plugins/podtopologyspread"
	"github.com/skiffk8s/skiff/scheduler/plugins/tainttoleration"
)

// NewInTreeRegistry returns a registry of every in-tree plugin by its
// configuration name.
func NewInTreeRegistry() framework.Registry {
	return framework.Registry{
		nodename.Name:                        nodename.New,
		nodeunschedulable.Name:               nodeunschedulable.New,
		noderesources.FitName:                noderesources.NewFit,
		noderesources.BalancedAllocationName: noderesources.NewBalancedAllocation,
		nodeports.Name:                       nodeports.New,
		nodeaffinity.Name:                    nodeaffinity.New,
		tainttoleration.Name:                 tainttoleration.New,
		imagelocality.Name:                   imagelocality.New,
		nodeload.Name:                        nodeload.New,
		interpodaffinity.Name:                interpodaffinity.New,
		podtopologyspread.Name:               podtopologyspread.New,
		defaultpreemption.Name:               defaultpreemption.New,
		defaultbinder.Name:                   defaultbinder.New,
	}
}
