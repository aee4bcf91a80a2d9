#!/usr/bin/env bash
# Usage: stage.sh DIR FRONT AGENT AWS CONFIG
# FRONT is cmd/enroot-agent-front (/usr/bin/enroot-agent), AGENT the full
# agent (/usr/libexec/enroot-agent/enroot-agent), which the front execs, AWS
# the AWS helper beside it (/usr/libexec/enroot-agent/enroot-agent-aws),
# which the agent runs for each AWS call.
# Fills DIR with every file the manifest names under its "staged as" column,
# plus the manifest itself, so rpm and deb builders package the same bytes.
set -euo pipefail

if (($# != 5)); then
  echo "usage: $0 DIR FRONT AGENT AWS CONFIG" >&2
  exit 2
fi
dir=$1 front=$2 agent=$3 aws=$4 config=$5
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)

mkdir -p "$dir"
install -m 0644 "$here/manifest" "$dir/manifest"
install -m 0755 "$front" "$dir/enroot-agent"
install -m 0755 "$agent" "$dir/enroot-agent-full"
install -m 0755 "$aws" "$dir/enroot-agent-aws"
install -m 0644 "$here/systemd/enroot-agent.service" "$dir/enroot-agent.service"
install -m 0644 "$config" "$dir/config.yaml"
install -m 0644 "$top/README.md" "$dir/README.md"
install -m 0644 "$here/prometheus/enroot-agent.rules.yml" "$dir/enroot-agent.rules.yml"

# Every staged name the manifest needs must now exist: a manifest line added
# without a source here fails the build, not the install.
while read -r kind _ _ staged; do
  case $kind in '' | '#'*) continue ;; esac
  if [[ $kind != dir && ! -f $dir/$staged ]]; then
    echo "stage: manifest names $staged, which stage.sh did not provide" >&2
    exit 1
  fi
done <"$here/manifest"
