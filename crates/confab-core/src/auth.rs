//! API keys and the caller they identify: a team, scopes, and optionally a list of bots.
//! Keys are random and long, so a plain SHA-256 is a sound way to store them; the text of a key
//! is shown once, at creation, and never kept.

use rand::Rng;
use sha2::{Digest, Sha256};

use crate::FieldError;

pub const KEY_PREFIX: &str = "cfb_";
const KEY_RANDOM_CHARS: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Ingest,
    Read,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Ingest, Scope::Read, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of scopes. `admin` grants everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes(u8);

impl Scopes {
    pub fn from_bits(bits: i64) -> Scopes {
        Scopes((bits & 0b111) as u8)
    }

    pub fn bits(self) -> i64 {
        i64::from(self.0)
    }

    pub fn with(self, s: Scope) -> Scopes {
        Scopes(self.0 | s.bit())
    }

    pub fn allows(self, s: Scope) -> bool {
        self.0 & (s.bit() | Scope::Admin.bit()) != 0
    }

    pub fn names(self) -> Vec<&'static str> {
        Scope::ALL.into_iter().filter(|s| self.0 & s.bit() != 0).map(Scope::as_str).collect()
    }

    /// Parses `read,ingest` (or a JSON list's items joined by the caller).
    pub fn parse<'a>(
        field: &str,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Scopes, FieldError> {
        let mut out = Scopes::default();
        for name in names {
            let name = name.trim();
            let scope = Scope::ALL.into_iter().find(|s| s.as_str() == name).ok_or_else(|| {
                FieldError::new(field, format!("unknown scope `{name}`: use ingest, read or admin"))
            })?;
            out = out.with(scope);
        }
        if out.0 == 0 {
            return Err(FieldError::new(field, "at least one scope is required"));
        }
        Ok(out)
    }
}

/// Who is calling: resolved from an API key by the store, checked by every handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub team_id: i64,
    pub key_id: i64,
    pub scopes: Scopes,
    /// `None`: every bot of the team. `Some`: only these bot ids.
    pub bots: Option<Vec<String>>,
}

impl Caller {
    pub fn may_use_bot(&self, bot_id: &str) -> bool {
        self.bots.as_ref().is_none_or(|bots| bots.iter().any(|b| b == bot_id))
    }
}

/// A new random key: `cfb_` and 40 characters of base62.
pub fn generate_key() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    let random: String = (0..KEY_RANDOM_CHARS)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{KEY_PREFIX}{random}")
}

/// What the store keeps of a key.
pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The first characters of a key, kept to let people tell keys apart in a list.
pub fn key_hint(key: &str) -> String {
    key.chars().take(KEY_PREFIX.len() + 6).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_allows_everything_and_read_only_read() {
        let admin = Scopes::parse("scopes", ["admin"]).unwrap();
        assert!(Scope::ALL.iter().all(|&s| admin.allows(s)));
        let read = Scopes::parse("scopes", ["read"]).unwrap();
        assert!(
            read.allows(Scope::Read) && !read.allows(Scope::Ingest) && !read.allows(Scope::Admin)
        );
        assert_eq!(
            Scopes::parse("scopes", ["read", " ingest"]).unwrap().names(),
            ["ingest", "read"]
        );
        assert_eq!(Scopes::parse("scopes", ["owner"]).unwrap_err().field, "scopes");
        assert!(Scopes::parse("scopes", []).is_err());
    }

    #[test]
    fn keys_are_random_and_hashed() {
        let (a, b) = (generate_key(), generate_key());
        assert_ne!(a, b);
        assert!(a.starts_with(KEY_PREFIX) && a.len() == 44);
        assert_ne!(hash_key(&a), hash_key(&b));
        assert_eq!(key_hint(&a).len(), 10);
    }

    #[test]
    fn bot_limits() {
        let c = Caller {
            team_id: 1,
            key_id: 1,
            scopes: Scopes::default(),
            bots: Some(vec!["a".into()]),
        };
        assert!(c.may_use_bot("a") && !c.may_use_bot("b"));
    }
}
