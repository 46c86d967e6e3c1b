#!/bin/bash
# master-1: `skiff init` (PKI, configs and kubeconfigs in /etc/skiff, the
# control plane and node units enabled and started), then a join command
# for the other VMs in /vagrant/join.sh (the Vagrantfile's trigger copies it
# to the host, from where the others' rsync takes it) and the admin
# kubeconfig for kubectl. Usage: init.sh ADDRESS
set -euo pipefail
address=${1:?usage: init.sh ADDRESS}
admin=/etc/skiff/admin.kubeconfig

if [ ! -s "$admin" ]; then
	# The private address: the VM's first one is the NAT one (the same on
	# every VirtualBox VM).
	skiff init --advertise-address "$address"
fi

# A fresh token on every provision: it lasts 24h, after which
# `vagrant provision master-1` makes a new one.
cmd=$(skiff token create --ttl 24h)
case "$cmd" in
"skiff join "*) ;;
*)
	echo "skiff token create printed '$cmd', not a skiff join command" >&2
	exit 1
	;;
esac
umask 077
printf '#!/bin/sh\n# Written by vagrant/provision/init.sh on %s.\nexec %s "$@"\n' "$(hostname)" "$cmd" >/vagrant/join.sh.tmp
mv /vagrant/join.sh.tmp /vagrant/join.sh

install -m 0600 "$admin" /vagrant/admin.kubeconfig
install -d -m 0700 -o vagrant -g vagrant /home/vagrant/.kube
install -m 0600 -o vagrant -g vagrant "$admin" /home/vagrant/.kube/config
install -d -m 0700 /root/.kube
install -m 0600 "$admin" /root/.kube/config
echo "skiff init done; join command in /vagrant/join.sh"
