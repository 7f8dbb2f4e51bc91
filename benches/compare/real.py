"""A corpus of N feeds made from real captures, for benches/compare.sh.

    python benches/compare/real.py CAPTURES N DIR

Takes every RSS 2.0 and Atom 1.0 file under CAPTURES (recursively) that feedparser reads
without complaint (not bozo), that has at least 5 entries and is under 400 kB; sorted by
path, they are copied in turn until there are N: DIR/f00000.xml (RSS) or .atom ... Each copy's entry links
and ids are made its own (`c=K` added to a URL's query, `-cK` to any other id), so that no
contender sees copy K of a feed as copy J's; the text is left as it is, so a contender that
recognises the same story under several links (feedmerge does) still has that work to do.

Writes DIR/entries.txt: the entries feedparser finds in the N files, what each contender
could store at most.
"""

import re
import sys
from pathlib import Path

import feedparser

MAX_BYTES = 400_000
MIN_ENTRIES = 5

# A URL or id in the places feeds keep them: RSS <link>, <guid>, Atom <id>, and href="".
ELEMENT = re.compile(rb"(<(link|guid|id)\b[^>/]*>)(\s*(?:<!\[CDATA\[)?)(.*?)((?:\]\]>)?\s*</\2>)",
                     re.S)
HREF = re.compile(rb'(<link\b[^>]*?\bhref=)(["\'])(.*?)(\2)', re.S)


def own(value, k):
    """`value` (a URL or an id, as written in XML) made copy k's."""
    if re.match(rb"https?://", value):
        head, hash_, fragment = value.partition(b"#")
        sep = b"&amp;" if b"?" in head else b"?"
        return head + sep + b"c=%d" % k + hash_ + fragment
    return value + b"-c%d" % k


def copy(body, k):
    body = ELEMENT.sub(lambda m: m[1] + m[3] + own(m[4], k) + m[5], body)
    return HREF.sub(lambda m: m[1] + m[2] + own(m[3], k) + m[4], body)


def chosen(captures):
    for path in sorted(p for p in Path(captures).rglob("*") if p.is_file()):
        body = path.read_bytes()
        if len(body) >= MAX_BYTES:
            continue
        parsed = feedparser.parse(body)
        if parsed.bozo or parsed.version not in ("rss20", "atom10"):
            continue
        if len(parsed.entries) >= MIN_ENTRIES:
            yield body, len(parsed.entries), "atom" if parsed.version == "atom10" else "xml"


def main():
    captures, n, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    files = list(chosen(captures))
    if not files:
        sys.exit(f"no RSS 2.0 or Atom 1.0 capture with {MIN_ENTRIES}+ entries in {captures}")
    out.mkdir(parents=True, exist_ok=True)
    total = entries = 0
    for i in range(n):
        body, count, ext = files[i % len(files)]
        body = copy(body, i // len(files))
        (out / f"f{i:05d}.{ext}").write_bytes(body)
        total += len(body)
        entries += count
    (out / "entries.txt").write_text(f"{entries}\n")
    print(f"{n} feeds from {len(files)} real captures, {entries} entries, "
          f"{total / 1e6:.1f} MB in {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
