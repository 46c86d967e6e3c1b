#!/bin/bash
# master-1: start the cluster with `skiff init`, then write the join command
# for the other VMs to /vagrant/join.sh (the Vagrantfile's trigger copies it
# to the host) and the admin kubeconfig for kubectl.
# Usage: init.sh ADDRESS
set -euo pipefail
address=${1:?usage: init.sh ADDRESS}

if [ ! -e /var/lib/skiff/vagrant-init-done ]; then
	skiff init --advertise-address "$address"
	touch /var/lib/skiff/vagrant-init-done
fi
admin=""
for f in /etc/skiff/admin.kubeconfig /var/lib/skiff/admin.kubeconfig; do
	if [ -s "$f" ]; then
		admin=$f
		break
	fi
done
if [ -z "$admin" ]; then
	echo "skiff init wrote no admin kubeconfig (/etc/skiff or /var/lib/skiff)" >&2
	exit 1
fi

# A fresh token on every provision (the default TTL is 24h: after that,
# `vagrant provision master-1` makes a new one).
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
