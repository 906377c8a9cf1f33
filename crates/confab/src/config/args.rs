//! The command line: subcommands and their flags, each flag with its `CONFAB_*` variable, and
//! how the configuration file fills what neither set (the layering itself is in `config`).

use std::net::SocketAddr;

use anyhow::{Result, bail};
use clap::{Args, Parser, Subcommand};
use confab_server::Config;
use confab_server::ratelimit::Rate;

use super::{Layers, parse, quoted, redacted, redacted_secret};

#[derive(Parser)]
#[command(
    name = "confab",
    version,
    about = "A self-hosted conversation store and analytics server for chatbots"
)]
pub struct Cli {
    /// A TOML configuration file (see confab.example.toml); environment variables and flags
    /// override it.
    #[arg(long, env = "CONFAB_CONFIG", global = true)]
    pub config: Option<std::path::PathBuf>,
    /// Log lines as text for people or JSON for log shippers.
    #[arg(long, env = "CONFAB_LOG_FORMAT", default_value = "text", global = true,
        value_parser = ["text", "json"])]
    pub log_format: String,
    /// What to log, as a tracing filter (`info`, `confab_server=debug,info`); RUST_LOG is read
    /// when neither this, CONFAB_LOG nor the file sets it.
    #[arg(long, env = "CONFAB_LOG", global = true)]
    pub log_level: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Clone)]
pub struct Db {
    /// The database: a SQLite file path or sqlite://PATH (embedded), or
    /// postgres://USER:PASSWORD@HOST:PORT/DB (several servers on one database).
    #[arg(
        long,
        env = "CONFAB_DATABASE_URL",
        default_value = "./confab.db",
        global = true,
        hide_env_values = true
    )]
    pub database_url: String,
    /// PostgreSQL: connections per server.
    #[arg(long, env = "CONFAB_DB_POOL_SIZE", default_value_t = 16, global = true)]
    pub db_pool_size: u32,
    /// PostgreSQL: the longest a statement may run before the database cancels it (the request
    /// is then answered 503).
    #[arg(long, env = "CONFAB_DB_STATEMENT_TIMEOUT_SECONDS", default_value_t = 30, global = true)]
    pub db_statement_timeout_seconds: u64,
    /// PostgreSQL: the longest wait for a connection before a request is answered 503.
    #[arg(long, env = "CONFAB_DB_CONNECT_TIMEOUT_SECONDS", default_value_t = 5, global = true)]
    pub db_connect_timeout_seconds: u64,
    /// PostgreSQL: TLS (disable, allow, prefer, require, verify-ca, verify-full); overrides the
    /// URL's sslmode.
    #[arg(long, env = "CONFAB_DB_SSLMODE", global = true, value_parser = SSL_MODES)]
    pub db_sslmode: Option<String>,
}

#[derive(Args, Clone)]
pub struct ServeArgs {
    /// The address to listen on.
    #[arg(long, env = "CONFAB_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Serve `/metrics` on this address instead of the main one (to keep it off a public
    /// address).
    #[arg(long, env = "CONFAB_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Refuse messages for bots that do not exist yet instead of creating them.
    #[arg(long, env = "CONFAB_NO_CREATE_BOTS")]
    pub no_create_bots: bool,
    /// An OpenAI-compatible endpoint (base URL ending in /v1) asked to fill datapoints when a
    /// conversation is finalised; off when unset. Needs a model (from any layer: it is checked
    /// once the file is read, not by clap).
    #[arg(long, env = "CONFAB_LLM_ENDPOINT")]
    pub llm_endpoint: Option<String>,
    /// The model to ask.
    #[arg(long, env = "CONFAB_LLM_MODEL")]
    pub llm_model: Option<String>,
    /// Bearer key for the endpoint (read from the environment; never logged).
    #[arg(long, env = "CONFAB_LLM_API_KEY", hide_env_values = true)]
    pub llm_api_key: Option<String>,
    /// How long finalisation waits for the endpoint before keeping the rule values.
    #[arg(long, env = "CONFAB_LLM_TIMEOUT_SECONDS", default_value_t = 20)]
    pub llm_timeout_seconds: u64,
    /// What dashboard sessions are signed with. Servers behind one load balancer need the same
    /// one; unset, each start picks a random one (and signs everyone out).
    #[arg(long, env = "CONFAB_SESSION_SECRET", hide_env_values = true, value_parser = session_key)]
    pub session_secret: Option<confab_server::ui::SessionKey>,
    /// Let webhooks and the LLM pass reach loopback, private, link-local and other non-public
    /// addresses (one team on its own network, a model on this machine). Off, a team's admin
    /// cannot make the server call into the operator's network.
    #[arg(long, env = "CONFAB_ALLOW_PRIVATE_TARGETS")]
    pub allow_private_targets: bool,
    /// Requests per API key that write (ingest, changes): N/s, N/m or N/h, optionally
    /// ,burst=B (the burst defaults to N). Unset: unlimited.
    #[arg(long, env = "CONFAB_RATE_LIMIT_WRITES", value_parser = Rate::parse)]
    pub rate_limit_writes: Option<Rate>,
    /// Requests per API key that read (GET, and the vendor-compatible APIs), as
    /// --rate-limit-writes. Unset: unlimited.
    #[arg(long, env = "CONFAB_RATE_LIMIT_READS", value_parser = Rate::parse)]
    pub rate_limit_reads: Option<Rate>,
}

impl ServeArgs {
    pub fn config(&self) -> Config {
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
            allow_private_targets: self.allow_private_targets,
            rate_limit_writes: self.rate_limit_writes,
            rate_limit_reads: self.rate_limit_reads,
            ..Config::default()
        }
    }

    /// Fills from the file what neither a flag nor the environment set.
    pub fn layer(&mut self, layers: &mut Layers, file: &super::File) -> Result<()> {
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
        layers.apply(
            "server.allow_private_targets",
            "allow_private_targets",
            &mut self.allow_private_targets,
            server.allow_private_targets,
            |a| Some(a.to_string()),
        );
        let show_rate = |r: &Option<Rate>| r.as_ref().and_then(|r| quoted(&r.to_string()));
        for (key, arg, value, current) in [
            (
                "server.rate_limit_writes",
                "rate_limit_writes",
                &server.rate_limit_writes,
                &mut self.rate_limit_writes,
            ),
            (
                "server.rate_limit_reads",
                "rate_limit_reads",
                &server.rate_limit_reads,
                &mut self.rate_limit_reads,
            ),
        ] {
            let rate = parse(key, value.as_ref(), |s| Rate::parse(s).map(Some))?;
            layers.apply(key, arg, current, rate, show_rate);
        }
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
    pub fn layer(&mut self, layers: &mut Layers, file: &super::File) -> Result<()> {
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
        let sslmode =
            parse("database.sslmode", db.sslmode.as_ref(), |s| match SSL_MODES.contains(&s) {
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
pub enum Command {
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
    /// Import conversations from JSONL: the `conversations.jsonl` export or `confab generate
    /// --jsonl` lines (told apart per line). Idempotent by message id; exits non-zero if a line
    /// was rejected, after importing the others.
    Import {
        #[command(flatten)]
        db: Db,
        /// The JSONL file, `-` for standard input.
        file: String,
        /// The team to write into (default: the first team).
        #[arg(long)]
        team: Option<i64>,
    },
    /// Copy the embedded SQLite store into an empty PostgreSQL database — every table, with its
    /// ids — then verify each table's count and checksum on both sides. Run it with the server
    /// stopped; an interrupted copy resumes when the same command runs again.
    Migrate {
        /// The SQLite store: a file path, `sqlite://PATH` or `sqlite:PATH`.
        #[arg(long)]
        from: String,
        /// The PostgreSQL database: `postgres://…`, empty or holding an interrupted copy.
        #[arg(long)]
        to: String,
        /// Rows copied per transaction.
        #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        batch_size: u32,
    },
    /// Copy the embedded SQLite store to a new file while a server may be writing to it: a
    /// consistent snapshot, written under a temporary name and renamed when complete. For
    /// PostgreSQL use pg_dump (docs/operations.md).
    Backup {
        #[command(flatten)]
        db: Db,
        /// The backup file to create.
        #[arg(long)]
        to: std::path::PathBuf,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Bring a backup back as a SQLite store: checks it (PRAGMA integrity_check, a Confab schema
    /// this binary knows), then puts it in place. Refuses a database a server has open.
    Restore {
        /// The backup file (from `confab backup`).
        #[arg(long)]
        from: std::path::PathBuf,
        /// The database to create: a file path or sqlite://PATH.
        #[arg(long)]
        to: String,
        /// Replace the database if it exists (its server must be stopped).
        #[arg(long)]
        force: bool,
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
pub enum TeamsCommand {
    /// Create a team.
    Create { name: String },
    /// List teams.
    List,
}

#[derive(Subcommand)]
pub enum KeysCommand {
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

/// A session secret short enough to guess would let anyone forge sessions.
pub fn session_key(secret: &str) -> Result<confab_server::ui::SessionKey, String> {
    match secret.len() {
        32.. => Ok(confab_server::ui::SessionKey::from_secret(secret)),
        _ => Err("must be at least 32 characters (e.g. `openssl rand -hex 32`)".into()),
    }
}
