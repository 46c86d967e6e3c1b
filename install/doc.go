// Package install turns hosts into members of a cluster, as kubeadm does:
// Init makes the first master (PKI, kubeconfigs, component configs, the
// public cluster-info, a first bootstrap token), Join makes a worker from
// a join command (token discovery of the cluster CA with a pinned hash, a
// bootstrap kubeconfig from which the kubelet gets its own certificate),
// and the token functions keep bootstrap tokens. Both start the role's
// systemd units when systemd runs, and otherwise return the commands the
// units would run.
//
// Files (defaults): kubeconfigs in /etc/skiff; each component's settings
// in the drop-in /etc/skiff/<component>.yaml.d/50-skiff-init.yaml (or
// 50-skiff-join.yaml; keys are the component's flag names), read after the
// package's /etc/skiff/<component>.yaml, so the packaged defaults stay
// untouched; the cluster's PKI in /var/lib/skiff/pki.
package install
