//! The configuration file: its sections and keys, each optional; anything else is an error.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
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
    pub allow_private_targets: Option<bool>,
    pub rate_limit_writes: Option<String>,
    pub rate_limit_reads: Option<String>,
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
        let text = include_str!("../../../../confab.example.toml");
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
