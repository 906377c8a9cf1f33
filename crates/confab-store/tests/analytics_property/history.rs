//! Generating and sending a seed's histories: random conversations, sent shuffled in random
//! batches with retries, erasures and late messages; every outcome checked against the model.

use super::*;

/// Message `k` of a conversation (its client id `m{k}`, most of the time) at `ts`.
fn message(rng: &mut StdRng, conv: &str, k: usize, ts: Millis) -> NewMessage {
    let role = *["user", "user", "bot", "bot", "bot", "agent", "system"].choose(rng).unwrap();
    let mut v = json!({"conversation_id": conv, "role": role, "content": format!("{role} {k}"),
                       "timestamp": ts});
    if rng.random_bool(0.9) {
        v["id"] = json!(format!("m{k}"));
    }
    if role == "bot" && rng.random_bool(0.7) {
        v["step"] = json!({"id": STEPS.choose(rng).unwrap()});
        if rng.random_bool(0.8) {
            v["step"]["type"] = json!("node");
        }
    }
    match rng.random_range(0..10) {
        0 | 1 => v["metadata"] = json!({"handled": false}),
        2 => v["metadata"] = json!({"handled": true, "x": 1}),
        // An LLM's answer: its model and tokens, some of them not counts.
        3..=5 if role == "bot" => {
            let count = |rng: &mut StdRng| match rng.random_range(0..8) {
                0 => json!(-5),
                1 => json!(2.5),
                2 => json!("40"),
                3 => Value::Null,
                _ => json!(rng.random_range(0..5_000)),
            };
            v["metadata"] = json!({"input_tokens": count(rng), "output_tokens": count(rng)});
            if let Some(model) = *[Some("gpt-4o"), Some("claude"), None].choose(rng).unwrap() {
                v["metadata"]["model"] = json!(model);
            }
        }
        _ => {}
    }
    for (dim, values) in VALUES {
        if rng.random_bool(0.2) {
            let field = match dim.field().split_once('.') {
                Some((outer, inner)) => &mut v[outer][inner],
                None => &mut v[dim.field()],
            };
            *field = json!(values.choose(rng).unwrap());
        }
    }
    serde_json::from_value::<MessageInput>(v).unwrap().validate(now()).unwrap()
}

/// A gap between messages: none (a tie), milliseconds, seconds, minutes, up to the next slot
/// boundary, or hours.
fn gap(rng: &mut StdRng, t: Millis) -> Millis {
    match rng.random_range(0..6) {
        0 => 0,
        1 => rng.random_range(1..1_000),
        2 => rng.random_range(1..120) * 1_000,
        3 => rng.random_range(1..30) * MINUTE,
        4 => SLOT - t.rem_euclid(SLOT),
        _ => rng.random_range(1..30) * HOUR,
    }
}

/// 1–12 messages (client ids `m0`, `m1`…) starting in the ten days from `from`.
fn conversation(rng: &mut StdRng, id: &str, from: Millis) -> Vec<NewMessage> {
    let mut t = from + rng.random_range(0..10 * DAY);
    if rng.random_bool(0.3) {
        t -= t.rem_euclid(SLOT);
    }
    (0..rng.random_range(1..=12))
        .map(|k| {
            if k > 0 {
                t += gap(rng, t);
            }
            message(rng, id, k, t)
        })
        .collect()
}

/// Sends one bot's messages shuffled, in batches of 1–20, with retries of messages sent before
/// (sometimes with another time and text) and repeats inside a batch; checks every outcome.
async fn send(
    store: &Arc<dyn Store>,
    model: &mut Model,
    rng: &mut StdRng,
    (team, bot): (i64, &str),
    mut msgs: Vec<NewMessage>,
    sent: &mut Vec<(i64, String, NewMessage)>,
) {
    msgs.shuffle(rng);
    while !msgs.is_empty() {
        let n = rng.random_range(1..=20).min(msgs.len());
        let mut batch: Vec<NewMessage> = msgs.drain(..n).collect();
        for _ in 0..rng.random_range(0..3) {
            let before: Vec<&NewMessage> =
                sent.iter().filter(|(t, b, _)| *t == team && b == bot).map(|x| &x.2).collect();
            let Some(mut retry) = before.choose(rng).copied().or(batch.choose(rng)).cloned() else {
                continue;
            };
            if rng.random_bool(0.5) {
                retry.timestamp -= rng.random_range(1..HOUR);
                retry.content = "retried".into();
            }
            batch.insert(rng.random_range(0..=batch.len()), retry);
        }
        let want: Vec<IngestOutcome> = batch.iter().map(|m| model.ingest(team, bot, m)).collect();
        let got = store.ingest(team, bot, true, batch.clone()).await.unwrap();
        assert_eq!(got, want, "ingest outcomes, team {team} bot {bot}: {batch:#?}");
        sent.extend(batch.into_iter().map(|m| (team, bot.to_owned(), m)));
    }
}

/// Puts a bot's goal steps, in the store and the model.
async fn set_goals(
    store: &Arc<dyn Store>,
    model: &mut Model,
    (team, bot): (i64, &str),
    goals: &[&str],
) {
    let goal_steps: Vec<String> = goals.iter().map(|g| (*g).to_owned()).collect();
    let settings = BotSettings { goal_steps: goal_steps.clone(), ..BotSettings::default() };
    store.put_bot_settings(team, bot, true, &settings).await.unwrap();
    model.goals.insert((team, bot.to_owned()), goal_steps);
}

/// Ingests a seed's history: two teams, erasures, late messages. Returns team 1's bots.
pub(super) async fn history(
    store: &Arc<dyn Store>,
    rng: &mut StdRng,
    model: &mut Model,
    (team1, team2): (i64, i64),
    from: Millis,
) -> Vec<&'static str> {
    let bots: Vec<&'static str> = if rng.random_bool(0.5) { vec!["b1"] } else { vec!["b1", "b2"] };
    let mut sent = vec![];
    set_goals(store, model, (team1, "b1"), &["answer"]).await;
    let n = rng.random_range(30..=60);
    for (b, bot) in bots.iter().enumerate() {
        // The same conversation ids on every bot, and on team 2's bot of the same id.
        let msgs = (0..n)
            .filter(|i| i % bots.len() == b)
            .flat_map(|i| conversation(rng, &format!("c{}", i / bots.len()), from))
            .collect();
        send(store, model, rng, (team1, bot), msgs, &mut sent).await;
    }
    let msgs = (0..8).flat_map(|i| conversation(rng, &format!("c{i}"), from)).collect();
    send(store, model, rng, (team2, "b1"), msgs, &mut sent).await;

    // b2's goal applies from now on: to the late messages below, not to those above.
    if bots.contains(&"b2") {
        set_goals(store, model, (team1, "b2"), &["ask"]).await;
    }

    // Erase some conversations and one end user of team 1.
    for i in 0..model.convs.len() {
        let c = &model.convs[i];
        if c.team == team1 && !c.erased && rng.random_bool(0.15) {
            store.delete_conversation(team1, &c.bot, &c.id).await.unwrap();
            model.convs[i].erased = true;
        }
    }
    let users: Vec<(String, String)> = model
        .convs
        .iter()
        .filter(|c| c.team == team1 && !c.erased)
        .filter_map(|c| Some((c.bot.clone(), dims_of(&c.msgs)[Dim::UserId as usize].clone()?)))
        .collect();
    if let Some((bot, user)) = users.choose(rng) {
        let want = model.erase_user(team1, bot, user);
        assert_eq!(store.delete_user(team1, bot, user).await.unwrap(), want, "delete_user {user}");
    }

    // Late messages: new conversations under erased ids (reusing their client ids), and
    // earlier, interleaved and later messages into stored conversations.
    for bot in &bots {
        let mut msgs = vec![];
        let of_bot = |c: &&Conv| c.team == team1 && c.bot == *bot;
        let erased: Vec<&Conv> = model.convs.iter().filter(of_bot).filter(|c| c.erased).collect();
        for c in erased.choose_multiple(rng, 2) {
            msgs.extend(conversation(rng, &c.id, from));
        }
        let live: Vec<&Conv> = model.convs.iter().filter(of_bot).filter(|c| !c.erased).collect();
        for (j, c) in live.choose_multiple(rng, 8).enumerate() {
            let started = c.msgs.iter().map(|m| m.timestamp).min().unwrap();
            for k in 0..rng.random_range(1..=3) {
                let ts = match rng.random_range(0..3) {
                    0 => started - rng.random_range(1..3 * HOUR),
                    1 => started + rng.random_range(0..2 * HOUR),
                    _ => started - rng.random_range(0..2) * SLOT,
                };
                msgs.push(message(rng, &c.id, 100 + 10 * j + k, ts));
            }
        }
        send(store, model, rng, (team1, bot), msgs, &mut sent).await;
    }
    bots
}
