//! Configuration in layers: built-in defaults, then a TOML file (`--config`, `CONFAB_CONFIG`),
//! then `CONFAB_*` environment variables, then flags — each setting from the highest layer that
//! gives it. Clap resolves flags, the environment and defaults and says which one it used
//! ([`ValueSource`]); the file fills what came from a default. Unknown keys in the file are
//! errors naming them; `confab config` prints every setting with the layer it came from, secrets
//! redacted.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{ArgMatches, Command};
use serde::Deserialize;

/// The file, section by section; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    #[serde(default)]
    pub database: DatabaseFile,
    #[serde(default)]
    pub server: ServerFile,
    #[serde(default)]
    pub llm: LlmFile,
    #[serde(default)]
    pub log: LogFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseFile {
    pub url: Option<String>,
    pub pool_size: Option<u32>,
    pub statement_timeout_seconds: Option<u64>,
    pub connect_timeout_seconds: Option<u64>,
    pub sslmode: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFile {
    pub listen: Option<String>,
    pub metrics_listen: Option<String>,
    pub create_bots: Option<bool>,
    pub session_secret: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmFile {
    pub endpoint: Option<String>,
    pub model: Option<String>,
    pub api_key: Option<String>,
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogFile {
    pub format: Option<String>,
    pub level: Option<String>,
}

impl File {
    pub fn read(path: &Path) -> Result<File> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the configuration file {}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow!("the configuration file {}: {e}", path.display()))
    }
}

/// Parses a file value, naming the key when it is not valid.
pub fn parse<T, E: std::fmt::Display>(
    key: &str,
    value: Option<&String>,
    parse: impl FnOnce(&str) -> std::result::Result<T, E>,
) -> Result<Option<T>> {
    value
        .map(|v| parse(v).map_err(|e| anyhow!("the configuration file's {key} = {v:?}: {e}")))
        .transpose()
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_named() {
        let e = toml::from_str::<File>("[server]\nlistn = \"x\"\n").unwrap_err().to_string();
        assert!(e.contains("unknown field `listn`"), "{e}");
        let e = toml::from_str::<File>("[servers]\n").unwrap_err().to_string();
        assert!(e.contains("unknown field `servers`"), "{e}");
    }

    /// The example shows every key, commented out (`# key = value`): uncommented, it parses and
    /// sets them all.
    #[test]
    fn the_example_file_has_every_key() {
        let text = include_str!("../../../confab.example.toml");
        toml::from_str::<File>(text).unwrap();
        let uncommented: String = text
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest) if is_setting(rest) => format!("{rest}\n"),
                _ => format!("{l}\n"),
            })
            .collect();
        let file: File = toml::from_str(&uncommented).unwrap();
        let all = format!("{file:?}");
        assert!(!all.contains("None"), "a key is missing from confab.example.toml: {all}");
    }

    /// Whether a line is `key = value`.
    fn is_setting(line: &str) -> bool {
        line.split_once(" = ").is_some_and(|(k, _)| {
            !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        })
    }
}
