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

var _ framework.ScorePlugin = (*ImageLocality)(nil)

// New builds the plugin. It takes no args; args are ignored, as upstream.
// It reads the node count from h's snapshot.
func New(_ context.Context, _ []byte, h framework.Handle) (framework.Plugin, error) {
	return &ImageLocality{handle: h}, nil
}

// Name implements framework.Plugin.
func (*ImageLocality) Name() string { return Name }

// Score is 100 × (sum − 23 MiB) / (1000 MiB × containers − 23 MiB),
// clamped to [0, 100], where sum adds, for each container and init
// container whose image the node has, the image's size × the fraction of
// the cluster's nodes that have it.
func (pl *ImageLocality) Score(_ context.Context, _ *framework.CycleState, pod *corev1.Pod, nodeInfo *framework.NodeInfo) (int64, *framework.Status) {
	if pl.handle == nil || pl.handle.SnapshotSharedLister() == nil {
		return 0, framework.AsStatus(errors.New("image locality: no snapshot"))
	}
	nodes, err := pl.handle.SnapshotSharedLister().NodeInfos().List()
	if err != nil {
		return 0, framework.AsStatus(fmt.Errorf("image locality: listing nodes: %w", err))
	}
	sum := sumImageScores(nodeInfo, pod, len(nodes))
	return priority(sum, len(pod.Spec.InitContainers)+len(pod.Spec.Containers)), nil
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

func sumImageScores(nodeInfo *framework.NodeInfo, pod *corev1.Pod, totalNodes int) int64 {
	var sum int64
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if st := imageState(nodeInfo, c.Image); st != nil && totalNodes > 0 {
				spread := float64(st.NumNodes) / float64(totalNodes)
				sum += int64(float64(st.Size) * spread)
			}
		}
	}
	return sum
}

// imageState finds image on the node under its normalized name
// (busybox → docker.io/library/busybox:latest, as container runtimes
// report images) or, failing that, under upstream's form (the name with
// ":latest" when it has no tag).
func imageState(nodeInfo *framework.NodeInfo, image string) *framework.ImageStateSummary {
	for _, name := range []string{NormalizedImageName(image), withLatest(image)} {
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
