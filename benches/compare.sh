#!/usr/bin/env bash
# feedmerge side by side with the tools users would pick instead, on one machine: the Python
# library `reader` (SQLite, like us) and newsboat. Each contender ingests N local feeds served
# by nginx on 127.0.0.1 into a fresh store, then polls again with nothing changed. Two
# corpora, one table each, in this order:
#   1. real: N copies of the real RSS 2.0 and Atom 1.0 captures in CAPTURES (the headline
#      figures; benches/compare/real.py says which files and how copies are made distinct);
#      skipped, saying so, when CAPTURES is not a folder;
#   2. synthetic: N generated news feeds (RSS 2.0, Atom, RSS 1.0, JSON Feed; 20 items each).
# Then parse throughput: feedmerge's parser against feedparser and fastfeedparser.
#
#   bash benches/compare.sh [N] [RUNS] [CAPTURES]
#       default 2000 feeds, 3 runs, ../shared/corpus/real; CONCURRENCY=16;
#       PROFILE=dev times a debug build (to check that this script works: no figures);
#       RULES=1 measures instead what ten [[rules]] cost feedmerge's first ingest
#
# Installs what it lacks: GNU time, nginx and newsboat with apt-get; reader, feedparser and
# fastfeedparser (pinned, with what they depend on; sgmllib3k for the feedparser that reader
# bundles) with pip, into a venv under target/. Prints markdown tables for BENCHMARKS.md.
# Everything runs in a temp dir; nothing is left running.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000}
RUNS=${2:-3}
CAPTURES=${3:-../shared/corpus/real}
CONCURRENCY=${CONCURRENCY:-16}

missing=()
[ -x /usr/bin/time ] || missing+=(time)
command -v nginx >/dev/null 2>&1 || missing+=(nginx-light)
command -v newsboat >/dev/null 2>&1 || missing+=(newsboat)
python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
venv=target/compare-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
# What they bring with them is pinned too, at the versions of the 2026-12-04 run: reader's
# time is partly spent in the libraries it imports (requests, HTML parsers), and a later run
# should measure the same code.
"$venv/bin/pip" install -q --disable-pip-version-check \
  reader==3.26 feedparser==6.0.14 fastfeedparser==0.6.5 sgmllib3k==1.0.0 \
  beautifulsoup4==4.15.0 certifi==2026.10.19.post1 charset-normalizer==3.5.3 \
  feedparser-sgmllib==2.1.0 idna==3.20 lxml==6.2.0 MarkupSafe==3.0.4 python-dateutil==4.0.0 \
  requests==2.34.2 soupsieve==4.1.4 structlog==26.1.0 typing_extensions==4.16.0 \
  tzdata==2026.6 urllib3==2.8.0 Werkzeug==3.1.9
# One build for both the daemon measured here and the ingest bench below: `cargo bench`
# builds feedmerge in the bench profile (the release one, into target/release/) with the
# bench's dev-dependencies, so building the two apart would compile sqlx and feedmerge twice.
# PROFILE=dev (CI's smoke run, whose figures nobody reads) reuses the test build instead.
PROFILE=${PROFILE:-bench}
case $PROFILE in
  bench) bin=target/release/feedmerge ;;
  dev) bin=target/debug/feedmerge ;;
  *) echo "PROFILE is bench (the default) or dev, not $PROFILE" >&2; exit 2 ;;
esac
cargo bench --locked --no-run -q --profile "$PROFILE" --bench ingest
[ -x "$bin" ] || { echo "no $bin after the build" >&2; exit 1; }

work=$(mktemp -d)
chmod 755 "$work"   # nginx workers run as an unprivileged user
trap 'rm -rf "$work"' EXIT

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr);" \
  "feedmerge $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(newsboat --version | head -1 | cut -d' ' -f1-2)," \
  "reader $("$venv/bin/python" -c 'import reader; print(reader.__version__)')"
[ "$PROFILE" = bench ] || echo "PROFILE=$PROFILE: a debug build, run to check that this script works; its figures are not feedmerge's"
if [ "${RULES:-0}" = 1 ]; then
  # What ten [[rules]] cost the first ingest of the real captures (benches/compare/rules.py).
  mkdir "$work/rules"
  "$venv/bin/python" benches/compare/rules.py "$N" "$RUNS" "$CONCURRENCY" "$work/rules" \
    "$(pwd)/$bin" "$(cd "$CAPTURES" && pwd)"
  exit 0
fi
if [ -d "$CAPTURES" ]; then
  mkdir "$work/real"
  "$venv/bin/python" benches/compare/run.py "$N" "$RUNS" "$CONCURRENCY" "$work/real" \
    "$(pwd)/$bin" "$(cd "$CAPTURES" && pwd)"
else
  echo "no folder of real captures at $CAPTURES: the real-feed table is skipped"
fi
mkdir "$work/synthetic"
"$venv/bin/python" benches/compare/run.py "$N" "$RUNS" "$CONCURRENCY" "$work/synthetic" \
  "$(pwd)/$bin" synthetic

# feedparser reads no JSON Feed: the parsers are compared on the synthetic XML feeds, which
# all read.
www=$work/synthetic/www
mkdir "$work/xml"
ln -s "$www"/*.xml "$www"/*.atom "$www"/*.rdf "$work/xml/"
echo
echo "Parse throughput, one core, on the $(ls "$work/xml" | wc -l) synthetic XML feeds:"
# The ingest bench (one run: parse, then store) times our parse_feed over the folder.
cargo bench --locked -q --profile "$PROFILE" --bench ingest -- "$work/xml" 1 2>/dev/null | grep -E "^corpus|^\| parse"
"$venv/bin/python" benches/compare/parse.py "$work/xml"
