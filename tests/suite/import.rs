//! `feedmerge import FILE.opml` and `feedmerge export --format opml`: an OPML file with nested
//! folders becomes `[[sources]]` with categories, in a config file that keeps its comments;
//! feeds already there are skipped and named; the export reads back in.

use crate::common::{run_for_cpu, stderr, stdout, Setup};

const CONFIG: &str = r#"# My feeds. Keep this comment.
[feed]
title = "Import test"   # and this one

[storage]
database = "db/feedmerge.db"

# Wire services first.
[[sources]]
name = "Wire"
url = "https://wire.example/feed.xml"
"#;

const OPML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Reader export</title></head>
  <body>
    <outline text="News">
      <outline text="Europe">
        <outline type="rss" text="Le Monde" title="Le Monde &amp; Co" xmlUrl="https://lemonde.example/rss"/>
        <outline type="rss" text="Wire again" xmlUrl="https://WIRE.example/feed.xml/"/>
      </outline>
      <outline type="rss" text="Daily" xmlUrl="https://daily.example/atom" category="/Local,Morning"/>
    </outline>
    <outline text="Tech">
      <outline type="rss" text="Daily" xmlUrl="https://tech-daily.example/feed"/>
    </outline>
    <outline type="rss" text="Loose" xmlUrl="https://loose.example/feed.json"/>
  </body>
</opml>
"#;

#[test]
fn import_adds_nested_folders_as_categories_and_keeps_comments() {
    let setup = Setup::new(CONFIG);
    let opml = setup.dir.path().join("export.opml");
    std::fs::write(&opml, OPML).expect("write opml");

    let out = setup.feedmerge(&["import", opml.to_str().expect("path")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = stdout(&out);
    assert!(
        report.contains("skipped  Wire again (already there as \"Wire\")"),
        "{report}"
    );
    assert!(
        report.ends_with("4 sources added, 1 already there\n"),
        "{report}"
    );

    let text = std::fs::read_to_string(&setup.config).expect("config");
    assert!(
        text.starts_with(CONFIG),
        "the file as written is kept:\n{text}"
    );
    let added = &text[CONFIG.len()..];
    let expected = r#"
[[sources]]
name = "Le Monde & Co"
url = "https://lemonde.example/rss"
categories = ["News", "Europe"]

[[sources]]
name = "Daily"
url = "https://daily.example/atom"
categories = ["News", "Local", "Morning"]

[[sources]]
name = "Daily (2)"
url = "https://tech-daily.example/feed"
categories = ["Tech"]

[[sources]]
name = "Loose"
url = "https://loose.example/feed.json"
"#;
    assert_eq!(added, expected);
    let check = setup.feedmerge(&["check"]);
    assert!(check.status.success(), "{}", stderr(&check));
    assert!(stdout(&check).contains("(5 sources, 5 enabled)"));

    // Importing again changes nothing.
    let again = setup.feedmerge(&["import", opml.to_str().expect("path")]);
    assert!(stdout(&again).ends_with("0 sources added, 5 already there\n"));
    assert_eq!(
        std::fs::read_to_string(&setup.config).expect("config"),
        text
    );

    // The export, imported into an empty config, gives the same sources back.
    let export = setup.feedmerge(&["export", "--format", "opml"]);
    assert!(export.status.success(), "{}", stderr(&export));
    let fresh = Setup::new("[storage]\ndatabase = \"db/feedmerge.db\"\n");
    let exported = fresh.dir.path().join("sources.opml");
    std::fs::write(&exported, stdout(&export)).expect("write");
    let out = fresh.feedmerge(&["import", exported.to_str().expect("path")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).ends_with("5 sources added, 3 already there\n"),
        "a source in several categories is listed in each folder: {}",
        stdout(&out)
    );
    let categories = |config: &std::path::Path| {
        let doc: toml::Table = std::fs::read_to_string(config)
            .expect("config")
            .parse()
            .expect("toml");
        let mut all: Vec<(String, Vec<String>)> = doc["sources"]
            .as_array()
            .expect("sources")
            .iter()
            .map(|s| {
                let mut c: Vec<String> = s
                    .get("categories")
                    .and_then(|c| c.as_array())
                    .map(|c| {
                        c.iter()
                            .filter_map(|v| v.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                c.sort();
                (s["url"].as_str().unwrap_or_default().to_owned(), c)
            })
            .collect();
        all.sort();
        all
    };
    assert_eq!(categories(&fresh.config), categories(&setup.config));
}

#[test]
fn a_broken_opml_file_is_reported_and_nothing_is_written() {
    let setup = Setup::new(CONFIG);
    let opml = setup.dir.path().join("broken.opml");
    std::fs::write(
        &opml,
        "<opml><body><outline text=\"x\" xmlUrl=\"https://a.example/\"></body>",
    )
    .expect("write");
    let out = setup.feedmerge(&["import", opml.to_str().expect("path")]);
    assert!(!out.status.success());
    let error = stderr(&out);
    assert!(
        error.contains("broken.opml: not a readable OPML file"),
        "{error}"
    );
    assert_eq!(
        std::fs::read_to_string(&setup.config).expect("config"),
        CONFIG
    );
}

/// What is not an OPML file (an empty file, a web page, plain text) is refused, not read as
/// an empty list.
#[test]
fn what_is_not_opml_is_refused() {
    let setup = Setup::new(CONFIG);
    for (name, text) in [
        ("empty.opml", ""),
        ("page.opml", "<html><body>hello</body></html>"),
        ("text.opml", "just some words"),
    ] {
        let opml = setup.dir.path().join(name);
        std::fs::write(&opml, text).expect("write");
        let out = setup.feedmerge(&["import", opml.to_str().expect("path")]);
        assert!(!out.status.success(), "{name}: {}", stdout(&out));
        assert!(
            stderr(&out)
                .contains("there is no <opml> element: this is not an OPML subscription list"),
            "{name}: {}",
            stderr(&out)
        );
    }
    assert_eq!(std::fs::read_to_string(&setup.config).unwrap(), CONFIG);
}

/// The edited config keeps its mode; a symlinked config has its target edited and stays a
/// link; a link planted where the temporary file would go is not followed; 2,000 feeds of
/// one name are numbered in linear time.
#[test]
fn import_keeps_mode_and_links_and_follows_no_planted_link() {
    use std::os::unix::fs::PermissionsExt;
    let setup = Setup::new(CONFIG);
    let dir = setup.dir.path();
    // The config lives elsewhere; the path the daemon reads is a link to it.
    let real = dir.join("real.toml");
    std::fs::rename(&setup.config, &real).unwrap();
    std::os::unix::fs::symlink(&real, &setup.config).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
    // A link planted at every name a temporary file might have had before.
    let victim = dir.join("victim");
    std::fs::write(&victim, "precious").unwrap();
    for planted in ["feedmerge.toml.importing", "real.toml.importing"] {
        std::os::unix::fs::symlink(&victim, dir.join(planted)).unwrap();
    }
    let outlines: String = (0..2_000)
        .map(|i| {
            format!("<outline type=\"rss\" text=\"News\" xmlUrl=\"https://n{i}.example/feed\"/>")
        })
        .collect();
    let opml = dir.join("many.opml");
    std::fs::write(
        &opml,
        format!("<opml version=\"2.0\"><body>{outlines}</body></opml>"),
    )
    .unwrap();

    // CPU time, which the other tests' load does not inflate: numbering 2,000 repeated names
    // is linear work, well under a second.
    let (out, cpu) = run_for_cpu(
        setup
            .command()
            .arg("-c")
            .arg(&setup.config)
            .args(["import", opml.to_str().expect("path")]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(cpu < std::time::Duration::from_secs(5), "{cpu:?} of CPU");
    assert!(
        stdout(&out).ends_with("2000 sources added, 0 already there\n"),
        "{}",
        stdout(&out)
    );

    assert!(std::fs::symlink_metadata(&setup.config)
        .unwrap()
        .file_type()
        .is_symlink());
    let text = std::fs::read_to_string(&real).unwrap();
    assert!(text.contains("name = \"News (2000)\""), "numbered names");
    let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}

/// An OPML file whose outline names carry a newline (a forged second line of `import`'s
/// report and of the log) and a terminal escape sequence: the names imported, the report
/// and the config hold neither.
#[test]
fn control_characters_in_outline_names_reach_no_terminal() {
    let setup = Setup::new(CONFIG);
    let opml = setup.dir.path().join("hostile.opml");
    std::fs::write(
        &opml,
        "<?xml version=\"1.0\"?><opml version=\"2.0\"><body>\
         <outline type=\"rss\" text=\"Evil&#10;added    forged&#x1b;[2J\" \
          xmlUrl=\"https://evil.example/feed\"/></body></opml>",
    )
    .expect("write opml");
    let out = setup.feedmerge(&["import", opml.to_str().expect("path")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = stdout(&out);
    assert!(!report.contains('\u{1b}'), "{report:?}");
    assert!(
        !report.lines().any(|l| l.starts_with("added    forged")),
        "{report:?}"
    );
    let config = std::fs::read_to_string(&setup.config).expect("config");
    assert!(config.contains("name = \"Evil"), "{config}");
    assert!(
        !config.contains("\\u001b") && !config.contains("\\n"),
        "{config}"
    );
}

/// Outlines as readers and pages write them: `feed://` and `feed:https://` addresses are
/// the web addresses they stand for; an outline whose address is no feed's (`ftp:`,
/// `javascript:`, no address at all) is left out and listed, and the rest of the file is
/// imported.
#[test]
fn feed_addresses_are_taken_and_what_cannot_be_is_left_out_and_listed() {
    let setup = Setup::new(CONFIG);
    let opml = setup.dir.path().join("reader.opml");
    std::fs::write(
        &opml,
        r#"<?xml version="1.0"?><opml version="2.0"><head/><body>
<outline text="Feedy" xmlUrl="feed://feedy.example/rss.xml"/>
<outline text="Secure" xmlUrl="FEED:https://secure.example/atom"/>
<outline text="Files" xmlUrl="ftp://files.example/feed"/>
<outline text="Script" xmlUrl="javascript:alert(1)"/>
<outline text="Good" xmlUrl="https://good.example/feed"/>
</body></opml>"#,
    )
    .expect("write");
    let out = setup.feedmerge(&["import", opml.to_str().expect("path")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = stdout(&out);
    assert!(
        report.contains("left out Files (ftp://files.example/feed): ftp: addresses are polled over http:// or https:// only"),
        "{report}"
    );
    assert!(
        report.contains("left out Script (javascript:alert(1))"),
        "{report}"
    );
    assert!(
        report.contains("3 sources added, 0 already there, 2 left out"),
        "{report}"
    );
    let config = std::fs::read_to_string(&setup.config).expect("config");
    for url in [
        "http://feedy.example/rss.xml",
        "https://secure.example/atom",
        "https://good.example/feed",
    ] {
        assert!(
            config.contains(&format!("url = \"{url}\"")),
            "{url}: {config}"
        );
    }
    assert!(
        !config.contains("ftp:") && !config.contains("javascript:"),
        "{config}"
    );
    assert!(setup.feedmerge(&["check"]).status.success());
}
