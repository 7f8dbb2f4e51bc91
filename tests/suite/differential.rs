//! feedmerge against Python's feedparser, entry by entry, on the real captures of
//! `tests/fixtures/real/` (`benches/compare/differential.py`: each feed fed alone to the
//! `feedmerge` binary over HTTP on 127.0.0.1, read back from `export`, both readings compared
//! field by field). The floors are today's figures on these files, so that a change that
//! loses entries or fields fails here; the script names each disagreement. The same script
//! measures the whole shared corpus (BENCHMARKS.md).
//!
//! Needs a Python with feedparser: the one `FEEDMERGE_PYTHON` names (CI sets it), else
//! `python3`. Ignored unless asked for (`--include-ignored`), and failing without it.

use std::path::Path;
use std::process::Command;

#[test]
#[ignore = "needs a Python with feedparser in FEEDMERGE_PYTHON: pass --include-ignored"]
fn feedmerge_reads_what_feedparser_reads() {
    let named = std::env::var("FEEDMERGE_PYTHON").ok();
    let python = named.clone().unwrap_or_else(|| "python3".into());
    let has_feedparser = Command::new(&python)
        .args(["-c", "import feedparser"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has_feedparser,
        "this test needs a Python with feedparser: FEEDMERGE_PYTHON={python} has none"
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(&python)
        .arg(root.join("benches/compare/differential.py"))
        .args(["--feedmerge", env!("CARGO_BIN_EXE_feedmerge")])
        .args(["--jobs", "2", "--min-field", "0.94", "--min-all", "0.97"])
        .arg(root.join("tests/fixtures/real"))
        .output()
        .expect("run differential.py");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every capture was compared (each holds entries), the podcast's 131 episodes and
    // Scripting News' 50 posts among them.
    let captures = std::fs::read_dir(root.join("tests/fixtures/real"))
        .expect("fixtures")
        .count();
    assert!(report.contains(&format!("{captures} feeds,")), "{report}");
}
