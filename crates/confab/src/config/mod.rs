//! Configuration in layers: built-in defaults, then a TOML file (`--config`, `CONFAB_CONFIG`),
//! then `CONFAB_*` environment variables, then flags — each setting from the highest layer that
//! gives it. Clap resolves flags, the environment and defaults and says which one it used
//! ([`ValueSource`]); the file fills what came from a default. Unknown keys in the file are
//! errors naming them; `confab config` prints every setting with the layer it came from, secrets
//! redacted.

pub mod args;
mod file;

use std::ffi::OsStr;
use std::fmt::Write as _;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{ArgMatches, Command};

pub use file::{File, parse};

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Default,
    File,
    Env,
    Flag,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::Default => "default",
            Source::File => "file",
            Source::Env => "env",
            Source::Flag => "flag",
        }
    }
}

/// One setting as resolved, for `confab config`: its value as TOML (`None`: unset), or
/// `<redacted>` for a secret.
pub struct Setting {
    pub key: &'static str,
    pub value: Option<String>,
    pub source: Source,
}

/// Applies the file to what clap resolved, and records each setting.
pub struct Layers<'a> {
    matches: &'a ArgMatches,
    pub settings: Vec<Setting>,
}

impl<'a> Layers<'a> {
    pub fn new(matches: &'a ArgMatches) -> Layers<'a> {
        Layers { matches, settings: vec![] }
    }

    /// Moves on to another command's arguments (the global ones are on the top-level matches).
    pub fn with_matches(self, matches: &'a ArgMatches) -> Layers<'a> {
        Layers { matches, settings: self.settings }
    }

    /// `current` is what clap resolved for the argument `arg`; where that came from its default
    /// (or nothing), the file's value replaces it. `show` gives the value as TOML. Returns where
    /// the value came from.
    pub fn apply<T>(
        &mut self,
        key: &'static str,
        arg: &str,
        current: &mut T,
        file: Option<T>,
        show: impl Fn(&T) -> Option<String>,
    ) -> Source {
        let source = match self.matches.value_source(arg) {
            Some(ValueSource::CommandLine) => Source::Flag,
            Some(ValueSource::EnvVariable) => Source::Env,
            _ => match file {
                Some(v) => {
                    *current = v;
                    Source::File
                }
                None => Source::Default,
            },
        };
        self.settings.push(Setting { key, value: show(current), source });
        source
    }

    /// The settings as a TOML document with each one's source, sections in order of first use.
    pub fn render(&self) -> String {
        let mut out = String::from(
            "# The effective configuration: each setting, and where it came from\n\
             # (default < file < env < flag). Secrets are redacted.\n",
        );
        let mut section = "";
        for s in &self.settings {
            let (sec, name) = s.key.split_once('.').unwrap_or(("", s.key));
            if sec != section {
                let _ = write!(out, "\n[{sec}]\n");
                section = sec;
            }
            let source = s.source.name();
            let _ = match &s.value {
                Some(v) => writeln!(out, "{name} = {v}  # {source}"),
                None => writeln!(out, "# {name} is unset  # {source}"),
            };
        }
        out
    }
}

/// Clap reads the `CONFAB_*` variables itself and, when one holds a value it refuses, names the
/// flag — where a user who never typed it would look in vain. This names the variable instead
/// when it holds the refused value; a secret's value (`hide_env_values`) is not repeated.
pub fn naming_the_variable(cmd: &Command, e: clap::Error) -> clap::Error {
    if !matches!(e.kind(), ErrorKind::InvalidValue | ErrorKind::ValueValidation) {
        return e;
    }
    let (Some(ContextValue::String(arg)), Some(ContextValue::String(value))) =
        (e.get(ContextKind::InvalidArg), e.get(ContextKind::InvalidValue))
    else {
        return e;
    };
    let Some(long) = arg.strip_prefix("--").and_then(|a| a.split(' ').next()) else { return e };
    let Some(found) = find_long(cmd, long) else { return e };
    let Some(var) = found.get_env() else { return e };
    if std::env::var_os(var).as_deref() != Some(OsStr::new(value)) {
        return e;
    }
    let text = e.to_string();
    let mut text = text.strip_prefix("error: ").unwrap_or(&text).to_owned();
    if found.is_hide_env_values_set() {
        text = text.replace(&format!("'{value}'"), "<redacted>");
    }
    clap::Error::raw(e.kind(), format!("the environment variable {}: {text}", var.display()))
        .with_cmd(cmd)
}

/// The argument `--long` of the command or any of its subcommands.
fn find_long<'c>(cmd: &'c Command, long: &str) -> Option<&'c clap::Arg> {
    cmd.get_arguments()
        .find(|a| a.get_long() == Some(long))
        .or_else(|| cmd.get_subcommands().find_map(|sub| find_long(sub, long)))
}

/// A TOML string.
pub fn quoted(s: &str) -> Option<String> {
    Some(toml::Value::String(s.to_owned()).to_string())
}

pub fn redacted_secret<T>(v: &Option<T>) -> Option<String> {
    v.as_ref().map(|_| quoted("<redacted>").unwrap_or_default())
}

/// The URL as it may be logged or printed: without a password, whether in the user part (which
/// may hold `?`, `/` or `@` itself) or a `password=` parameter; `<redacted>` like every secret.
pub fn redacted(url: &str) -> String {
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
