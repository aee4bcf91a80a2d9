#!/usr/bin/env bash
# Installs the Debian 12 packages that the tests start for real (Slurm, munge,
# the OCI registry, rpm, shellcheck, systemd-analyze), only when missing, so a
# second run costs nothing. Tests fail, never skip, when one of these is absent.
# Enroot's own dependencies (squashfs-tools, parallel, bsdmainutils, ...) are
# deliberately not here: the real-chain test (e2e/realchain) proves that the
# agent installs them.
set -euo pipefail

packages=(
  slurm-wlm libslurm-dev munge          # real slurmctld, slurmd, srun, spank.h
  docker-registry apache2-utils         # OCI registry with htpasswd basic auth
  rpm dpkg                              # rpmbuild, rpm --root, dpkg-deb
  shellcheck curl systemd git           # script lint, HTTP probes, systemd-analyze, git describe
  build-essential                       # cc and make for the Pyxis build
  dbus                                  # dbus-daemon for the stub systemd bus
  e2fsprogs                             # chattr: an immutable enroot.conf the agent cannot replace
  prometheus                            # promtool: check and unit-test the alert rules
  libnss-extrausers                     # an NSS module that is not files: directory users and groups
  zstd                                  # unpack the upstream /opt/slurm builds
  squashfuse fuse-overlayfs             # Pyxis's use_squashfuse=1 (bench: BenchmarkImageCacheGiB)
)

# The cluster test bed (internal/cluster): systemd-nspawn nodes from a
# debootstrap rootfs. Without their Recommends: systemd-container's would
# add libnss-mymachines to the host's nsswitch.conf.
bare=(
  systemd-container debootstrap
)

# missing NAME... prints the packages that are not installed.
missing() {
  local p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      echo "$p"
    fi
  done
}

mapfile -t need < <(missing "${packages[@]}")
mapfile -t need_bare < <(missing "${bare[@]}")
if ((${#need[@]} + ${#need_bare[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) != 0 ]]; then
  echo "test-deps: run as root to install: ${need[*]} ${need_bare[*]}" >&2
  exit 1
fi
echo "test-deps: installing ${need[*]} ${need_bare[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
if ((${#need[@]})); then
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ((${#need_bare[@]})); then
  apt-get install -y -qq --no-install-recommends "${need_bare[@]}" >/dev/null
fi
