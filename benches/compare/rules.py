"""What ten [[rules]] cost a first ingest: `RULES=1 bash benches/compare.sh [N] [RUNS]`.

    python benches/compare/rules.py N RUNS CONCURRENCY WORKDIR FEEDMERGE_BINARY CORPUS

The first-ingest benchmark of run.py (N copies of the real captures, served by nginx on
127.0.0.1, `feedmerge fetch` into a fresh database), run alternately by the same binary on
the same config without rules and with the ten rules below, each applying to every source,
so that every entry of every feed goes through all ten: queries (title, phrase, author, link,
OR), rewrites of headlines and text, element removal. Prints the medians and the ratio.
"""

import sys
from pathlib import Path

from run import HERE, Feedmerge, Server, median, sh

RULES = r'''
[[rules]]
remove = ["div.share-bar", "p.read-more"]

[[rules]]
discard = 'title:sponsor'

[[rules]]
discard = '"sponsored content" OR "paid post"'

[[rules]]
rewrite_title = { pattern = "^(MOCKS|Video|VIDEO): ", replace = "" }

[[rules]]
rewrite_text = { pattern = "(?s)<p>The post .*? appeared first on .*?</p>", replace = "" }

[[rules]]
discard = 'author:"press release"'

[[rules]]
discard = 'link:/sponsored/'

[[rules]]
remove = ["aside", "div.feedflare", "figure.ad"]

[[rules]]
discard = '"casino bonus" OR "crypto giveaway"'

[[rules]]
rewrite_title = { pattern = "\\s+\\|\\s+[^|]+$", replace = "" }
'''


class WithRules(Feedmerge):
    name = "feedmerge, ten rules"

    def __init__(self, binary, urls, c, work):
        super().__init__(binary, urls, c, work)
        self.config = work / "feedmerge-rules.toml"
        self.config.write_text((work / "feedmerge.toml").read_text() + RULES)


def main():
    n, runs, c = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    work, binary, corpus = Path(sys.argv[4]), sys.argv[5], sys.argv[6]
    www = work / "www"
    sh(sys.executable, str(HERE / "real.py"), corpus, str(n), str(www))
    entries = int((www / "entries.txt").read_text())
    server = Server(work, www)
    try:
        feeds = sorted(p.name for p in www.iterdir() if p.name != "entries.txt")
        urls = [f"http://127.0.0.1:{server.port}/{name}" for name in feeds]
        plain, ruled = Feedmerge(binary, urls, c, work), WithRules(binary, urls, c, work)
        check = sh(binary, "-c", str(ruled.config), "check", capture_output=True)
        assert check.returncode == 0, check
        results = {plain.name: [], ruled.name: []}
        # Alternately, so that the machine's drift falls on both alike.
        for _ in range(runs):
            for who in (plain, ruled):
                who.fresh()
                results[who.name].append(who.run())
        stored = {who.name: who.stored() for who in (plain, ruled)}
    finally:
        server.stop()
    print(f"\n{n} copies of the real captures in {corpus}: {entries} entries; concurrency {c}, "
          f"median of {runs} runs\n")
    print("| first ingest | wall | CPU | peak RSS | entries stored |")
    print("|---|---|---|---|---|")
    for name, runs_of in results.items():
        print(f"| {name} | {median(runs_of, 0):.2f} s | {median(runs_of, 1):.2f} s | "
              f"{median(runs_of, 2):.0f} MiB | {stored[name]} |")
    p, r = results[plain.name], results[ruled.name]
    print(f"| ten rules : none | {median(r, 0) / median(p, 0):.3f}x | "
          f"{median(r, 1) / median(p, 1):.3f}x | {median(r, 2) / median(p, 2):.3f}x | |")


if __name__ == "__main__":
    main()
