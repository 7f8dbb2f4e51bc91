//! `feedmerge import FILE.opml`: adds the feeds of an OPML subscription list (what every feed
//! reader exports) to the config file as `[[sources]]`; `feedmerge add` (see `discover`)
//! adds one the same way.
//!
//! Owns reading OPML and editing the config file in place. The file is edited, not rewritten:
//! its comments, order and layout stay as the user wrote them (`toml_edit`), the new sources are
//! appended, and the result must validate before it replaces the file (atomically).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use quick_xml::events::Event;
use url::Url;

use crate::config::{Config, ConfigError};

/// Why an import could not be done. Nothing is written then.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The OPML file is not well-formed XML.
    #[error("{}: not a readable OPML file (at byte {position}): {message}", path.display())]
    Opml {
        /// The file.
        path: PathBuf,
        /// Where reading stopped.
        position: u64,
        /// What was wrong.
        message: String,
    },
    /// The config file is not TOML.
    #[error("{}: {message}", path.display())]
    Toml {
        /// The config file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// The config with the new sources would not validate.
    #[error("the config with the imported sources would not be valid; nothing was written:\n{0}")]
    Invalid(ConfigError),
}

/// A feed found in an OPML file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outline {
    /// Its title (or text).
    pub(crate) name: String,
    /// The feed's address.
    pub(crate) url: String,
    /// The folders it sits in, outermost first, and its own `category` attribute's terms.
    pub(crate) categories: Vec<String>,
}

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Imported {
    /// Names of the sources added.
    pub added: Vec<String>,
    /// Feeds left out: their name and the existing source with the same address.
    pub skipped: Vec<(String, String)>,
    /// Outlines that could not be taken: their name, address, and why.
    pub refused: Vec<(String, String, String)>,
}

/// Adds the feeds of the OPML file `opml` to the config file `config` (created if missing),
/// skipping feeds whose address a source already has, and leaving out (and listing) an
/// outline whose address is not a feed's (`feed://` ones are taken as the web addresses
/// they stand for), rather than refusing the file.
pub fn import(config: &Path, opml: &Path) -> Result<Imported, ImportError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ImportError::Io { path, source }
    };
    let mut outlines = read_opml(opml, &std::fs::read_to_string(opml).map_err(io(opml))?)?;
    let mut refused = Vec::new();
    outlines.retain_mut(|o| match feed_address(&o.url) {
        Ok(url) => {
            o.url = url;
            true
        }
        Err(why) => {
            refused.push((o.name.clone(), o.url.clone(), why));
            false
        }
    });
    let mut imported = add_to_config(config, outlines)?;
    imported.refused = refused;
    Ok(imported)
}

/// Appends a `[[sources]]` table to the config file `config` (created if missing) for each
/// of `outlines` whose address no source has yet; written only if the result validates.
pub(crate) fn add_to_config(
    config: &Path,
    outlines: Vec<Outline>,
) -> Result<Imported, ImportError> {
    let io = |source| ImportError::Io {
        path: config.to_owned(),
        source,
    };
    let text = match std::fs::read_to_string(config) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io(e)),
    };
    let (edited, imported) = add_sources(config, &text, &outlines)?;
    if !imported.added.is_empty() {
        Config::parse(config, &edited).map_err(ImportError::Invalid)?;
        replace(config, &edited).map_err(io)?;
    }
    Ok(imported)
}

/// A feed's address as polled: `feed://host/path` and `feed:https://...` (how some readers
/// and pages write feed links) as the web addresses they stand for; an address that is not
/// a web address gets why (the config's rule for a source's `url`).
fn feed_address(url: &str) -> Result<String, String> {
    let lower = url.to_ascii_lowercase();
    let url = if let Some(rest) = lower.strip_prefix("feeds:").map(|_| &url[6..]) {
        match rest.strip_prefix("//") {
            Some(_) if !rest[2..].contains("://") => format!("https:{rest}"),
            _ => rest.trim_start_matches('/').to_owned(),
        }
    } else if let Some(rest) = lower.strip_prefix("feed:").map(|_| &url[5..]) {
        match rest.strip_prefix("//") {
            Some(_) if !rest[2..].contains("://") => format!("http:{rest}"),
            _ => rest.trim_start_matches('/').to_owned(),
        }
    } else {
        url.to_owned()
    };
    match Url::parse(&url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(u.into()),
        Ok(u) => Err(format!(
            "{}: addresses are polled over http:// or https:// only",
            u.scheme()
        )),
        Err(e) => Err(format!("not a web address: {e}")),
    }
}

/// Replaces the file at `path` (a symlink's target, if it is one) with `text`: written to a
/// new file beside it, with the old file's mode and owner, and renamed over it, so that a
/// reader (the daemon's watcher) never sees half a file. The new file is created, never
/// opened if something is already there (a link planted at its name is not followed).
fn replace(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
    let target = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path)?,
        _ => path.to_owned(),
    };
    let old = std::fs::metadata(&target).ok();
    let mode = old
        .as_ref()
        .map_or(0o600, |m| m.permissions().mode() & 0o7777);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = target.with_file_name(format!(".{name}.importing.{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temporary)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            // The mode asked for at creation is narrowed by the umask: set it as it was.
            file.set_permissions(std::fs::Permissions::from_mode(mode))?;
            if let Some(m) = &old {
                // Only root may give a file away; anyone else's import leaves it theirs.
                match std::os::unix::fs::fchown(&file, Some(m.uid()), Some(m.gid())) {
                    Err(e) if e.kind() != std::io::ErrorKind::PermissionDenied => return Err(e),
                    _ => {}
                }
            }
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temporary, &target));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// The feeds of an OPML document, in document order.
pub(crate) fn read_opml(path: &Path, text: &str) -> Result<Vec<Outline>, ImportError> {
    let mut reader = quick_xml::Reader::from_str(text);
    // Folders open around the current outline: `Some(name)` for a folder, `None` for a feed
    // outline that has children.
    let mut folders: Vec<Option<String>> = Vec::new();
    let mut feeds = Vec::new();
    let mut opml = false;
    loop {
        let event = reader.read_event().map_err(|e| ImportError::Opml {
            path: path.to_owned(),
            position: reader.error_position(),
            message: e.to_string(),
        })?;
        let (element, empty) = match &event {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(e) if e.local_name().into_inner() == "outline" => {
                folders.pop();
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        if element.local_name().into_inner() == "opml" {
            opml = true;
        }
        if element.local_name().into_inner() != "outline" {
            continue;
        }
        let mut attr: std::collections::HashMap<String, String> = Default::default();
        for a in element.attributes().flatten() {
            let key = a.key.local_name().into_inner().to_lowercase();
            // Names and categories become the config's and are logged and printed: no
            // control character (a newline, an escape sequence) comes with them.
            if let Ok(value) = a.normalized_value(quick_xml::XmlVersion::Implicit1_0) {
                let value: String = value.chars().filter(|c| !c.is_control()).collect();
                attr.insert(key, value.trim().to_owned());
            }
        }
        let label = attr
            .get("title")
            .or_else(|| attr.get("text"))
            .filter(|t| !t.is_empty())
            .cloned();
        match attr.get("xmlurl").filter(|u| !u.is_empty()) {
            Some(url) => {
                let mut categories: Vec<String> = folders.iter().flatten().cloned().collect();
                for term in attr
                    .get("category")
                    .map(|c| c.split([',', '/']).map(str::trim).collect::<Vec<_>>())
                    .unwrap_or_default()
                {
                    if !term.is_empty() && !categories.iter().any(|c| c == term) {
                        categories.push(term.to_owned());
                    }
                }
                let name = label.unwrap_or_else(|| {
                    Url::parse(url)
                        .ok()
                        .and_then(|u| u.host_str().map(str::to_owned))
                        .unwrap_or_else(|| url.clone())
                });
                feeds.push(Outline {
                    name,
                    url: url.clone(),
                    categories,
                });
                if !empty {
                    folders.push(None);
                }
            }
            None if !empty => folders.push(label),
            None => {}
        }
    }
    if !opml {
        return Err(ImportError::Opml {
            path: path.to_owned(),
            position: 0,
            message: "there is no <opml> element: this is not an OPML subscription list".into(),
        });
    }
    Ok(feeds)
}

/// `text` (the config file) with a `[[sources]]` table appended for each of `outlines` whose
/// address no source has yet.
fn add_sources(
    path: &Path,
    text: &str,
    outlines: &[Outline],
) -> Result<(String, Imported), ImportError> {
    let toml_error = |message: String| ImportError::Toml {
        path: path.to_owned(),
        message,
    };
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| toml_error(e.to_string()))?;
    let sources = doc
        .entry("sources")
        .or_insert_with(|| toml_edit::Item::ArrayOfTables(Default::default()))
        .as_array_of_tables_mut()
        .ok_or_else(|| toml_error("`sources` must be written as [[sources]] tables".into()))?;
    let field = |t: &toml_edit::Table, key: &str| {
        t.get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let existing = sources.len();
    // Names (in lower case) and addresses taken, each with its source's position; and for
    // each name given, the last number tried after it: lookups, not scans, so that an OPML
    // file of 2,000 feeds called "News" takes no longer than one of 2,000 names.
    let mut names: HashSet<String> = HashSet::new();
    let mut addresses: HashMap<String, (usize, String)> = HashMap::new();
    for (i, t) in sources.iter().enumerate() {
        names.insert(field(t, "name").to_lowercase());
        addresses
            .entry(same_address(&field(t, "url")))
            .or_insert((i, field(t, "name")));
    }
    let mut numbered: HashMap<String, usize> = HashMap::new();
    let mut imported = Imported::default();
    for feed in outlines {
        let address = same_address(&feed.url);
        if let Some((at, owner)) = addresses.get(&address) {
            let at = *at;
            imported.skipped.push((feed.name.clone(), owner.clone()));
            // A feed listed in several folders of this file: one source in each category.
            if let Some(table) = sources.get_mut(at).filter(|_| at >= existing) {
                let categories = table
                    .entry("categories")
                    .or_insert_with(|| toml_edit::value(toml_edit::Array::new()));
                if let Some(list) = categories.as_array_mut() {
                    for c in &feed.categories {
                        if !list.iter().any(|v| v.as_str() == Some(c)) {
                            list.push(c.as_str());
                        }
                    }
                }
            }
            continue;
        }
        // Names are unique; a second feed called "News" becomes "News (2)".
        let mut name = feed.name.clone();
        let n = numbered.entry(feed.name.to_lowercase()).or_insert(1);
        while names.contains(&name.to_lowercase()) {
            *n += 1;
            name = format!("{} ({n})", feed.name);
        }
        let mut table = toml_edit::Table::new();
        table["name"] = toml_edit::value(name.as_str());
        table["url"] = toml_edit::value(feed.url.as_str());
        if !feed.categories.is_empty() {
            table["categories"] =
                toml_edit::value(feed.categories.iter().collect::<toml_edit::Array>());
        }
        addresses.insert(address, (sources.len(), name.clone()));
        sources.push(table);
        names.insert(name.to_lowercase());
        imported.added.push(name);
    }
    Ok((doc.to_string(), imported))
}

/// A feed address as compared for duplicates: parsed (so case of the host and default ports
/// do not matter), without a trailing slash.
fn same_address(url: &str) -> String {
    let parsed = Url::parse(url.trim()).map_or_else(|_| url.trim().to_owned(), String::from);
    parsed.trim_end_matches('/').to_owned()
}
