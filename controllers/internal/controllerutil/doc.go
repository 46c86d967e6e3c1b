// Package controllerutil holds the plumbing shared by the replicaset and
// deployment controllers (and free for any other controller): a named
// rate-limited queue and worker loop, informer event helpers (enqueue
// handler, tombstones, controller references, selector matching),
// creation/deletion expectations,
// upstream's ControllerRefManager (adopt and release by selector),
// slow-start batches, pod readiness and availability, pods from a
// template and the pod-template hash. It holds no decision of any one
// controller.
package controllerutil
