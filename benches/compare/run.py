"""The side-by-side run of benches/compare.sh (which installs what this needs, then calls it).

    python benches/compare/run.py N RUNS CONCURRENCY WORKDIR FEEDMERGE_BINARY CORPUS

CORPUS is `synthetic` (corpus.py: N generated news feeds) or a folder of real captures
(real.py: N copies of the RSS 2.0 and Atom 1.0 files among them). Serves that corpus from
nginx on 127.0.0.1, then, RUNS times each, has every contender ingest all of it into a fresh
store of its own ("first ingest") and poll it again with nothing changed ("re-poll"), at the
same concurrency:
- feedmerge: `feedmerge fetch` on a config listing the N sources;
- reader (Python, SQLite): `make_reader(db).update_feeds(workers=C, scheduled=False)`, the
  feeds added beforehand (not timed);
- newsboat: `newsboat -x reload` with `reload-threads C`.
Each run is one whole process under GNU time: wall time, CPU time (user + system) and peak
resident memory. Prints the medians, what each contender stored and what the server
answered it (200s and 304s), and the ratios contender : feedmerge.
"""

import os
import sqlite3
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def sh(*args, **kw):
    return subprocess.run(args, check=True, **kw)


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """nginx serving the corpus, with ETag and Last-Modified, logging each answer's status."""

    def __init__(self, work, www):
        self.port = free_port()
        self.log = work / "access.log"
        conf = work / "nginx.conf"
        conf.write_text(f"""
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
  log_format status '$status';
  access_log {self.log} status;
  types {{ application/rss+xml xml; application/atom+xml atom; application/rdf+xml rdf;
          application/feed+json json; }}
  keepalive_requests 100000;
  server {{ listen 127.0.0.1:{self.port}; root {www}; etag on; }}
}}
""")
        self.proc = subprocess.Popen(["nginx", "-c", str(conf), "-g", "daemon off;"])
        import time
        import urllib.request
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/entries.txt").read()
                break
            except OSError:
                time.sleep(0.1)
        self.mark()

    def mark(self):
        self.seen = self.log.read_text().count("\n") if self.log.exists() else 0

    def statuses(self):
        """Answers since the last mark, by status."""
        lines = self.log.read_text().splitlines()[self.seen:]
        self.mark()
        counts = {}
        for s in lines:
            counts[s] = counts.get(s, 0) + 1
        return counts

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def timed(args, work, env=None, cwd=None):
    """Runs args whole under GNU time: (wall s, cpu s, peak RSS MiB)."""
    out = work / "time.txt"
    result = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", str(out), *args],
                            env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if result.returncode != 0:
        sys.exit(f"{args[0]} failed ({result.returncode}): {result.stderr.decode()[-2000:]}")
    wall, user, system, rss = out.read_text().split()[-4:]
    return float(wall), float(user) + float(system), int(rss) / 1024


class Feedmerge:
    name = "feedmerge"

    def __init__(self, binary, urls, c, work):
        self.binary, self.work = binary, work
        sources = "".join(f'[[sources]]\nname = "f{i}"\nurl = "{u}"\n' for i, u in enumerate(urls))
        self.config = work / "feedmerge.toml"
        self.config.write_text(
            f'[storage]\ndatabase = "{work}/feedmerge/feedmerge.db"\n'
            # All feeds are on one local host, standing in for N outlets' hosts: the per-host
            # limit is lifted to the global one, as the others have no per-host limit.
            f'[poll]\nschedule = "0 0 1 1 *"\nconcurrency = {c}\nper_host = {c}\n\n{sources}')

    def fresh(self):
        sh("rm", "-rf", str(self.work / "feedmerge"))

    def run(self):
        env = dict(os.environ, RUST_LOG="error")
        return timed([self.binary, "-c", str(self.config), "fetch"], self.work, env=env)

    def stored(self):
        with sqlite3.connect(self.work / "feedmerge/feedmerge.db") as db:
            return db.execute("SELECT COUNT(*) FROM appearances").fetchone()[0]


class Reader:
    name = "reader"

    def __init__(self, python, urls, c, work):
        self.python, self.c, self.work = python, c, work
        self.urls = work / "urls.txt"
        self.urls.write_text("".join(u + "\n" for u in urls))
        self.db = work / "reader.sqlite"

    def fresh(self):
        sh("rm", "-f", str(self.db), f"{self.db}-wal", f"{self.db}-shm")
        sh(self.python, "-c", "import sys, reader; r = reader.make_reader(sys.argv[1]); "
           "[r.add_feed(u.strip()) for u in open(sys.argv[2])]; r.close()",
           str(self.db), str(self.urls))

    def run(self):
        return timed([self.python, "-c",
                      "import sys, reader; r = reader.make_reader(sys.argv[1]); "
                      "r.update_feeds(workers=int(sys.argv[2]), scheduled=False); r.close()",
                      str(self.db), str(self.c)], self.work)

    def stored(self):
        with sqlite3.connect(self.db) as db:
            return db.execute("SELECT COUNT(*) FROM entries").fetchone()[0]


class Newsboat:
    name = "newsboat"

    def __init__(self, urls, c, work):
        self.work = work
        self.home = work / "newsboat"
        self.urls = work / "newsboat-urls"
        self.urls.write_text("".join(u + "\n" for u in urls))
        self.config = work / "newsboat-config"
        self.config.write_text(f"reload-threads {c}\nshow-read-feeds yes\n")

    def fresh(self):
        sh("rm", "-rf", str(self.home))
        self.home.mkdir()

    def run(self):
        env = dict(os.environ, HOME=str(self.home), LANG="C.UTF-8")
        return timed(["newsboat", "-u", str(self.urls), "-C", str(self.config),
                      "-c", str(self.home / "cache.db"), "-x", "reload"], self.work, env=env)

    def stored(self):
        with sqlite3.connect(self.home / "cache.db") as db:
            return db.execute("SELECT COUNT(*) FROM rss_item").fetchone()[0]


def median(runs, k):
    return statistics.median(r[k] for r in runs)


def main():
    n, runs, c = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    work, binary, corpus = Path(sys.argv[4]), sys.argv[5], sys.argv[6]
    www = work / "www"
    if corpus == "synthetic":
        sh(sys.executable, str(HERE / "corpus.py"), str(n), str(www))
        what = "synthetic news feeds (corpus.py)"
    else:
        sh(sys.executable, str(HERE / "real.py"), corpus, str(n), str(www))
        what = f"copies of the real RSS 2.0 and Atom 1.0 captures in {corpus} (real.py)"
    entries = int((www / "entries.txt").read_text())
    server = Server(work, www)
    try:
        feeds = sorted(p.name for p in www.iterdir() if p.name != "entries.txt")
        urls = [f"http://127.0.0.1:{server.port}/{name}" for name in feeds]
        contenders = [Feedmerge(binary, urls, c, work), Reader(sys.executable, urls, c, work),
                      Newsboat(urls, c, work)]
        results = {}
        for who in contenders:
            first, again = [], []
            for _ in range(runs):
                who.fresh()
                server.mark()
                first.append(who.run())
                first_statuses = server.statuses()
                stored = who.stored()
                again.append(who.run())
                again_statuses = server.statuses()
            results[who.name] = (first, again, stored, first_statuses, again_statuses)
            print(f"  {who.name}: done", file=sys.stderr, flush=True)
    finally:
        server.stop()

    print(f"\n{n} {what}: {entries} entries; concurrency {c}, median of {runs} runs, "
          f"{os.cpu_count()} cores\n")
    print("| contender | first ingest: wall | CPU | peak RSS | re-poll: wall | CPU | peak RSS "
          "| entries stored | server answers (first / re-poll) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, (first, again, stored, s1, s2) in results.items():
        fmt = lambda d: ", ".join(f"{v}×{k}" for k, v in sorted(d.items()))
        print(f"| {name} | {median(first, 0):.2f} s | {median(first, 1):.2f} s | "
              f"{median(first, 2):.0f} MiB | {median(again, 0):.2f} s | {median(again, 1):.2f} s | "
              f"{median(again, 2):.0f} MiB | {stored} of {entries} | {fmt(s1)} / {fmt(s2)} |")
    fm_first, fm_again = results["feedmerge"][0], results["feedmerge"][1]
    print("\n| contender : feedmerge | first ingest wall | CPU | peak RSS | re-poll wall | CPU "
          "| peak RSS |")
    print("|---|---|---|---|---|---|---|")
    for name, (first, again, *_rest) in results.items():
        if name == "feedmerge":
            continue
        r = lambda a, b, k: f"{median(a, k) / max(median(b, k), 1e-9):.1f}x"
        print(f"| {name} | {r(first, fm_first, 0)} | {r(first, fm_first, 1)} | "
              f"{r(first, fm_first, 2)} | {r(again, fm_again, 0)} | {r(again, fm_again, 1)} | "
              f"{r(again, fm_again, 2)} |")


if __name__ == "__main__":
    main()
