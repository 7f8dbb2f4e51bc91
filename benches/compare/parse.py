"""Parse throughput of Python's feedparser and fastfeedparser on a folder of feed files, in
MiB/s of feed bytes as benches/ingest.rs reports feedmerge's: every file parsed, repeated
for at least three seconds.

    python benches/compare/parse.py DIR
"""

import sys
import time
from pathlib import Path

import fastfeedparser
import feedparser


def measure(name, parse, files):
    total = sum(len(b) for b in files)
    rounds, entries, started = 0, 0, time.perf_counter()
    while rounds == 0 or time.perf_counter() - started < 3:
        for body in files:
            entries += len(parse(body).entries)
        rounds += 1
    secs = time.perf_counter() - started
    print(f"{name}\t{total * rounds / secs / 2**20:.1f} MiB/s\t{len(files)} files, "
          f"{total / 2**20:.1f} MiB, {entries // rounds} entries per round, {rounds} rounds")


def main():
    files = [p.read_bytes() for p in sorted(Path(sys.argv[1]).iterdir())]
    measure(f"feedparser {feedparser.__version__}", feedparser.parse, files)
    measure(f"fastfeedparser {fastfeedparser.__version__}", fastfeedparser.parse, files)


if __name__ == "__main__":
    main()
