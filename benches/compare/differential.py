"""feedmerge against Python's feedparser, entry by entry and field by field.

    python benches/compare/differential.py --feedmerge BIN [--jobs N] [--show N]
        [--min-field SHARE] [--min-all SHARE] [--json FILE] PATH...

Each feed file under the PATHs (recursively; JSON Feeds, which feedparser does not read, and
files feedparser finds no entry in are left out) is fed alone to feedmerge: served from a
local HTTP server on 127.0.0.1, polled once by `feedmerge fetch` into a database of its own,
and read back from the merged feed (`feedmerge export atom`). feedparser reads the original
bytes and the merged feed; the two readings are compared entry by entry, so what feedparser
does to any feed (its own sanitising, its own date reading) is done to both sides and what
differs is what feedmerge lost or changed. An entry in which feedparser reads nothing (no
title, link, id, text, date or file: an empty `<item/>`) is no entry, and is not counted.

For every entry of an original, each field agrees or not:
- entries: the entry is in the merged feed (matched by link and title, else title, else link,
  else its first enclosure);
- title: the same plain text (markup removed, whitespace collapsed; an untitled original
  agrees with any title, as feedmerge titles every entry);
- link: the same address as one the original names as its page: its link, FeedBurner's
  origLink, or another alternate link (feedparser's `link` is the last alternate it met, so
  an Atom `<link>` to a related article after an RSS item's `<link>` takes its place); an
  original without a link agrees with feedmerge's page for the story;
- date: the same instant, to the second (an undated original agrees with any date: feedmerge
  dates an entry when first seen; a date in the future agrees with the time it was seen);
- author: the original's name (or address, if it names none) is among the entry's authors
  (an original without one agrees with any);
- body: the same words (markup removed, nine in ten at least) as one of the texts feedparser
  reads for the original entry: its summary or any of its contents (feedparser files an
  item's `media:description`, a picture's caption, among its contents, ahead of
  `content:encoded`; feedmerge's body is its content, else its summary).
"all fields" is every field of every entry together: the agreeing (entry, field) pairs out of
six per entry (the measure "96.7% of the fields agree" in the issue that asked for this check).
"whole entries" counts the entries that agree on every field at once; unmatched entries
disagree on all.

Prints the share of agreeing entries per field, then the disagreements (up to --show per
field), and exits 1 if a share is below --min-field or "all fields" below --min-all.
"""

import argparse
import calendar
import html
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import feedparser

FIELDS = ["entries", "title", "link", "date", "author", "body"]
SKIP_SUFFIXES = {".md", ".tsv", ".txt", ".json", ".py", ".toml"}


def files_under(paths):
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(f for f in sorted(p.rglob("*")) if f.is_file())
        else:
            out.append(p)
    return [f for f in out if f.suffix.lower() not in SKIP_SUFFIXES]


class Files(http.server.BaseHTTPRequestHandler):
    """Serves the files by index: /0, /1, ..."""

    bodies = []

    def do_GET(self):
        try:
            body = self.bodies[int(self.path.strip("/"))]
        except (ValueError, IndexError):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def words(markup):
    text = re.sub(r"<[^>]*>", " ", markup or "")
    # Digits apart from letters: feedparser puts a space where it removed a tag (`19<b>本`).
    return re.findall(r"\d+|[^\W\d_]+", html.unescape(text).lower())


def plain(markup):
    return " ".join(html.unescape(re.sub(r"<[^>]*>", " ", markup or "")).split())


def body(entry):
    content = entry.get("content") or []
    text = content[0].get("value") if content else None
    return text or entry.get("summary") or ""


def bodies(entry):
    """Every text feedparser reads for `entry`: its contents, then its summary."""
    texts = [c.get("value") for c in entry.get("content") or []]
    return [t for t in texts + [entry.get("summary")] if t]


def when(entry):
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    return calendar.timegm(parsed) if parsed else None


def authors(entry):
    names = []
    for a in entry.get("authors") or []:
        names.append(a.get("name") or a.get("email") or "")
    if not names and entry.get("author"):
        names.append(entry["author"])
    return [plain(n).lower() for n in names if plain(n)]


def same_words(a, b):
    wa, wb = Counter(words(a)), Counter(words(b))
    if not wa and not wb:
        return True
    common = sum((wa & wb).values())
    return common >= 0.9 * max(sum(wa.values()), sum(wb.values()))


def enclosure(entry):
    for link in entry.get("links") or []:
        if link.get("rel") == "enclosure" and link.get("href"):
            return link["href"]
    return None


def match(originals, ours):
    """For each original entry, the index of its entry in `ours`, or None. An entry that
    repeats an earlier one's id (or, without one, its title, link and body) is that entry,
    listed twice: it matches what the first matched."""
    used = set()
    keys = [
        lambda e: (e.get("link"), plain(e.get("title"))),
        lambda e: plain(e.get("title")) or None,
        lambda e: e.get("link"),
        enclosure,
        lambda e: " ".join(words(body(e))[:30]) or None,
    ]
    found = [None] * len(originals)
    first = {}
    repeats = {}
    for j, e in enumerate(originals):
        identity = e.get("id") or (e.get("title"), e.get("link"), body(e))
        if identity in first:
            repeats[j] = first[identity]
        else:
            first[identity] = j
    for key in keys:
        index = {}
        for i, e in enumerate(ours):
            if i not in used:
                index.setdefault(key(e), []).append(i)
        for j, e in enumerate(originals):
            if found[j] is not None:
                continue
            k = key(e)
            if k is None or k == (None, "") or not index.get(k):
                continue
            if j in repeats:
                continue
            i = index[k].pop(0)
            used.add(i)
            found[j] = i
    for j, i in repeats.items():
        found[j] = found[i]
    left = [j for j in range(len(originals)) if found[j] is None]
    unused = [i for i in range(len(ours)) if i not in used]
    # What nothing told apart (untitled entries without links or text) is paired in order.
    if len(left) == len(unused):
        for j, i in zip(left, unused):
            found[j] = i
    return found


def page(entry, feed_url):
    """The original's link as feedmerge should read it: made absolute against the feed's
    address; a guid that feedparser took for the link only if it is a web address."""
    link = entry.get("link")
    if not link:
        return None
    if link == entry.get("id") and not re.match(r"https?://", link):
        return None
    return address(urllib.parse.urljoin(feed_url, link.strip()))


def address(link):
    """`link` as a web address, or None: host lower-cased, a root's empty path as `/`."""
    if not link:
        return None
    parts = urllib.parse.urlsplit(link)
    if parts.scheme not in ("http", "https"):
        return None
    return urllib.parse.urlunsplit(
        parts._replace(netloc=parts.netloc.lower(), path=parts.path or "/")
    )


def same_author(name, names):
    """Whether the original's byline `name` is among feedmerge's (the same words, or the
    first's words all in the other's: feedparser keeps `(mailto:` of `Name (mailto:a@b)`)."""
    want = [w for w in re.findall(r"\w+", name) if w != "mailto"]
    for other in names:
        got = re.findall(r"\w+", other)
        if got and (got == want or all(w in want for w in got) or all(w in got for w in want)):
            return True
    return False


def compare(original, ours, seen_at, base, feed_url):
    """Per original entry: {field: (agrees, what)}."""
    found = match(original.entries, ours.entries)
    rows = []
    for j, o in enumerate(original.entries):
        i = found[j]
        if i is None:
            what = f"missing: {plain(o.get('title'))[:60]!r} {o.get('link')}"
            rows.append({f: (False, what) for f in FIELDS})
            continue
        m = ours.entries[i]
        row = {"entries": (True, "")}
        ot, mt = plain(o.get("title")), plain(m.get("title"))
        # feedparser puts a space where it removed a tag (`ft<sup>2</sup>`), feedmerge none.
        same = ot.replace(" ", "") == mt.replace(" ", "")
        row["title"] = (not ot or same, f"{ot[:80]!r} -> {mt[:80]!r}")
        ol, ml = page(o, feed_url), address(m.get("link"))
        pages = {ol, address(o.get("feedburner_origlink"))} | {
            address(urllib.parse.urljoin(feed_url, l.get("href", "")))
            for l in o.get("links") or []
            if l.get("rel") == "alternate"
        }
        row["link"] = (ml in pages if ol else (ml or "").startswith(base), f"{ol} -> {ml}")
        od, md = when(o), when(m)
        ok = od is None or od == md or (od > seen_at and md is not None and md <= od)
        row["date"] = (ok, f"{o.get('published') or o.get('updated')} -> {m.get('published')}")
        oa, ma = authors(o), authors(m)
        row["author"] = (not oa or same_author(oa[0], ma), f"{oa} -> {ma}")
        texts, mb = bodies(o), body(m)
        ok = any(same_words(t, mb) for t in texts) if texts else same_words("", mb)
        ob = texts[0] if texts else ""
        row["body"] = (ok, f"{plain(ob)[:70]!r} -> {plain(mb)[:70]!r}")
        rows.append(row)
    return rows


def through_feedmerge(binary, url, work):
    """The merged feed feedmerge makes of the feed at `url` alone, and when it was fetched."""
    config = work / "feedmerge.toml"
    config.write_text(
        '[storage]\ndatabase = "feedmerge.db"\n'
        '[feed]\nbase_url = "http://127.0.0.1:9/"\nmax_entries = 10000\n'
        '[poll]\nmax_items = 10000\ntimeout = "60s"\n'
        f'[[sources]]\nname = "feed"\nurl = "{url}"\n'
    )
    run = lambda *args: subprocess.run(
        [binary, "--config", str(config), *args], capture_output=True, timeout=300
    )
    seen_at = time.time()
    run("fetch")  # a feed it cannot read is an empty merged feed: every entry is missing
    exported = run("export", "--format", "atom")
    if exported.returncode != 0:
        raise RuntimeError(exported.stderr.decode(errors="replace")[-500:])
    return exported.stdout, seen_at


def empty(entry):
    """Whether feedparser read nothing in `entry`."""
    fields = ("title", "link", "id", "summary", "content", "published", "updated", "links")
    return not any(entry.get(f) for f in fields)


def one(args, index, path, port):
    original = feedparser.parse(Files.bodies[index])
    original.entries = [e for e in original.entries if not empty(e)]
    if not original.entries:
        return path, None
    with tempfile.TemporaryDirectory() as work:
        merged, seen_at = through_feedmerge(
            args.feedmerge, f"http://127.0.0.1:{port}/{index}", Path(work)
        )
    ours = feedparser.parse(merged)
    url = f"http://127.0.0.1:{port}/{index}"
    return path, compare(original, ours, seen_at, "http://127.0.0.1:9/", url)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--feedmerge", required=True)
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    p.add_argument("--show", type=int, default=20)
    p.add_argument("--min-field", type=float)
    p.add_argument("--min-all", type=float)
    p.add_argument("--json", help="write per-field counts to this file")
    p.add_argument("paths", nargs="+")
    args = p.parse_args()
    paths = files_under(args.paths)
    Files.bodies = [f.read_bytes() for f in paths]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    agree, total, shown = Counter(), 0, Counter()
    disagreements = {f: [] for f in FIELDS}
    feeds = 0
    with ThreadPoolExecutor(args.jobs) as pool:
        results = pool.map(lambda ip: one(args, ip[0], ip[1], port), enumerate(paths))
        for path, rows in results:
            if rows is None:
                continue
            feeds += 1
            for n, row in enumerate(rows):
                total += 1
                for field, (ok, what) in row.items():
                    agree[field] += ok
                    if not ok:
                        disagreements[field].append(f"{path} #{n}: {what}")
                agree["whole entries"] += all(ok for ok, _ in row.values())
    server.shutdown()
    print(f"{feeds} feeds, {total} entries (feedparser's reading of each original)")
    print("| field | agree | share |")
    print("|---|---|---|")
    agree["all fields"] = sum(agree[f] for f in FIELDS)
    of = {f: total for f in FIELDS + ["whole entries"]}
    of["all fields"] = total * len(FIELDS)
    for field in FIELDS + ["all fields", "whole entries"]:
        share = agree[field] / of[field] if of[field] else 1.0
        print(f"| {field} | {agree[field]} / {of[field]} | {share:.2%} |")
    for field in FIELDS:
        if disagreements[field]:
            print(f"\n{field}: {len(disagreements[field])} disagree")
            for line in disagreements[field][: args.show]:
                print("  " + line)
    if args.json:
        Path(args.json).write_text(json.dumps({"total": total, "agree": agree}, indent=1))
    shares = {f: (agree[f] / of[f] if of[f] else 1.0) for f in of}
    failed = [f for f in FIELDS if args.min_field and shares[f] < args.min_field]
    if args.min_all and shares["all fields"] < args.min_all:
        failed.append("all fields")
    if failed:
        print(f"\nbelow the bar: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
