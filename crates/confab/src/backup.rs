//! `confab backup` and `confab restore`: an online copy of the embedded SQLite store taken while
//! a server writes to it, and its checked return (confab_store::backup). PostgreSQL has its own
//! tools; docs/operations.md gives the steps.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use confab_store::backup::{self, Copied};

/// The SQLite file a database URL names; PostgreSQL is refused with where to look instead.
fn sqlite_path<'a>(url: &'a str, flag: &str, postgres_tool: &str) -> Result<&'a Path> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        bail!(
            "{flag}: a PostgreSQL database is backed up with PostgreSQL's own tools: \
             {postgres_tool} (docs/operations.md, \"Backups\", also gives point-in-time recovery)"
        );
    }
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    if path.contains("://") {
        bail!("{flag}: give a SQLite file path or sqlite://PATH");
    }
    Ok(Path::new(path))
}

pub async fn run_backup(database_url: &str, to: PathBuf, force: bool) -> Result<()> {
    let source = sqlite_path(database_url, "--database-url", "pg_dump")?.to_owned();
    let shown = source.display().to_string();
    let copied = tokio::task::spawn_blocking(move || backup::backup(&source, &to, force))
        .await
        .context("the backup thread")?
        .with_context(|| format!("backing up {shown}"))?;
    println!("backed up {shown} to {}", describe(&copied));
    Ok(())
}

pub async fn run_restore(from: PathBuf, to: &str, force: bool) -> Result<()> {
    let target = sqlite_path(to, "--to", "pg_restore")?.to_owned();
    let shown = from.display().to_string();
    let copied = tokio::task::spawn_blocking(move || backup::restore(&from, &target, force))
        .await
        .context("the restore thread")?
        .with_context(|| format!("restoring {shown}"))?;
    println!(
        "restored {shown} (integrity_check ok) to {}; start the server on it",
        describe(&copied)
    );
    Ok(())
}

fn describe(c: &Copied) -> String {
    format!(
        "{}: {:.1} MB, {} conversations, {} messages, schema version {}, in {:.1} s",
        c.path.display(),
        c.bytes as f64 / 1e6,
        c.conversations,
        c.messages,
        c.schema_version,
        c.elapsed.as_secs_f64()
    )
}
