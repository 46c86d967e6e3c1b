package controllers

import "k8s.io/client-go/util/workqueue"

// WorkqueueMetricsProvider is client-go's workqueue metrics provider.
type WorkqueueMetricsProvider = workqueue.MetricsProvider
