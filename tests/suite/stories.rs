//! Story clustering measured on the labelled pairs in `tests/fixtures/stories/`, and the
//! stories the CLI stores and exports, on both engines (PostgreSQL when
//! `FEEDMERGE_TEST_POSTGRES` names a database).

use std::collections::BTreeMap;

use feedmerge::Dedup;
use feedmerge::Fingerprint;

struct Pair {
    a: usize,
    b: usize,
    same: bool,
    kind: String,
}

fn load() -> (Vec<Option<Fingerprint>>, Vec<Pair>) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/stories/");
    let articles = std::fs::read_to_string(format!("{dir}articles.jsonl")).unwrap();
    let mut fingerprints = Vec::new();
    for (i, line) in articles.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["id"].as_u64(), Some(i as u64));
        fingerprints.push(Fingerprint::of(
            v["title"].as_str().unwrap(),
            v["html"].as_str().unwrap(),
        ));
    }
    let pairs = std::fs::read_to_string(format!("{dir}pairs.tsv")).unwrap();
    let pairs = pairs
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            Pair {
                a: f[0].parse().unwrap(),
                b: f[1].parse().unwrap(),
                same: f[2] == "same",
                kind: f[3].to_owned(),
            }
        })
        .collect();
    (fingerprints, pairs)
}

#[test]
fn labelled_pairs_meet_precision_and_recall() {
    let threshold = Dedup::default().threshold;
    let (fps, pairs) = load();
    assert!(pairs.len() >= 300, "{} pairs", pairs.len());
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    let mut by_kind: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    let mut mistakes = Vec::new();
    for p in &pairs {
        let said = match (&fps[p.a], &fps[p.b]) {
            (Some(a), Some(b)) => a.same_story(b, threshold),
            _ => false,
        };
        let score = match (&fps[p.a], &fps[p.b]) {
            (Some(a), Some(b)) => a.similarity(b),
            _ => -1.0,
        };
        let bands = match (&fps[p.a], &fps[p.b]) {
            (Some(a), Some(b)) => a.shared_bands(b),
            _ => 0,
        };
        let entry = by_kind.entry(&p.kind).or_default();
        entry.1 += 1;
        if said == p.same {
            entry.0 += 1;
        } else {
            mistakes.push(format!(
                "{} {} {}-{} {score:.2} bands {bands}",
                p.kind, p.same, p.a, p.b
            ));
        }
        match (said, p.same) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fn_ += 1,
            (false, false) => {}
        }
    }
    let precision = f64::from(tp) / f64::from((tp + fp).max(1));
    let recall = f64::from(tp) / f64::from((tp + fn_).max(1));
    println!(
        "threshold {threshold}: precision {precision:.3}, recall {recall:.3} on {} pairs",
        pairs.len()
    );
    for (kind, (right, all)) in &by_kind {
        println!("  {kind:24} {right}/{all}");
    }
    for m in &mistakes {
        println!("  wrong: {m}");
    }
    assert!(precision >= 0.99, "precision {precision:.3} < 0.99");
    assert!(recall >= 0.98, "recall {recall:.3} < 0.98");
}

// ---------------------------------------------------------------------------------------------
// The merged feed: one entry per story, every outlet credited, ids and `updated` stable.

use crate::common::{stdout, ConfigBuilder, Engine, FeedServer, Resource, Setup, NEVER};

crate::on_both_engines!(
    one_entry_per_story_crediting_every_outlet_with_a_stable_id,
    one_feed_listing_a_story_twice_stores_it_once,
    versions_too_far_apart_in_time_are_separate_stories,
    a_preferred_source_represents_the_stories_it_carries,
);

const GT_LINK: &str = "https://www.globaltimes.cn/page/202405/1312466.shtml";
const PARTNER_LINK: &str = "https://partner.example/world/2024/05/16/putin-ukraine-dialogue.html";
const WIRE_LINK: &str = "https://worldwire.example/stories/8812";
const EARLY_LINK: &str = "https://early.example/a/1";

/// The seed article: headline, then paragraphs (the last credits Global Times).
fn seed() -> (String, Vec<String>) {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/seed-article.txt"
    ))
    .unwrap();
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let title = lines.next().unwrap().to_owned();
    (title, lines.map(str::to_owned).collect())
}

/// A digest listing the seed story twice in one feed — a re-run under its own headline
/// first, then the original, published earlier — and another story: one fetch stores the
/// story once, starts it with the first entry, has the second join it and represent it.
async fn one_feed_listing_a_story_twice_stores_it_once(engine: Engine) {
    let (title, paras) = seed();
    let (kyiv_title, kyiv) = handwritten("en-kyiv-strikes");
    let digest = rss(
        "Digest",
        &[
            (
                "digest-rerun",
                "Putin open to talks on Ukraine, Chinese state media report",
                WIRE_LINK,
                "Thu, 16 May 2024 07:00:00 +0000",
                &paras,
            ),
            (
                "digest-original",
                &title,
                GT_LINK,
                "Thu, 16 May 2024 02:00:00 +0000",
                &paras,
            ),
            (
                "digest-kyiv",
                &kyiv_title,
                "https://digest.example/kyiv",
                "Thu, 16 May 2024 03:00:00 +0000",
                &kyiv,
            ),
        ],
    );
    let server = FeedServer::start();
    server.put("/digest.rss", Resource::new(digest, "application/xml"));
    let Some(setup) = ConfigBuilder::new()
        .text("feed", "base_url", "http://news.example/")
        .schedule(NEVER)
        .text("dedup", "window", "3d")
        .source("Digest", &server.url("/digest.rss"))
        .on(engine)
        .await
    else {
        return;
    };
    let out = fetch(&setup, "Digest");
    assert!(
        out.contains("2 new, 0 updated, 0 unchanged, 1 merged"),
        "{out}"
    );
    let entries = atom_entries(&setup);
    assert_eq!(entries.len(), 2, "{:?}", titles(&entries));
    let story = seed_entry(&entries);
    assert_eq!(
        story.title().as_str(),
        title,
        "the earliest version represents it"
    );
    let alternate: Vec<&str> = story
        .links()
        .iter()
        .filter(|l| l.rel() == "alternate")
        .map(|l| l.href())
        .collect();
    assert_eq!(
        alternate,
        [GT_LINK],
        "its own link, not the other version's"
    );
    // One outlet, credited once.
    assert!(related(story).is_empty());
}

/// A handwritten story of `tests/fixtures/stories/handwritten.json`: headline, paragraphs.
fn handwritten(id: &str) -> (String, Vec<String>) {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/stories/handwritten.json"
    ))
    .unwrap();
    let all: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let story = all.iter().find(|s| s["id"] == id).unwrap();
    let paras = story["paras"].as_array().unwrap();
    (
        story["title"].as_str().unwrap().to_owned(),
        paras
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect(),
    )
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn html(paras: &[String]) -> String {
    paras.iter().map(|p| format!("<p>{}</p>", esc(p))).collect()
}

/// An RSS 2.0 feed of (guid, title, link, RFC 2822 date, paragraphs).
fn rss(title: &str, items: &[(&str, &str, &str, &str, &[String])]) -> Vec<u8> {
    let items: String = items
        .iter()
        .map(|(guid, t, link, date, paras)| {
            format!(
                "<item><guid isPermaLink=\"false\">{guid}</guid><title>{}</title><link>{link}</link>\
                 <pubDate>{date}</pubDate><description>{}</description></item>",
                esc(t),
                esc(&html(paras))
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel><title>{title}</title>\
         <link>https://outlet.example/</link><description>{title}</description>{items}</channel></rss>"
    )
    .into_bytes()
}

/// The story's other versions, the way partners re-run it.
struct Versions {
    title: String,
    paras: Vec<String>,
}

impl Versions {
    /// Global Times' own feed: the original, and another Ukraine story of the same day.
    fn global_times(&self, edited: bool) -> Vec<u8> {
        let (kyiv_title, kyiv) = handwritten("en-kyiv-strikes");
        let mut paras = self.paras.clone();
        if edited {
            paras[0].push_str(" (This story has been updated with a correction.)");
        }
        rss(
            "Global Times",
            &[
                (
                    "gt-1312466",
                    &self.title,
                    GT_LINK,
                    "Thu, 16 May 2024 02:00:00 +0000",
                    &paras,
                ),
                (
                    "gt-1312470",
                    &kyiv_title,
                    "https://www.globaltimes.cn/page/202405/1312470.shtml",
                    "Thu, 16 May 2024 03:00:00 +0000",
                    &kyiv,
                ),
            ],
        )
    }

    /// A partner's Atom re-run: its own link (with tracking), a new headline and lead, the
    /// credit line as boilerplate; plus its own story on the same talks, with the same names.
    fn partner(&self) -> Vec<u8> {
        let (lavrov_title, lavrov) = handwritten("en-lavrov-talks");
        let mut paras = vec![
            "Russia is ready to talk about Ukraine if every party's interests are heard, \
             Vladimir Putin told Chinese state media on the eve of his trip to Beijing."
                .to_owned(),
        ];
        paras.extend(self.paras[1..self.paras.len() - 1].iter().cloned());
        paras.push(
            "This article first appeared on Global Times. Republished with permission.".into(),
        );
        let entry = |id: &str, title: &str, link: &str, paras: &[String]| {
            format!(
                "<entry><id>{id}</id><title>{}</title><link rel=\"alternate\" href=\"{}\"/>\
                 <published>2024-05-16T06:30:00Z</published><updated>2024-05-16T06:30:00Z</updated>\
                 <content type=\"html\">{}</content></entry>",
                esc(title),
                esc(link),
                esc(&html(paras))
            )
        };
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><feed xmlns=\"http://www.w3.org/2005/Atom\">\
             <title>Partner Wire</title><id>tag:partner.example,2024:feed</id>\
             <updated>2024-05-16T08:00:00Z</updated>{}{}</feed>",
            entry(
                "tag:partner.example,2024:putin",
                "Putin signals openness to Ukraine talks ahead of China visit",
                &format!("{PARTNER_LINK}?utm_source=rss&utm_medium=feed"),
                &paras
            ),
            entry(
                "tag:partner.example,2024:lavrov",
                &lavrov_title,
                "https://partner.example/world/2024/05/16/lavrov.html",
                &lavrov
            ),
        )
        .into_bytes()
    }

    /// A JSON Feed that carries only the first two paragraphs, as a summary.
    fn worldwire(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "version": "https://jsonfeed.org/version/1.1",
            "title": "Worldwire",
            "items": [{
                "id": "ww-8812",
                "url": WIRE_LINK,
                "title": "Putin open to Ukraine dialogue, praises Beijing's position",
                "summary": self.paras[0],
                "content_html": format!("{}<p>Read more »</p>", html(&self.paras[..2])),
                "date_published": "2024-05-16T07:00:00Z",
            }],
        }))
        .unwrap()
    }

    /// A wire that ran the story an hour before Global Times, under its own headline.
    fn early(&self) -> Vec<u8> {
        rss(
            "Early Wire",
            &[(
                "early-1",
                "Putin: Russia open to dialogue on Ukraine",
                EARLY_LINK,
                "Thu, 16 May 2024 01:00:00 +0000",
                &self.paras,
            )],
        )
    }
}

fn atom_entries(setup: &Setup) -> Vec<atom_syndication::Entry> {
    let out = setup.feedmerge(&["export", "--format", "atom"]);
    assert!(out.status.success(), "{out:?}");
    atom_syndication::Feed::read_from(&out.stdout[..])
        .expect("valid Atom")
        .entries()
        .to_vec()
}

fn seed_entry(entries: &[atom_syndication::Entry]) -> &atom_syndication::Entry {
    let matching: Vec<_> = entries
        .iter()
        .filter(|e| {
            let body = e
                .content()
                .and_then(|c| c.value())
                .or(e.summary().map(|s| s.as_str()));
            body.is_some_and(|c| c.contains("multipolar world order"))
        })
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "one entry for the story: {:#?}",
        titles(entries)
    );
    matching[0]
}

fn titles(entries: &[atom_syndication::Entry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e.title().as_str().to_owned())
        .collect()
}

fn related(entry: &atom_syndication::Entry) -> Vec<String> {
    let mut links: Vec<String> = entry
        .links()
        .iter()
        .filter(|l| l.rel() == "related")
        .map(|l| l.href().to_owned())
        .collect();
    links.sort();
    links
}

fn fetch(setup: &Setup, source: &str) -> String {
    let out = setup.feedmerge(&["fetch", "--source", source]);
    assert!(out.status.success(), "{out:?}");
    stdout(&out)
}

async fn one_entry_per_story_crediting_every_outlet_with_a_stable_id(engine: Engine) {
    let (title, paras) = seed();
    let story = Versions { title, paras };
    let server = FeedServer::start();
    let xml = "application/xml";
    server.put("/gt.rss", Resource::new(story.global_times(false), xml));
    server.put("/partner.atom", Resource::new(story.partner(), xml));
    server.put(
        "/ww.json",
        Resource::new(story.worldwire(), "application/feed+json"),
    );
    server.put("/early.rss", Resource::new(story.early(), xml));
    let Some(setup) = ConfigBuilder::new()
        .text("feed", "base_url", "http://news.example/")
        .schedule(NEVER)
        .set("dedup", "threshold", "0.5")
        .text("dedup", "window", "3d")
        .source("Global Times", &server.url("/gt.rss"))
        .source("Partner Wire", &server.url("/partner.atom"))
        .source("Worldwire", &server.url("/ww.json"))
        .source("Early Wire", &server.url("/early.rss"))
        .on(engine)
        .await
    else {
        return;
    };

    // The original alone: two stories.
    assert!(fetch(&setup, "Global Times").contains("2 new, 0 updated, 0 unchanged, 0 merged"));
    let entries = atom_entries(&setup);
    assert_eq!(entries.len(), 2, "{:?}", titles(&entries));
    let first = seed_entry(&entries).clone();
    assert_eq!(first.source().unwrap().title().as_str(), "Global Times");
    assert!(related(&first).is_empty());

    // The partner's re-run joins the story; its own story on the same talks, with the same
    // names, does not.
    let out = fetch(&setup, "Partner Wire");
    assert!(
        out.contains("1 new, 0 updated, 0 unchanged, 1 merged"),
        "{out}"
    );
    // The truncated copy joins too.
    let out = fetch(&setup, "Worldwire");
    assert!(
        out.contains("0 new, 0 updated, 0 unchanged, 1 merged"),
        "{out}"
    );
    let entries = atom_entries(&setup);
    assert_eq!(entries.len(), 3, "{:?}", titles(&entries));
    let now = seed_entry(&entries);
    assert_eq!(
        now.id(),
        first.id(),
        "the entry id does not change as versions join"
    );
    assert_eq!(now.updated(), first.updated(), "a re-run is not an update");
    assert_eq!(now.title().as_str(), first.title().as_str());
    assert_eq!(now.source().unwrap().title().as_str(), "Global Times");
    assert_eq!(
        related(now),
        [
            format!("{PARTNER_LINK}?utm_source=rss&utm_medium=feed"),
            WIRE_LINK.to_owned()
        ]
    );

    // A version published earlier becomes the representative: its text and its outlet in
    // atom:source, Global Times among the related links; the id and `updated` stay.
    let out = fetch(&setup, "Early Wire");
    assert!(
        out.contains("0 new, 0 updated, 0 unchanged, 1 merged"),
        "{out}"
    );
    let entries = atom_entries(&setup);
    assert_eq!(entries.len(), 3, "{:?}", titles(&entries));
    let now = seed_entry(&entries);
    assert_eq!(now.id(), first.id());
    assert_eq!(now.updated(), first.updated());
    assert_eq!(
        now.title().as_str(),
        "Putin: Russia open to dialogue on Ukraine"
    );
    assert_eq!(now.source().unwrap().title().as_str(), "Early Wire");
    assert_eq!(related(now).len(), 3);
    assert!(related(now).contains(&GT_LINK.to_owned()));

    // An edit by an outlet whose version is not published changes nothing readers see ...
    server.put("/gt.rss", Resource::new(story.global_times(true), xml));
    let out = fetch(&setup, "Global Times");
    assert!(
        out.contains("0 new, 1 updated, 1 unchanged, 0 merged"),
        "{out}"
    );
    let entries = atom_entries(&setup);
    assert_eq!(seed_entry(&entries).updated(), first.updated());

    // ... an edit of the published version moves `updated`, and only that.
    let edited = String::from_utf8(story.early()).unwrap().replace(
        "open to dialogue on Ukraine",
        "open to dialogue on Ukraine, Kremlin says",
    );
    server.put("/early.rss", Resource::new(edited.into_bytes(), xml));
    let out = fetch(&setup, "Early Wire");
    assert!(
        out.contains("0 new, 1 updated, 0 unchanged, 0 merged"),
        "{out}"
    );
    let entries = atom_entries(&setup);
    let now = seed_entry(&entries);
    assert_eq!(now.id(), first.id());
    assert!(
        now.updated() > first.updated(),
        "{} !> {}",
        now.updated(),
        first.updated()
    );

    // RSS lists every outlet's link at the end of the description; JSON Feed in `_feedmerge`.
    let out = setup.feedmerge(&["export", "--format", "rss"]);
    let channel = rss::Channel::read_from(&out.stdout[..]).expect("valid RSS");
    assert_eq!(channel.items().len(), 3);
    let item = channel
        .items()
        .iter()
        .find(|i| i.link() == Some(EARLY_LINK))
        .unwrap();
    let description = item.description().unwrap();
    let credits = &description[description.rfind("<p>Source:").unwrap()..];
    for link in [GT_LINK, PARTNER_LINK, WIRE_LINK, EARLY_LINK] {
        assert!(credits.contains(link), "{link} not in {credits}");
    }
    let out = setup.feedmerge(&["export", "--format", "json"]);
    let feed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = feed["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    let item = items.iter().find(|i| i["url"] == EARLY_LINK).unwrap();
    assert_eq!(item["id"], first.id());
    assert_eq!(item["_feedmerge"]["source"]["name"], "Early Wire");
    let also: Vec<&str> = item["_feedmerge"]["also"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(also, ["Global Times", "Partner Wire", "Worldwire"]);

    // `feedmerge stories` lists it with its four outlets, and nothing else.
    let out = setup.feedmerge(&["stories", "--since", "100000d"]);
    assert!(out.status.success(), "{out:?}");
    let listing = stdout(&out);
    assert!(
        listing.starts_with("2024-05-16 01:00Z  4 outlets  Putin: Russia open"),
        "{listing}"
    );
    for link in [GT_LINK, WIRE_LINK, EARLY_LINK] {
        assert!(listing.contains(link), "{listing}");
    }
    assert!(
        listing
            .trim_end()
            .ends_with("1 stories carried by more than one outlet since")
            || listing.contains("1 stories carried by more than one outlet since"),
        "{listing}"
    );
    let recent = stdout(&setup.feedmerge(&["stories"]));
    assert!(
        recent.starts_with("no story carried by more than one outlet since"),
        "{recent}"
    );
    setup.assert_intact().await;
}

async fn versions_too_far_apart_in_time_are_separate_stories(engine: Engine) {
    let (title, paras) = seed();
    let story = Versions { title, paras };
    let server = FeedServer::start();
    server.put(
        "/gt.rss",
        Resource::new(story.global_times(false), "application/xml"),
    );
    // The same text a month later: a different week's news, whatever it says.
    let late = String::from_utf8(story.early())
        .unwrap()
        .replace("Thu, 16 May 2024 01:00:00", "Sun, 16 Jun 2024 01:00:00");
    server.put(
        "/late.rss",
        Resource::new(late.into_bytes(), "application/xml"),
    );
    let Some(setup) = ConfigBuilder::new()
        .schedule(NEVER)
        .source("Global Times", &server.url("/gt.rss"))
        .source("Late", &server.url("/late.rss"))
        .on(engine)
        .await
    else {
        return;
    };
    fetch(&setup, "Global Times");
    let out = fetch(&setup, "Late");
    assert!(
        out.contains("1 new, 0 updated, 0 unchanged, 0 merged"),
        "{out}"
    );
    assert_eq!(atom_entries(&setup).len(), 3);
}

/// The seed story's original (Global Times) and the partner's re-run, each served as its
/// outlet's feed, and a config listing both, preferring the sources `prefer` (a TOML list)
/// if given.
async fn original_and_rerun(engine: Engine, prefer: Option<&str>) -> Option<(FeedServer, Setup)> {
    let (title, paras) = seed();
    let story = Versions { title, paras };
    let server = FeedServer::start();
    let xml = "application/xml";
    server.put("/gt.rss", Resource::new(story.global_times(false), xml));
    server.put("/partner.atom", Resource::new(story.partner(), xml));
    let mut config = ConfigBuilder::new().schedule(NEVER);
    if let Some(prefer) = prefer {
        config = config.set("dedup", "prefer", prefer);
    }
    let setup = config
        .source("Global Times", &server.url("/gt.rss"))
        .source("Partner Wire", &server.url("/partner.atom"))
        .on(engine)
        .await?;
    Some((server, setup))
}

async fn a_preferred_source_represents_the_stories_it_carries(engine: Engine) {
    let Some((_server, setup)) = original_and_rerun(engine, Some("[\"partner wire\"]")).await
    else {
        return;
    };
    fetch(&setup, "Global Times");
    let first = seed_entry(&atom_entries(&setup)).clone();
    let out = fetch(&setup, "Partner Wire");
    assert!(
        out.contains("1 new, 0 updated, 0 unchanged, 1 merged"),
        "{out}"
    );
    let entries = atom_entries(&setup);
    let now = seed_entry(&entries);
    // The partner's version, published later than the original, represents the story.
    assert_eq!(now.source().unwrap().title().as_str(), "Partner Wire");
    assert_eq!(
        now.title().as_str(),
        "Putin signals openness to Ukraine talks ahead of China visit"
    );
    assert_eq!(now.id(), first.id());
    assert_eq!(now.updated(), first.updated());
    assert_eq!(related(now), [GT_LINK]);
}

/// A copy that says it was published an hour before the original, under a headline and a
/// link of its own ("URGENT: ..." elsewhere), arriving once the story has been served for an
/// hour: it is credited among the other outlets and takes nothing over; the story keeps its
/// headline, link, id and `updated`. (Arriving while the first polls settle, the earlier
/// version still represents the story: see the test above.)
#[tokio::test]
async fn an_earlier_dated_copy_does_not_take_over_a_served_story() {
    let (title, paras) = seed();
    let story = Versions { title, paras };
    let server = FeedServer::start();
    let xml = "application/xml";
    server.put("/gt.rss", Resource::new(story.global_times(false), xml));
    let phishing = String::from_utf8(story.early()).unwrap().replace(
        "Putin: Russia open to dialogue on Ukraine",
        "URGENT: verify your bank account now",
    );
    server.put("/early.rss", Resource::new(phishing.into_bytes(), xml));
    let setup = ConfigBuilder::new()
        .schedule(NEVER)
        .source("Global Times", &server.url("/gt.rss"))
        .source("Early Wire", &server.url("/early.rss"))
        .setup();
    fetch(&setup, "Global Times");
    let first = seed_entry(&atom_entries(&setup)).clone();
    setup.age_stories(3_600_000).await;
    let out = fetch(&setup, "Early Wire");
    assert!(
        out.contains("0 new, 0 updated, 0 unchanged, 1 merged"),
        "{out}"
    );
    let entries = atom_entries(&setup);
    let now = seed_entry(&entries);
    assert_eq!(now.id(), first.id());
    assert_eq!(now.title().as_str(), first.title().as_str());
    assert_eq!(now.source().unwrap().title().as_str(), "Global Times");
    assert_eq!(now.updated(), first.updated());
    assert_eq!(related(now), [EARLY_LINK]);
}

/// A database written before the story index moved into memory (its band keys in a
/// `story_bands` table) is converted at open, and its stories still take new versions.
#[tokio::test]
async fn a_database_from_before_the_memory_index_still_places_versions() {
    let Some((_server, setup)) = original_and_rerun(Engine::Sqlite, None).await else {
        return;
    };
    fetch(&setup, "Global Times");

    // Back to the schema of migration 5, band keys and all, as an older feedmerge left it.
    let sketches = setup.sketch_bands().await;
    assert_eq!(sketches.len(), 2);
    assert_eq!(setup.downgrade_to_story_bands().await, 2);

    let out = fetch(&setup, "Partner Wire");
    assert!(
        out.contains("1 new, 0 updated, 0 unchanged, 1 merged"),
        "{out}"
    );
    let converted = setup.sketch_bands().await;
    // The same keys (in another order, which means nothing to the index).
    let keys = |bands: &[u8]| {
        let mut keys: Vec<&[u8]> = bands.chunks(8).collect();
        keys.sort();
        keys.concat()
    };
    for (article, bands) in &sketches {
        let after = converted.iter().find(|(a, _)| a == article);
        let after = after.and_then(|(_, b)| b.as_deref()).map(keys);
        assert_eq!(after, bands.as_deref().map(keys), "article {article}");
        assert!(after.is_some(), "article {article}");
    }
    assert_eq!(converted.len(), 4);
    assert!(!setup.has_table("story_bands").await);
}
