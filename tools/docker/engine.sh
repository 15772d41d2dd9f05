#!/usr/bin/env bash
# A Docker engine of one's own, for machines with the `docker.io` package but no running engine (no systemd, as
# in CI containers): its socket, data and state live in one directory, so it touches no engine of the machine.
#
#   tools/docker/engine.sh start DIR    starts dockerd in the background; prints DOCKER_HOST=unix://DIR/docker.sock
#   tools/docker/engine.sh stop DIR     removes every container (with its volumes), stops dockerd, deletes DIR
#
# Published container ports bind to 127.0.0.1 only (--ip). No iptables rules are written.
set -euo pipefail

cmd="${1:-}"
dir="${2:-}"
if [[ -z "$cmd" || -z "$dir" ]]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi
socket="$dir/docker.sock"
export DOCKER_HOST="unix://$socket"

case "$cmd" in
  start)
    mkdir -p "$dir"
    dockerd --iptables=false --ip-masq=false --ip=127.0.0.1 --storage-driver=overlay2 \
      -H "$DOCKER_HOST" --data-root "$dir/root" --exec-root "$dir/exec" --pidfile "$dir/docker.pid" \
      >"$dir/dockerd.log" 2>&1 &
    for _ in $(seq 1 100); do
      if docker version >/dev/null 2>&1; then
        echo "DOCKER_HOST=$DOCKER_HOST"
        exit 0
      fi
      sleep 0.2
    done
    echo "dockerd did not answer within 20 s:" >&2
    tail -n 10 "$dir/dockerd.log" >&2 || true
    exit 1
    ;;
  stop)
    if docker version >/dev/null 2>&1; then
      ids="$(docker ps -aq)"
      if [[ -n "$ids" ]]; then
        # shellcheck disable=SC2086
        docker rm -fv $ids >/dev/null || true
      fi
      docker volume prune -f >/dev/null 2>&1 || true
    fi
    if [[ -f "$dir/docker.pid" ]]; then
      pid="$(cat "$dir/docker.pid")"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      kill -9 "$pid" 2>/dev/null || true
    fi
    # Overlay mounts left by a killed engine would keep the data directory busy.
    grep -o " $dir/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$dir"
    # The bridge the engine made, unless another engine on the machine still uses it.
    if ! pgrep -x dockerd >/dev/null && ip link show docker0 >/dev/null 2>&1; then
      ip link delete docker0 2>/dev/null || true
    fi
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
