//! How domain types map to SQLite rows and back.

use confab_core::auth::Scopes;
use confab_core::conversation::{Conversation, Message, Status};
use confab_core::message::{Role, Step};
use confab_core::summary::{DIM_COUNT, Stamps, Summary};
use rusqlite::Row;
use rusqlite::types::Value;

use crate::ApiKeyInfo;

use crate::columns::json_object;
pub(super) use crate::columns::{CONVERSATION_SELECT, DIM_COLUMNS, KEY_SELECT, MESSAGE_SELECT};

pub(super) fn summary_values(s: &Summary) -> Vec<Value> {
    let text = |v: &Option<String>| v.clone().map_or(Value::Null, Value::Text);
    let mut out = vec![
        Value::Integer(s.started_at),
        Value::Integer(s.last_message_at),
        Value::Integer(s.message_count()),
    ];
    out.extend(s.counts.iter().map(|&n| Value::Integer(n)));
    out.push(text(&s.first_user_message));
    out.push(text(&s.first_bot_message));
    out.extend(s.dims.iter().map(text));
    out.push(if s.metadata.is_empty() {
        Value::Null
    } else {
        Value::Text(serde_json::to_string(&s.metadata).unwrap_or_default())
    });
    out.push(Value::Text(serde_json::to_string(&s.stamps).unwrap_or_default()));
    out.push(s.last_step.as_ref().map_or(Value::Null, |st| Value::Text(st.id.clone())));
    out.push(text(&s.last_step.as_ref().and_then(|st| st.kind.clone())));
    out
}

/// Reads a row selected with [`CONVERSATION_SELECT`], starting at column `at`.
pub(super) fn conversation(row: &Row, at: usize) -> rusqlite::Result<Conversation> {
    let g = |i: usize| at + i;
    let mut dims: [Option<String>; DIM_COUNT] = Default::default();
    for (i, d) in dims.iter_mut().enumerate() {
        *d = row.get(g(13 + i))?;
    }
    let stamps: String = row.get(g(22))?;
    let last_step = match row.get::<_, Option<String>>(g(23))? {
        Some(id) => Some(Step { id, kind: row.get(g(24))? }),
        None => None,
    };
    Ok(Conversation {
        pk: row.get(g(0))?,
        bot_id: row.get(g(1))?,
        conversation_id: row.get(g(2))?,
        status: if row.get::<_, i64>(g(3))? == 1 { Status::Ended } else { Status::Active },
        summary: Summary {
            started_at: row.get(g(4))?,
            last_message_at: row.get(g(5))?,
            counts: [row.get(g(7))?, row.get(g(8))?, row.get(g(9))?, row.get(g(10))?],
            first_user_message: row.get(g(11))?,
            first_bot_message: row.get(g(12))?,
            dims,
            metadata: json_object(row.get(g(21))?).unwrap_or_default(),
            last_step,
            stamps: serde_json::from_str::<Stamps>(&stamps).unwrap_or_default(),
        },
    })
}

pub(super) fn message(row: &Row, at: usize) -> rusqlite::Result<Message> {
    let g = |i: usize| at + i;
    let step_id: Option<String> = row.get(g(5))?;
    Ok(Message {
        pk: row.get(g(0))?,
        client_id: row.get(g(1))?,
        role: Role::from_code(row.get(g(2))?).unwrap_or(Role::System),
        content: row.get(g(3))?,
        timestamp: row.get(g(4))?,
        step: match step_id {
            Some(id) => Some(Step { id, kind: row.get(g(6))? }),
            None => None,
        },
        metadata: json_object(row.get(g(7))?),
    })
}

pub(super) fn api_key(row: &Row) -> rusqlite::Result<ApiKeyInfo> {
    let bots: Option<String> = row.get(5)?;
    Ok(ApiKeyInfo {
        id: row.get(0)?,
        team_id: row.get(1)?,
        name: row.get(2)?,
        hint: row.get(3)?,
        scopes: Scopes::from_bits(row.get(4)?),
        bots: bots.and_then(|b| serde_json::from_str(&b).ok()),
        created_at: row.get(6)?,
        revoked_at: row.get(7)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_per_summary_column() {
        assert_eq!(
            summary_values(&Summary::default()).len(),
            crate::columns::summary_columns().len()
        );
    }
}
