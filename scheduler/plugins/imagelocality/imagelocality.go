// Package imagelocality is the ImageLocality score plugin: nodes that
// already have the pod's images score higher, by the images' sizes scaled
// by how widely each image is spread over the cluster (so that pods do
// not pile onto the one node that has a rare image).
package imagelocality

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/distribution/reference"
	corev1 "k8s.io/api/core/v1"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// Name is the plugin's name in the scheduler configuration.
const Name = "ImageLocality"

// Thresholds, as upstream: image sizes below minThreshold in total score
// 0; maxContainerThreshold per container scores 100.
const (
	mb                    int64 = 1024 * 1024
	minThreshold          int64 = 23 * mb
	maxContainerThreshold int64 = 1000 * mb
)

// ImageLocality scores nodes by the pod's images they have.
type ImageLocality struct {
	handle framework.Handle
}

var (
	_ framework.PreScorePlugin = (*ImageLocality)(nil)
	_ framework.ScorePlugin    = (*ImageLocality)(nil)
)

// preScoreStateKey is where PreScore keeps the pod's image names.
const preScoreStateKey framework.StateKey = "PreScore" + Name

// preScoreState is the cycle's pod image names (parsed once, not once per
// node) and the cluster's node count.
type preScoreState struct {
	images     []imageNames
	totalNodes int
}

// imageNames are the names a container's image may be known by on a
// node, in lookup order (see imageState).
type imageNames [2]string

// Clone implements framework.StateData; the state is read-only.
func (s *preScoreState) Clone() framework.StateData { return s }

// New builds the plugin. It takes no args; args are ignored, as upstream.
// It reads the node count from h's snapshot.
func New(_ context.Context, _ []byte, h framework.Handle) (framework.Plugin, error) {
	return &ImageLocality{handle: h}, nil
}

// Name implements framework.Plugin.
func (*ImageLocality) Name() string { return Name }

// PreScore normalizes the pod's image names once for the cycle (parsing
// a reference is far dearer than the per-node map lookups) and counts the
// cluster's nodes.
func (pl *ImageLocality) PreScore(_ context.Context, state *framework.CycleState, pod *corev1.Pod, _ []*framework.NodeInfo) *framework.Status {
	st, err := pl.newState(pod)
	if err != nil {
		return framework.AsStatus(err)
	}
	state.Write(preScoreStateKey, st)
	return nil
}

func (pl *ImageLocality) newState(pod *corev1.Pod) (*preScoreState, error) {
	if pl.handle == nil || pl.handle.SnapshotSharedLister() == nil {
		return nil, errors.New("image locality: no snapshot")
	}
	nodes, err := pl.handle.SnapshotSharedLister().NodeInfos().List()
	if err != nil {
		return nil, fmt.Errorf("image locality: listing nodes: %w", err)
	}
	st := &preScoreState{totalNodes: len(nodes), images: make([]imageNames, 0, len(pod.Spec.InitContainers)+len(pod.Spec.Containers))}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			st.images = append(st.images, imageNames{NormalizedImageName(c.Image), withLatest(c.Image)})
		}
	}
	return st, nil
}

// Score is 100 × (sum − 23 MiB) / (1000 MiB × containers − 23 MiB),
// clamped to [0, 100], where sum adds, for each container and init
// container whose image the node has, the image's size × the fraction of
// the cluster's nodes that have it.
// Without PreScore's state (the plugin enabled at Score only) the names
// are parsed here.
func (pl *ImageLocality) Score(_ context.Context, state *framework.CycleState, pod *corev1.Pod, nodeInfo *framework.NodeInfo) (int64, *framework.Status) {
	var st *preScoreState
	if d, err := state.Read(preScoreStateKey); err == nil {
		st, _ = d.(*preScoreState)
	}
	if st == nil {
		var err error
		if st, err = pl.newState(pod); err != nil {
			return 0, framework.AsStatus(err)
		}
	}
	return priority(sumImageScores(nodeInfo, st), len(st.images)), nil
}

// ScoreExtensions implements framework.ScorePlugin: scores are already
// in [0, 100].
func (*ImageLocality) ScoreExtensions() framework.ScoreExtensions { return nil }

func priority(sum int64, containers int) int64 {
	maxThreshold := maxContainerThreshold * int64(containers)
	sum = max(minThreshold, min(sum, maxThreshold))
	if maxThreshold <= minThreshold {
		return 0
	}
	return framework.MaxNodeScore * (sum - minThreshold) / (maxThreshold - minThreshold)
}

func sumImageScores(nodeInfo *framework.NodeInfo, st *preScoreState) int64 {
	if len(nodeInfo.ImageStates) == 0 || st.totalNodes == 0 {
		return 0
	}
	var sum int64
	for _, names := range st.images {
		if is := imageState(nodeInfo, names); is != nil {
			spread := float64(is.NumNodes) / float64(st.totalNodes)
			sum += int64(float64(is.Size) * spread)
		}
	}
	return sum
}

// imageState finds an image on the node under its normalized name
// (busybox → docker.io/library/busybox:latest, as container runtimes
// report images) or, failing that, under upstream's form (the name with
// ":latest" when it has no tag).
func imageState(nodeInfo *framework.NodeInfo, names imageNames) *framework.ImageStateSummary {
	for _, name := range names {
		if st, ok := nodeInfo.ImageStates[name]; ok {
			return st
		}
	}
	return nil
}

// NormalizedImageName is image's fully qualified reference, with the
// default registry, the library/ prefix for official images and the
// ":latest" tag when it has neither tag nor digest. A name that does not
// parse is returned as it is.
func NormalizedImageName(image string) string {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return image
	}
	return reference.TagNameOnly(named).String()
}

// withLatest appends ":latest" to an image without a tag, as upstream.
func withLatest(image string) string {
	if strings.LastIndex(image, ":") <= strings.LastIndex(image, "/") {
		return image + ":latest"
	}
	return image
}
