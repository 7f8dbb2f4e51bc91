"""The daemon under the two high-severity attacks of "hostile round three" at once.

    python3 benches/hostile.py BINARY [SECONDS]     (default 180 s)

BINARY is a built `feedmerge` (say `target/release/feedmerge`). Everything runs on this
machine's loopback:
- an outlet whose feed gains an entry every 10 s, polled every 10 s, so that the merged feed
  changes that often;
- three readers subscribed to our hub whose callbacks answer every delivery with 500;
- 1,000 connections from 127.0.0.2 that each `POST /websub` with a 10 MB `Content-Length`
  and send one byte every 2 s, reconnecting whenever the server closes one.

Every second `/healthz` and `/feed.atom` are asked for from 127.0.0.1 (10 s timeout), and the
daemon's resident memory is read. At the end the daemon gets SIGTERM. Prints each probe's
latency (p50, p99, worst, failures), the peak memory, and how long the stop took.
"""

import asyncio
import http.server
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

SLOW = 1_000


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Outlet(http.server.BaseHTTPRequestHandler):
    """A feed that gains an entry every 10 s."""

    started = time.time()

    def do_GET(self):
        n = int((time.time() - Outlet.started) / 10) + 1
        items = "".join(
            f"<item><guid>g{i}</guid><title>Story number {i} of the outlet</title>"
            f"<description>{('Words of story %d. ' % i) * 200}</description></item>"
            for i in range(n)
        )
        body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>O</title>{items}</channel></rss>'.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Failing(http.server.BaseHTTPRequestHandler):
    """A reader's callback: verifies, then refuses every delivery."""

    def do_GET(self):
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        body = query.get("hub.challenge", [""])[0].encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def serve(handler):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


async def slow_client(port, stop):
    """One slow body, again whenever the server closes it."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, local_addr=("127.0.0.2", 0)
            )
            writer.write(
                b"POST /websub HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: 10000000\r\n\r\n"
            )
            while not stop.is_set() and not reader.at_eof():
                writer.write(b"h")
                await writer.drain()
                try:
                    await asyncio.wait_for(reader.read(4096), 2)
                except asyncio.TimeoutError:
                    pass
            writer.close()
        except (ConnectionError, OSError):
            await asyncio.sleep(0.5)


def probe(url):
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            r.read()
            ok = r.status == 200
    except Exception:
        ok = False
    return time.monotonic() - started, ok


def rss_mib(pid):
    status = open(f"/proc/{pid}/status").read()
    values = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    kib = lambda key: int(values[key].split()[0])
    return kib("VmRSS") / 1024, kib("VmHWM") / 1024


def summary(name, samples):
    times = sorted(t for t, _ in samples)
    failed = sum(1 for _, ok in samples if not ok)
    p = lambda q: times[min(len(times) - 1, int(q * len(times)))] * 1000
    return (
        f"| {name} | {len(samples)} | {statistics.median(times) * 1000:.1f} ms | "
        f"{p(0.99):.1f} ms | {times[-1] * 1000:.1f} ms | {failed} |"
    )


async def main():
    binary = os.path.abspath(sys.argv[1])
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 180
    outlet = serve(Outlet)
    callbacks = [serve(Failing) for _ in range(3)]
    port = free_port()
    work = tempfile.mkdtemp()
    config = os.path.join(work, "feedmerge.toml")
    with open(config, "w") as f:
        f.write(
            f"""[feed]
title = "Under attack"
base_url = "http://127.0.0.1:{port}/"
[server]
listen = "127.0.0.1:{port}"
[storage]
database = "feedmerge.db"
[poll]
schedule = "*/10 * * * * *"
[websub]
hub = true
allow_private_callbacks = true
[[sources]]
name = "Outlet"
url = "http://127.0.0.1:{outlet}/feed.rss"
"""
        )
    daemon = subprocess.Popen(
        [binary, "run", "--config", config],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "RUST_LOG": "error"},
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        if probe(f"{base}/healthz")[1]:
            break
        time.sleep(0.1)
    for cb in callbacks:
        form = urllib.parse.urlencode(
            {
                "hub.mode": "subscribe",
                "hub.topic": f"{base}/feed.atom",
                "hub.callback": f"http://127.0.0.1:{cb}/callback",
            }
        ).encode()
        urllib.request.urlopen(urllib.request.Request(f"{base}/websub", data=form), timeout=10)
    stop = asyncio.Event()
    attackers = [asyncio.create_task(slow_client(port, stop)) for _ in range(SLOW)]
    health, feed, peak = [], [], 0.0
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        health.append(await loop.run_in_executor(None, probe, f"{base}/healthz"))
        feed.append(await loop.run_in_executor(None, probe, f"{base}/feed.atom"))
        peak = max(peak, rss_mib(daemon.pid)[1])
        await asyncio.sleep(1)
    metrics = urllib.request.urlopen(f"{base}/metrics", timeout=10).read().decode()
    hub = [l for l in metrics.splitlines() if l.startswith("feedmerge_hub_")]
    asked = time.monotonic()
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=30)
    stopped = time.monotonic() - asked
    stop.set()
    for a in attackers:
        a.cancel()
    print(f"{seconds} s under attack: {SLOW} slow bodies from 127.0.0.2, 3 failing readers, a change every 10 s")
    print("| probe | asked | p50 | p99 | worst | failed |")
    print("|---|---|---|---|---|---|")
    print(summary("/healthz", health))
    print(summary("/feed.atom", feed))
    print(f"peak resident memory: {peak:.0f} MiB; stopped {stopped:.2f} s after SIGTERM")
    print("\n".join(hub))


if __name__ == "__main__":
    asyncio.run(main())
