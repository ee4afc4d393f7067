#!/bin/sh
# deps.sh - install the Debian packages Tocsin needs, if any are missing.
# Run as root or with sudo available. Idempotent; quiet when nothing is missing.
set -eu

# chromium (headless) renders the drill report in test_drills.py: the issue asks for
# the page to be checked, not only the file. python3-yaml, man-db, groff-base and
# systemd (systemd-analyze) check docker/compose.yaml, the man pages and the unit
# (test_install.py, test_docker_static.py).
PKGS="build-essential pkg-config libzmq3-dev libmsgpack-dev libev-dev libpq-dev check
libck-dev libinih-dev libxml2-dev libxml2-utils postgresql python3 python3-zmq python3-msgpack libjansson-dev
clang libfuzzer-14-dev chromium fonts-dejavu-core libncurses-dev tmux
python3-yaml man-db groff-base systemd libmicrohttpd-dev"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing"
if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "deps: missing packages:$missing; run 'make deps' as root" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
