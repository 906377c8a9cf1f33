//! The single writer: one thread owns the write connection and group-commits whatever jobs are
//! waiting into one transaction, so that many concurrent requests share one fsync. Each job runs
//! inside a savepoint (unless it is alone in its group), so one failing job is rolled back alone;
//! replies are sent only after the commit, so an `Ok` always means durable. A second thread with its own connection checkpoints
//! the WAL into the main file, so that work is not done inside the writer's commits. Each group's
//! size and the time its transaction took (through `COMMIT`) go to the metrics recorder.
//!
//! A full disk (`SQLITE_FULL`) fails the group it hit, rolled back whole, and puts the writer in a
//! "disk full" state that the store reports to `/readyz`; the next group that commits clears it.
//! With nothing to write the writer tries a one-page write every [`IDLE_RETRY`] meanwhile, so the
//! state clears by itself once space is freed, even when no client writes (a load balancer sends
//! none to a server that says it is not ready).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, mpsc as std_mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use rusqlite::wal::CheckpointMode;
use tokio::sync::{mpsc, oneshot};

use crate::{Result, StoreError};

/// Jobs taken into one transaction at most: bounds its size and the latency of the last reply.
pub(crate) const MAX_JOBS_PER_COMMIT: usize = 512;
const QUEUE_DEPTH: usize = 4096;
/// The write connection's wait for locks, and the shorter wait of a WAL truncation, which must
/// not stall writes behind a long read.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
const TRUNCATE_WAIT: Duration = Duration::from_millis(200);
/// How often an idle writer retries what it owes: a WAL truncation after an erasure, or the
/// one-page write that finds out whether a full disk has space again.
const IDLE_RETRY: Duration = Duration::from_millis(500);
/// When the WAL is checkpointed and made to start over, in pages (4 KiB each, plus 24 bytes).
#[derive(Debug, Clone, Copy)]
pub(crate) struct WalLimits {
    /// Past this the background connection checkpoints (`PASSIVE`: it copies what it can
    /// without waiting for anyone and never holds up a write).
    pub background_pages: i32,
    /// The WAL starts over only after a checkpoint has copied every frame *and* no reader still
    /// uses one, which under constant reads and writes does not happen by itself. Past this the
    /// writer asks for it between groups (see [`restart_wal`]) for at most `restart_wait`, then
    /// writes on and tries again after `cool_down`. (Waiting the whole busy timeout of 10 s each
    /// time stalled ingest to a third at the full benchmark size: docs/performance.md.)
    pub restart_pages: i32,
    pub restart_wait: Duration,
    pub cool_down: Duration,
    /// Past this the writer stops taking jobs and asks for up to `stall_limit`: writes slow to
    /// what the main file takes instead of the WAL growing. A reader holding one snapshot longer
    /// than that lets the writer go on (logged) until the WAL is below this again, or one slow
    /// query would stop every write.
    pub hard_pages: i32,
    pub stall_limit: Duration,
}

impl Default for WalLimits {
    /// ~50 MB to start asking, ~165 MB to stop writing: with the groups written past that mark
    /// the WAL stays under 256 MB (at 300k conversations the peak was 231 MiB with 48,000).
    fn default() -> WalLimits {
        WalLimits {
            background_pages: 2_000,
            restart_pages: 12_000,
            restart_wait: Duration::from_millis(250),
            cool_down: Duration::from_secs(2),
            hard_pages: 40_000,
            stall_limit: Duration::from_secs(10),
        }
    }
}

/// The WAL file is cut back to this size whenever it starts over. Without a limit the file keeps
/// the size of its longest run (SQLite reuses it from the start but never shrinks it).
const WAL_SIZE_LIMIT_BYTES: i64 = 64 << 20;

/// Held shared by every read of the store's reader pool while it runs, and alone by the writer
/// for the last step of making the WAL start over. SQLite's own wait for readers polls each
/// reader's slot, and readers that begin again the moment they end (a busy API) take the same
/// slot back before it looks: the wait then never succeeds. This lock is task-fair (a waiting
/// writer holds back new readers), and the writer takes it only briefly.
pub(crate) type ReadGate = Arc<parking_lot::RwLock<()>>;

/// What the writer's requests for a restart share with the other users of the database.
struct Others {
    /// Set while the writer asks: the background checkpoints wait.
    background_paused: AtomicBool,
    readers: ReadGate,
}

/// Runs in the writer's transaction after the last job and before `COMMIT`; its failure rolls the
/// whole group back.
pub(crate) type BeforeCommit = fn(&Connection) -> rusqlite::Result<()>;

type Finish = Box<dyn FnOnce(Result<()>) + Send>;
/// The longest the writer holds back new reads while it waits for those in flight.
const GATE_WAIT: Duration = Duration::from_millis(50);
/// A job runs against the connection, or is told (`None`) that it will not run.
type Job = Box<dyn FnOnce(Option<&Connection>) -> Done + Send>;

struct Done {
    ok: bool,
    /// The job failed because the disk is full.
    disk_full: bool,
    /// Fold the WAL into the main file and truncate it after the commit, so that erased text
    /// does not linger in old WAL frames.
    checkpoint: bool,
    finish: Finish,
}

pub(crate) struct Writer {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Set when a group failed on a full disk; cleared when one commits.
    disk_full: Arc<AtomicBool>,
}

impl Writer {
    /// Starts the writer on `conn` and its checkpointer on `checkpointer`, a second connection to
    /// the same database.
    pub(crate) fn start(
        mut conn: Connection,
        checkpointer: Connection,
        before_commit: BeforeCommit,
        limits: WalLimits,
        readers: ReadGate,
    ) -> rusqlite::Result<Writer> {
        let wal_pages = Arc::new(AtomicI32::new(0));
        let others = Arc::new(Others { background_paused: AtomicBool::new(false), readers });
        let paused = Arc::clone(&others);
        let (wake, woken) = std_mpsc::sync_channel::<()>(1);
        // Must precede the hook: the pragma installs a hook of its own.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT_BYTES)?;
        let pages = Arc::clone(&wal_pages);
        conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, n: i32| {
            pages.store(n, Ordering::Relaxed);
            if n >= limits.background_pages {
                let _ = wake.try_send(());
            }
            Ok(())
        }))?;
        let checkpoints = std::thread::Builder::new()
            .name("confab-sqlite-checkpoint".into())
            .spawn(move || checkpoint_when_woken(&checkpointer, &woken, &paused.background_paused))
            .expect("spawning the checkpoint thread");
        let (tx, rx) = mpsc::channel::<Job>(QUEUE_DEPTH);
        let disk_full = Arc::new(AtomicBool::new(false));
        let full = Arc::clone(&disk_full);
        let thread = std::thread::Builder::new()
            .name("confab-sqlite-writer".into())
            .spawn(move || {
                run(&conn, rx, before_commit, &wal_pages, &limits, &others, &full);
                // The hook holds the checkpointer's waker: removing it stops that thread, which
                // must be done before the last truncation so that it cannot hold the WAL busy.
                let mut conn = conn;
                let _ = conn
                    .wal_hook(None::<fn(&mut rusqlite::hooks::Wal, i32) -> rusqlite::Result<()>>);
                let _ = checkpoints.join();
                if !truncate_wal(&conn) {
                    tracing::warn!(
                        "the WAL could not be truncated at shutdown; it will be at the next start"
                    );
                }
            })
            .expect("spawning the writer thread");
        Ok(Writer { tx: Mutex::new(Some(tx)), thread: Mutex::new(Some(thread)), disk_full })
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
            let disk_full = matches!(result, Err(StoreError::DiskFull(_)));
            let finish: Finish = Box::new(move |commit| {
                let _ = reply_tx.send(commit.and(result));
            });
            Done { ok, disk_full, checkpoint, finish }
        });
        sender
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable("the writer has stopped".into()))?;
        reply_rx.await.map_err(|_| StoreError::Unavailable("the writer has stopped".into()))?
    }

    /// Writes waiting for the writer, not yet taken into a transaction.
    pub(crate) fn queued(&self) -> u64 {
        let sender = self.tx.lock().expect("writer lock").clone();
        sender.map_or(0, |s| (s.max_capacity() - s.capacity()) as u64)
    }

    /// Whether the last write failed because the disk is full (and none has committed since).
    pub(crate) fn disk_full(&self) -> bool {
        self.disk_full.load(Ordering::Relaxed)
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

fn run(
    conn: &Connection,
    mut rx: mpsc::Receiver<Job>,
    before: BeforeCommit,
    wal_pages: &AtomicI32,
    limits: &WalLimits,
    others: &Others,
    disk_full: &AtomicBool,
) {
    // Whether an erasure was committed and the WAL still holds frames written before it.
    let mut truncate_owed = false;
    let mut restarts = Restarts { next_try: Instant::now(), gave_up: false };
    loop {
        let first = if truncate_owed || disk_full.load(Ordering::Relaxed) {
            // Readers kept the checkpoint from finishing, or the disk was full: try again
            // between jobs.
            match rx.try_recv() {
                Ok(job) => job,
                Err(mpsc::error::TryRecvError::Empty) => {
                    std::thread::sleep(IDLE_RETRY);
                    if disk_full.load(Ordering::Relaxed) {
                        probe_space(conn, disk_full);
                    }
                    if truncate_owed {
                        truncate_owed = !truncate_wal(conn);
                    }
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
        metrics::histogram!("confab_sqlite_writer_group_size").record(jobs.len() as f64);
        let started = Instant::now();
        truncate_owed |= commit_group(conn, jobs, before, disk_full);
        metrics::histogram!("confab_sqlite_writer_commit_seconds")
            .record(started.elapsed().as_secs_f64());
        let pages = wal_pages.load(Ordering::Relaxed);
        restart_wal_if_due(conn, pages, limits, others, &mut restarts);
    }
}

/// The writer's requests for the WAL to start over.
struct Restarts {
    /// No short try before this.
    next_try: Instant,
    /// A reader kept the WAL past `hard_pages` for the whole stall limit: no more stalls until
    /// it is below again (writes go on; short tries continue).
    gave_up: bool,
}

/// Between groups: asks for the WAL to start over once it is past `restart_pages` (for at most
/// `restart_wait`, then not again for `cool_down`), and past `hard_pages` for up to
/// `stall_limit`, not writing meanwhile.
fn restart_wal_if_due(
    conn: &Connection,
    pages: i32,
    limits: &WalLimits,
    others: &Others,
    state: &mut Restarts,
) {
    if pages < limits.hard_pages {
        state.gave_up = false;
    } else if !state.gave_up {
        if !restart_wal(conn, others, limits.stall_limit) {
            tracing::warn!(
                pages,
                "the WAL cannot start over: a reader has held one snapshot for over {:?}",
                limits.stall_limit
            );
            state.gave_up = true;
            state.next_try = Instant::now() + limits.cool_down;
        }
        return;
    }
    if pages >= limits.restart_pages
        && Instant::now() >= state.next_try
        && !restart_wal(conn, others, limits.restart_wait)
    {
        state.next_try = Instant::now() + limits.cool_down;
    }
}

/// Copies the whole WAL into the main file and makes sure no reader still uses it, so that the
/// next write starts it over; tries until that succeeds or `budget` has passed. The background
/// checkpoints pause meanwhile (while one runs, SQLite answers another `busy` at once, without
/// waiting). The copy is `PASSIVE`, repeated: readers on old snapshots move on by themselves,
/// and nothing new is written meanwhile. Only then are new reads held back (at most
/// [`GATE_WAIT`] at a time) for a `RESTART` that has nothing left to copy. Counted once, by how it
/// ended.
fn restart_wal(conn: &Connection, others: &Others, budget: Duration) -> bool {
    let started = Instant::now();
    others.background_paused.store(true, Ordering::Relaxed);
    let outcome = loop {
        let left = budget.saturating_sub(started.elapsed());
        let copied = try_checkpoint(conn, CheckpointMode::PASSIVE);
        if copied.0 == "complete"
            && let Some(_alone) = others.readers.try_write_for(GATE_WAIT.min(left))
        {
            let _ = conn.busy_timeout(left);
            let restarted = try_checkpoint(conn, CheckpointMode::RESTART);
            let _ = conn.busy_timeout(BUSY_TIMEOUT);
            if restarted.0 == "complete" {
                break restarted;
            }
        }
        if started.elapsed() >= budget {
            break ("busy", copied.1, copied.2);
        }
        std::thread::sleep(Duration::from_millis(2).min(left));
    };
    others.background_paused.store(false, Ordering::Relaxed);
    record("restart", outcome, started)
}

fn checkpoint_when_woken(conn: &Connection, woken: &std_mpsc::Receiver<()>, pause: &AtomicBool) {
    while woken.recv().is_ok() {
        if !pause.load(Ordering::Relaxed) {
            let started = Instant::now();
            record("passive", try_checkpoint(conn, CheckpointMode::PASSIVE), started);
        }
    }
}

/// How a checkpoint ended — `complete`, `partial` (readers kept frames from being copied),
/// `busy` (another checkpoint ran, or the wait for readers ran out) or `error` — with the WAL's
/// frames and those copied.
type Outcome = (&'static str, i32, i32);

fn try_checkpoint(conn: &Connection, mode: CheckpointMode) -> Outcome {
    match conn.wal_checkpoint_v2(None::<&str>, mode) {
        Ok((frames, copied)) if frames == copied => ("complete", frames, copied),
        Ok((frames, copied)) => ("partial", frames, copied),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::DatabaseBusy =>
        {
            ("busy", -1, -1)
        }
        Err(e) => {
            tracing::warn!(error = %e, mode = mode as i32, "WAL checkpoint failed");
            ("error", -1, -1)
        }
    }
}

/// Logs (debug) and counts a checkpoint by mode and outcome; whether it completed.
fn record(mode: &'static str, (outcome, frames, copied): Outcome, started: Instant) -> bool {
    tracing::debug!(
        mode,
        outcome,
        frames,
        copied,
        ms = started.elapsed().as_millis() as u64,
        "WAL checkpoint"
    );
    metrics::counter!("confab_sqlite_checkpoints_total", "mode" => mode, "outcome" => outcome)
        .increment(1);
    outcome == "complete"
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
fn commit_group(
    conn: &Connection,
    jobs: Vec<Job>,
    before_commit: BeforeCommit,
    disk_full: &AtomicBool,
) -> bool {
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        let err = StoreError::from(e);
        note_disk(disk_full, Some(&err));
        for job in jobs {
            (job(None).finish)(Err(err.clone()));
        }
        return false;
    }
    let mut finishes = Vec::with_capacity(jobs.len());
    let mut checkpoint = false;
    // A job alone in its group needs no savepoint: if it fails, the transaction is rolled back
    // instead of committed. (A savepoint journals the first change of every page it touches.)
    let alone = jobs.len() == 1;
    let mut failed_alone = false;
    let mut job_hit_full_disk = false;
    let mut any_ok = false;
    // Set when SQLite rolled the whole transaction back by itself: it may on a full disk or an
    // I/O error. The jobs after that one must not run outside the transaction, one commit each.
    let mut lost: Option<StoreError> = None;
    for job in jobs {
        if lost.is_some() {
            finishes.push(job(None).finish);
            continue;
        }
        let savepoint = !alone && exec(conn, "SAVEPOINT job").is_ok();
        let done = job(Some(conn));
        job_hit_full_disk |= done.disk_full;
        if conn.is_autocommit() {
            lost = Some(match done.disk_full {
                true => StoreError::DiskFull("the transaction was rolled back".into()),
                false => StoreError::Database("the transaction was rolled back".into()),
            });
            finishes.push(done.finish);
            continue;
        }
        if savepoint {
            if !done.ok {
                let _ = exec(conn, "ROLLBACK TO job");
            }
            let _ = exec(conn, "RELEASE job");
        }
        failed_alone = alone && !done.ok;
        any_ok |= done.ok;
        checkpoint |= done.checkpoint && done.ok;
        finishes.push(done.finish);
    }
    let commit = if let Some(err) = lost {
        Err(err)
    } else if failed_alone {
        // Nothing to keep; the job's own error is its answer.
        let _ = exec(conn, "ROLLBACK");
        Ok(())
    } else {
        before_commit(conn).and_then(|()| exec(conn, "COMMIT")).map_err(StoreError::from)
    };
    if let Err(e) = &commit {
        match e {
            StoreError::DiskFull(_) => {
                tracing::warn!(error = %e, "the disk is full; the group is rolled back")
            }
            _ => tracing::error!(error = %e, "commit failed; the group is rolled back"),
        }
        if !conn.is_autocommit() {
            let _ = exec(conn, "ROLLBACK");
        }
    }
    match &commit {
        Ok(()) if job_hit_full_disk => {
            note_disk(disk_full, Some(&StoreError::DiskFull(String::new())))
        }
        // A transaction whose every job failed committed nothing: it says nothing of the disk.
        Ok(()) if any_ok => note_disk(disk_full, None),
        Ok(()) => {}
        Err(e) => note_disk(disk_full, Some(e)),
    }
    let owed = checkpoint && commit.is_ok() && !truncate_wal(conn);
    for finish in finishes {
        finish(commit.clone());
    }
    owed
}

/// Records what a group's end says of the disk: full when it failed on `SQLITE_FULL`, not full
/// once something committed (`None`); other errors say nothing.
fn note_disk(disk_full: &AtomicBool, error: Option<&StoreError>) {
    match error {
        Some(StoreError::DiskFull(_)) => {
            if !disk_full.swap(true, Ordering::Relaxed) {
                tracing::error!("the disk is full: writes are refused until space is freed");
                metrics::counter!("confab_sqlite_disk_full_total").increment(1);
            }
        }
        Some(_) => {}
        None => {
            if disk_full.swap(false, Ordering::Relaxed) {
                tracing::info!("the disk has space again: writes resume");
            }
        }
    }
}

/// With the disk full and nothing to write: a transaction that rewrites the database header's
/// `user_version` with its own value, which commits one page to the WAL — whether a write fits
/// again.
fn probe_space(conn: &Connection, disk_full: &AtomicBool) {
    let probe = || -> rusqlite::Result<()> {
        exec(conn, "BEGIN IMMEDIATE")?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        conn.pragma_update(None, "user_version", version)?;
        exec(conn, "COMMIT")
    };
    let result = probe();
    if result.is_err() && !conn.is_autocommit() {
        let _ = exec(conn, "ROLLBACK");
    }
    match result {
        Ok(()) => note_disk(disk_full, None),
        Err(e) => tracing::debug!(error = %e, "the disk is still full"),
    }
}

/// Runs a statement without parameters, prepared once per connection.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_op(_: &Connection) -> rusqlite::Result<()> {
        Ok(())
    }

    fn open(path: &std::path::Path) -> Connection {
        let c = Connection::open(path).unwrap();
        c.pragma_update(None, "journal_mode", "WAL").unwrap();
        c
    }

    /// A job that wrote and then failed leaves nothing, whether it was alone in its
    /// transaction (rolled back whole) or shared it (rolled back to its savepoint).
    #[tokio::test]
    async fn a_failed_job_leaves_nothing_alone_or_in_a_group() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let conn = open(&path);
        conn.execute_batch("CREATE TABLE t (v INTEGER)").unwrap();
        let writer = Arc::new(
            Writer::start(conn, open(&path), no_op, WalLimits::default(), gate()).unwrap(),
        );
        let insert = |v: i64, fail: bool| {
            let writer = Arc::clone(&writer);
            async move {
                writer
                    .write(move |c| {
                        c.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
                        if fail { Err(StoreError::Conflict("failed on purpose")) } else { Ok(()) }
                    })
                    .await
            }
        };
        assert!(insert(1, true).await.is_err());
        insert(2, false).await.unwrap();
        // Many at once share groups; every other one fails.
        let all: Vec<_> = (10..60).map(|v| tokio::spawn(insert(v, v % 2 == 1))).collect();
        for (v, task) in (10..60).zip(all) {
            assert_eq!(task.await.unwrap().is_ok(), v % 2 == 0);
        }
        writer.close().await;
        let c = open(&path);
        let mut stmt = c.prepare("SELECT v FROM t ORDER BY v").unwrap();
        let kept: Vec<i64> =
            stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
        let want: Vec<i64> = std::iter::once(2).chain((10..60).filter(|v| v % 2 == 0)).collect();
        assert_eq!(kept, want);
    }

    fn gate() -> ReadGate {
        Arc::new(parking_lot::RwLock::new(()))
    }

    /// Small limits, so that a test passes them in a few hundred writes.
    fn small_limits() -> WalLimits {
        WalLimits {
            background_pages: 20,
            restart_pages: 100,
            restart_wait: Duration::from_millis(20),
            cool_down: Duration::from_millis(50),
            hard_pages: 300,
            stall_limit: Duration::from_secs(2),
        }
    }

    fn wal_len(db: &std::path::Path) -> u64 {
        std::fs::metadata(db.with_extension("db-wal")).map_or(0, |m| m.len())
    }

    async fn insert_page(writer: &Writer) {
        writer
            .write(|c| {
                c.execute("INSERT INTO t (v) VALUES (randomblob(3000))", [])?;
                Ok(())
            })
            .await
            .unwrap();
    }

    /// Readers that always hold some snapshot keep the WAL from starting over by itself (each
    /// write appends to it); the writer's bounded restarts keep it under its hard limit.
    #[tokio::test]
    async fn the_wal_starts_over_while_readers_keep_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let conn = open(&path);
        conn.execute_batch("CREATE TABLE t (v BLOB)").unwrap();
        let limits = small_limits();
        let readers = gate();
        let writer = Writer::start(conn, open(&path), no_op, limits, Arc::clone(&readers)).unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|i| {
                let (stop, path, gate) = (Arc::clone(&stop), path.clone(), Arc::clone(&readers));
                std::thread::spawn(move || {
                    let c = open(&path);
                    std::thread::sleep(Duration::from_millis(2 * i));
                    let mut reads = 0;
                    // As the store's reads: each holds the gate shared while it runs; the next
                    // begins the moment one ends.
                    while !stop.load(Ordering::Relaxed) {
                        let _reading = gate.read();
                        c.execute_batch("BEGIN").unwrap();
                        c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)).unwrap();
                        std::thread::sleep(Duration::from_millis(4));
                        c.execute_batch("COMMIT").unwrap();
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();
        let mut largest = 0;
        for _ in 0..1_500 {
            insert_page(&writer).await;
            largest = largest.max(wal_len(&path));
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            assert!(r.join().unwrap() > 0);
        }
        writer.close().await;
        // A few pages per commit past the mark at most (4 KiB pages, 24-byte frame headers).
        let bound = (limits.hard_pages as u64 + 16) * (4096 + 24) + 32;
        assert!(largest <= bound, "the WAL reached {largest} bytes (bound {bound})");
    }

    /// A reader that never lets go of its snapshot keeps the WAL from starting over; the writer
    /// gives up waiting after the stall limit and goes on writing.
    #[tokio::test]
    async fn a_reader_holding_its_snapshot_does_not_stop_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let conn = open(&path);
        conn.execute_batch("CREATE TABLE t (v BLOB)").unwrap();
        let readers = gate();
        let writer =
            Writer::start(conn, open(&path), no_op, small_limits(), Arc::clone(&readers)).unwrap();
        insert_page(&writer).await;
        let path_of_reader = path.clone();
        // A read that holds its snapshot (and its share of the gate) until told to stop.
        let (held, holding) = std_mpsc::channel();
        let (release, released) = std_mpsc::channel::<()>();
        let reader = std::thread::spawn(move || {
            let c = open(&path_of_reader);
            let _reading = readers.read();
            c.execute_batch("BEGIN").unwrap();
            c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)).unwrap();
            held.send(()).unwrap();
            released.recv().unwrap();
            c.execute_batch("COMMIT").unwrap();
        });
        holding.recv().unwrap();
        for _ in 0..600 {
            insert_page(&writer).await;
        }
        assert!(wal_len(&path) > (small_limits().hard_pages as u64) * 4096);
        release.send(()).unwrap();
        reader.join().unwrap();
        writer.close().await;
        let c = open(&path);
        assert_eq!(c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)).unwrap(), 601);
    }
}
