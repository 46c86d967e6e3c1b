package controllerutil

import "sync"

// SlowStartBatch calls fn count times in batches that double in size
// (initial, 2×initial, ...), the calls of one batch in parallel, and stops
// after the first batch with an error. It returns how many calls
// succeeded and the first error, as upstream's slowStartBatch: a request
// that is bound to fail (quota, admission) fails once, not count times.
func SlowStartBatch(count, initial int, fn func() error) (int, error) {
	remaining := count
	successes := 0
	for batch := min(remaining, initial); batch > 0; batch = min(2*batch, remaining) {
		errs := make(chan error, batch)
		var wg sync.WaitGroup
		for range batch {
			wg.Go(func() {
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
