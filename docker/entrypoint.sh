#!/usr/bin/env bash
# Entry point of the paretoctl image: one image, three roles.
#
#   head                   start the Ray head on the container network and block
#   worker                 join the head at $RAY_HEAD_ADDRESS and block
#   sweep SPEC [OPTIONS]   run `paretoctl sweep` as the driver (the only writer to the store)
#                          on the cluster at $RAY_HEAD_ADDRESS, or on a local Ray when unset
#   anything else          run as given (`paretoctl front ...`, `bash`)
#
# `--print` before the role prints the command line (shell-quoted) instead of running it:
# tests/test_docker.py checks those lines and runs the sweep line, so what is tested is
# what the image runs.
#
# Environment (docker/compose.yaml and docker/kuberay/ set these):
#   RAY_NODE_IP       this node's address on the cluster network (default: `hostname -i`)
#   RAY_PORT          the head's GCS port (default 6379)
#   RAY_HEAD_ADDRESS  HOST:PORT of the head, for `worker` and `sweep`
#   RAY_NUM_CPUS, RAY_NUM_GPUS  the node's resources (default: what Ray detects)
#   RAY_AUTH_MODE=token with RAY_AUTH_TOKEN  Ray's token authentication, same on every node
#   PARETOCTL_STORE   the store URL, read by paretoctl itself (kept off the command line,
#                     where a password would show in the process list)
#   PARETOCTL_DATA    datasets folder: on a cluster, a path every node mounts
set -euo pipefail

dry=0
if [ "${1:-}" = "--print" ]; then
  dry=1
  shift
fi

# Print (dry mode) or replace this shell with the command, so signals reach it directly.
run() {
  if [ "$dry" = 1 ]; then
    printf '%q ' "$@" | sed 's/ $//'
    printf '\n'
  else
    exec "$@"
  fi
}

fail() {
  printf 'paretoctl-entrypoint: %s\n' "$1" >&2
  exit 2
}

node_ip() {
  if [ -n "${RAY_NODE_IP:-}" ]; then
    printf '%s' "$RAY_NODE_IP"
  else
    # the first address of this container on its network (compose, a pod)
    hostname -i | awk '{print $1}'
  fi
}

# Resource flags shared by head and worker: only what the environment sets.
resources=()
if [ -n "${RAY_NUM_CPUS:-}" ]; then resources+=("--num-cpus=${RAY_NUM_CPUS}"); fi
if [ -n "${RAY_NUM_GPUS:-}" ]; then resources+=("--num-gpus=${RAY_NUM_GPUS}"); fi

role="${1:-}"
if [ -z "$role" ]; then
  fail "usage: paretoctl-entrypoint [--print] head|worker|sweep SPEC [OPTIONS]|COMMAND..."
fi
shift

case "$role" in
  head)
    run ray start --head --node-ip-address="$(node_ip)" --port="${RAY_PORT:-6379}" \
      --include-dashboard=false --disable-usage-stats "${resources[@]}" --block
    ;;
  worker)
    [ -n "${RAY_HEAD_ADDRESS:-}" ] || fail "worker: set RAY_HEAD_ADDRESS to the head's HOST:PORT"
    run ray start --address="$RAY_HEAD_ADDRESS" --node-ip-address="$(node_ip)" \
      --disable-usage-stats "${resources[@]}" --block
    ;;
  sweep)
    [ "$#" -ge 1 ] || fail "sweep: give the sweep file (sweep SPEC.yaml [OPTIONS])"
    spec="$1"
    shift
    if [ -n "${RAY_HEAD_ADDRESS:-}" ]; then
      # trials on other nodes read the datasets the driver prepared: a shared path
      [ -n "${PARETOCTL_DATA:-}" ] || fail "sweep: set PARETOCTL_DATA to a folder every node mounts"
      run paretoctl sweep "$spec" --address "$RAY_HEAD_ADDRESS" "$@"
    else
      run paretoctl sweep "$spec" "$@"
    fi
    ;;
  *)
    run "$role" "$@"
    ;;
esac
