//! How domain types map to PostgreSQL rows and back (the column lists are shared with SQLite,
//! in `crate::columns`).

use confab_core::auth::Scopes;
use confab_core::conversation::{Conversation, Message, Status};
use confab_core::datapoints::{Datapoint, Evidence, Method};
use confab_core::message::{Role, Step};
use confab_core::summary::{DIM_COUNT, Stamps, Summary};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{Postgres, Row};

use crate::ApiKeyInfo;
use crate::columns::json_object;

pub(super) type PgQuery<'q> = Query<'q, Postgres, PgArguments>;

/// Summaries as column arrays (in `crate::columns::summary_columns` order), so that one
/// statement writes many conversations.
#[derive(Default)]
pub(super) struct SummaryArrays {
    ints: [Vec<i64>; INTS],
    texts: [Vec<Option<String>>; TEXTS],
}

/// The summary columns that are numbers (the first ones), and the text ones after them.
const INTS: usize = 7;
const TEXTS: usize = 4 + DIM_COUNT + 2;

impl SummaryArrays {
    pub(super) fn push(&mut self, s: &Summary) {
        let ints = [
            s.started_at,
            s.last_message_at,
            s.message_count(),
            s.counts[0],
            s.counts[1],
            s.counts[2],
            s.counts[3],
        ];
        for (col, v) in self.ints.iter_mut().zip(ints) {
            col.push(v);
        }
        let metadata = (!s.metadata.is_empty())
            .then(|| serde_json::to_string(&s.metadata).unwrap_or_default());
        let texts = [s.first_user_message.clone(), s.first_bot_message.clone()]
            .into_iter()
            .chain(s.dims.iter().cloned())
            .chain([
                metadata,
                Some(serde_json::to_string(&s.stamps).unwrap_or_default()),
                s.last_step.as_ref().map(|st| st.id.clone()),
                s.last_step.as_ref().and_then(|st| st.kind.clone()),
            ]);
        for (col, v) in self.texts.iter_mut().zip(texts) {
            col.push(v);
        }
    }

    /// The `UNNEST` arguments for these columns, numbered from parameter `$from`.
    pub(super) fn unnest_args(from: usize) -> String {
        (0..INTS + TEXTS)
            .map(|i| format!("${}::{}[]", from + i, if i < INTS { "bigint" } else { "text" }))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub(super) fn bind(self, mut q: PgQuery<'_>) -> PgQuery<'_> {
        for col in self.ints {
            q = q.bind(col);
        }
        for col in self.texts {
            q = q.bind(col);
        }
        q
    }
}

/// Reads a row selected with `CONVERSATION_SELECT`, starting at column `at`.
pub(super) fn conversation(row: &PgRow, at: usize) -> sqlx::Result<Conversation> {
    let g = |i: usize| at + i;
    let mut dims: [Option<String>; DIM_COUNT] = Default::default();
    for (i, d) in dims.iter_mut().enumerate() {
        *d = row.try_get(g(13 + i))?;
    }
    let stamps: String = row.try_get(g(22))?;
    let last_step = match row.try_get::<Option<String>, _>(g(23))? {
        Some(id) => Some(Step { id, kind: row.try_get(g(24))? }),
        None => None,
    };
    Ok(Conversation {
        pk: row.try_get(g(0))?,
        bot_id: row.try_get(g(1))?,
        conversation_id: row.try_get(g(2))?,
        status: if row.try_get::<i64, _>(g(3))? == 1 { Status::Ended } else { Status::Active },
        summary: Summary {
            started_at: row.try_get(g(4))?,
            last_message_at: row.try_get(g(5))?,
            counts: [
                row.try_get(g(7))?,
                row.try_get(g(8))?,
                row.try_get(g(9))?,
                row.try_get(g(10))?,
            ],
            first_user_message: row.try_get(g(11))?,
            first_bot_message: row.try_get(g(12))?,
            dims,
            metadata: json_object(row.try_get(g(21))?).unwrap_or_default(),
            last_step,
            stamps: serde_json::from_str::<Stamps>(&stamps).unwrap_or_default(),
        },
    })
}

/// Reads a row selected with `MESSAGE_SELECT`, starting at column `at`.
pub(super) fn message(row: &PgRow, at: usize) -> sqlx::Result<Message> {
    let g = |i: usize| at + i;
    let step_id: Option<String> = row.try_get(g(5))?;
    Ok(Message {
        pk: row.try_get(g(0))?,
        client_id: row.try_get(g(1))?,
        role: Role::from_code(row.try_get(g(2))?).unwrap_or(Role::System),
        content: row.try_get(g(3))?,
        timestamp: row.try_get(g(4))?,
        step: match step_id {
            Some(id) => Some(Step { id, kind: row.try_get(g(6))? }),
            None => None,
        },
        metadata: json_object(row.try_get(g(7))?),
    })
}

/// Reads a row selected with `KEY_SELECT`.
pub(super) fn api_key(row: &PgRow) -> sqlx::Result<ApiKeyInfo> {
    let bots: Option<String> = row.try_get(5)?;
    Ok(ApiKeyInfo {
        id: row.try_get(0)?,
        team_id: row.try_get(1)?,
        name: row.try_get(2)?,
        hint: row.try_get(3)?,
        scopes: Scopes::from_bits(row.try_get(4)?),
        bots: bots.and_then(|b| serde_json::from_str(&b).ok()),
        created_at: row.try_get(6)?,
        revoked_at: row.try_get(7)?,
    })
}

/// Reads a row selected with `DATAPOINT_SELECT`, starting at column `at`.
pub(super) fn datapoint(row: &PgRow, at: usize) -> sqlx::Result<Datapoint> {
    let value: String = row.try_get(at + 1)?;
    Ok(Datapoint {
        key: row.try_get(at)?,
        value: serde_json::from_str(&value).unwrap_or(serde_json::Value::Null),
        method: Method::from_code(row.try_get(at + 2)?).unwrap_or(Method::Rule),
        message_id: row.try_get(at + 3)?,
        message_at: row.try_get(at + 4)?,
        updated_at: row.try_get(at + 5)?,
        evidence: row
            .try_get::<Option<i16>, _>(at + 6)?
            .and_then(|c| Evidence::from_code(c.into())),
    })
}

/// The `smallint` the `evidence` column keeps: the codes are 0 to 5, so the cast is exact.
pub(super) fn evidence_code(e: Evidence) -> i16 {
    e.code() as i16
}

/// A message's words as the `search` column keeps them: a `tsvector` literal of the folded
/// lexemes (`confab_core::search::lexemes`) with their positions.
pub(crate) fn tsvector(content: &str) -> String {
    use std::collections::BTreeMap;
    /// PostgreSQL's limits: positions up to 16383, 256 positions per lexeme.
    const MAX_POSITION: usize = 16_383;
    const MAX_POSITIONS: usize = 256;
    let mut positions: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, lexeme) in confab_core::search::lexemes(content).enumerate() {
        let at = positions.entry(lexeme).or_default();
        if at.len() < MAX_POSITIONS {
            at.push((i + 1).min(MAX_POSITION));
        }
    }
    let mut out = String::with_capacity(content.len() + positions.len() * 4);
    for (lexeme, mut at) in positions {
        if !out.is_empty() {
            out.push(' ');
        }
        push_quoted(&mut out, &lexeme);
        out.push(':');
        at.dedup();
        let at: Vec<String> = at.iter().map(usize::to_string).collect();
        out.push_str(&at.join(","));
    }
    out
}

/// A `tsquery` literal requiring every term (terms are already split into runs of letters and
/// digits); `None` when a term has no searchable word, so nothing can match.
pub(super) fn tsquery(terms: &[String]) -> Option<String> {
    let mut parts = vec![];
    for term in terms {
        let lexemes: Vec<String> = confab_core::search::lexemes(term).collect();
        if lexemes.is_empty() {
            return None;
        }
        for l in lexemes {
            let mut quoted = String::new();
            push_quoted(&mut quoted, &l);
            parts.push(quoted);
        }
    }
    Some(parts.join(" & "))
}

/// A lexeme in `tsvector`/`tsquery` input syntax: single-quoted, quotes and backslashes
/// doubled.
fn push_quoted(out: &mut String, lexeme: &str) {
    out.push('\'');
    for c in lexeme.chars() {
        if c == '\'' || c == '\\' {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_array_per_summary_column() {
        let mut arrays = SummaryArrays::default();
        arrays.push(&Summary::default());
        let filled = arrays.ints.iter().filter(|c| c.len() == 1).count()
            + arrays.texts.iter().filter(|c| c.len() == 1).count();
        assert_eq!(filled, crate::columns::summary_columns().len());
        assert_eq!(INTS + TEXTS, crate::columns::summary_columns().len());
    }

    #[test]
    fn tsvector_literal_has_folded_lexemes_with_positions() {
        assert_eq!(tsvector("Zażółć, zazolc! Straße"), "'strasse':3 'zazolc':1,2");
        assert_eq!(tsvector("..."), "");
    }

    #[test]
    fn tsquery_literal_requires_every_term() {
        let terms = vec!["gęślą".to_owned(), "42".to_owned()];
        assert_eq!(tsquery(&terms).unwrap(), "'gesla' & '42'");
    }
}
