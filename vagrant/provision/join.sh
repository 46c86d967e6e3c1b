#!/bin/bash
# Every VM but master-1: join the cluster with the command master-1 wrote
# (rsynced to /vagrant/join.sh). Usage: join.sh worker|control-plane
set -euo pipefail
role=${1:?usage: join.sh worker|control-plane}

if [ -e /var/lib/skiff/vagrant-join-done ]; then
	echo "already joined"
	exit 0
fi
if [ ! -s /vagrant/join.sh ]; then
	echo "no /vagrant/join.sh: bring master-1 up first ('vagrant up master-1'), then 'vagrant reload $(hostname) --provision'" >&2
	exit 1
fi
if [ "$role" = control-plane ]; then
	sh /vagrant/join.sh --control-plane
else
	sh /vagrant/join.sh
fi
touch /var/lib/skiff/vagrant-join-done
