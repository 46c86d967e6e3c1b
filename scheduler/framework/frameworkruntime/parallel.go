package frameworkruntime

import (
	"context"

	"k8s.io/client-go/util/workqueue"
)

// parallelizer runs work on a bounded number of goroutines.
type parallelizer struct{ workers int }

// Until implements framework.Parallelizer.
func (p parallelizer) Until(ctx context.Context, pieces int, do func(i int)) {
	chunk := pieces / (p.workers * 4)
	if chunk < 1 {
		chunk = 1
	}
	workqueue.ParallelizeUntil(ctx, p.workers, pieces, do, workqueue.WithChunkSize(chunk))
}
