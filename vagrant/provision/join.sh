#!/bin/bash
# Every VM but master-1: join the cluster with the command master-1 wrote
# (rsynced to /vagrant/join.sh); `skiff join` writes the node's configs and
# enables and starts its units. Usage: join.sh worker|control-plane ADDRESS
set -euo pipefail
role=${1:?usage: join.sh worker|control-plane ADDRESS}
address=${2:?usage: join.sh worker|control-plane ADDRESS}

if [ -e /etc/skiff/kubelet.kubeconfig ] || [ -e /etc/skiff/bootstrap-kubeconfig ]; then
	echo "already joined"
	exit 0
fi
if [ ! -s /vagrant/join.sh ]; then
	echo "no /vagrant/join.sh: bring master-1 up first ('vagrant up master-1'), then 'vagrant reload $(hostname) --provision'" >&2
	exit 1
fi
# The private address as the node's InternalIP (the first one is NAT's).
args=(--node-ip "$address")
if [ "$role" = control-plane ]; then
	args+=(--role master)
fi
sh /vagrant/join.sh "${args[@]}"
