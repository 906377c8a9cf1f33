//! The single writer: one thread owns the write connection and group-commits whatever jobs are
//! waiting into one transaction, so that many concurrent requests share one fsync. Each job runs
//! inside a savepoint, so one failing job is rolled back alone; replies are sent only after the
//! commit, so an `Ok` always means durable.

use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::{Result, StoreError};

/// Jobs taken into one transaction at most: bounds its size and the latency of the last reply.
const MAX_JOBS_PER_COMMIT: usize = 512;
const QUEUE_DEPTH: usize = 4096;
/// The write connection's wait for locks, and the shorter wait of a WAL truncation, which must
/// not stall writes behind a long read.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
const TRUNCATE_WAIT: Duration = Duration::from_millis(200);
const TRUNCATE_RETRY: Duration = Duration::from_millis(500);

type Finish = Box<dyn FnOnce(Result<()>) + Send>;
/// A job runs against the connection, or is told (`None`) that it will not run.
type Job = Box<dyn FnOnce(Option<&Connection>) -> Done + Send>;

struct Done {
    ok: bool,
    /// Fold the WAL into the main file and truncate it after the commit, so that erased text
    /// does not linger in old WAL frames.
    checkpoint: bool,
    finish: Finish,
}

pub(crate) struct Writer {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    pub(crate) fn start(conn: Connection) -> Writer {
        let (tx, rx) = mpsc::channel::<Job>(QUEUE_DEPTH);
        let thread = std::thread::Builder::new()
            .name("confab-sqlite-writer".into())
            .spawn(move || run(conn, rx))
            .expect("spawning the writer thread");
        Writer { tx: Mutex::new(Some(tx)), thread: Mutex::new(Some(thread)) }
    }

    /// Runs `f` in the writer's transaction and returns its result once committed.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.submit(false, f).await
    }

    /// Like [`Writer::write`], for erasures: the WAL is checkpointed and truncated after commit.
    pub(crate) async fn erase<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.submit(true, f).await
    }

    async fn submit<T, F>(&self, checkpoint: bool, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let sender = self.tx.lock().expect("writer lock").clone();
        let sender = sender.ok_or_else(|| StoreError::Unavailable("the store is closed".into()))?;
        let (reply_tx, reply_rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = match conn {
                Some(conn) => f(conn),
                None => Err(StoreError::Unavailable("the transaction could not begin".into())),
            };
            let ok = result.is_ok();
            let finish: Finish = Box::new(move |commit| {
                let _ = reply_tx.send(commit.and(result));
            });
            Done { ok, checkpoint, finish }
        });
        sender
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable("the writer has stopped".into()))?;
        reply_rx.await.map_err(|_| StoreError::Unavailable("the writer has stopped".into()))?
    }

    /// Stops taking jobs, lets the writer commit what it has, and waits for it.
    pub(crate) async fn close(&self) {
        self.tx.lock().expect("writer lock").take();
        let thread = self.thread.lock().expect("writer lock").take();
        if let Some(t) = thread {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

fn run(conn: Connection, mut rx: mpsc::Receiver<Job>) {
    // Whether an erasure was committed and the WAL still holds frames written before it.
    let mut truncate_owed = false;
    loop {
        let first = if truncate_owed {
            // Readers kept the checkpoint from finishing: try again between jobs.
            match rx.try_recv() {
                Ok(job) => job,
                Err(mpsc::error::TryRecvError::Empty) => {
                    std::thread::sleep(TRUNCATE_RETRY);
                    truncate_owed = !truncate_wal(&conn);
                    continue;
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            }
        } else {
            match rx.blocking_recv() {
                Some(job) => job,
                None => break,
            }
        };
        let mut jobs = vec![first];
        while jobs.len() < MAX_JOBS_PER_COMMIT {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        truncate_owed |= commit_group(&conn, jobs);
    }
    // Leave the WAL folded into the main file on a clean stop.
    if !truncate_wal(&conn) {
        tracing::warn!("the WAL could not be truncated at shutdown; it will be at the next start");
    }
}

/// Checkpoints the whole WAL into the main file and truncates it; `false` when readers kept it
/// from finishing (SQLite reports that as "busy" in the result row, not as an error).
fn truncate_wal(conn: &Connection) -> bool {
    let _ = conn.busy_timeout(TRUNCATE_WAIT);
    let busy = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0));
    let _ = conn.busy_timeout(BUSY_TIMEOUT);
    match busy {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => {
            tracing::warn!(error = %e, "WAL checkpoint failed");
            false
        }
    }
}

/// Commits `jobs` as one transaction and answers them. After an erasure the WAL is truncated
/// before the answers go out, so a `DELETE` returns with the text gone from every file; returns
/// whether that truncation is still owed.
fn commit_group(conn: &Connection, jobs: Vec<Job>) -> bool {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let err = StoreError::Database(e.to_string());
        for job in jobs {
            (job(None).finish)(Err(err.clone()));
        }
        return false;
    }
    let mut finishes = Vec::with_capacity(jobs.len());
    let mut checkpoint = false;
    for job in jobs {
        let savepoint = conn.execute_batch("SAVEPOINT job");
        let done = job(Some(conn));
        if savepoint.is_ok() {
            if !done.ok {
                let _ = conn.execute_batch("ROLLBACK TO job");
            }
            let _ = conn.execute_batch("RELEASE job");
        }
        checkpoint |= done.checkpoint && done.ok;
        finishes.push(done.finish);
    }
    let commit = conn.execute_batch("COMMIT").map_err(|e| StoreError::Database(e.to_string()));
    if commit.is_err() {
        tracing::error!(error = ?commit, "commit failed; the group is rolled back");
        let _ = conn.execute_batch("ROLLBACK");
    }
    let owed = checkpoint && commit.is_ok() && !truncate_wal(conn);
    for finish in finishes {
        finish(commit.clone());
    }
    owed
}
