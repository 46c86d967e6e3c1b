// Package bench holds the API server's benchmarks (go test -bench): create,
// get, list, update and watch fan-out on a real embedded etcd, and the
// memory of the API server with embedded etcd holding 10,000 objects. Run
// them with `make bench`; figures are quoted in README.md.
package bench
