//! The `confab` binary: serve, demo, and the administration of teams and keys.

mod backup;
mod config;
mod demo;
mod generate;
mod import;
mod migrate;

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{CommandFactory, FromArgMatches};
use confab_core::auth::{Scopes, generate_key, hash_key, key_hint};
use confab_core::time::format_rfc3339;
use confab_server::AppState;
use confab_store::{NewKey, Store};

use config::args::{Cli, Command, Db, KeysCommand, ServeArgs, TeamsCommand};
use config::redacted;

#[tokio::main]
async fn main() -> Result<()> {
    confab_server::memory::tune_allocator();
    let cmd = Cli::command();
    let matches = cmd
        .clone()
        .try_get_matches()
        .unwrap_or_else(|e| config::naming_the_variable(&cmd, e).exit());
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let file = match &cli.config {
        Some(path) => config::File::read(path)?,
        None => config::File::default(),
    };
    let mut layers = config::Layers::new(&matches);
    let log = &file.log;
    let format = config::parse("log.format", log.format.as_ref(), |f| match f {
        "text" | "json" => Ok(f.to_owned()),
        _ => Err("must be text or json"),
    })?;
    layers.apply("log.format", "log_format", &mut cli.log_format, format, |f| config::quoted(f));
    let level_from = layers.apply(
        "log.level",
        "log_level",
        &mut cli.log_level,
        log.level.clone().map(Some),
        |l| l.as_deref().and_then(config::quoted),
    );
    let (_, sub) = matches.subcommand().expect("clap requires a subcommand");
    let mut layers = layers.with_matches(sub);
    match &mut cli.command {
        Command::Serve { db, serve }
        | Command::Demo { db, serve, .. }
        | Command::Config { db, serve } => {
            db.layer(&mut layers, &file)?;
            serve.layer(&mut layers, &file)?;
        }
        Command::Generate { db, .. }
        | Command::Import { db, .. }
        | Command::Backup { db, .. }
        | Command::Teams { db, .. }
        | Command::Keys { db, .. } => {
            db.layer(&mut layers, &file)?;
        }
        Command::Migrate { .. } | Command::Restore { .. } => {}
    }
    init_logging(&cli.log_format, cli.log_level.as_deref()).with_context(|| match level_from {
        config::Source::File => "the configuration file's log.level",
        config::Source::Env => "the environment variable CONFAB_LOG",
        config::Source::Flag | config::Source::Default => "--log-level",
    })?;
    match cli.command {
        Command::Config { .. } => {
            print!("{}", layers.render());
            Ok(())
        }
        Command::Serve { db, serve } => {
            let store = open(&db).await?;
            first_start(&store).await?;
            run_server(store, &serve).await
        }
        Command::Demo { db, serve, conversations, no_serve } => {
            let store = open(&db).await?;
            first_start(&store).await?;
            demo::run(&store, conversations, &serve.listen.to_string()).await?;
            if no_serve {
                store.close().await;
                return Ok(());
            }
            run_server(store, &serve).await
        }
        Command::Generate { db, conversations, bots, days, seed, team, url, key, jsonl } => {
            // Today's UTC midnight: the same data set all day long.
            let end = confab_core::time::now_millis() / 86_400_000 * 86_400_000;
            let cfg = confab_bench::generate::Config {
                seed,
                conversations,
                bots: bots.max(1),
                end,
                days,
            };
            let target = match (jsonl, url) {
                (Some(path), _) => generate::Target::Jsonl(path),
                (None, Some(url)) => generate::Target::Http {
                    url: url.trim_end_matches('/').to_owned(),
                    key: key.unwrap_or_default(),
                },
                (None, None) => {
                    let store = open(&db).await?;
                    first_start(&store).await?;
                    let team = match team {
                        Some(t) => t,
                        None => store.list_teams().await?.first().context("no team")?.id,
                    };
                    generate::Target::Store { store, team }
                }
            };
            let store = match &target {
                generate::Target::Store { store, .. } => Some(store.clone()),
                _ => None,
            };
            let result = generate::run(&cfg, target).await;
            if let Some(store) = store {
                store.close().await;
            }
            result
        }
        Command::Import { db, file, team } => {
            let store = open(&db).await?;
            first_start(&store).await?;
            let result = import::run(&store, team, &file).await;
            store.close().await;
            result
        }
        Command::Migrate { from, to, batch_size } => migrate::run(&from, &to, batch_size).await,
        Command::Backup { db, to, force } => backup::run_backup(&db.database_url, to, force).await,
        Command::Restore { from, to, force } => backup::run_restore(from, &to, force).await,
        Command::Teams { db, command } => {
            let store = open(&db).await?;
            let result = teams(&store, command).await;
            store.close().await;
            result
        }
        Command::Keys { db, command } => {
            let store = open(&db).await?;
            let result = keys(&store, command).await;
            store.close().await;
            result
        }
    }
}

async fn open(db: &Db) -> Result<Arc<dyn Store>> {
    let options = confab_store::StoreOptions {
        pool_size: db.db_pool_size.max(1),
        statement_timeout: std::time::Duration::from_secs(db.db_statement_timeout_seconds.max(1)),
        connect_timeout: std::time::Duration::from_secs(db.db_connect_timeout_seconds.max(1)),
        ssl_mode: db.db_sslmode.clone(),
    };
    confab_store::open_with(&db.database_url, &options)
        .await
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("opening the database {}", redacted(&db.database_url)))
}

/// On an empty database: creates the team `default` and prints an admin key, once.
async fn first_start(store: &Arc<dyn Store>) -> Result<()> {
    if let Some(team) = store.create_first_team().await? {
        let key = new_key(store, team.id, Scopes::parse("scopes", ["admin"])?, None, "first start")
            .await?;
        println!(
            "First start: created team `default` (id {}) and its admin key, shown only this once:",
            team.id
        );
        println!("  {key}");
    }
    Ok(())
}

async fn new_key(
    store: &Arc<dyn Store>,
    team_id: i64,
    scopes: Scopes,
    bots: Option<Vec<String>>,
    name: &str,
) -> Result<String> {
    let key = generate_key();
    store
        .create_key(NewKey {
            team_id,
            name: name.to_owned(),
            hash: hash_key(&key),
            hint: key_hint(&key),
            scopes,
            bots,
        })
        .await?;
    Ok(key)
}

/// Logs to stderr, as text or JSON lines (with the current spans' fields, so a request's lines
/// carry its request id). The filter: the configured level, else RUST_LOG, else `info`.
fn init_logging(format: &str, level: Option<&str>) -> Result<()> {
    use tracing_subscriber::EnvFilter;
    let filter = match level {
        Some(l) => {
            EnvFilter::try_new(l).map_err(|e| anyhow::anyhow!("the log level {l:?}: {e}"))?
        }
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        "json" => builder.json().with_current_span(true).with_span_list(true).init(),
        _ => builder.init(),
    }
    Ok(())
}

async fn run_server(store: Arc<dyn Store>, args: &ServeArgs) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let state = AppState::new(store, args.config());
    tracing::info!(address = %args.listen, "Confab is serving");
    println!("Confab is listening on http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let metrics = match args.metrics_listen {
        Some(addr) => {
            let metrics = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening on {addr} for /metrics"))?;
            println!("Metrics at http://{}/metrics", metrics.local_addr()?);
            let app = confab_server::metrics_app(state.clone());
            let mut stopped = stopped.clone();
            Some(tokio::spawn(async move {
                let until = async move {
                    let _ = stopped.wait_for(|s| *s).await;
                };
                axum::serve(metrics, app).with_graceful_shutdown(until).await
            }))
        }
        None => None,
    };
    let result = confab_server::serve(listener, state, shutdown_signal()).await;
    let _ = stop.send(true);
    if let Some(task) = metrics {
        task.await.context("the metrics listener")??;
    }
    result?;
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

async fn teams(store: &Arc<dyn Store>, command: TeamsCommand) -> Result<()> {
    match command {
        TeamsCommand::Create { name } => {
            if name.trim().is_empty() {
                bail!("a team needs a name");
            }
            let team = store.create_team(&name).await?;
            println!("created team {} ({})", team.id, team.name);
        }
        TeamsCommand::List => {
            for t in store.list_teams().await? {
                println!("{}\t{}\t{}", t.id, t.name, format_rfc3339(t.created_at));
            }
        }
    }
    Ok(())
}

async fn keys(store: &Arc<dyn Store>, command: KeysCommand) -> Result<()> {
    match command {
        KeysCommand::Create { team, scopes, bots, name } => {
            let scopes = Scopes::parse("--scopes", scopes.iter().map(String::as_str))?;
            let key = new_key(store, team, scopes, bots, &name).await?;
            println!("{key}");
            eprintln!("This key is shown only once; Confab keeps only its hash.");
        }
        KeysCommand::List { team } => {
            for k in store.list_keys(team).await? {
                let bots = k.bots.map_or("all bots".to_owned(), |b| b.join(","));
                let state = k
                    .revoked_at
                    .map_or("live".to_owned(), |t| format!("revoked {}", format_rfc3339(t)));
                println!(
                    "{}\tteam {}\t{}…\t{}\t{}\t{}\t{}",
                    k.id,
                    k.team_id,
                    k.hint,
                    k.name,
                    k.scopes.names().join(","),
                    bots,
                    state
                );
            }
        }
        KeysCommand::Revoke { id } => {
            store.revoke_key(None, id).await?;
            println!("revoked key {id}");
        }
    }
    Ok(())
}
