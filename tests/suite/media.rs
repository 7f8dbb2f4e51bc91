//! What an outlet's feed brings besides text reaches the merged feed's readers: files
//! (enclosures, with type, length and duration), the picture, and the byline — from real
//! captures (`tests/fixtures/media/`: the BBC's Media RSS thumbnails, the Giant Bomb iTunes
//! podcast, a TypePad Atom feed with enclosure links, a JSON Feed podcast), read back from all
//! three formats as `feedmerge run` serves them. Also: a story whose published version has no
//! picture shows another version's.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::{
    fixture, free_port, health_until, ConfigBuilder, Daemon, FeedServer, Resource, Setup, NEVER,
};

/// A file as a feed lists it: URL, media type, length (none if not given).
type File = (String, String, Option<u64>);
/// A picture: URL, width, height.
type Picture = (String, Option<u32>, Option<u32>);

/// What one entry of a served feed carries.
#[derive(Debug, PartialEq)]
struct Carried {
    files: Vec<File>,
    picture: Option<Picture>,
    authors: Vec<String>,
}

fn file(url: &str, kind: &str, length: Option<u64>) -> File {
    (url.to_owned(), kind.to_owned(), length)
}

/// Every entry of an Atom feed by title, read with the `atom_syndication` reader.
fn from_atom(body: &[u8]) -> BTreeMap<String, Carried> {
    let feed = atom_syndication::Feed::read_from(body).expect("valid Atom");
    feed.entries()
        .iter()
        .map(|e| {
            let files = e
                .links()
                .iter()
                .filter(|l| l.rel() == "enclosure")
                .map(|l| {
                    let length = l.length().map(|n| n.parse().expect("numeric length"));
                    file(l.href(), l.mime_type().expect("typed"), length)
                })
                .collect();
            assert!(
                e.links().iter().any(|l| l.rel() == "alternate"),
                "an alternate link"
            );
            let picture = e.extensions().get("media").and_then(|m| m.get("thumbnail"));
            let picture = picture.and_then(|t| t.first()).map(|t| {
                let attr = |n: &str| t.attrs().get(n).map(|v| v.parse().expect("a number"));
                (t.attrs()["url"].clone(), attr("width"), attr("height"))
            });
            let authors = e.authors().iter().map(|p| p.name().to_owned()).collect();
            let carried = Carried {
                files,
                picture,
                authors,
            };
            (e.title().value.clone(), carried)
        })
        .collect()
}

/// Every item of an RSS channel by title, read with the `rss` reader: `<enclosure>` first,
/// then the other files from `media:content`.
fn from_rss(body: &[u8]) -> BTreeMap<String, Carried> {
    let channel = rss::Channel::read_from(body).expect("valid RSS");
    channel
        .items()
        .iter()
        .map(|i| {
            let media = i.extensions().get("media");
            let mut files: Vec<File> = i
                .enclosure()
                .map(|e| {
                    let length = e.length().parse().expect("numeric length");
                    file(e.url(), e.mime_type(), Some(length).filter(|l| *l > 0))
                })
                .into_iter()
                .collect();
            for c in media.and_then(|m| m.get("content")).into_iter().flatten() {
                let length = c.attrs().get("fileSize").map(|l| l.parse().unwrap());
                files.push(file(&c.attrs()["url"], &c.attrs()["type"], length));
            }
            let picture = media
                .and_then(|m| m.get("thumbnail"))
                .and_then(|t| t.first());
            let picture = picture.map(|t| {
                let attr = |n: &str| t.attrs().get(n).map(|v| v.parse().expect("a number"));
                (t.attrs()["url"].clone(), attr("width"), attr("height"))
            });
            let authors = i
                .dublin_core_ext()
                .map(|dc| dc.creators().to_vec())
                .unwrap_or_default();
            assert!(i.link().is_some(), "a link");
            let carried = Carried {
                files,
                picture,
                authors,
            };
            (i.title().unwrap_or_default().to_owned(), carried)
        })
        .collect()
}

/// Every item of a JSON Feed by title. JSON Feed gives no picture size.
fn from_json(body: &[u8]) -> BTreeMap<String, Carried> {
    let feed: serde_json::Value = serde_json::from_slice(body).expect("valid JSON");
    let items = feed["items"].as_array().expect("items");
    items
        .iter()
        .map(|i| {
            let files = i["attachments"].as_array().into_iter().flatten();
            let files = files
                .map(|a| {
                    let kind = a["mime_type"].as_str().expect("mime_type is required");
                    file(
                        a["url"].as_str().unwrap(),
                        kind,
                        a["size_in_bytes"].as_u64(),
                    )
                })
                .collect();
            let picture = i["image"].as_str().map(|u| (u.to_owned(), None, None));
            let authors = i["authors"].as_array().expect("authors").iter();
            let authors = authors.map(|a| a["name"].as_str().unwrap().to_owned());
            assert!(i["url"].is_string(), "a link");
            let carried = Carried {
                files,
                picture,
                authors: authors.collect(),
            };
            (i["title"].as_str().unwrap().to_owned(), carried)
        })
        .collect()
}

/// Serves `feeds` (path, fixture or body, content type) to a daemon and returns its base URL
/// once it has stored `stories` stories.
async fn serve(
    server: &FeedServer,
    sources: &[(&str, &str)],
    stories: u64,
) -> (String, Daemon, Setup) {
    let port = free_port();
    let mut config = ConfigBuilder::new()
        .serve(port)
        .text("feed", "title", "Media test")
        .set("feed", "max_entries", "500")
        .schedule(NEVER);
    for (name, path) in sources {
        config = config.source(name, &server.url(path));
    }
    let setup = config.setup();
    let daemon = Daemon::start(&setup, "warn");
    let http = reqwest::Client::new();
    let health = health_until(&http, port, Duration::from_secs(20), |h| {
        h["stories"].as_u64() == Some(stories)
    })
    .await;
    assert_eq!(health["stories"].as_u64(), Some(stories), "{health}");
    (format!("http://127.0.0.1:{port}"), daemon, setup)
}

async fn get(url: &str) -> Vec<u8> {
    let r = reqwest::get(url).await.expect(url);
    assert_eq!(r.status(), 200, "{url}");
    r.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn real_pictures_audio_and_bylines_reach_every_format() {
    let server = FeedServer::start();
    for (path, name, kind) in [
        ("/bbc.xml", "media/bbc.xml", "application/rss+xml"),
        (
            "/gb.rss",
            "media/giantbomb-podcast.rss",
            "application/rss+xml",
        ),
        (
            "/eo.atom",
            "media/expertopinionent.atom",
            "application/atom+xml",
        ),
        (
            "/record.json",
            "media/therecord-podcast.json",
            "application/feed+json",
        ),
    ] {
        server.put_fixture(path, name, kind);
    }
    // Two files of different kinds: RSS has room for one `<enclosure>`, the audio.
    server.put(
        "/two.rss",
        Resource::new(
            br#"<?xml version="1.0"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>Two</title>
<link>https://two.example/</link><description>d</description>
<item><title>Show notes and audio</title><link>https://two.example/1</link><guid>t1</guid>
<description>Episode one of the council meeting recordings, with the minutes.</description>
<enclosure url="/files/minutes.pdf" length="2048" type="application/pdf"/>
<enclosure url="https://cdn.two.example/ep1.mp3" length="5000000" type="audio/mpeg"/>
<enclosure url="javascript:alert(1)" length="1" type="audio/mpeg"/>
<enclosure url="data:audio/mpeg;base64,AAAA" length="3" type="audio/mpeg"/>
<media:thumbnail url="https://cdn.two.example/ep1.jpg?w=640&amp;h=360" width="640" height="360"/>
<enclosure url="https://intranet/ep1.wav" length="9" type="audio/wav"/>
</item></channel></rss>"#
                .to_vec(),
            "application/rss+xml",
        ),
    );
    let sources = [
        ("BBC", "/bbc.xml"),
        ("Giant Bomb", "/gb.rss"),
        ("Expert Opinion", "/eo.atom"),
        ("The Record", "/record.json"),
        ("Two", "/two.rss"),
    ];
    let (base, _daemon, _setup) = serve(&server, &sources, 38 + 12 + 43 + 1 + 1).await;

    let mp3 = "https://dts.podtrac.com/redirect.mp3/www.giantbomb.com/podcasts/download/2823/\
               603__Call_of_Tuesday-10-01-2019-6277737276.mp3";
    let expected = [
        (
            "Brexit: Theresa May rejects calls to resign",
            Carried {
                files: vec![],
                picture: Some((
                    "http://c.files.bbci.co.uk/1452C/production/_106844238_theresa_may_hoc_8th_may.jpg".into(),
                    Some(976),
                    Some(549),
                )),
                // The BBC names no author: the outlet is the byline.
                authors: vec!["BBC".into()],
            },
        ),
        (
            "Giant Bombcast 603: Call of Tuesday",
            Carried {
                // `media:content` and `<enclosure>` name the same file: it is listed once.
                files: vec![file(mp3, "audio/mpeg", Some(105_003_355))],
                picture: Some((
                    "https://giantbomb1.cbsistatic.com/uploads/original/0/30/3132120-mspac-marquee-full.jpg?20191008".into(),
                    None,
                    None,
                )),
                authors: vec!["Giant Bomb".into()],
            },
        ),
        (
            "Advances and Testing in Vestibular Pathology",
            Carried {
                // Listed three times in the entry: once here.
                files: vec![file(
                    "https://ia601702.us.archive.org/23/items/ENTExpertOpinion/DavePothier-EeoPodcast.mp3",
                    "audio/mpeg",
                    None,
                )],
                picture: None,
                authors: vec!["ENTexpertopinion".into()],
            },
        ),
        (
            "Special #1 - Chris Parrish",
            Carried {
                files: vec![file(
                    "http://therecord.co/downloads/The-Record-sp1e1-ChrisParrish.m4a",
                    "audio/x-m4a",
                    Some(89_970_236),
                )],
                picture: None,
                authors: vec!["The Record".into()],
            },
        ),
        (
            "Show notes and audio",
            Carried {
                files: vec![
                    file("https://two.example/files/minutes.pdf", "application/pdf", Some(2048)),
                    file("https://cdn.two.example/ep1.mp3", "audio/mpeg", Some(5_000_000)),
                ],
                picture: Some((
                    "https://cdn.two.example/ep1.jpg?w=640&h=360".into(),
                    Some(640),
                    Some(360),
                )),
                authors: vec!["Two".into()],
            },
        ),
    ];
    let atom = from_atom(&get(&format!("{base}/feed.atom")).await);
    let rss = from_rss(&get(&format!("{base}/feed.rss")).await);
    let json = from_json(&get(&format!("{base}/feed.json")).await);
    for (format, entries) in [("Atom", &atom), ("RSS", &rss), ("JSON Feed", &json)] {
        assert_eq!(entries.len(), 95, "{format}: every entry");
        for (title, want) in &expected {
            let got = entries
                .get(*title)
                .unwrap_or_else(|| panic!("{format}: no entry {title:?}"));
            let mut want_files = want.files.clone();
            let mut got_files = got.files.clone();
            if format == "RSS" {
                // The audio in `<enclosure>`, the rest after it.
                let audio = want_files.iter().find(|f| f.1.starts_with("audio/"));
                assert_eq!(got_files.first(), audio, "{format}: enclosure of {title:?}");
                want_files.sort();
                got_files.sort();
            }
            assert_eq!(got_files, want_files, "{format}: files of {title:?}");
            let want_picture = match format {
                "JSON Feed" => want.picture.as_ref().map(|p| (p.0.clone(), None, None)),
                _ => want.picture.clone(),
            };
            assert_eq!(got.picture, want_picture, "{format}: picture of {title:?}");
            assert_eq!(got.authors, want.authors, "{format}: byline of {title:?}");
        }
        // Every BBC item had a thumbnail; every Giant Bomb episode its audio.
        let bbc = fixture("media/bbc.xml");
        let bbc = String::from_utf8_lossy(&bbc);
        let with_picture = entries.values().filter(|c| c.picture.is_some()).count();
        assert!(
            with_picture >= bbc.matches("<media:thumbnail").count() + 12,
            "{format}: {with_picture} pictures"
        );
    }
    // The episode's length in time, where JSON Feed has room for it.
    let feed: serde_json::Value =
        serde_json::from_slice(&get(&format!("{base}/feed.json")).await).unwrap();
    let durations: BTreeMap<&str, u64> = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| {
            Some((
                i["title"].as_str()?,
                i["attachments"][0]["duration_in_seconds"].as_u64()?,
            ))
        })
        .collect();
    assert_eq!(
        durations.get("Giant Bombcast 603: Call of Tuesday"),
        Some(&10_475)
    );
    assert_eq!(durations.get("Special #1 - Chris Parrish"), Some(&6_629));
}

#[tokio::test]
async fn a_story_without_a_picture_shows_another_versions() {
    let text = "The harbour authority closed the northern quay on Tuesday after inspectors \
                found cracks in the sea wall, diverting ferries to the southern terminal \
                for at least three weeks while engineers assess the damage.";
    let feed = |outlet: &str, date: &str, extra: &str| {
        format!(
            r#"<?xml version="1.0"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>{outlet}</title>
<link>https://{outlet}.example/</link><description>d</description>
<item><title>Quay closed</title><link>https://{outlet}.example/quay</link>
<pubDate>{date}</pubDate><description>{text}</description>{extra}</item>
</channel></rss>"#
        )
        .into_bytes()
    };
    let server = FeedServer::start();
    // The first to publish has no picture; the re-run has one.
    server.put(
        "/first.rss",
        Resource::new(
            feed("first", "Tue, 02 Jun 2026 08:00:00 GMT", ""),
            "application/rss+xml",
        ),
    );
    server.put(
        "/rerun.rss",
        Resource::new(
            feed(
                "rerun",
                "Tue, 02 Jun 2026 09:30:00 GMT",
                r#"<media:thumbnail url="https://rerun.example/quay.jpg" width="800" height="450"/>"#,
            ),
            "application/rss+xml",
        ),
    );
    let (base, _daemon, _setup) = serve(
        &server,
        &[("First", "/first.rss"), ("Rerun", "/rerun.rss")],
        1,
    )
    .await;
    let atom = from_atom(&get(&format!("{base}/feed.atom")).await);
    assert_eq!(atom.len(), 1, "one story: {atom:?}");
    let quay = &atom["Quay closed"];
    assert_eq!(
        quay.picture,
        Some((
            "https://rerun.example/quay.jpg".into(),
            Some(800),
            Some(450)
        ))
    );
    assert_eq!(
        quay.authors,
        vec!["First".to_owned()],
        "the published version's outlet"
    );
}

/// Picture and file addresses on non-public hosts — the cloud's metadata service, this
/// machine, a router's reboot page, the private ranges, and IPv4 written in hex or as one
/// number — are not published (each reader's software would reach into its own network)
/// unless the source is allowed private addresses; credentials in an address are dropped.
/// Pictures and links in an entry's text to such addresses go too.
#[test]
fn media_on_non_public_hosts_is_dropped_and_credentials_stripped() {
    let hostile = [
        "http://169.254.169.254/latest/meta-data/a.jpg",
        "http://127.0.0.1:8080/b.jpg",
        "http://192.168.0.1/reboot.cgi?c.jpg",
        "http://10.1.2.3/d.jpg",
        "http://172.16.0.9/e.jpg",
        "http://0xa9fea9fe/f.jpg",
        "http://2852039166/g.jpg",
        "http://[::1]/h.jpg",
    ];
    let mut items = String::new();
    for (i, url) in hostile.iter().enumerate() {
        items.push_str(&format!(
            "<item><guid>h{i}</guid><title>Hostile picture number {i}</title>\
             <description>Story {i} of its own, told in words no other shares: {i}{i}{i}.</description>\
             <enclosure url=\"{url}\" type=\"audio/mpeg\" length=\"1\"/>\
             <media:thumbnail url=\"{url}\" width=\"600\" height=\"400\"/></item>"
        ));
    }
    items.push_str(
        "<item><guid>inline</guid><title>Pictures in the text</title><description><![CDATA[\
         <p>Text <img src=\"http://192.168.0.1/reboot.cgi\"> and <a href=\"http://169.254.169.254/latest/\">a link</a>, \
         beside <img src=\"https://img.example.com/fine.jpg\"> and <a href=\"https://example.com/\">one</a>.</p>\
         ]]></description></item>",
    );
    items.push_str(
        "<item><guid>ok</guid><title>The public one</title><description>Nothing hostile.</description>\
         <enclosure url=\"https://user:secret@cdn.example.com/show.mp3\" type=\"audio/mpeg\" length=\"9\"/>\
         <media:thumbnail url=\"https://user:secret@img.example.com/p.jpg\" width=\"600\" height=\"400\"/></item>",
    );
    let feed = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\" xmlns:media=\"http://search.yahoo.com/mrss/\">\
         <channel><title>O</title>{items}</channel></rss>"
    );
    let server = FeedServer::start();
    server.put(
        "/feed.rss",
        Resource::new(feed.into_bytes(), "application/rss+xml"),
    );
    let exported = |allow_private: bool| {
        let setup = ConfigBuilder::new()
            .schedule(NEVER)
            .source_with(
                "Outlet",
                &server.url("/feed.rss"),
                &format!("allow_private = {allow_private}"),
            )
            .setup();
        assert!(setup.feedmerge(&["fetch"]).status.success());
        let out = setup.feedmerge(&["export", "--format", "json"]);
        let feed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON Feed");
        feed["items"].as_array().expect("items").clone()
    };
    let items = exported(false);
    assert_eq!(items.len(), hostile.len() + 2);
    let inline = items
        .iter()
        .find(|i| i["title"] == "Pictures in the text")
        .unwrap();
    let html = inline["content_html"].as_str().unwrap();
    assert!(
        !html.contains("192.168.0.1") && !html.contains("169.254.169.254"),
        "{html}"
    );
    assert!(
        html.contains("https://img.example.com/fine.jpg") && html.contains("https://example.com/"),
        "{html}"
    );
    for item in items
        .iter()
        .filter(|i| i["title"].as_str().unwrap().starts_with("Hostile"))
    {
        assert!(item.get("attachments").is_none(), "{item}");
        assert!(item.get("image").is_none(), "{item}");
    }
    let public = items
        .iter()
        .find(|i| i["title"] == "The public one")
        .unwrap();
    assert_eq!(
        public["attachments"][0]["url"],
        "https://cdn.example.com/show.mp3"
    );
    assert_eq!(public["image"], "https://img.example.com/p.jpg");
    // A source allowed private addresses keeps them: its readers share its network.
    let kept = exported(true);
    // (All but `[::1]`: an IPv6 literal is never published, as before.)
    let pictured = kept
        .iter()
        .filter(|i| i["title"] != "Pictures in the text" && i.get("image").is_some())
        .count();
    assert_eq!(pictured, hostile.len());
}
