#!/usr/bin/env bash
# Prints the package version and release, from git describe:
#   v1.2.3                  -> 1.2.3 1
#   v1.2.3-4-gabc1234       -> 1.2.3 1.4.gabc1234   (sorts after 1.2.3-1)
#   abc1234 (no tag yet)    -> 0.0.0 0.<commits>.gabc1234
# and appends .dirty for a tree with uncommitted changes. Both rpm and dpkg
# order these releases correctly, so a fleet upgrade goes forward.
set -euo pipefail

cd "$(dirname "$0")/.."
desc=$(git describe --tags --long --always --dirty 2>/dev/null || echo unknown)
dirty=
if [[ $desc == *-dirty ]]; then
  dirty=.dirty
  desc=${desc%-dirty}
fi

if [[ $desc =~ ^v?([0-9]+(\.[0-9]+)*)-([0-9]+)-g([0-9a-f]+)$ ]]; then
  version=${BASH_REMATCH[1]}
  if [[ ${BASH_REMATCH[3]} == 0 ]]; then
    release=1
  else
    release=1.${BASH_REMATCH[3]}.g${BASH_REMATCH[4]}
  fi
else
  version=0.0.0
  count=$(git rev-list --count HEAD 2>/dev/null || echo 0)
  release=0.$count.g${desc//[^0-9a-zA-Z]/}
fi
echo "$version $release$dirty"
