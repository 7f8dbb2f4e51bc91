//! The `feedmerge` command: parses the command line and hands each command to the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use feedmerge::Format;
use feedmerge::Outcome;
use feedmerge::{cli, shutdown_on_signals, App};
use feedmerge::{Config, ConfigError};

/// A self-hosted news aggregator: polls many outlets' feeds, stores each article once, and
/// republishes one merged feed.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The config file [default: the first of config/feedmerge.toml, ./feedmerge.toml,
    /// ~/.config/feedmerge/feedmerge.toml, /etc/feedmerge/feedmerge.toml]
    #[arg(short, long, global = true, env = "FEEDMERGE_CONFIG")]
    config: Option<PathBuf>,
    /// How log lines are written: for people, or one JSON object per line for collectors.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "FEEDMERGE_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Poll every source on its schedule and serve the merged feed until stopped.
    Run,
    /// Poll all enabled sources (or the named ones) once, now, and report on each.
    Fetch {
        /// A source to poll (repeatable); by default every enabled source.
        #[arg(long = "source", value_name = "NAME")]
        sources: Vec<String>,
        /// Poll even a source whose host asked to wait (429 Too Many Requests, Retry-After).
        #[arg(long)]
        force: bool,
    },
    /// Validate the config file and report every problem in it.
    Check,
    /// Show every source's state: status, last success, next poll, failures, last error.
    Sources,
    /// List recent stories that more than one outlet carried, with each outlet's link.
    Stories {
        /// How far back to look, by publication time: "2d", "12h", "1w".
        #[arg(long, default_value = "2d")]
        since: humantime::Duration,
    },
    /// Search every stored story (the query language is in the README: words, "phrases",
    /// -excluded, OR, title:, source:, category:, since:2d).
    Search {
        /// What to look for.
        query: String,
        /// Only stories published this recently: "2d", "12h", "1w".
        #[arg(long)]
        since: Option<humantime::Duration>,
        /// A list for people, or the search as a feed.
        #[arg(long, value_enum, default_value = "text")]
        format: SearchFormat,
        /// Newest first, or best match first.
        #[arg(long, value_enum, default_value = "newest")]
        sort: SearchSort,
    },
    /// Apply retention now ([storage] max_age, max_per_source) and report what it removed.
    Cleanup,
    /// Print what feedmerge would take from an article page as its full text (title,
    /// byline, time, picture, text), to try a source's selectors before setting them.
    Extract {
        /// The article page.
        url: String,
        /// The CSS selector of the article's content (a source's `content_selector`).
        #[arg(long)]
        selector: Option<String>,
        /// A CSS selector of what to take out first (repeatable; a source's `remove`).
        #[arg(long)]
        remove: Vec<String>,
        /// The page may be on this machine or the local network.
        #[arg(long)]
        allow_private: bool,
    },
    /// Print the entries a source's config gives now (its feed, or its page read by its
    /// `html` or `json`), storing nothing: to try selectors before polling.
    Preview {
        /// The source.
        source: String,
    },
    /// Read a source's article pages again for their full text (after its selectors
    /// changed), and report what they gave.
    Refetch {
        /// The source.
        #[arg(long = "source", value_name = "NAME")]
        source: String,
        /// How far back: the articles first seen this recently ("7d", "12h").
        #[arg(long, default_value = "7d")]
        since: humantime::Duration,
    },
    /// Apply the current [[rules]] to the articles already stored (all sources, or one):
    /// discard what they now discard, rewrite what they now rewrite, and report it. Safe
    /// beside a running daemon.
    Reapply {
        /// Only this source.
        #[arg(long = "source", value_name = "NAME")]
        source: Option<String>,
    },
    /// Write the merged feed (or the source list, as OPML) to standard output.
    Export {
        /// The feed format, or `opml` for the list of sources.
        #[arg(long, value_enum, default_value = "atom")]
        format: ExportFormat,
    },
    /// Add the feeds of an OPML file (any feed reader's export) to the config as [[sources]],
    /// keeping the file's comments and layout. Feeds already there are skipped.
    Import {
        /// The OPML file.
        opml: PathBuf,
    },
    /// Add a source by its web address: a feed, or a site's page, whose feed is found (the
    /// feeds it advertises, else the usual places such as /feed). Keeps the config's comments
    /// and layout; a running daemon picks the source up.
    Add {
        /// The feed's or the site's address.
        url: String,
        /// The source's name (by default the feed's title).
        #[arg(long)]
        name: Option<String>,
        /// A category to file it under (repeatable).
        #[arg(long = "category")]
        categories: Vec<String>,
        /// The address may be on this machine or the local network.
        #[arg(long)]
        allow_private: bool,
    },
}

/// `--log-format`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// What `search` writes.
#[derive(Clone, Copy, clap::ValueEnum)]
enum SearchFormat {
    Text,
    Atom,
    Rss,
    Json,
}

/// The order of `search`'s results.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SearchSort {
    Newest,
    Relevance,
}

/// What `export` writes.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ExportFormat {
    Atom,
    Rss,
    Json,
    Opml,
}

fn main() -> ExitCode {
    feedmerge::tune_allocator();
    let cli = Cli::parse();
    // The daemon logs its polls; the one-shot commands print their own report, so by default
    // they log only what goes wrong. Other crates log errors only: what they warn about (an
    // HTML parser repairing a table, once per table) is nothing a user can act on. RUST_LOG
    // overrides all of it.
    // `fetch` prints each poll's outcome in its table: not again as a log line.
    let default_level = match cli.command {
        Command::Run => "error,feedmerge=info".to_owned(),
        Command::Fetch { .. } => format!("error,feedmerge=warn,{}=error", feedmerge::POLL_LOG),
        _ => "error,feedmerge=warn".to_owned(),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&default_level));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => logs.json().init(),
        // Colour only for a person at a terminal, not in journald or container logs.
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }

    let path = match feedmerge::locate(cli.config) {
        Ok(path) => path,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Command::Import { opml } = &cli.command {
        return import(&path, opml);
    }
    if let Command::Add {
        url,
        name,
        categories,
        allow_private,
    } = &cli.command
    {
        let options = feedmerge::AddOptions {
            name: name.clone(),
            categories: categories.clone(),
            allow_private: *allow_private,
        };
        return add(&path, url, options);
    }
    let config = match Config::load(&path) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            if let ConfigError::Invalid(problems) = &e {
                eprintln!(
                    "{}: {} problem{} found; nothing was started",
                    path.display(),
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" }
                );
            }
            return ExitCode::FAILURE;
        }
    };
    for warning in &config.warnings {
        eprintln!("warning: {warning}");
    }
    if let Command::Check = cli.command {
        let enabled = config.sources.iter().filter(|s| s.enabled).count();
        println!(
            "{}: OK ({} sources, {} enabled)",
            path.display(),
            config.sources.len(),
            enabled
        );
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(execute(cli.command, config));
    // A parse still running on a blocking thread (bounded, but it may take seconds on a huge
    // feed) does not hold the process past its stop: nothing of it is stored any more.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", causes(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, each said once: many errors (sqlx's among them)
/// repeat their cause in their own message.
fn causes(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain().map(|c| c.to_string()) {
        if !line.contains(&cause) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&cause);
        }
    }
    line
}

async fn execute(command: Command, config: Config) -> anyhow::Result<()> {
    let app = App::open(config).await.context("cannot start")?;
    if let Command::Run = command {
        return Ok(app.run(shutdown_on_signals()).await?);
    }
    let done = one_shot(&app, command).await;
    // Closed on every path, so that the database's log is folded back into it.
    app.close().await;
    let (out, summary) = done?;
    if !out.is_empty() {
        print(&out)?;
    }
    if let Some(summary) = summary {
        eprintln!("{summary}");
    }
    Ok(())
}

/// Runs a one-shot command on `app`: what it prints, and a summary for stderr.
async fn one_shot(app: &App, command: Command) -> anyhow::Result<(String, Option<String>)> {
    Ok(match command {
        Command::Fetch { sources, force } => {
            // A progress bar on a terminal (indicatif draws nothing elsewhere).
            let bar = indicatif::ProgressBar::new(0);
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} sources  {wide_msg}")
            {
                bar.set_style(style);
            }
            let progress = |report: &feedmerge::PollReport, finished: usize, total: usize| {
                bar.set_length(total as u64);
                bar.set_position(finished as u64);
                bar.set_message(report.source.clone());
            };
            let reports = app
                .fetch(&sources, force, shutdown_on_signals(), progress)
                .await;
            bar.finish_and_clear();
            let reports = reports?;
            let failed = reports
                .iter()
                .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
                .count();
            let lines: Vec<String> = reports.iter().map(|r| r.to_string()).collect();
            let mut summary = format!("{} sources polled, {failed} failed", reports.len());
            let read = app.read_full_texts().await?;
            if read.stored + read.failed > 0 {
                summary.push_str(&format!(
                    "; {} article pages read for their full text, {} failed (see `sources`)",
                    read.stored, read.failed
                ));
            }
            (lines.join("\n"), Some(summary))
        }
        Command::Export { format } => {
            let feed = match format {
                ExportFormat::Atom => app.export(Format::Atom).await?,
                ExportFormat::Rss => app.export(Format::Rss).await?,
                ExportFormat::Json => app.export(Format::Json).await?,
                ExportFormat::Opml => app.sources_opml(),
            };
            (feed, None)
        }
        Command::Stories { since } => (cli::stories_report(app, since.into()).await?, None),
        Command::Search {
            query,
            since,
            format,
            sort,
        } => {
            let format = match format {
                SearchFormat::Text => None,
                SearchFormat::Atom => Some(Format::Atom),
                SearchFormat::Rss => Some(Format::Rss),
                SearchFormat::Json => Some(Format::Json),
            };
            let relevance = sort == SearchSort::Relevance;
            let since = since.map(Into::into);
            (
                cli::search(app, &query, since, relevance, format).await?,
                None,
            )
        }
        Command::Cleanup => (cli::removed(&app.cleanup().await?), None),
        Command::Extract {
            url,
            selector,
            remove,
            allow_private,
        } => {
            let options = feedmerge::ExtractOptions { selector, remove };
            (
                cli::extracted(&app.extract(&url, &options, allow_private).await?),
                None,
            )
        }
        Command::Preview { source } => {
            let entries = app.preview(&source).await?;
            let summary = format!("{} entries", entries.len());
            (cli::previewed(&entries), Some(summary))
        }
        Command::Refetch { source, since } => {
            let (forgotten, read) = app.refetch(&source, since.into()).await?;
            let summary = format!(
                "{forgotten} articles forgotten; {} article pages read for their full text, {} failed",
                read.stored, read.failed
            );
            (String::new(), Some(summary))
        }
        Command::Reapply { source } => cli::reapplied(&app.reapply(source.as_deref()).await?),
        Command::Sources => (cli::sources_table(app).await?, None),
        // Handled before the app is opened, or above.
        Command::Run | Command::Check | Command::Import { .. } | Command::Add { .. } => {
            (String::new(), None)
        }
    })
}

/// `feedmerge import`: reports what was added and what was already there.
fn import(config: &std::path::Path, opml: &std::path::Path) -> ExitCode {
    match feedmerge::import(config, opml) {
        Ok(done) => {
            for name in &done.added {
                println!("added    {name}");
            }
            for (name, existing) in &done.skipped {
                println!("skipped  {name} (already there as {existing:?})");
            }
            for (name, url, why) in &done.refused {
                println!("left out {name} ({url}): {why}");
            }
            let left_out = match done.refused.len() {
                0 => String::new(),
                n => format!(", {n} left out"),
            };
            println!(
                "{}: {} sources added, {} already there{left_out}",
                config.display(),
                done.added.len(),
                done.skipped.len(),
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `feedmerge add`: reports what was added, and where it was found.
fn add(config: &std::path::Path, url: &str, options: feedmerge::AddOptions) -> ExitCode {
    let added = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|rt| Ok(rt.block_on(feedmerge::add(config, url, options))?));
    match added {
        Ok(added) => {
            println!("{}", feedmerge::cli::added(config, &added));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", causes(&e));
            ExitCode::FAILURE
        }
    }
}

/// Writes `text` and a newline to stdout. A reader that went away (`| head`) is not an error.
fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
