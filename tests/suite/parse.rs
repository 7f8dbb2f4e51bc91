//! `parse` and `dedup` on real bytes: every supported format, legacy encodings declared in
//! each way outlets declare them, and the identities given to entries.

use feedmerge::{canonical_link, identify};
use feedmerge::{parse_feed, ParseError, ParsedFeed};
use url::Url;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect(name)
}

fn parse(name: &str, content_type: Option<&str>) -> ParsedFeed {
    let url = Url::parse("https://feeds.example.com/feed.xml").unwrap();
    parse_feed(&fixture(name), content_type, &url).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_format_parses() {
    for (name, entries, a_title) in [
        ("real/rss091.xml", 6, "UK bloggers get organised"),
        (
            "real/rss092.xml",
            22,
            "Kevin Drennan started a Grateful Dead Weblog",
        ), // untitled: titled by their text
        ("real/rss1.xml", 2, "Processing Inclusions with XSLT"),
        (
            "globaltimes.rss",
            3,
            "China's retail sales rise 2.3% in April as consumption recovers",
        ),
        (
            "digest.rdf",
            2,
            "Heatwave warning for the south this weekend",
        ),
        (
            "partner.atom",
            2,
            "Local elections draw record turnout across the region",
        ),
        (
            "atom03.xml",
            1,
            "Parliament passes budget after all-night session",
        ),
        (
            "worldwire.json",
            2,
            "Asian markets edge higher on rate-cut hopes",
        ),
    ] {
        let feed = parse(name, None);
        assert_eq!(feed.articles.len(), entries, "{name}");
        let titles: Vec<&str> = feed.articles.iter().map(|a| a.title.as_str()).collect();
        assert!(
            titles.iter().any(|t| t.contains(a_title)),
            "{name}: {titles:?}"
        );
        assert!(feed.articles.iter().all(|a| !a.title.is_empty()), "{name}");
    }
}

#[test]
fn atom_0_3_dates_and_links_are_read() {
    let feed = parse("atom03.xml", None);
    let a = &feed.articles[0];
    assert_eq!(
        a.published.map(|t| t.to_rfc3339()).as_deref(),
        Some("2024-05-16T09:00:00+00:00")
    );
    assert_eq!(
        a.updated.map(|t| t.to_rfc3339()).as_deref(),
        Some("2024-05-16T09:30:00+00:00")
    );
    assert_eq!(
        a.link.as_deref(),
        Some("https://old-atom.example/2024/05/budget")
    );
    assert_eq!(feed.site_url.as_deref(), Some("https://old-atom.example/"));
}

#[test]
fn windows_1251_with_a_late_declaration_is_decoded_not_a_panic() {
    // feed-rs panics on this file as is: the declaration ends past byte 64.
    // It also declares UserLand's RSS namespace as its default, which hides every element
    // from feed-rs unless dropped.
    let feed = parse("cp1251-late-declaration.xml", Some("application/rss+xml"));
    assert_eq!(feed.articles.len(), 10);
    assert_eq!(
        feed.title.as_deref(),
        Some("Новости Оренбурга и области / Раздел Новости")
    );
    assert!(
        feed.articles[0]
            .title
            .starts_with("В Бузулуке главные стройплощадки"),
        "{}",
        feed.articles[0].title
    );
}

#[test]
fn gb2312_declared_in_the_xml_is_decoded() {
    let feed = parse("real/encoding-gb2312.xml", None);
    assert_eq!(feed.title.as_deref(), Some("互联网"));
    assert_eq!(feed.articles.len(), 1);
    assert!(
        feed.articles[0]
            .title
            .chars()
            .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "{}",
        feed.articles[0].title
    );
}

#[test]
fn charset_only_in_the_http_header_is_used() {
    let bytes = fixture("real/latin2.rss");
    let without_declaration = &bytes[bytes.iter().position(|&b| b == b'\n').unwrap() + 1..];
    let url = Url::parse("http://www.example.pl/rss").unwrap();
    let feed = parse_feed(
        without_declaration,
        Some("text/xml; charset=ISO-8859-2"),
        &url,
    )
    .unwrap();
    assert_eq!(feed.articles[0].title, "ZAŻÓŁĆ GĘSLĄ JAŹŃ");
    // Without the header, these few non-ASCII bytes are too little to guess an encoding
    // from: read as UTF-8, with replacement characters, not an error.
    let feed = parse_feed(without_declaration, Some("text/xml"), &url).unwrap();
    assert!(feed.articles[0].title.contains('\u{fffd}'));
}

#[test]
fn unknown_rss_versions_are_read_as_rss_2() {
    let url = Url::parse("https://example.com/").unwrap();
    for rss in [
        r#"<rss>"#,
        r#"<rss version="2.00">"#,
        r#"<rss version='0.94' xmlns:x="y">"#,
    ] {
        let doc = format!("{rss}<channel><title>T</title><item><title>Hello</title><guid>1</guid></item></channel></rss>");
        let feed = parse_feed(doc.as_bytes(), None, &url).unwrap_or_else(|e| panic!("{rss}: {e}"));
        assert_eq!(feed.articles[0].title, "Hello", "{rss}");
    }
}

#[test]
fn an_atom_feed_inside_an_xhtml_page_is_read() {
    // A real blog's feed (feedjira's sample `DuplicateContentAtomFeed.xml`): its Atom feed
    // inside `<html><body>`, which feedparser reads; every one of its entries is kept.
    let feed = parse("real/atom-in-xhtml.xml", None);
    assert_eq!(feed.title.as_deref(), Some("Avian’s Blog"));
    assert_eq!(feed.articles.len(), 10);
    assert_eq!(feed.articles[0].title, "Down time");
    assert_eq!(feed.articles[1].title, "Kickstarting failure");
    // A page that merely mentions a feed element, outside the Atom namespace, is a page.
    let url = Url::parse("https://example.com/").unwrap();
    let page = b"<html><body><feed><entry><title>x</title></entry></feed></body></html>";
    assert!(matches!(
        parse_feed(page, None, &url),
        Err(ParseError::Html { .. })
    ));
}

#[test]
fn what_is_not_a_feed_gets_a_plain_error() {
    let url = Url::parse("https://example.com/").unwrap();
    let html = b"<!DOCTYPE html>\n<html><head><title>Home</title></head><body>hi</body></html>";
    let e = parse_feed(html, Some("text/html"), &url).unwrap_err();
    assert!(matches!(e, ParseError::Html { .. }));
    assert_eq!(e.to_string(), "this is an HTML page, not a feed");
    assert!(matches!(
        parse_feed(b"  \n", None, &url),
        Err(ParseError::Empty)
    ));
    let e = parse_feed(&fixture("truncated.xml"), None, &url).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("not a readable RSS, Atom or JSON feed"),
        "{e}"
    );
    let e = parse_feed(b"{\"version\": 12}", None, &url).unwrap_err();
    assert!(matches!(e, ParseError::Invalid(_)), "{e}");
}

#[test]
fn entries_without_guid_or_link_get_a_stable_identity() {
    let doc = b"<rss version=\"2.0\"><channel><title>T</title>\
        <item><title>First</title><description>One</description></item>\
        <item><title>Second</title><description>Two</description></item>\
        <item><title>First</title><description>One</description></item>\
        </channel></rss>";
    let url = Url::parse("https://example.com/feed").unwrap();
    let keys = || -> Vec<String> {
        identify(parse_feed(doc, None, &url).unwrap().articles, None)
            .into_iter()
            .map(|k| k.key)
            .collect()
    };
    let first = keys();
    assert_eq!(first.len(), 2, "the repeated entry is dropped: {first:?}");
    assert!(first.iter().all(|k| k.starts_with("hash:")));
    assert_ne!(first[0], first[1]);
    assert_eq!(first, keys(), "the same on every parse");
}

#[test]
fn identity_prefers_guid_then_link() {
    let feed = parse("digest.rdf", None);
    let keyed = identify(feed.articles, None);
    // RSS 1.0 has no guid: the canonical link identifies the entry.
    assert_eq!(
        keyed[0].key,
        "link:https://www.globaltimes.cn/page/202405/1312466.shtml"
    );
    let keyed = identify(parse("globaltimes.rss", None).articles, None);
    assert_eq!(keyed[0].key, "guid:gt-1312466");
    assert_eq!(
        keyed[2].key,
        "link:https://www.globaltimes.cn/page/202405/1312480.shtml"
    );
}

#[test]
fn canonical_links_drop_tracking_only() {
    for (raw, canonical) in [
        (
            "https://www.globaltimes.cn/page/1.shtml?utm_source=x&utm_medium=rss#top",
            "https://www.globaltimes.cn/page/1.shtml",
        ),
        (
            "HTTP://WWW.GlobalTimes.CN:80/page/1.shtml?fbclid=abc&gclid=d",
            "https://www.globaltimes.cn/page/1.shtml",
        ),
        (
            "https://example.com:8443/a?id=7&utm_campaign=z&page=2",
            "https://example.com:8443/a?id=7&page=2",
        ),
        ("https://example.com/a?ID=7", "https://example.com/a?ID=7"),
        ("https://example.com/A/B", "https://example.com/A/B"),
    ] {
        assert_eq!(canonical_link(raw).as_deref(), Some(canonical), "{raw}");
    }
    assert_eq!(canonical_link("mailto:x@example.com"), None);
    assert_eq!(canonical_link("/relative"), None);
}

/// FeedBurner's `~r` redirects, as its feeds carried them (the shapes of TypePad's RSS and
/// Blogger's Atom in the corpus): the page the feed names behind the redirect is the link and
/// the identity; so is an entry's canonical link. No request is made.
#[test]
fn redirecting_links_give_way_to_the_page_the_feed_names() {
    let rss = "<?xml version=\"1.0\"?><rss version=\"2.0\" \
        xmlns:feedburner=\"http://rssnamespace.org/feedburner/ext/1.0\"><channel><title>T</title>\
        <link>http://everything.typepad.com/blog/</link><description>d</description>\
        <item><title>Spotlight: Friday favorites</title>\
        <link>http://feedproxy.google.com/~r/typepad/everything/~3/abc/spotlight-friday-favorites.html</link>\
        <guid isPermaLink=\"false\">tag:typepad.com,2003:post-6a00</guid>\
        <feedburner:origLink>http://everything.typepad.com/blog/2013/02/spotlight-friday-favorites.html?a=1&amp;b=2</feedburner:origLink>\
        </item><item><title>No original given</title>\
        <link>http://feedproxy.google.com/~r/typepad/everything/~3/def/other.html</link></item>\
        </channel></rss>";
    let atom = "<?xml version=\"1.0\"?><feed xmlns=\"http://www.w3.org/2005/Atom\" \
        xmlns:feedburner=\"http://rssnamespace.org/feedburner/ext/1.0\"><title>T</title><id>t</id>\
        <updated>2015-10-05T00:00:00Z</updated>\
        <entry><id>tag:blogger.com,1999:post-1</id><title>Using the API</title>\
        <updated>2015-10-05T00:00:00Z</updated>\
        <link rel=\"self\" type=\"application/atom+xml\" href=\"http://www.blogger.com/feeds/1/posts/default/1\"/>\
        <link rel=\"alternate\" type=\"text/html\" href=\"http://feedproxy.google.com/~r/blogspot/lQlzL/~3/84X/using-the-api.html\"/>\
        <feedburner:origLink>http://googleadsdeveloper.blogspot.com/2015/10/using-the-api.html</feedburner:origLink></entry>\
        <entry><id>e2</id><title>Canonical</title><updated>2015-10-05T00:00:00Z</updated>\
        <link rel=\"alternate\" href=\"https://m.example.com/story/7?utm_source=rss\"/>\
        <link rel=\"canonical\" href=\"/story/7\"/></entry></feed>";
    let base = Url::parse("https://example.com/feed").unwrap();
    let links = |doc: &str| -> Vec<Option<String>> {
        let feed = parse_feed(doc.as_bytes(), None, &base).expect("feed");
        identify(feed.articles, None)
            .into_iter()
            .map(|k| k.canonical_link)
            .collect()
    };
    assert_eq!(
        links(rss),
        [
            Some(
                "https://everything.typepad.com/blog/2013/02/spotlight-friday-favorites.html?a=1&b=2"
                    .to_owned()
            ),
            Some(
                "https://feedproxy.google.com/~r/typepad/everything/~3/def/other.html".to_owned()
            ),
        ]
    );
    assert_eq!(
        links(atom),
        [
            Some("https://googleadsdeveloper.blogspot.com/2015/10/using-the-api.html".to_owned()),
            Some("https://example.com/story/7".to_owned()),
        ]
    );
    let feed = parse_feed(rss.as_bytes(), None, &base).expect("feed");
    assert_eq!(
        feed.articles[0].link.as_deref(),
        Some("http://everything.typepad.com/blog/2013/02/spotlight-friday-favorites.html?a=1&b=2")
    );
}

#[test]
fn rss_0_90_items_are_read() {
    let doc = "<?xml version=\"1.0\"?>\n<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" \
        xmlns=\"http://my.netscape.com/rdf/simple/0.9/\">\
        <channel><title>Mozilla Dot Org</title><link>http://www.mozilla.org</link></channel>\
        <item><title>New Status Updates</title><link>http://www.mozilla.org/status/</link></item>\
        <item><title>Bugzilla Reorganized</title><link>http://www.mozilla.org/bugs/</link></item>\
        </rdf:RDF>";
    let feed = parse_feed(doc.as_bytes(), None, &url()).expect("RSS 0.90");
    let titles: Vec<&str> = feed.articles.iter().map(|a| a.title.as_str()).collect();
    assert_eq!(titles, ["New Status Updates", "Bugzilla Reorganized"]);
}

#[test]
fn a_json_feed_with_tags_as_one_string_is_read_with_the_tags_split() {
    let doc = r#"{"version":"https://jsonfeed.org/version/1","title":"T",
        "items":[{"id":"1","content_text":"Hello","tags":"workflow,omnifocus"}]}"#;
    let feed = parse_feed(doc.as_bytes(), Some("application/feed+json"), &url()).expect("read");
    assert_eq!(feed.articles[0].categories, ["workflow", "omnifocus"]);
}

#[test]
fn a_multibyte_character_across_the_sniffed_head_is_no_panic() {
    // The namespace sniffing looks at the first 2 KiB; a character straddling that boundary
    // once panicked (found by the corpus test, on rsparser/489.rss).
    let mut doc = String::from("<rss version=\"2.0\"><channel><title>");
    while doc.len() < 2046 {
        doc.push('x');
    }
    doc.push_str("’’’</title><item><title>One</title><guid>1</guid></item></channel></rss>");
    let feed = parse_feed(doc.as_bytes(), None, &url()).expect("read");
    assert_eq!(feed.articles.len(), 1);
}

fn url() -> Url {
    Url::parse("https://feeds.example.com/feed.xml").expect("url")
}

#[test]
fn markup_in_author_names_and_categories_is_removed() {
    // Found by the `properties` test: an author escaped into RSS as "&lt;script&gt;..." came
    // out of the JSON Feed as markup in a plain-text field.
    let doc = "<rss version=\"2.0\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><channel><title>T</title>\
        <item><title>One</title><guid>1</guid><dc:creator>&lt;script&gt;alert(1)&lt;/script&gt;Ann &lt;b&gt;Lee&lt;/b&gt;</dc:creator>\
        <category>&lt;i&gt;World&lt;/i&gt;</category></item></channel></rss>";
    let feed = parse_feed(doc.as_bytes(), None, &url()).expect("read");
    assert_eq!(feed.articles[0].authors, ["Ann Lee"]);
    assert_eq!(feed.articles[0].categories, ["World"]);
}

#[test]
fn feeds_that_name_the_wrong_encoding_are_read_in_the_right_one() {
    let rss = |declared: &str, title: &str| {
        format!("<?xml version=\"1.0\" encoding=\"{declared}\"?><rss version=\"2.0\"><channel><title>T</title><item><title>{title}</title><guid>1</guid><description>{title} {title}</description></item></channel></rss>")
    };
    let chinese = "环球时报：中国外交部发言人就乌克兰局势回答记者提问";
    let russian = "Министр иностранных дел России прокомментировал переговоры";
    let read = |bytes: &[u8], content_type: Option<&str>| {
        parse_feed(bytes, content_type, &url())
            .expect("read")
            .articles[0]
            .title
            .clone()
    };
    // GBK and windows-1251 bytes declared as UTF-8, in the document or only in the header.
    let doc = rss("utf-8", chinese);
    let (gbk, _, _) = encoding_rs::GBK.encode(&doc);
    assert_eq!(read(&gbk, None), chinese);
    let doc = rss("UTF-8", russian);
    let (cp1251, _, _) = encoding_rs::WINDOWS_1251.encode(&doc);
    assert_eq!(read(&cp1251, None), russian);
    let bare = rss("utf-8", russian).replace("<?xml version=\"1.0\" encoding=\"utf-8\"?>", "");
    let (cp1251, _, _) = encoding_rs::WINDOWS_1251.encode(&bare);
    assert_eq!(
        read(&cp1251, Some("application/rss+xml; charset=utf-8")),
        russian
    );
    // And the reverse: UTF-8 bytes that still declare a legacy encoding.
    assert_eq!(read(rss("windows-1251", russian).as_bytes(), None), russian);
    assert_eq!(read(rss("GB2312", chinese).as_bytes(), None), chinese);
    // A few stray bytes in UTF-8 text stay replacement characters; the rest is kept.
    let mut stray = rss("utf-8", russian).into_bytes();
    let at = stray
        .windows(13)
        .position(|w| w == b"<item><title>")
        .expect("item")
        + 13;
    stray.insert(at, 0xff);
    assert_eq!(read(&stray, None), format!("\u{fffd}{russian}"));
}

#[test]
fn a_byte_order_mark_decides_the_encoding() {
    let doc = "<?xml version=\"1.0\" encoding=\"windows-1251\"?><rss version=\"2.0\"><channel><title>T</title><item><title>Україна – переговори</title><guid>1</guid></item></channel></rss>";
    // UTF-8 with a BOM, whatever the declaration says.
    let utf8 = [&[0xef, 0xbb, 0xbf][..], doc.as_bytes()].concat();
    let feed = parse_feed(&utf8, Some("text/xml; charset=iso-8859-1"), &url()).expect("utf-8");
    assert_eq!(feed.articles[0].title, "Україна – переговори");
    // UTF-16 little-endian with a BOM.
    let utf16: Vec<u8> = [0xff, 0xfe]
        .into_iter()
        .chain(doc.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let feed = parse_feed(&utf16, None, &url()).expect("utf-16");
    assert_eq!(feed.articles[0].title, "Україна – переговори");
}

/// WebSub discovery in the feed itself: Atom and RSS (`atom:link`) `rel="hub"` and
/// `rel="self"`, JSON Feed `hubs` (of type WebSub) and `feed_url`; relative links resolved.
#[test]
fn a_feeds_hubs_and_self_link_are_read_in_every_format() {
    let url = Url::parse("https://feeds.example.com/feed.xml").unwrap();
    let atom = b"<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>A</title><id>x</id>\
        <link rel=\"hub\" href=\"https://hub.example/\"/><link rel=\"hub\" href=\"/second-hub\"/>\
        <link rel=\"self\" href=\"https://feeds.example.com/feed.atom\"/></feed>";
    let rss = b"<rss version=\"2.0\" xmlns:atom=\"http://www.w3.org/2005/Atom\"><channel><title>R</title>\
        <atom:link rel=\"hub\" href=\"https://hub.example/\"/>\
        <atom:link rel=\"self\" href=\"https://feeds.example.com/feed.rss\"/></channel></rss>";
    let json = br#"{"version": "https://jsonfeed.org/version/1.1", "title": "J",
        "feed_url": "https://feeds.example.com/feed.json",
        "hubs": [{"type": "rssCloud", "url": "https://cloud.example/"},
                 {"type": "WebSub", "url": "https://hub.example/"}], "items": []}"#;
    let none = b"<rss version=\"2.0\"><channel><title>R</title></channel></rss>";
    for (body, hubs, topic) in [
        (
            &atom[..],
            vec![
                "https://hub.example/",
                "https://feeds.example.com/second-hub",
            ],
            Some("https://feeds.example.com/feed.atom"),
        ),
        (
            &rss[..],
            vec!["https://hub.example/"],
            Some("https://feeds.example.com/feed.rss"),
        ),
        (
            &json[..],
            vec!["https://hub.example/"],
            Some("https://feeds.example.com/feed.json"),
        ),
        (&none[..], vec![], None),
    ] {
        let feed = parse_feed(body, None, &url).unwrap();
        let found: Vec<&str> = feed.hubs.iter().map(Url::as_str).collect();
        assert_eq!(found, hubs);
        assert_eq!(feed.topic.as_ref().map(Url::as_str), topic);
    }
}

/// RSS writes a byline as `email (Name)`: the name is the byline, as feedparser reads it; a
/// bare address stays the byline when there is nothing else.
#[test]
fn an_rss_byline_written_email_then_name_is_the_name() {
    let doc = "<rss version=\"2.0\"><channel><title>T</title>\
        <item><title>One</title><guid>1</guid><author>redaccion@20minutos.es (20minutos)</author></item>\
        <item><title>Two</title><guid>2</guid><author>j.doe@example.com (Jane Doe (Madrid))</author></item>\
        <item><title>Three</title><guid>3</guid><author>desk@example.com</author></item>\
        <item><title>Four</title><guid>4</guid><author>Ann Lee (Reuters)</author></item>\
        <item><title>Five</title><guid>5</guid><dc:creator xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n   \
        <![CDATA[redaccion@20minutos.es (L. B.)]]>\n  </dc:creator></item>\
        </channel></rss>";
    let feed = parse_feed(doc.as_bytes(), None, &url()).expect("read");
    let bylines: Vec<&[String]> = feed.articles.iter().map(|a| &a.authors[..]).collect();
    assert_eq!(
        bylines,
        [
            &["20minutos".to_owned()][..],
            &["Jane Doe (Madrid)".to_owned()],
            &["desk@example.com".to_owned()],
            &["Ann Lee (Reuters)".to_owned()],
            &["L. B.".to_owned()],
        ]
    );
}
