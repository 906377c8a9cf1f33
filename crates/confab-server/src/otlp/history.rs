//! From inference calls to the messages of a conversation, each once. Every call carries the
//! history the app keeps (all of it, or a window of its latest messages) and adds what came
//! back, so most of what a call carries is already stored. Each call is laid against the
//! conversation as stored so far: the longest run at the start of the call's messages that
//! repeats the end of the conversation is known, and only what follows it is new. System
//! instructions, sent at the head of every call, are known once stored anywhere in it; a call all
//! of whose messages are stored in a row somewhere adds nothing. A message
//! is timed by the first call that carried it: inputs at the call's start, outputs at its end. A
//! retried export repeats only known messages and stores nothing; new messages get ids from their
//! place and text, so two servers taking the same call at once store it once.

use confab_core::MessageInput;
use confab_core::message::Campaign;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::map::{Call, ChatMessage};

/// A stored message as calls are compared with it: its stored role and its text.
pub type Known = (String, String);

/// The new messages of one conversation's calls (all of one bot and conversation), given what
/// the conversation holds; `known` grows with them.
pub fn new_messages(known: &mut Vec<Known>, mut calls: Vec<Call>) -> Vec<MessageInput> {
    calls.sort_by_key(|c| (c.start, c.end));
    let mut out = vec![];
    for call in &calls {
        let carried: Vec<(&ChatMessage, i64, bool)> = call
            .inputs
            .iter()
            .map(|m| (m, call.start, false))
            .chain(call.outputs.iter().map(|m| (m, call.end, true)))
            .collect();
        let as_known = |m: &ChatMessage| (stored_role(&m.role).0.to_owned(), m.content.clone());
        // Leading system instructions already stored are known wherever they are.
        let skip = carried
            .iter()
            .take_while(|(m, _, _)| {
                stored_role(&m.role).0 == "system" && known.contains(&as_known(m))
            })
            .count();
        let rest: Vec<Known> = carried[skip..].iter().map(|(m, _, _)| as_known(m)).collect();
        // A call whose messages are all stored, in a row (a retried export, or a call that
        // arrives after later ones), adds nothing.
        if !rest.is_empty() && known.windows(rest.len()).any(|w| w == rest.as_slice()) {
            continue;
        }
        let overlap = (0..=rest.len().min(known.len()))
            .rev()
            .find(|&o| known[known.len() - o..] == rest[..o])
            .unwrap_or(0);
        for (m, at, output) in &carried[skip + overlap..] {
            let usage = output.then_some(&call.usage);
            out.push(input(call, m, known.len(), *at, usage));
            known.push(as_known(m));
        }
    }
    out
}

/// The stored role of a role as GenAI conventions name it, and the kind kept in metadata for
/// those stored as `system`.
fn stored_role(role: &str) -> (&'static str, Option<&str>) {
    match role {
        "user" | "human" => ("user", None),
        "assistant" | "ai" | "model" | "bot" => ("bot", None),
        other => ("system", Some(other)),
    }
}

/// The id of a message at this place of a conversation with this role and text.
fn message_id(place: usize, role: &str, content: &str) -> String {
    let mut h = Sha256::new();
    for part in [
        &(place as u64).to_be_bytes(),
        b"\0".as_slice(),
        role.as_bytes(),
        b"\0",
        content.as_bytes(),
    ] {
        h.update(part);
    }
    format!("otel-{}", hex::encode(&h.finalize()[..12]))
}

fn input(
    call: &Call,
    m: &ChatMessage,
    place: usize,
    at: i64,
    usage: Option<&Map<String, Value>>,
) -> MessageInput {
    let (role, kind) = stored_role(&m.role);
    let mut metadata = usage.filter(|u| !u.is_empty()).cloned().unwrap_or_default();
    if let Some(kind) = kind {
        metadata.insert("otel_role".into(), json!(kind));
    }
    let dim = |d: &str| call.dims.get(d).cloned();
    let campaign = match (dim("campaign_id"), dim("campaign_source")) {
        (None, None) => None,
        (id, source) => Some(Campaign { id, source }),
    };
    MessageInput {
        conversation_id: call.conversation_id.clone(),
        id: Some(message_id(place, role, &m.content)),
        role: role.to_owned(),
        content: m.content.clone(),
        timestamp: Some(json!(at)),
        step: None,
        metadata: (!metadata.is_empty()).then_some(Value::Object(metadata)),
        channel_type: dim("channel_type"),
        language: dim("language"),
        version: dim("version"),
        user_id: call.user_id.clone(),
        campaign,
        kind: None,
        session_id: None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn m(role: &str, content: &str) -> ChatMessage {
        ChatMessage { role: role.into(), content: content.into() }
    }

    fn call(start: i64, inputs: Vec<ChatMessage>, output: &str) -> Call {
        Call {
            bot_id: "bot".into(),
            conversation_id: "c".into(),
            user_id: None,
            dims: BTreeMap::new(),
            start,
            end: start + 500,
            inputs,
            outputs: vec![m("assistant", output)],
            usage: Map::new(),
        }
    }

    fn said(turn: i64) -> String {
        // The user says "yes" more than once: each is a message of its own.
        if turn % 3 == 2 { "yes".to_owned() } else { format!("question {turn}") }
    }

    /// Ten calls of a chat whose app keeps the system prompt and the last four messages, sent
    /// in two exports (the second out of order), then the second export retried.
    #[test]
    fn ten_calls_with_a_trimmed_window_give_each_message_once_in_order() {
        let mut history: Vec<ChatMessage> = vec![];
        let mut calls = vec![];
        for turn in 0..10 {
            history.push(m("user", &said(turn)));
            let window = history.len().saturating_sub(4);
            let mut inputs = vec![m("system", "Be brief.")];
            inputs.extend(history[window..].iter().cloned());
            let answer = format!("answer {turn}");
            calls.push(call(turn * 10_000, inputs, &answer));
            history.push(m("assistant", &answer));
        }
        let mut second = calls.split_off(4);
        second.reverse();
        let mut known = vec![];
        let mut got = new_messages(&mut known, calls);
        got.extend(new_messages(&mut known, second.clone()));
        assert!(new_messages(&mut known, second).is_empty(), "a retried export stores nothing");

        let got: Vec<(String, String, i64)> = got
            .into_iter()
            .map(|m| (m.role, m.content, m.timestamp.unwrap().as_i64().unwrap()))
            .collect();
        let mut expected = vec![("system".to_owned(), "Be brief.".to_owned(), 0)];
        for turn in 0..10 {
            expected.push(("user".into(), said(turn), turn * 10_000));
            expected.push(("bot".into(), format!("answer {turn}"), turn * 10_000 + 500));
        }
        assert_eq!(got, expected);
    }

    #[test]
    fn ids_are_stable_for_a_place_and_text() {
        let calls = || vec![call(0, vec![m("user", "hi")], "hello")];
        let a = new_messages(&mut vec![], calls());
        let b = new_messages(&mut vec![], calls());
        assert_eq!(
            a.iter().map(|m| &m.id).collect::<Vec<_>>(),
            b.iter().map(|m| &m.id).collect::<Vec<_>>()
        );
        assert_ne!(a[0].id, a[1].id);
    }

    #[test]
    fn roles_and_usage() {
        let mut c = call(0, vec![m("system", "s"), m("tool", "t"), m("user", "u")], "a");
        c.usage.insert("model".into(), json!("gpt"));
        let got = new_messages(&mut vec![], vec![c]);
        let roles: Vec<(&str, Option<&Value>)> =
            got.iter().map(|m| (m.role.as_str(), m.metadata.as_ref())).collect();
        assert_eq!(roles[0], ("system", Some(&json!({"otel_role": "system"}))));
        assert_eq!(roles[1], ("system", Some(&json!({"otel_role": "tool"}))));
        assert_eq!(roles[2], ("user", None));
        assert_eq!(roles[3], ("bot", Some(&json!({"model": "gpt"}))));
    }
}
