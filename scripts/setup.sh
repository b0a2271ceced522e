#!/usr/bin/env bash
# Install everything the testbed needs on Debian/Ubuntu, idempotently:
# system packages (apt) and a virtualenv at .venv with the project and its test tools.
# A stamp keyed by this script and pyproject.toml skips the work when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${TESTBED_CACHE:-/var/cache/testbed}
# python3-nftables: libnftables' binding, so nft runs in process (testbed/kernel/nft.py)
APT_PACKAGES=(iproute2 nftables python3-nftables iperf3 ethtool iputils-ping tcpdump mininet procps python3-venv
              espeak-ng libopus0 libsndfile1 coturn)
# Only on the host: the calls' audio is decoded and scored here (G.711 concealment from
# spandsp; PESQ builds from source), tshark reads captures in the tests, curl and openssl
# are the TLS clients the reading censor is tested with, and iptables feeds its reader
# where the kernel lacks nft's `queue` (the VM's kernel has it).
HOST_PACKAGES=(libspandsp2 tshark gcc python3-dev curl openssl iptables)
# The testbed VM image is built from these same lists (testbed/vm/image.py asks for them).
VM_PACKAGES=(qemu-system-x86 qemu-utils debootstrap e2fsprogs)

case "${1:-}" in
  --print-apt-packages) echo "${APT_PACKAGES[@]}"; exit 0 ;;
  --no-vm) VM_PACKAGES=() ;;
  "") ;;
  *) echo "usage: scripts/setup.sh [--no-vm | --print-apt-packages]" >&2; exit 2 ;;
esac

if [ "$(id -u)" -ne 0 ]; then
  echo "setup needs root (apt and network namespaces): run it with sudo" >&2
  exit 3
fi
mkdir -p "$CACHE"
key=$(cat scripts/setup.sh pyproject.toml | sha256sum | cut -c1-16)
stamp="$CACHE/setup-$key.done"
if [ -f "$stamp" ] && [ -x .venv/bin/testbed ]; then
  exit 0
fi

missing=()
for pkg in "${APT_PACKAGES[@]}" "${HOST_PACKAGES[@]}" "${VM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# coturn's package starts a server on 3478 in the root namespace on systemd hosts: the
# testbed runs its own, per run, inside a topology node
if [ -d /run/systemd/system ]; then
  systemctl disable --now coturn >/dev/null 2>&1 || true
fi

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: Python 3.11 or newer is needed ($PYTHON is $("$PYTHON" --version))" >&2
  exit 3
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
echo "setup: installing Python packages into .venv" >&2
.venv/bin/python -m pip install -q --disable-pip-version-check -e "$ROOT[dev,speech]"
touch "$stamp"
