#!/usr/bin/env bash
# ParallelCluster OnNodeConfigured action for enroot-agent: install the
# package, write the config, start the service, and wait until the node can
# run containers. A node that never becomes healthy makes this script exit
# non-zero, so ParallelCluster replaces it instead of sending it jobs.
#
# usage: on-node-configured.sh PACKAGE [--config LOCATION]
#            [--registries HOST[,HOST...]] [--sha256 HEX] [--timeout SECONDS] [--strict]
#
#   PACKAGE       s3://, https://, http:// or file:// location (or a path) of
#                 the .rpm or .deb; {arch} becomes x86_64/aarch64 and
#                 {debarch} amd64/arm64, so one argument serves mixed queues
#   --config      location of the node's config.yaml (validated before use)
#   --registries  without --config: write a config naming these ECR hosts
#   --sha256      digest the downloaded package must have
#   --timeout     seconds to wait for the agent to report ready (900)
#   --strict      a check that cannot tell (verify exit 2) also keeps the
#                 node from being ready; by default only a failing one does
#
# Safe to run again: the package manager skips an installed version, the
# config is replaced (and the agent restarted) only when it changed.
# ENROOT_AGENT_CONFIG names the config file (default: the path the service
# reads); ENROOT_AGENT_POLL is the seconds between readiness checks (10).
set -euo pipefail

readonly prog=on-node-configured
config_path=${ENROOT_AGENT_CONFIG:-/etc/enroot-agent/config.yaml}
poll=${ENROOT_AGENT_POLL:-10}

log() { echo "$prog: $*" >&2; }
die() {
  log "$*"
  exit 1
}

usage() {
  sed -n 's/^# \{0,1\}//; 7,19p' "$0" >&2
  exit 2
}

# fetch LOCATION DEST downloads an s3, http(s) or file location.
fetch() {
  local src=$1 dest=$2
  case $src in
    s3://*)
      command -v aws >/dev/null || die "$src: s3:// locations need the AWS CLI (aws); use https:// or install it"
      aws s3 cp --only-show-errors "$src" "$dest"
      ;;
    https://* | http://*) curl -fsSL --retry 5 --retry-connrefused --retry-delay 2 --connect-timeout 10 -o "$dest" "$src" ;;
    file://*) cp -- "${src#file://}" "$dest" ;;
    /*) cp -- "$src" "$dest" ;;
    *) die "cannot fetch $src: use s3://, https://, http://, file:// or an absolute path" ;;
  esac || die "download of $src failed"
}

# expand replaces {arch} and {debarch} with this machine's names.
expand() {
  local arch debarch
  arch=$(uname -m)
  case $arch in
    x86_64) debarch=amd64 ;;
    aarch64) debarch=arm64 ;;
    *) die "unsupported architecture $arch" ;;
  esac
  local s=${1//\{arch\}/$arch}
  echo "${s//\{debarch\}/$debarch}"
}

# install_package FILE installs or upgrades with the node's package manager.
install_package() {
  local file=$1
  case $file in
    *.rpm)
      if command -v dnf >/dev/null; then
        dnf -y -q install "$file"
      elif command -v yum >/dev/null; then
        yum -y -q install "$file"
      else
        die "found neither dnf nor yum to install $file"
      fi
      ;;
    *.deb)
      command -v apt-get >/dev/null || die "found no apt-get to install $file"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Options::=--force-confold "$file"
      ;;
    *) die "$file is neither an .rpm nor a .deb" ;;
  esac
}

# registries_config HOSTS writes a minimal config naming the ECR registries.
registries_config() {
  local hosts=$1 host
  echo "# written by $prog"
  echo "ecr:"
  echo "  registries:"
  IFS=, read -ra list <<<"$hosts"
  for host in "${list[@]}"; do
    [[ -n $host ]] && echo "    - $host"
  done
}

# install_config NEW writes NEW over the config when it differs, atomically,
# and reports whether it changed (exit 0 changed, 1 unchanged).
install_config() {
  local new=$1 dir tmp
  if [[ -f $config_path ]] && cmp -s "$new" "$config_path"; then
    return 1
  fi
  dir=$(dirname "$config_path")
  mkdir -p "$dir"
  tmp=$(mktemp "$dir/.config.yaml.XXXXXX")
  cat "$new" >"$tmp"
  chmod 0644 "$tmp"
  mv -f "$tmp" "$config_path"
}

# unit_prop NAME prints one property of the agent's unit.
unit_prop() {
  systemctl show -p "$1" --value enroot-agent.service 2>/dev/null || true
}

# wait_ready polls until the unit is active (READY=1: the first converge is
# done) in a run started after old_run, and enroot-agent verify passes, or
# the timeout ends. Verify exits 1 when a check fails and 2 when one cannot
# tell (an advisory such as slurm.conf's MEMLOCK propagation): like the
# agent's own drain, only a failure keeps the node out unless strict is yes.
wait_ready() {
  local timeout=$1 old_run=$2 strict=$3 deadline out="" state="" run rc
  deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    state=$(unit_prop ActiveState) run=$(unit_prop InvocationID)
    # A restart is queued, not done: until the run changes, verify would ask
    # the old daemon, which knows nothing of the new config.
    if [[ $state == active && $run != "$old_run" ]]; then
      rc=0
      out=$(enroot-agent --config "$config_path" verify 2>&1) || rc=$?
      if ((rc == 0)); then
        log "enroot-agent reports the node ready"
        return 0
      fi
      if ((rc == 2)) && [[ $strict == no ]]; then
        log "enroot-agent reports the node ready; some checks cannot tell:"
        echo "$out" >&2
        return 0
      fi
    fi
    sleep "$poll"
  done
  out=$(enroot-agent --config "$config_path" verify 2>&1) || true
  log "enroot-agent did not report ready within ${timeout}s (unit ${state:-unknown}); its verify output:"
  echo "$out" >&2
  log "service state:"
  systemctl status --no-pager enroot-agent >&2 || true
  return 1
}

main() {
  local package="" config="" registries="" sha256="" timeout=900 strict=no
  while (($#)); do
    case $1 in
      --config) config=${2:?--config needs a location}; shift 2 ;;
      --registries) registries=${2:?--registries needs hosts}; shift 2 ;;
      --sha256) sha256=${2:?--sha256 needs a digest}; shift 2 ;;
      --timeout) timeout=${2:?--timeout needs seconds}; shift 2 ;;
      --strict) strict=yes; shift ;;
      -h | --help) usage ;;
      -*) log "unknown option $1"; usage ;;
      *) [[ -z $package ]] || usage; package=$1; shift ;;
    esac
  done
  [[ -n $package ]] || usage
  ((EUID == 0)) || die "run as root: it installs a package and manages a service"
  [[ $timeout =~ ^[0-9]+$ ]] || die "--timeout $timeout is not a number of seconds"
  [[ -z $config || -z $registries ]] || die "give --config or --registries, not both: put the registries in the config file"

  local work
  work=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now: $work is local
  trap "rm -rf '$work'" EXIT

  package=$(expand "$package")
  local file=$work/${package##*/}
  log "fetching $package"
  fetch "$package" "$file"
  if [[ -n $sha256 ]]; then
    echo "${sha256,,}  $file" | sha256sum --check --status ||
      die "$package: sha256 is $(sha256sum "$file" | cut -d' ' -f1), expected $sha256"
  fi
  log "installing ${file##*/}"
  install_package "$file"
  command -v enroot-agent >/dev/null || die "the package installed no enroot-agent on PATH"

  local changed=no
  if [[ -n $config || -n $registries ]]; then
    # Keep the file's own name, so validation errors point at it.
    local new=$work/conf/config.yaml
    mkdir "$work/conf"
    if [[ -n $config ]]; then
      new=$work/conf/${config##*/}
      fetch "$config" "$new"
    else
      registries_config "$registries" >"$new"
    fi
    # Validate before it replaces anything: a bad config never reaches the node.
    enroot-agent --config "$new" validate >&2 || die "the config from ${config:-the registries} is invalid"
    if install_config "$new"; then
      changed=yes
      log "wrote $config_path"
    fi
  fi

  systemctl enable enroot-agent.service
  # --no-block: the first converge can take minutes, and a blocking call
  # from a boot-time action can deadlock on unit ordering; readiness is polled.
  local old_run=""
  if [[ $changed == yes ]]; then
    old_run=$(unit_prop InvocationID)
    systemctl restart --no-block enroot-agent.service
  else
    systemctl start --no-block enroot-agent.service
  fi
  log "waiting up to ${timeout}s for enroot-agent verify to pass"
  wait_ready "$timeout" "$old_run" "$strict"
}

main "$@"
