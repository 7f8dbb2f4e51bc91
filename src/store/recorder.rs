//! The recorder: one task writes every poll's result, and the results that wait while it
//! writes are written together, in one transaction. The commit, the story index's catch-up,
//! the search index's entries (one statement, so one new segment of SQLite's index), the
//! sketches and headlines (`group`) and the pages every result touches (the sources table, the
//! ends of the indexes) are then paid once for many small fetches, instead of once each.
//!
//! Each result stays all or nothing, and only its own: a result that fails is left out and the
//! others are written again without it (failures are rare, so this costs less than a savepoint
//! around every result), and a crash leaves every source's result whole or absent. A result
//! that finds the database unwritable (a full disk) fails the whole group: nothing of it could
//! be kept.

use std::sync::{Arc, Mutex};

use chrono::Utc;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::group::GroupRows;
use super::story_index::Pending;
use super::{Attempt, Counts, Next};
use super::{Store, StoreError};

/// Results written in one transaction at most: a bound on how long one commit makes the
/// others (and readers of the feeds, on PostgreSQL) wait.
const GROUP: usize = 64;

/// One result to record, and where to say how it went.
struct Job {
    source: String,
    attempt: Attempt,
    next: Next,
    done: oneshot::Sender<Result<Counts, StoreError>>,
}

/// The recorder task, started on the first result, and the way to it; shared by every clone
/// of the store.
#[derive(Debug, Clone, Default)]
pub(super) struct Recorder {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    jobs: Option<mpsc::UnboundedSender<Job>>,
    task: Option<JoinHandle<()>>,
    closed: bool,
}

/// The store was closed: nothing more is recorded.
fn closed() -> StoreError {
    StoreError::Query(sqlx::Error::PoolClosed)
}

impl Recorder {
    /// Hands a result to the recorder task (starting it, on `store`, if need be) and waits
    /// until it is committed. Dropping the wait does not drop the result: it is still written.
    pub(super) async fn record(
        &self,
        store: &Store,
        source: &str,
        attempt: Attempt,
        next: Next,
    ) -> Result<Counts, StoreError> {
        let (done, result) = oneshot::channel();
        {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            if inner.closed {
                return Err(closed());
            }
            if inner.jobs.is_none() {
                let (jobs, queue) = mpsc::unbounded_channel();
                inner.task = Some(tokio::spawn(run(store.clone(), queue)));
                inner.jobs = Some(jobs);
            }
            let job = Job {
                source: source.to_owned(),
                attempt,
                next,
                done,
            };
            let jobs = inner.jobs.as_ref().ok_or_else(closed)?;
            jobs.send(job).map_err(|_| closed())?;
        }
        result.await.unwrap_or_else(|_| Err(closed()))
    }

    /// Records what was handed over before this, then stops the task.
    pub(super) async fn close(&self) {
        let task = {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            inner.closed = true;
            // The task's queue ends once this, its only sender, is gone.
            inner.jobs = None;
            inner.task.take()
        };
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// The recorder task: writes whatever results wait, up to [`GROUP`] at a time, until the
/// store closes.
async fn run(store: Store, mut queue: mpsc::UnboundedReceiver<Job>) {
    while let Some(first) = queue.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < GROUP {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        store.write_group(jobs).await;
        // The group's articles, rows and statements are freed now, all at once.
        crate::memory::give_back();
    }
}

impl Store {
    /// Writes `jobs` in one transaction and tells each how it went. One that fails is left
    /// out (its error is its own) and the others are written again without it.
    async fn write_group(&self, mut jobs: Vec<Job>) {
        while !jobs.is_empty() {
            match self.write_together(&jobs).await {
                Ok(results) => {
                    for (job, counts) in jobs.into_iter().zip(results) {
                        let _ = job.done.send(Ok(counts));
                    }
                    return;
                }
                Err((Some(failed), e)) if !e.is_unwritable() => {
                    let job = jobs.remove(failed);
                    let _ = job.done.send(Err(e));
                }
                Err((_, e)) => {
                    let e = Arc::new(e);
                    for job in jobs {
                        let _ = job.done.send(Err(StoreError::Group(e.clone())));
                    }
                    return;
                }
            }
        }
    }

    /// Writes every job in one transaction: each one's counts, or the error and which job (if
    /// one) it came from. Nothing is kept of a transaction that fails, in the database or in
    /// the story index.
    async fn write_together(
        &self,
        jobs: &[Job],
    ) -> Result<Vec<Counts>, (Option<usize>, StoreError)> {
        let now = Utc::now();
        let mut writer = self.writer.lock().await;
        let mut pending = Pending::new(&mut writer, &self.db);
        // Results without articles write only their sources' own rows, which this process has
        // claimed: they need not wait for other replicas' writes.
        let articles = jobs.iter().any(|j| {
            matches!(
                j.attempt,
                Attempt::Fetched { .. } | Attempt::Pushed { .. } | Attempt::Reapplied { .. }
            )
        });
        let begun = match articles {
            true => self.db.begin().await,
            false => self.db.begin_own_row().await,
        };
        let mut tx = begun.map_err(|e| (None, e))?;
        let mut results = Vec::with_capacity(jobs.len());
        let mut group = GroupRows::default();
        for (i, job) in jobs.iter().enumerate() {
            let written = self
                .write_result(
                    &mut tx,
                    &mut pending,
                    &mut group,
                    &job.source,
                    &job.attempt,
                    &job.next,
                    now,
                )
                .await;
            results.push(written.map_err(|e| (Some(i), e))?);
        }
        // Once for the group (see `GroupRows`).
        group.write(&mut tx).await.map_err(|e| (None, e))?;
        let changed = results.iter().any(Counts::changed);
        if changed {
            tx.announce().await.map_err(|e| (None, e))?;
        }
        tx.commit().await.map_err(|e| (None, e))?;
        pending.commit();
        if changed {
            self.changed();
        }
        Ok(results)
    }
}
