//! `feedmerge check`: every problem in a config is reported with file, line, column and key,
//! and `feedmerge run` refuses to start on it with the same message.

use crate::common::{stderr, stdout, Setup};

const GOOD_SOURCE: &str =
    "[[sources]]\nname = \"Global Times\"\nurl = \"https://www.globaltimes.cn/rss/outbrain.xml\"\n";

/// Runs `check` on `toml`, asserts it fails and that `run` fails with the same problems, and
/// returns the problem lines (with the temp dir's path replaced by `CONFIG`).
fn problems(toml: &str) -> Vec<String> {
    let setup = Setup::new(toml);
    let check = setup.feedmerge(&["check"]);
    assert_eq!(check.status.code(), Some(1), "{check:?}");
    let run = setup.feedmerge(&["run"]);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert_eq!(
        stderr(&check),
        stderr(&run),
        "run must refuse with check's message"
    );
    assert!(
        !setup.database().exists(),
        "nothing may be created from a bad config"
    );
    let path = setup.config.display().to_string();
    stderr(&check)
        .lines()
        .filter(|l| !l.ends_with("nothing was started"))
        .map(|l| l.replace(&path, "CONFIG"))
        .collect()
}

#[test]
fn bad_toml_is_located() {
    let lines = problems(&format!("[feed\ntitle = \"x\"\n{GOOD_SOURCE}"));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("CONFIG:1:6: invalid TOML:"),
        "{lines:?}"
    );
}

#[test]
fn unknown_key_is_named_with_its_table() {
    let lines = problems(&format!(
        "[poll]\nconcurrency = 4\n  schedul = \"*/5 * * * *\"\n{GOOD_SOURCE}"
    ));
    assert_eq!(
        lines,
        ["CONFIG:3:3: poll.schedul: unknown key; did you mean \"schedule\"?"]
    );
    // The likely intended key, or the table a key belongs in, or nothing when none is close.
    let lines = problems(&format!(
        "[feed]\nschedule = \"* * * * *\"\n{GOOD_SOURCE}category = [\"world\"]\nallow_privat = true\nzzz = 1\n"
    ));
    assert_eq!(
        lines,
        [
            "CONFIG:2:1: feed.schedule: unknown key; \"schedule\" belongs in [poll]",
            "CONFIG:6:1: sources[0].category: unknown key; did you mean \"categories\"?",
            "CONFIG:7:1: sources[0].allow_privat: unknown key; did you mean \"allow_private\"?",
            "CONFIG:8:1: sources[0].zzz: unknown key (check its spelling and the table it is in)",
        ]
    );
}

#[test]
fn bad_cron_expression_is_explained() {
    let lines = problems(&format!("{GOOD_SOURCE}schedule = \"61 * * * *\"\n"));
    assert_eq!(
        lines,
        ["CONFIG:4:12: sources[0].schedule: invalid cron expression \"61 * * * *\": minute 61 is out of range 0-59"]
    );
    let lines = problems(&format!(
        "[poll]\nschedule = \"every 5 minutes\"\n{GOOD_SOURCE}"
    ));
    assert!(
        lines[0].starts_with("CONFIG:2:12: poll.schedule: invalid cron expression"),
        "{lines:?}"
    );
    assert!(lines[0].contains("expected 5 fields"), "{lines:?}");
}

#[test]
fn bad_url_is_reported() {
    let lines = problems("[[sources]]\nname = \"A\"\nurl = \"not a url\"\n");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("CONFIG:3:7: sources[0].url: \"not a url\" is not a valid URL"),
        "{lines:?}"
    );
}

#[test]
fn duplicate_source_name_points_at_both() {
    let lines = problems(&format!(
        "{GOOD_SOURCE}\n[[sources]]\nname = \"global times\"\nurl = \"https://example.com/feed\"\n"
    ));
    assert_eq!(
        lines,
        ["CONFIG:6:8: sources[1].name: duplicate source name \"global times\" (first used on line 2); names must be unique"]
    );
}

#[test]
fn every_problem_is_reported_at_once_in_file_order() {
    let toml = "[feed]\nmax_entries = 0\ncolour = \"red\"\n[server]\nlisten = \"localhost\"\n\
                connections_per_client = 0\n[[sources]]\nname = \"A\"\nurl = \"ftp://example.com/feed\"\nschedule = \"* * * * 8\"\n";
    let lines = problems(toml);
    let keys: Vec<&str> = lines
        .iter()
        .map(|l| l.split(": ").nth(1).unwrap_or(""))
        .collect();
    assert_eq!(
        keys,
        [
            "feed.max_entries",
            "feed.colour",
            "server.listen",
            "server.connections_per_client",
            "sources[0].url",
            "sources[0].schedule"
        ],
        "{lines:#?}"
    );
    // A value of the wrong type hides nothing else: the others of its kind and every other
    // mistake are reported with it.
    let wrong_type = problems(&format!(
        "[feed]\nmax_entries = \"lots\"\ncolour = 1\n[poll]\nconcurrency = \"four\"\n\
         schedule = \"61 * * * *\"\n{GOOD_SOURCE}url2 = 1\n"
    ));
    assert_eq!(
        wrong_type,
        [
            "CONFIG:2:15: feed.max_entries: invalid type: string \"lots\", expected u32",
            "CONFIG:3:1: feed.colour: unknown key (check its spelling and the table it is in)",
            "CONFIG:5:15: poll.concurrency: invalid type: string \"four\", expected usize",
            "CONFIG:6:12: poll.schedule: invalid cron expression \"61 * * * *\": minute 61 is out of range 0-59",
            "CONFIG:10:1: sources[0].url2: unknown key; did you mean \"url\"?",
        ]
    );
}

/// With no `-c` and no `FEEDMERGE_CONFIG`, the config is looked for in the working
/// directory, then the user's and the system's config folders; when none is there the error
/// lists every place it looked and how to name a file.
#[test]
fn the_config_is_found_in_the_usual_places_or_the_error_says_where_it_looked() {
    let home = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let check = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_feedmerge"))
            .arg("check")
            .current_dir(elsewhere.path())
            .env_remove("FEEDMERGE_CONFIG")
            .env_remove("XDG_CONFIG_HOME")
            .env("HOME", home.path())
            .output()
            .unwrap()
    };
    let missing = check();
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
    let said = stderr(&missing);
    for place in [
        elsewhere.path().join("config/feedmerge.toml"),
        elsewhere.path().join("feedmerge.toml"),
        home.path().join(".config/feedmerge/feedmerge.toml"),
        "/etc/feedmerge/feedmerge.toml".into(),
    ] {
        assert!(
            said.contains(&place.display().to_string()),
            "{place:?}: {said}"
        );
    }
    assert!(said.contains("-c FILE"), "{said}");
    let user = home.path().join(".config/feedmerge");
    std::fs::create_dir_all(&user).unwrap();
    std::fs::write(user.join("feedmerge.toml"), GOOD_SOURCE).unwrap();
    let found = check();
    assert!(found.status.success(), "{found:?}");
    assert!(
        stdout(&found).contains(".config/feedmerge/feedmerge.toml: OK"),
        "{found:?}"
    );
}

#[test]
fn good_config_passes_and_env_var_names_it() {
    let setup = Setup::new(GOOD_SOURCE);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_feedmerge"))
        .arg("check")
        .env("FEEDMERGE_CONFIG", &setup.config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout(&out).contains("OK (1 sources, 1 enabled)"),
        "{out:?}"
    );
}

#[test]
fn missing_config_file_is_a_clear_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_feedmerge"))
        .args(["check", "-c", "/nonexistent/feedmerge.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot read config file /nonexistent/feedmerge.toml"),
        "{out:?}"
    );
}

#[test]
fn the_shipped_example_config_is_valid() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/feedmerge.toml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_feedmerge"))
        .args(["check", "-c", example])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(example).unwrap();
    assert!(text.matches("[[sources]]").count() >= 10);
    assert!(text.contains("https://www.globaltimes.cn/rss/outbrain.xml"));
}

#[test]
fn dedup_settings_are_checked() {
    let lines = problems(&format!(
        "[dedup]\nthreshold = 1.5\nwindow = \"a week\"\n{GOOD_SOURCE}"
    ));
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(
        lines[0],
        "CONFIG:2:13: dedup.threshold: 1.5 is not a similarity between 0 (exclusive) and 1"
    );
    assert!(
        lines[1].starts_with("CONFIG:3:10: dedup.window: not a duration like \"7d\""),
        "{lines:?}"
    );
}

#[test]
fn preferred_sources_must_exist() {
    let lines = problems(&format!(
        "[dedup]\nprefer = [\"global times\", \"Reuters\"]\n{GOOD_SOURCE}"
    ));
    assert_eq!(
        lines,
        ["CONFIG:2:27: dedup.prefer[1]: \"Reuters\" is not the name of any [[sources]] entry"]
    );
}

#[test]
fn views_name_real_sources_and_categories_and_valid_patterns() {
    let lines = problems(&format!(
        "{GOOD_SOURCE}categories = [\"world\"]\n\n[[views]]\nname = \"ukraine\"\n\
         sources = [\"Global Times\", \"BBC\"]\ncategories = [\"World\", \"sport\"]\n\
         include = [\"Kiev|Kyiv\", \"(unclosed\"]\n\n[[views]]\nname = \"no spaces\"\n"
    ));
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(
        lines[0],
        "CONFIG:8:28: views[0].sources[1]: \"BBC\" is not the name of any [[sources]] entry"
    );
    assert_eq!(
        lines[1],
        "CONFIG:9:24: views[0].categories[1]: no source is filed under category \"sport\""
    );
    assert!(
        lines[2].starts_with(
            "CONFIG:10:25: views[0].include[1]: \"(unclosed\" is not a valid regular expression: "
        ),
        "{lines:?}"
    );
    assert!(
        lines[3].starts_with(
            "CONFIG:13:8: views[1].name: \"no spaces\": a view's name is part of its URL"
        ),
        "{lines:?}"
    );
}

/// `[websub]`'s switches, unset, follow `[feed].base_url`: on when a hub elsewhere could reach
/// it, off on loopback and local networks; set, they are what they say; a bad duration is
/// located like any other problem.
#[test]
fn websub_is_on_by_default_only_where_hubs_can_reach_us() {
    let path = std::path::Path::new("feedmerge.toml");
    let websub = |feed: &str, websub: &str| {
        let text = format!("[feed]\n{feed}\n[websub]\n{websub}\n{GOOD_SOURCE}");
        let config = feedmerge::Config::parse(path, &text).unwrap();
        (config.websub.subscribe, config.websub.hub)
    };
    for (base_url, reachable) in [
        ("http://127.0.0.1:8080/", false),
        ("http://192.168.1.20/", false),
        ("http://[::1]:8080/", false),
        ("http://feedmerge.local/", false),
        ("http://nas/", false),
        ("https://news.example.org/", true),
        ("http://203.0.114.9/", true),
    ] {
        let feed = format!("base_url = \"{base_url}\"");
        assert_eq!(websub(&feed, ""), (reachable, reachable), "{base_url}");
    }
    let feed = "base_url = \"http://127.0.0.1:8080/\"";
    assert_eq!(websub(feed, "subscribe = true\nhub = true"), (true, true));
    let feed = "base_url = \"https://news.example.org/\"";
    assert_eq!(websub(feed, "subscribe = false"), (false, true));
    let config = feedmerge::Config::parse(path, &format!("[feed]\n{feed}\n{GOOD_SOURCE}")).unwrap();
    assert_eq!(
        config.websub.lease,
        std::time::Duration::from_secs(10 * 86_400)
    );
    assert_eq!(
        config.websub.safety_poll,
        std::time::Duration::from_secs(6 * 3600)
    );
    assert!(!config.websub.allow_private_callbacks);
    assert_eq!(
        problems(&format!("[websub]\nsafety_poll = \"often\"\n{GOOD_SOURCE}")),
        ["CONFIG:2:15: websub.safety_poll: not a duration like \"6h\": expected number at 0"]
    );
}
