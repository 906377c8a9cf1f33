//! `confab migrate`: the SQLite store copied into PostgreSQL (confab_store::copy), with a bar per
//! table on a terminal and a line per table elsewhere, then the verification's table.

use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use confab_store::copy::{self, Event};
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::redacted;

pub async fn run(from: &str, to: &str, batch: u32) -> Result<()> {
    let source = from.strip_prefix("sqlite://").or_else(|| from.strip_prefix("sqlite:"));
    let source = match source {
        Some(path) => path,
        None if from.contains("://") => {
            bail!(
                "--from: only an embedded SQLite store can be migrated (a file path or sqlite://PATH)"
            )
        }
        None => from,
    };
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        bail!("--to: give the PostgreSQL database as postgres://…");
    }
    if !Path::new(source).is_file() {
        bail!("--from: {source} is not a file");
    }
    let started = Instant::now();
    let terminal = std::io::stderr().is_terminal();
    let mut bar: Option<ProgressBar> = None;
    let mut current: Option<(&'static str, u64)> = None;
    let result = copy::sqlite_to_postgres(Path::new(source), to, batch as usize, |event| {
        match event {
            Event::Table { table, rows, done } => {
                finish(&mut bar, current.take());
                current = Some((table, rows));
                if done > 0 {
                    eprintln!("{table}: resuming after {done} of {rows} rows");
                }
                if terminal {
                    let b = ProgressBar::new(rows).with_prefix(table).with_position(done);
                    let style = ProgressStyle::with_template(
                        "{prefix:>18} [{bar:30}] {human_pos}/{human_len} ({per_sec}, ETA {eta})",
                    )
                    .expect("a valid template");
                    b.set_style(style.progress_chars("=> "));
                    b.enable_steady_tick(Duration::from_millis(200));
                    bar = Some(b);
                }
            }
            Event::Copied { rows, .. } => {
                if let Some(b) = &bar {
                    b.inc(rows);
                }
            }
            Event::Verifying { .. } => finish(&mut bar, current.take()),
        }
        ControlFlow::Continue(())
    })
    .await;
    finish(&mut bar, current.take());
    let report = result?;
    println!("{:<20} {:>12}  checksum", "table", "rows");
    let mut total = 0;
    for t in &report.tables {
        println!("{:<20} {:>12}  {:016x}", t.table, t.rows, t.checksum);
        total += t.rows;
    }
    println!(
        "copied{} and verified {total} rows of {} tables into {} in {:.1} s; \
         start every server with --database-url on it",
        if report.resumed { " (resumed)" } else { "" },
        report.tables.len(),
        redacted(to),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Ends the table's bar (left on screen), or prints its line when there is no terminal.
fn finish(bar: &mut Option<ProgressBar>, table: Option<(&'static str, u64)>) {
    match bar.take() {
        Some(b) => b.finish(),
        None => {
            if let Some((table, rows)) = table {
                eprintln!("{table}: {rows} rows copied");
            }
        }
    }
}
