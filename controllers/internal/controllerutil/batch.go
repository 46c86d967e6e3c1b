package controllerutil

import "sync"

// SlowStartBatch calls fn count times in batches that double in size
// (initial, 2×initial, ...), the calls of one batch in parallel (at most
// maxInFlight at once; 0 means no limit), and stops after the first batch
// with an error. It returns how many calls succeeded and the first error,
// as upstream's slowStartBatch: a request that is bound to fail (quota,
// admission) fails once, not count times. The in-flight limit only
// smooths the load on the API server; batches are as upstream's.
func SlowStartBatch(count, initial, maxInFlight int, fn func() error) (int, error) {
	remaining := count
	successes := 0
	for batch := min(remaining, initial); batch > 0; batch = min(2*batch, remaining) {
		errs := make(chan error, batch)
		limit := batch
		if maxInFlight > 0 {
			limit = min(batch, maxInFlight)
		}
		sem := make(chan struct{}, limit)
		var wg sync.WaitGroup
		for range batch {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				if err := fn(); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		successes += batch - len(errs)
		if err, failed := <-errs; failed {
			return successes, err
		}
		remaining -= batch
	}
	return successes, nil
}
