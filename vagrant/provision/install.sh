#!/bin/bash
# Every VM: install the skiff .deb from /skiff-dist (built by `make deb`,
# rsynced from ../dist) with its Depends, and point the kubelet at the
# private network address (the first address would be the NAT one, the same
# on every VM). Usage: install.sh ADDRESS
set -euo pipefail
address=${1:?usage: install.sh ADDRESS}

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

# kubelet.yaml and proxy.yaml are conffiles: set this node's keys in place.
set_key() { # file key value
	if grep -qE "^$2:" "$1"; then
		sed -i -E "s|^$2:.*|$2: $3|" "$1"
	else
		echo "$2: $3" >>"$1"
	fi
}
set_key /etc/skiff/kubelet.yaml node-ip "$address"
set_key /etc/skiff/kubelet.yaml node-name "$(hostname)"
set_key /etc/skiff/proxy.yaml node-name "$(hostname)"

# kubectl for the vagrant user: `vagrant ssh master-1 -c 'kubectl get nodes'`.
cat >/usr/local/bin/kubectl <<'EOS'
#!/bin/sh
exec /usr/bin/skiff kubectl "$@"
EOS
chmod 0755 /usr/local/bin/kubectl
