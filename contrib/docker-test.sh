#!/usr/bin/env bash
# The container as users run it: builds the image with podman, runs it against a fixture
# server on this host, and checks the merged feed, the HEALTHCHECK, the non-root user, a clean
# stop on SIGTERM within 10 s, and that the database on the /data volume survives a restart.
#
#   bash contrib/docker-test.sh
#
# Everything talks over 127.0.0.1: the container shares the host's network. On machines
# without podman or base images it sets them up from ../shared/docker (see its README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
shared=${FEEDMERGE_DOCKER_SETUP:-$root/../shared/docker}
dt=/tmp/dockertest

say() { printf '== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# Podman, and its local base images, set up once per machine.
if [ ! -f "$dt/env.sh" ]; then
  [ -f "$shared/env.sh" ] || fail "no podman setup at $dt and none to copy from $shared"
  mkdir -p "$dt" && cp "$shared/env.sh" "$dt/env.sh"
fi
# shellcheck disable=SC1091
source "$dt/env.sh"
if ! command -v podman >/dev/null || ! podman image exists docker.io/library/rust:1-bookworm \
   || ! podman image exists docker.io/library/debian:bookworm-slim; then
  say "setting up podman and base images (once per machine)"
  bash "$shared/setup-images.sh" >"$dt/setup.log" 2>&1 || { tail -20 "$dt/setup.log"; fail "podman setup"; }
fi

image=feedmerge:test
name=feedmerge-test-$$
volume=feedmerge-test-data-$$
work=$(mktemp -d)
fixtures_pid=
cleanup() {
  podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
  podman volume rm -f "$volume" >/dev/null 2>&1 || true
  [ -n "$fixtures_pid" ] && kill "$fixtures_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

say "building the image"
podman build --pull=never --format docker -t "$image" . >"$work/build.log" 2>&1 \
  || { tail -30 "$work/build.log"; fail "podman build"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
fixtures_port=$(free_port)
port=$(free_port)
python3 -m http.server --bind 127.0.0.1 --directory tests/fixtures "$fixtures_port" \
  >"$work/fixtures.log" 2>&1 &
fixtures_pid=$!
# The daemon polls once at start: the fixture server must be answering by then.
for _ in $(seq 1 50); do
  curl -fsS -o /dev/null "http://127.0.0.1:$fixtures_port/globaltimes.rss" 2>/dev/null && break
  sleep 0.1
done

mkdir -p "$work/config"
cat >"$work/config/feedmerge.toml" <<TOML
[feed]
title = "Container test"
base_url = "http://127.0.0.1:$port/"
[poll]
schedule = "0 0 1 1 *"
[[sources]]
name = "Global Times"
url = "http://127.0.0.1:$fixtures_port/globaltimes.rss"
[[sources]]
name = "Partner Wire"
url = "http://127.0.0.1:$fixtures_port/partner.atom"
TOML
chmod -R a+rX "$work/config"

# Waits until /healthz reports N stories; prints the last answer.
wait_for_stories() {
  local want=$1 health=
  for _ in $(seq 1 100); do
    health=$(curl -fsS "http://127.0.0.1:$port/healthz" 2>/dev/null || true)
    if [[ $health == *"\"stories\":$want"* ]]; then echo "$health"; return 0; fi
    sleep 0.2
  done
  echo "$health"; return 1
}

say "running it"
podman volume create "$volume" >/dev/null
podman run -d --name "$name" --network host \
  -e FEEDMERGE_LISTEN="127.0.0.1:$port" \
  -v "$work/config:/etc/feedmerge:ro" -v "$volume:/data" "$image" >/dev/null
health=$(wait_for_stories 4) || { podman logs "$name" | tail -20; fail "no stories: $health"; }
echo "   healthz: $health"

entries=$(curl -fsS "http://127.0.0.1:$port/feed.atom" | grep -o '<entry>' | wc -l)
[ "$entries" = 4 ] || fail "the merged feed has $entries entries, not 4"
echo "   merged feed: 4 entries (3 stories of one outlet, one merged re-run, one of the other's)"

podman healthcheck run "$name" >/dev/null || fail "the HEALTHCHECK failed"
echo "   HEALTHCHECK: healthy"

uid=$(podman exec "$name" id -u)
[ "$uid" != 0 ] || fail "runs as root"
echo "   user: uid $uid"

say "stopping it (SIGTERM)"
started=$(date +%s%N)
podman stop -t 10 "$name" >/dev/null
took_ms=$(( ($(date +%s%N) - started) / 1000000 ))
code=$(podman inspect "$name" --format '{{.State.ExitCode}}')
[ "$code" = 0 ] || { podman logs "$name" | tail -20; fail "exit code $code after SIGTERM"; }
[ "$took_ms" -lt 10000 ] || fail "took ${took_ms} ms to stop"
# Read now, before the restart: once the container runs again, its log may be only the new
# run's (it was, once, on a machine whose podman had just been set up).
podman logs "$name" 2>&1 | grep -q "stopped" || fail "no clean stop in the log"
echo "   stopped cleanly in ${took_ms} ms (exit 0)"

say "restarting it with the fixture server gone"
kill "$fixtures_pid"; wait "$fixtures_pid" 2>/dev/null || true; fixtures_pid=
podman start "$name" >/dev/null
health=$(wait_for_stories 4) || fail "the database did not survive the restart: $health"
echo "   after restart: $health"

say "container test passed"
