#!/usr/bin/env bash
# Serving load: feedmerge's /feed.atom (100 entries) against nginx serving the same bytes as a
# static file, with wrk: 64 and then 512 connections for 10 s each, for 200 responses and
# for 304s (If-None-Match with the current ETag). Prints a table: both request rates, their
# ratio, and each server's median and 99th percentile latency.
#
#   bash benches/load.sh [DURATION]        (default 10s; installs wrk and nginx if missing)
#
# Everything runs on 127.0.0.1 in a temp dir; nothing is left running.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10s}
CONNECTIONS="64 512"

need() { command -v "$1" >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
need wrk wrk
need nginx nginx-light
cargo build --release --locked -q

work=$(mktemp -d)
chmod 755 "$work"   # nginx workers run as an unprivileged user
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
NGINX_PORT=$(free_port); FM_PORT=$(free_port)

# A source feed of 120 items, each with a few paragraphs, served by nginx.
mkdir -p "$work/www"
python3 - "$work/www/source.rss" <<'PY'
import sys, random
rng = random.Random(5)
words = "the of and to in a is that for on with as by at from Ukraine China Russia talks said minister market trade energy government police city report".split()
def text(n): return " ".join(rng.choice(words) for _ in range(n))
items = []
for i in range(120):
    paras = "".join(f"<p>{text(60)}.</p>" for _ in range(4))
    items.append(f"<item><guid>item-{i}</guid><title>{text(9)} {i}</title><link>https://outlet.example/{i}</link>"
                 f"<pubDate>Mon, {1 + i % 28:02d} Sep 2025 {i % 24:02d}:00:00 +0000</pubDate>"
                 f"<description><![CDATA[{paras}]]></description></item>")
open(sys.argv[1], "w").write(f'<?xml version="1.0"?><rss version="2.0"><channel><title>Load</title>{"".join(items)}</channel></rss>')
PY
cat > "$work/nginx.conf" <<NGINX
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 2048; }
http {
  access_log off;
  types { application/atom+xml atom; application/rss+xml rss; }
  server { listen 127.0.0.1:$NGINX_PORT; root $work/www; etag on; }
}
NGINX
nginx -c "$work/nginx.conf" -g 'daemon off;' & pids+=($!)

cat > "$work/feedmerge.toml" <<TOML
[feed]
base_url = "http://127.0.0.1:$FM_PORT/"
max_entries = 100
[server]
listen = "127.0.0.1:$FM_PORT"
connections_per_client = 1024   # wrk is one client address, with 512 connections
[storage]
database = "$work/feedmerge.db"
[poll]
schedule = "0 0 1 1 *"
[[sources]]
name = "Load"
url = "http://127.0.0.1:$NGINX_PORT/source.rss"
TOML
RUST_LOG=warn target/release/feedmerge run -c "$work/feedmerge.toml" & pids+=($!)
for _ in $(seq 100); do
  n=$(curl -sf "http://127.0.0.1:$FM_PORT/feed.atom" | grep -c "<entry>" || true)
  [ "${n:-0}" -ge 100 ] && break
  sleep 0.2
done
curl -sf "http://127.0.0.1:$FM_PORT/feed.atom" -o "$work/www/feed.atom"
echo "feed: $(grep -o '<entry>' "$work/www/feed.atom" | wc -l) entries, $(wc -c < "$work/www/feed.atom") bytes"

etag() { curl -sfI "$1" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}'; }
measure() { # connections url [header] -> "requests/s p50 p99"
  local args=(-t2 -c"$1" -d"$DURATION" --latency)
  [ -n "${3:-}" ] && args+=(-H "$3")
  wrk "${args[@]}" "$2" | awk '
    /Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = $2 }
    $1 == "99%" { p99 = $2 }
    /Non-2xx or 3xx|Socket errors/ { print "wrk: " $0 > "/dev/stderr" }
    END { print rps, p50, p99 }'
}
check() { # url header expected-status
  local got; got=$(curl -s -o /dev/null -w '%{http_code}' -H "$2" "$1")
  [ "$got" = "$3" ] || { echo "expected $3 from $1 with $2, got $got" >&2; exit 1; }
}
FM="http://127.0.0.1:$FM_PORT/feed.atom"; NG="http://127.0.0.1:$NGINX_PORT/feed.atom"
FM_ETAG=$(etag "$FM"); NG_ETAG=$(etag "$NG")
check "$FM" "If-None-Match: $FM_ETAG" 304
check "$NG" "If-None-Match: $NG_ETAG" 304

echo "wrk -t2 -d$DURATION --latency, $(nproc) cores"
echo "| response | connections | feedmerge req/s | nginx req/s | ratio | feedmerge p50 / p99 | nginx p50 / p99 |"
echo "|---|---|---|---|---|---|---|"
for kind in 200 304; do
  for connections in $CONNECTIONS; do
    if [ "$kind" = 200 ]; then h1=""; h2=""; else h1="If-None-Match: $FM_ETAG"; h2="If-None-Match: $NG_ETAG"; fi
    read -r fm fm50 fm99 < <(measure "$connections" "$FM" "$h1")
    read -r ng ng50 ng99 < <(measure "$connections" "$NG" "$h2")
    ratio=$(python3 -c "print(f'{$fm/$ng:.2f}')")
    echo "| $kind | $connections | $fm | $ng | $ratio | $fm50 / $fm99 | $ng50 / $ng99 |"
  done
done
