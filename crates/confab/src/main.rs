//! The `confab` binary: serve, demo, and the administration of teams and keys.

mod demo;
mod generate;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use confab_core::auth::{Scopes, generate_key, hash_key, key_hint};
use confab_core::time::format_rfc3339;
use confab_server::{AppState, Config};
use confab_store::{NewKey, Store};

#[derive(Parser)]
#[command(
    name = "confab",
    version,
    about = "A self-hosted conversation store and analytics server for chatbots"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Db {
    /// The database: a SQLite file path or sqlite://PATH (embedded), or
    /// postgres://USER:PASSWORD@HOST:PORT/DB (several servers on one database).
    #[arg(
        long,
        env = "CONFAB_DATABASE_URL",
        default_value = "./confab.db",
        global = true,
        hide_env_values = true
    )]
    database_url: String,
    /// PostgreSQL: connections per server.
    #[arg(long, env = "CONFAB_DB_POOL_SIZE", default_value_t = 16, global = true)]
    db_pool_size: u32,
    /// PostgreSQL: the longest a statement may run before the database cancels it (the request
    /// is then answered 503).
    #[arg(long, env = "CONFAB_DB_STATEMENT_TIMEOUT_SECONDS", default_value_t = 30, global = true)]
    db_statement_timeout_seconds: u64,
    /// PostgreSQL: the longest wait for a connection before a request is answered 503.
    #[arg(long, env = "CONFAB_DB_CONNECT_TIMEOUT_SECONDS", default_value_t = 5, global = true)]
    db_connect_timeout_seconds: u64,
    /// PostgreSQL: TLS (disable, allow, prefer, require, verify-ca, verify-full); overrides the
    /// URL's sslmode.
    #[arg(long, env = "CONFAB_DB_SSLMODE", global = true, value_parser = [
        "disable", "allow", "prefer", "require", "verify-ca", "verify-full",
    ])]
    db_sslmode: Option<String>,
}

#[derive(Args, Clone)]
struct ServeArgs {
    /// The address to listen on.
    #[arg(long, env = "CONFAB_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Refuse messages for bots that do not exist yet instead of creating them.
    #[arg(long, env = "CONFAB_NO_CREATE_BOTS")]
    no_create_bots: bool,
    /// An OpenAI-compatible endpoint (base URL ending in /v1) asked to fill datapoints when a
    /// conversation is finalised; off when unset.
    #[arg(long, env = "CONFAB_LLM_ENDPOINT", requires = "llm_model")]
    llm_endpoint: Option<String>,
    /// The model to ask.
    #[arg(long, env = "CONFAB_LLM_MODEL")]
    llm_model: Option<String>,
    /// Bearer key for the endpoint (read from the environment; never logged).
    #[arg(long, env = "CONFAB_LLM_API_KEY", hide_env_values = true)]
    llm_api_key: Option<String>,
    /// How long finalisation waits for the endpoint before keeping the rule values.
    #[arg(long, env = "CONFAB_LLM_TIMEOUT_SECONDS", default_value_t = 20)]
    llm_timeout_seconds: u64,
    /// What dashboard sessions are signed with. Servers behind one load balancer need the same
    /// one; unset, each start picks a random one (and signs everyone out).
    #[arg(long, env = "CONFAB_SESSION_SECRET", hide_env_values = true, value_parser = session_key)]
    session_secret: Option<confab_server::ui::SessionKey>,
}

impl ServeArgs {
    fn config(&self) -> Config {
        let llm = match (&self.llm_endpoint, &self.llm_model) {
            (Some(endpoint), Some(model)) => Some(confab_server::jobs::finalise::LlmConfig {
                endpoint: endpoint.clone(),
                model: model.clone(),
                api_key: self.llm_api_key.clone(),
                timeout: std::time::Duration::from_secs(self.llm_timeout_seconds),
            }),
            _ => None,
        };
        Config {
            create_bots: !self.no_create_bots,
            llm,
            session_key: self.session_secret.clone(),
            ..Config::default()
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        #[command(flatten)]
        db: Db,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Fill the database with realistic demo data, print a key and example requests, then serve.
    Demo {
        #[command(flatten)]
        db: Db,
        #[command(flatten)]
        serve: ServeArgs,
        /// How many conversations to generate.
        #[arg(long, default_value_t = 2000)]
        conversations: usize,
        /// Generate the data and exit without serving.
        #[arg(long)]
        no_serve: bool,
    },
    /// Generate the benchmark's realistic data set (seeded, any size): into the database, to a
    /// running server over HTTP, or to JSONL.
    Generate {
        #[command(flatten)]
        db: Db,
        #[arg(long, default_value_t = 10_000)]
        conversations: usize,
        #[arg(long, default_value_t = 5)]
        bots: usize,
        /// Conversations start over this many days up to today's UTC midnight.
        #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=365))]
        days: u32,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// The team to write into (default: the first team).
        #[arg(long)]
        team: Option<i64>,
        /// Post to the running server at this base URL instead of writing the database.
        #[arg(long, requires = "key", conflicts_with = "team")]
        url: Option<String>,
        /// With --url: a key with `ingest` and `admin` scopes.
        #[arg(long, env = "CONFAB_KEY", hide_env_values = true)]
        key: Option<String>,
        /// Write JSONL (one `{"bot_id", "message"}` a line) to this file, `-` for stdout.
        #[arg(long, conflicts_with_all = ["url", "team"])]
        jsonl: Option<String>,
    },
    /// Manage teams (tenants).
    Teams {
        #[command(flatten)]
        db: Db,
        #[command(subcommand)]
        command: TeamsCommand,
    },
    /// Manage API keys.
    Keys {
        #[command(flatten)]
        db: Db,
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum TeamsCommand {
    /// Create a team.
    Create { name: String },
    /// List teams.
    List,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key; its text is printed once and never stored.
    Create {
        /// The team the key belongs to.
        #[arg(long)]
        team: i64,
        /// Comma-separated scopes: ingest, read, admin.
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// Limit the key to these bot ids (comma-separated).
        #[arg(long, value_delimiter = ',')]
        bots: Option<Vec<String>>,
        /// A name to tell the key apart.
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// List keys (never their text).
    List {
        #[arg(long)]
        team: Option<i64>,
    },
    /// Revoke a key by id.
    Revoke { id: i64 },
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
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

/// The URL as it may be logged: without a password, whether in the user part (which may hold
/// `?`, `/` or `@` itself) or a `password=` parameter.
/// A session secret short enough to guess would let anyone forge sessions.
fn session_key(secret: &str) -> Result<confab_server::ui::SessionKey, String> {
    match secret.len() {
        32.. => Ok(confab_server::ui::SessionKey::from_secret(secret)),
        _ => Err("must be at least 32 characters (e.g. `openssl rand -hex 32`)".into()),
    }
}

fn redacted(url: &str) -> String {
    let Some(scheme) = url.find("://").map(|i| i + 3) else { return url.to_owned() };
    let (mut out, rest) = match url.rfind('@').filter(|&at| at > scheme) {
        Some(at) => {
            let creds = match url[scheme..at].split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None => url[scheme..at].to_owned(),
            };
            (format!("{}{creds}@", &url[..scheme]), &url[at + 1..])
        }
        None => (url[..scheme].to_owned(), &url[scheme..]),
    };
    match rest.split_once('?') {
        Some((base, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => p.to_owned(),
                })
                .collect();
            out.push_str(base);
            out.push('?');
            out.push_str(&params.join("&"));
        }
        None => out.push_str(rest),
    }
    out
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

async fn run_server(store: Arc<dyn Store>, args: &ServeArgs) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let state = AppState::new(store, args.config());
    tracing::info!(address = %args.listen, "Confab is serving");
    println!("Confab is listening on http://{}", listener.local_addr()?);
    confab_server::serve(listener, state, shutdown_signal()).await?;
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

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redacted("postgres://confab:hunter2@db:5432/confab"),
            "postgres://confab:***@db:5432/confab"
        );
        assert_eq!(redacted("./confab.db"), "./confab.db");
        assert_eq!(
            redacted("postgres://db/confab?user=c&password=hunter2&sslmode=require"),
            "postgres://db/confab?user=c&password=***&sslmode=require"
        );
        assert_eq!(redacted("postgres://u:s3cr?et@127.0.0.1/x"), "postgres://u:***@127.0.0.1/x");
        assert_eq!(
            redacted("postgres://u:a/b@c@h/x?sslmode=require"),
            "postgres://u:***@h/x?sslmode=require"
        );
    }
}
