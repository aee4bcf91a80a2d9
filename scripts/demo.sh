#!/usr/bin/env bash
# Runs the agent's main job on this machine inside a sandbox --root, and shows
# what an admin sees: the plan, the apply, and a second apply that does nothing.
set -euo pipefail

bin=${1:?usage: demo.sh path/to/enroot-agent}
sandbox=${DEMO_ROOT:-/tmp/enroot-agent-demo}
rm -rf "$sandbox"
mkdir -p "$sandbox"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step enroot-agent --root "$sandbox" validate
"$bin" --root "$sandbox" validate
step enroot-agent --root "$sandbox" apply --dry-run
"$bin" --root "$sandbox" --log-format console apply --dry-run 2>/dev/null
step enroot-agent --root "$sandbox" apply
"$bin" --root "$sandbox" --log-format console apply
step enroot-agent --root "$sandbox" apply "   # again: nothing to do"
"$bin" --root "$sandbox" --log-format console apply
printf '\nThe sandbox is %s.\n' "$sandbox"
