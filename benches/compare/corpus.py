"""A deterministic corpus of N news feeds for benches/compare.sh.

    python3 benches/compare/corpus.py N DIR

Writes DIR/f00000.xml ... : feed i is RSS 2.0 (i % 4 == 0), Atom 1.0 (1), RSS 1.0 / RDF (2) or
JSON Feed 1.1 (3), of ITEMS items each. Items look like news: a headline, a summary, and a
body of 1 to 9 paragraphs with links, emphasis, images, figures, quotes, lists, entities and
the odd script tag (which a reader must strip), so feeds are 25 to 70 KB, as real outlets'
are. The same N always gives the same bytes (a seeded generator; no clock).
"""

import json
import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from xml.sax.saxutils import escape

ITEMS = 20
BASE = datetime(2026, 11, 1, tzinfo=timezone.utc)
SYLLABLES = "ka to ri an el mo su ve lin dor pa ne qui ber sa ul tem ro fi gra ho ex ta mi".split()


def vocabulary():
    rng = random.Random(7)
    words = []
    for i in range(20000):
        n = 1 + min(i, 3) + rng.randrange(2)
        words.append("".join(rng.choice(SYLLABLES) for _ in range(n)))
    # Zipf-like weights: common words recur, as in real text.
    cumulative, total = [], 0.0
    for rank in range(len(words)):
        total += 1.0 / (rank + 1)
        cumulative.append(total)
    return words, cumulative


WORDS, CUMULATIVE = vocabulary()


def sentence(rng, n):
    words = rng.choices(WORDS, cum_weights=CUMULATIVE, k=n)
    return " ".join(words).capitalize()


def paragraph(rng, i, j, k):
    s = " ".join(sentence(rng, rng.randrange(8, 20)) + "." for _ in range(rng.randrange(2, 5)))
    kind = rng.randrange(10)
    if kind == 0:
        return f'<p>{s} <a href="https://outlet{i}.example/topics/{k}">Read the background</a>.</p>'
    if kind == 1:
        return (f'<figure><img src="https://cdn.outlet{i}.example/img/{j}-{k}.jpg" '
                f'alt="{escape(sentence(rng, 5))}" width="800" height="450">'
                f"<figcaption>{escape(sentence(rng, 7))} &copy; Agency</figcaption></figure>")
    if kind == 2:
        return f"<blockquote><p>&ldquo;{s}&rdquo; &mdash; a spokesperson said.</p></blockquote>"
    if kind == 3:
        items = "".join(f"<li>{sentence(rng, 6)}</li>" for _ in range(rng.randrange(2, 5)))
        return f"<ul>{items}</ul>"
    if kind == 4:
        return f"<p><em>{s}</em> It&#8217;s <strong>not</strong> over.</p><script>track({i},{j})</script>"
    return f"<p>{s}</p>"


def item(i, j):
    rng = random.Random(i * 1000 + j)
    title = sentence(rng, rng.randrange(6, 13))
    body = "".join(paragraph(rng, i, j, k) for k in range(rng.randrange(1, 3 + i % 8)))
    summary = sentence(rng, rng.randrange(20, 40)) + "."
    date = BASE - timedelta(minutes=37 * j + i % 600)
    return {
        "title": title,
        "link": f"https://outlet{i}.example/news/2026/11/{j}/story-{i}-{j}.html?utm_source=rss",
        "guid": f"https://outlet{i}.example/?p={i * 100 + j}",
        "summary": summary,
        "body": body,
        "author": f"{sentence(rng, 2)} Reporter",
        "categories": [sentence(rng, 1), sentence(rng, 2)],
        "date": date,
    }


def rss2(i, items):
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
           'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
           'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">'
           f"<channel><title>Outlet {i}</title><link>https://outlet{i}.example/</link>"
           f"<description>News from outlet {i}</description><language>en</language>"]
    for it in items:
        cats = "".join(f"<category>{escape(c)}</category>" for c in it["categories"])
        out.append(
            f"<item><title>{escape(it['title'])}</title><link>{escape(it['link'])}</link>"
            f"<guid isPermaLink=\"false\">{escape(it['guid'])}</guid>"
            f"<pubDate>{it['date'].strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>"
            f"<dc:creator>{escape(it['author'])}</dc:creator>{cats}"
            f"<description>{escape(it['summary'])}</description>"
            f"<content:encoded><![CDATA[{it['body']}]]></content:encoded></item>")
    out.append("</channel></rss>\n")
    return "".join(out)


def atom(i, items):
    out = ['<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
           f"<title>Outlet {i}</title><id>https://outlet{i}.example/</id>"
           f'<link rel="alternate" href="https://outlet{i}.example/"/>'
           f"<updated>{items[0]['date'].isoformat()}</updated>"]
    for it in items:
        cats = "".join(f'<category term="{escape(c)}"/>' for c in it["categories"])
        out.append(
            f"<entry><title>{escape(it['title'])}</title>"
            f'<link rel="alternate" href="{escape(it["link"])}"/><id>{escape(it["guid"])}</id>'
            f"<published>{it['date'].isoformat()}</published><updated>{it['date'].isoformat()}</updated>"
            f"<author><name>{escape(it['author'])}</name></author>{cats}"
            f"<summary>{escape(it['summary'])}</summary>"
            f'<content type="html">{escape(it["body"])}</content></entry>')
    out.append("</feed>\n")
    return "".join(out)


def rdf(i, items):
    seq = "".join(f'<rdf:li rdf:resource="{escape(it["link"])}"/>' for it in items)
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n<rdf:RDF '
           'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" '
           'xmlns:dc="http://purl.org/dc/elements/1.1/" '
           'xmlns:content="http://purl.org/rss/1.0/modules/content/">'
           f'<channel rdf:about="https://outlet{i}.example/feed.rdf"><title>Outlet {i}</title>'
           f"<link>https://outlet{i}.example/</link><description>News from outlet {i}</description>"
           f"<items><rdf:Seq>{seq}</rdf:Seq></items></channel>"]
    for it in items:
        out.append(
            f'<item rdf:about="{escape(it["link"])}"><title>{escape(it["title"])}</title>'
            f"<link>{escape(it['link'])}</link><dc:date>{it['date'].isoformat()}</dc:date>"
            f"<dc:creator>{escape(it['author'])}</dc:creator>"
            f"<dc:subject>{escape(it['categories'][0])}</dc:subject>"
            f"<description>{escape(it['summary'])}</description>"
            f"<content:encoded><![CDATA[{it['body']}]]></content:encoded></item>")
    out.append("</rdf:RDF>\n")
    return "".join(out)


def jsonfeed(i, items):
    return json.dumps({
        "version": "https://jsonfeed.org/version/1.1",
        "title": f"Outlet {i}",
        "home_page_url": f"https://outlet{i}.example/",
        "feed_url": f"https://outlet{i}.example/feed.json",
        "items": [{
            "id": it["guid"],
            "url": it["link"],
            "title": it["title"],
            "summary": it["summary"],
            "content_html": it["body"],
            "date_published": it["date"].isoformat(),
            "authors": [{"name": it["author"]}],
            "tags": it["categories"],
        } for it in items],
    }, ensure_ascii=False, indent=1)


FORMATS = [("xml", rss2), ("atom", atom), ("rdf", rdf), ("json", jsonfeed)]


def main():
    n, out = int(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    total = 0
    for i in range(n):
        ext, render = FORMATS[i % len(FORMATS)]
        body = render(i, [item(i, j) for j in range(ITEMS)]).encode()
        (out / f"f{i:05d}.{ext}").write_bytes(body)
        total += len(body)
    # What each contender could store at most, as real.py writes it.
    (out / "entries.txt").write_text(f"{n * ITEMS}\n")
    print(f"{n} feeds, {n * ITEMS} items, {total / 1e6:.1f} MB in {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
