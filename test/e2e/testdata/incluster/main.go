// Command incluster is the in-cluster client of the e2e tests: it runs in
// a pod, configures client-go with rest.InClusterConfig (the
// KUBERNETES_SERVICE_HOST/PORT variables and the mounted service-account
// token and ca.crt), lists the pods of its own namespace and prints their
// names, then "in-cluster-done".
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "incluster:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return err
	}
	ns, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pods, err := cs.CoreV1().Pods(strings.TrimSpace(string(ns))).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	fmt.Println("host", cfg.Host)
	for _, p := range pods.Items {
		fmt.Println("pod", p.Namespace+"/"+p.Name)
	}
	fmt.Println("in-cluster-done")
	return nil
}
