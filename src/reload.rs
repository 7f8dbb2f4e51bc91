//! Live configuration: the config the daemon runs with now, and the watcher that replaces it
//! when the file changes or SIGHUP arrives.
//!
//! Owns the rule that a config is applied whole or not at all: an edit that does not validate
//! leaves the running config in place, and its error (with file, line and key) is kept for the
//! log, `/status` and `/healthz` until a later edit fixes it. The engine and the server read
//! [`Live::current`] and are woken by [`Live::subscribe`]; they never see half a config.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use crate::config::{Config, OnRemove};
use crate::shutdown::Shutdown;
use crate::store::Store;

/// How often the config file's modification time and size are checked. Polling, not inotify:
/// it also sees edits that replace the file (most editors), bind mounts and network disks.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The config the daemon runs with now, shared by the engine and the server.
#[derive(Debug, Clone)]
pub(crate) struct Live {
    config: Arc<watch::Sender<Arc<Config>>>,
    /// Why the config file's current text is not the one running, if it is not.
    rejected: Arc<Mutex<Option<String>>>,
    /// How many configs replaced the first one: what was rendered from an older one (a feed's
    /// title, a view, a category) is stale.
    revision: Arc<std::sync::atomic::AtomicU64>,
}

impl Live {
    /// A live config that starts as `config`.
    pub(crate) fn new(config: Config) -> Live {
        Live {
            config: Arc::new(watch::Sender::new(Arc::new(config))),
            rejected: Arc::default(),
            revision: Arc::default(),
        }
    }

    /// A number that grows each time a new config is put in force.
    pub(crate) fn revision(&self) -> u64 {
        self.revision.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The config in force.
    pub(crate) fn current(&self) -> Arc<Config> {
        self.config.borrow().clone()
    }

    /// A receiver woken at each change of the config in force.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Arc<Config>> {
        self.config.subscribe()
    }

    /// The error of the last edit, if the file now holds a config that was not applied.
    pub(crate) fn rejected(&self) -> Option<String> {
        self.rejected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_rejected(&self, error: Option<String>) {
        *self.rejected.lock().unwrap_or_else(|e| e.into_inner()) = error;
    }
}

/// Watches the config file (and SIGHUP) until `shutdown`, applying each valid edit.
pub(crate) async fn watch(live: Live, store: Store, mut shutdown: Shutdown) {
    let path = live.current().path.clone();
    let mut seen = stamp(&path);
    // The text of the config in force (as far as the file is concerned).
    let mut running = std::fs::read_to_string(&path).unwrap_or_default();
    let mut hangup = hangups();
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let forced = tokio::select! {
            _ = shutdown.recv() => return,
            _ = tick.tick() => false,
            Some(()) = hangup.recv() => true,
        };
        let now = stamp(&path);
        if !forced && now == seen {
            continue;
        }
        seen = now;
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                // Mid-replace, deleted, or out of file descriptors: keep running on what we
                // have, say so, and read it again at the next check (the edit is not lost).
                let error = format!("cannot read config file {}: {e}", path.display());
                tracing::error!(%error, "config not reloaded; the running config stays");
                live.set_rejected(Some(error));
                seen = None;
                continue;
            }
        };
        if text == running && !forced {
            // Back to the config in force (a refused edit undone): nothing is wrong now.
            live.set_rejected(None);
            continue;
        }
        if apply(&live, &store, &path, &text).await {
            running = text;
        }
    }
}

/// Validates `text` and, if it holds, makes it the running config: registers new sources,
/// removes (or keeps the articles of) dropped ones, and wakes the engine and server. Returns
/// whether it was applied.
async fn apply(live: &Live, store: &Store, path: &std::path::Path, text: &str) -> bool {
    let mut new = match Config::parse(path, text) {
        Ok(config) => config,
        Err(e) => {
            let error = e.to_string();
            tracing::error!(%error, "config not reloaded; the running config stays");
            live.set_rejected(Some(error));
            return false;
        }
    };
    let old = live.current();
    for setting in old.startup.changes(&new.startup) {
        tracing::warn!(
            setting,
            "changed in the config; takes effect at the next restart"
        );
    }
    // What runs keeps the settings it started with, so that every reader of the config in
    // force sees the values in force.
    new.startup = old.startup.clone();
    match store.sync_sources(&new.sources).await {
        // The database cannot be written (disk full, read-only file): polling is paused for
        // that, and registers the sources when it resumes; the rest of the edit applies now.
        Err(e) if e.is_unwritable() => {
            tracing::warn!(error = %e, "new sources are registered once the database can be written")
        }
        Err(e) => {
            let error = format!("cannot register the new sources: {e}");
            tracing::error!(%error, "config not reloaded; the running config stays");
            live.set_rejected(Some(error));
            return false;
        }
        Ok(()) => {}
    }
    let named = |c: &Config, name: &str| c.sources.iter().any(|s| s.name == name);
    let added: Vec<&str> = new
        .sources
        .iter()
        .filter(|s| !named(&old, &s.name))
        .map(|s| s.name.as_str())
        .collect();
    let removed: Vec<&str> = old
        .sources
        .iter()
        .filter(|s| !named(&new, &s.name))
        .map(|s| s.name.as_str())
        .collect();
    if new.storage.on_remove == OnRemove::Purge {
        for name in &removed {
            match store.purge_source(name).await {
                Ok(n) => tracing::info!(source = name, articles = n, "removed source purged"),
                Err(e) => tracing::error!(source = name, error = %e, "cannot purge removed source"),
            }
        }
    }
    tracing::info!(
        added = added.join(", "),
        removed = removed.join(", "),
        sources = new.sources.len(),
        "config reloaded"
    );
    live.set_rejected(None);
    live.config.send_replace(Arc::new(new));
    live.revision
        .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    true
}

/// What changes when the file is edited or replaced.
fn stamp(path: &PathBuf) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// A channel that yields once per SIGHUP (never, where there are no signals).
fn hangups() -> tokio::sync::mpsc::Receiver<()> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::hangup()) {
            Ok(mut hup) => {
                tokio::spawn(async move {
                    while hup.recv().await.is_some() {
                        tracing::info!("SIGHUP: reloading the config");
                        if tx.send(()).await.is_err() {
                            break;
                        }
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; the file is still watched")
            }
        }
    }
    #[cfg(not(unix))]
    drop(tx);
    rx
}
