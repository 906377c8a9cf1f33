//! Confab's domain: what a message, a conversation and a caller are, how input is validated and
//! how a conversation's summary is derived. No I/O here: the store persists, the server speaks HTTP.

pub mod auth;
pub mod bot;
pub mod buckets;
pub mod cluster;
pub mod conversation;
pub mod datapoints;
pub mod error;
pub mod extract;
pub mod flow;
pub mod message;
pub mod query;
pub mod redact;
pub mod rollup;
pub mod search;
pub mod series;
pub mod summary;
pub mod time;
pub mod webhook;

pub use error::FieldError;
pub use message::{Campaign, MessageInput, NewMessage, Role, Step};
pub use summary::{Dim, Summary};
