#!/usr/bin/env bash
# Usage: build.sh STAGE OUTDIR VERSION RELEASE ARCH
# Builds enroot-agent_VERSION-RELEASE_ARCH.deb (ARCH amd64 or arm64) from a
# staging dir filled by packaging/stage.sh, laid out by the same manifest as
# the rpm, and prints its path. dpkg-deb alone: nothing to install beyond
# dpkg, and no second description of the package to keep in step.
set -euo pipefail

if (($# != 5)); then
  echo "usage: $0 STAGE OUTDIR VERSION RELEASE ARCH" >&2
  exit 2
fi
stage=$(cd "$1" && pwd) version=$3 release=$4 arch=$5
mkdir -p "$2"
out=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)

maintainer=${DEB_MAINTAINER:-enroot-agent maintainers <root@localhost>}

umask 022
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
chmod 0755 "$root"
mkdir -p "$root/DEBIAN"
: >"$root/DEBIAN/conffiles"

grep -v -e '^#' -e '^[[:space:]]*$' "$stage/manifest" | while read -r kind mode path staged; do
  case $kind in
    dir) install -d -m "$mode" "$root$path" ;;
    file | doc | config) install -D -m "$mode" "$stage/$staged" "$root$path" ;;
    *)
      echo "$stage/manifest: unknown kind '$kind'" >&2
      exit 1
      ;;
  esac
  if [[ $kind == config ]]; then
    echo "$path" >>"$root/DEBIAN/conffiles"
  fi
done

size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version-$release/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
  -e "s|@MAINTAINER@|$maintainer|" \
  "$here/control" >"$root/DEBIAN/control"
for script in postinst prerm postrm; do
  install -m 0755 "$here/$script" "$root/DEBIAN/$script"
done

deb=$out/enroot-agent_$version-${release}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >&2
echo "$deb"
