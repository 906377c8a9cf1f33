//! The `confab` binary: serve, demo, and the administration of teams and keys.

mod config;
mod demo;
mod generate;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
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
    /// A TOML configuration file (see confab.example.toml); environment variables and flags
    /// override it.
    #[arg(long, env = "CONFAB_CONFIG", global = true)]
    config: Option<std::path::PathBuf>,
    /// Log lines as text for people or JSON for log shippers.
    #[arg(long, env = "CONFAB_LOG_FORMAT", default_value = "text", global = true,
        value_parser = ["text", "json"])]
    log_format: String,
    /// What to log, as a tracing filter (`info`, `confab_server=debug,info`); RUST_LOG is read
    /// when neither this, CONFAB_LOG nor the file sets it.
    #[arg(long, env = "CONFAB_LOG", global = true)]
    log_level: Option<String>,
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
    #[arg(long, env = "CONFAB_DB_SSLMODE", global = true, value_parser = SSL_MODES)]
    db_sslmode: Option<String>,
}

#[derive(Args, Clone)]
struct ServeArgs {
    /// The address to listen on.
    #[arg(long, env = "CONFAB_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Serve `/metrics` on this address instead of the main one (to keep it off a public
    /// address).
    #[arg(long, env = "CONFAB_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Refuse messages for bots that do not exist yet instead of creating them.
    #[arg(long, env = "CONFAB_NO_CREATE_BOTS")]
    no_create_bots: bool,
    /// An OpenAI-compatible endpoint (base URL ending in /v1) asked to fill datapoints when a
    /// conversation is finalised; off when unset. Needs a model (from any layer: it is checked
    /// once the file is read, not by clap).
    #[arg(long, env = "CONFAB_LLM_ENDPOINT")]
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
            metrics_on_main: self.metrics_listen.is_none(),
            ..Config::default()
        }
    }

    /// Fills from the file what neither a flag nor the environment set.
    fn layer(&mut self, layers: &mut config::Layers, file: &config::File) -> Result<()> {
        use config::{parse, quoted, redacted_secret};
        let (server, llm) = (&file.server, &file.llm);
        let addr = |a: &SocketAddr| quoted(&a.to_string());
        let listen = parse("server.listen", server.listen.as_ref(), str::parse)?;
        layers.apply("server.listen", "listen", &mut self.listen, listen, addr);
        let metrics = parse("server.metrics_listen", server.metrics_listen.as_ref(), |s| {
            s.parse::<SocketAddr>().map(Some)
        })?;
        layers.apply(
            "server.metrics_listen",
            "metrics_listen",
            &mut self.metrics_listen,
            metrics,
            |a| a.as_ref().and_then(addr),
        );
        let no_create = server.create_bots.map(|c| !c);
        layers.apply(
            "server.create_bots",
            "no_create_bots",
            &mut self.no_create_bots,
            no_create,
            |n| Some((!n).to_string()),
        );
        let secret = parse("server.session_secret", server.session_secret.as_ref(), |s| {
            session_key(s).map(Some)
        })?;
        layers.apply(
            "server.session_secret",
            "session_secret",
            &mut self.session_secret,
            secret,
            redacted_secret,
        );
        let text = |v: &Option<String>| v.as_deref().and_then(quoted);
        layers.apply(
            "llm.endpoint",
            "llm_endpoint",
            &mut self.llm_endpoint,
            llm.endpoint.clone().map(Some),
            text,
        );
        layers.apply(
            "llm.model",
            "llm_model",
            &mut self.llm_model,
            llm.model.clone().map(Some),
            text,
        );
        layers.apply(
            "llm.api_key",
            "llm_api_key",
            &mut self.llm_api_key,
            llm.api_key.clone().map(Some),
            redacted_secret,
        );
        layers.apply(
            "llm.timeout_seconds",
            "llm_timeout_seconds",
            &mut self.llm_timeout_seconds,
            llm.timeout_seconds,
            |t| Some(t.to_string()),
        );
        // A model alone is harmless (the LLM pass stays off), as it was before the file existed.
        if self.llm_endpoint.is_some() && self.llm_model.is_none() {
            bail!("llm.endpoint needs llm.model (--llm-model, CONFAB_LLM_MODEL or the file's)");
        }
        Ok(())
    }
}

impl Db {
    /// Fills from the file what neither a flag nor the environment set.
    fn layer(&mut self, layers: &mut config::Layers, file: &config::File) -> Result<()> {
        use config::quoted;
        let db = &file.database;
        layers.apply("database.url", "database_url", &mut self.database_url, db.url.clone(), |u| {
            quoted(&redacted(u))
        });
        let number = |n: &u64| Some(n.to_string());
        layers.apply(
            "database.pool_size",
            "db_pool_size",
            &mut self.db_pool_size,
            db.pool_size,
            |n| Some(n.to_string()),
        );
        layers.apply(
            "database.statement_timeout_seconds",
            "db_statement_timeout_seconds",
            &mut self.db_statement_timeout_seconds,
            db.statement_timeout_seconds,
            number,
        );
        layers.apply(
            "database.connect_timeout_seconds",
            "db_connect_timeout_seconds",
            &mut self.db_connect_timeout_seconds,
            db.connect_timeout_seconds,
            number,
        );
        let sslmode = config::parse("database.sslmode", db.sslmode.as_ref(), |s| match SSL_MODES
            .contains(&s)
        {
            true => Ok(Some(s.to_owned())),
            false => Err(format!("must be one of {}", SSL_MODES.join(", "))),
        })?;
        layers.apply("database.sslmode", "db_sslmode", &mut self.db_sslmode, sslmode, |m| {
            m.as_deref().and_then(quoted)
        });
        Ok(())
    }
}

const SSL_MODES: [&str; 6] = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"];

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
    /// Print the effective configuration: every setting and the layer it came from (default,
    /// file, env or flag), secrets redacted.
    Config {
        #[command(flatten)]
        db: Db,
        #[command(flatten)]
        serve: ServeArgs,
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
        Command::Generate { db, .. } | Command::Teams { db, .. } | Command::Keys { db, .. } => {
            db.layer(&mut layers, &file)?;
        }
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

/// A session secret short enough to guess would let anyone forge sessions.
fn session_key(secret: &str) -> Result<confab_server::ui::SessionKey, String> {
    match secret.len() {
        32.. => Ok(confab_server::ui::SessionKey::from_secret(secret)),
        _ => Err("must be at least 32 characters (e.g. `openssl rand -hex 32`)".into()),
    }
}

/// The URL as it may be logged or printed: without a password, whether in the user part (which
/// may hold `?`, `/` or `@` itself) or a `password=` parameter; `<redacted>` like every secret.
fn redacted(url: &str) -> String {
    let Some(scheme) = url.find("://").map(|i| i + 3) else { return url.to_owned() };
    let (mut out, rest) = match url.rfind('@').filter(|&at| at > scheme) {
        Some(at) => {
            let creds = match url[scheme..at].split_once(':') {
                Some((user, _)) => format!("{user}:<redacted>"),
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
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=<redacted>"),
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

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redacted("postgres://confab:hunter2@db:5432/confab"),
            "postgres://confab:<redacted>@db:5432/confab"
        );
        assert_eq!(redacted("./confab.db"), "./confab.db");
        assert_eq!(
            redacted("postgres://db/confab?user=c&password=hunter2&sslmode=require"),
            "postgres://db/confab?user=c&password=<redacted>&sslmode=require"
        );
        assert_eq!(
            redacted("postgres://u:s3cr?et@127.0.0.1/x"),
            "postgres://u:<redacted>@127.0.0.1/x"
        );
        assert_eq!(
            redacted("postgres://u:a/b@c@h/x?sslmode=require"),
            "postgres://u:<redacted>@h/x?sslmode=require"
        );
    }
}
