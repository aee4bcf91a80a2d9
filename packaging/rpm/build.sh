#!/usr/bin/env bash
# Usage: build.sh STAGE OUTDIR VERSION RELEASE ARCH
# Builds enroot-agent-VERSION-RELEASE.ARCH.rpm from a staging dir filled by
# packaging/stage.sh, and prints its path. ARCH is x86_64 or aarch64.
set -euo pipefail

if (($# != 5)); then
  echo "usage: $0 STAGE OUTDIR VERSION RELEASE ARCH" >&2
  exit 2
fi
stage=$(cd "$1" && pwd) version=$3 release=$4 arch=$5
mkdir -p "$2"
out=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
command -v rpmbuild >/dev/null || { echo "rpmbuild is missing: apt-get install rpm (or dnf install rpm-build)" >&2; exit 1; }

top=$(mktemp -d)
trap 'rm -rf "$top"' EXIT
# Each define keeps rpmbuild's work inside $top and the result flat in $out.
# No dist tag: the binary is static, so one rpm serves EL8, EL9 and AL2023.
rpmbuild -bb --quiet --target "$arch" \
  --define "_topdir $top" \
  --define "_sourcedir $stage" \
  --define "_builddir $top/BUILD" \
  --define "_rpmdir $out" \
  --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
  --define "pkg_version $version" \
  --define "pkg_release $release" \
  --define "dist %{nil}" \
  "$here/enroot-agent.spec" >&2
echo "$out/enroot-agent-$version-$release.$arch.rpm"
