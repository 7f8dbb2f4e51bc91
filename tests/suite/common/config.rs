//! Config files for tests, built rather than written out: the SQLite file in the test's temp
//! dir, and only the settings and sources a test is about.

use super::database::Engine;
use super::Setup;

/// A schedule that is never due in a test's lifetime (1 January, midnight): the daemon polls
/// each source once at start and then leaves it, so tests decide when anything changes.
pub const NEVER: &str = "0 0 1 1 *";

/// A config file's text, built up key by key.
#[derive(Debug, Clone, Default)]
pub struct ConfigBuilder {
    /// Each table's lines, in the order the tables were first set.
    tables: Vec<(String, Vec<String>)>,
    /// `[[sources]]` entries, each its lines.
    sources: Vec<String>,
    /// Text appended as it is (`[[views]]`, for instance).
    tail: String,
}

impl ConfigBuilder {
    /// A config whose database is `db/feedmerge.db` in the test's temp dir.
    pub fn new() -> ConfigBuilder {
        ConfigBuilder::default().set("storage", "database", "\"db/feedmerge.db\"")
    }

    /// Sets `key` of `[table]` to `value`, written as TOML (strings quoted by the caller),
    /// replacing what it was set to before.
    pub fn set(mut self, table: &str, key: &str, value: &str) -> ConfigBuilder {
        let line = format!("{key} = {value}");
        let prefix = format!("{key} = ");
        match self.tables.iter_mut().find(|(t, _)| t == table) {
            Some((_, lines)) => match lines.iter_mut().find(|l| l.starts_with(&prefix)) {
                Some(old) => *old = line,
                None => lines.push(line),
            },
            None => self.tables.push((table.to_owned(), vec![line])),
        }
        self
    }

    /// Sets a string `key` of `[table]`.
    pub fn text(self, table: &str, key: &str, value: &str) -> ConfigBuilder {
        self.set(table, key, &quoted(value))
    }

    /// Polls on `schedule` by default (`[poll].schedule`).
    pub fn schedule(self, schedule: &str) -> ConfigBuilder {
        self.text("poll", "schedule", schedule)
    }

    /// Serves on 127.0.0.1:`port`, which is also the feeds' base URL.
    pub fn serve(self, port: u16) -> ConfigBuilder {
        self.text("server", "listen", &format!("127.0.0.1:{port}"))
            .text("feed", "base_url", &format!("http://127.0.0.1:{port}/"))
    }

    /// Adds the source `name` polling `url`.
    pub fn source(self, name: &str, url: &str) -> ConfigBuilder {
        self.source_with(name, url, "")
    }

    /// Adds the source `name` polling `url`, with more of its keys (TOML lines).
    pub fn source_with(mut self, name: &str, url: &str, more: &str) -> ConfigBuilder {
        let mut entry = format!(
            "[[sources]]\nname = {}\nurl = {}\n",
            quoted(name),
            quoted(url)
        );
        for line in more.lines().map(str::trim).filter(|l| !l.is_empty()) {
            entry.push_str(line);
            entry.push('\n');
        }
        self.sources.push(entry);
        self
    }

    /// Appends `toml` as it is, after the sources.
    pub fn raw(mut self, toml: &str) -> ConfigBuilder {
        self.tail.push_str(toml);
        if !toml.is_empty() && !toml.ends_with('\n') {
            self.tail.push('\n');
        }
        self
    }

    /// The file's text.
    pub fn build(&self) -> String {
        let mut out = String::new();
        for (table, lines) in &self.tables {
            out.push_str(&format!("[{table}]\n"));
            for line in lines {
                out.push_str(line);
                out.push('\n');
            }
        }
        for source in &self.sources {
            out.push_str(source);
        }
        out.push_str(&self.tail);
        out
    }

    /// A temp dir holding this config, on SQLite.
    pub fn setup(&self) -> Setup {
        Setup::new(&self.build())
    }

    /// A temp dir holding this config, on `engine` (`None` if PostgreSQL is not available).
    pub async fn on(&self, engine: Engine) -> Option<Setup> {
        Setup::on(engine, &self.build()).await
    }
}

/// `text` as a TOML string, escaped as TOML escapes.
fn quoted(text: &str) -> String {
    toml::Value::from(text).to_string()
}
