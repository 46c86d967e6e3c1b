#!/bin/bash
# Every VM: install the skiff .deb from /skiff-dist (built by `make deb`,
# rsynced from ../dist) with its Depends (containerd, runc, iptables,
# conntrack), and a kubectl for the vagrant user. The package starts
# nothing; init.sh / join.sh do. Usage: install.sh
set -euo pipefail

arch=$(dpkg --print-architecture)
deb=$(ls -t /skiff-dist/skiff_*_"$arch".deb 2>/dev/null | head -n 1 || true)
if [ -z "$deb" ]; then
	echo "no /skiff-dist/skiff_*_$arch.deb: run 'make deb' on the host, then 'vagrant reload --provision'" >&2
	exit 1
fi
echo "installing $deb"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "$deb"

# `vagrant ssh master-1 -c 'kubectl get nodes'`: kubectl is skiff's.
cat >/usr/local/bin/kubectl <<'EOS'
#!/bin/sh
exec /usr/bin/skiff kubectl "$@"
EOS
chmod 0755 /usr/local/bin/kubectl
