//! The slot filler's rules one class at a time, each on the kind of message real users send:
//! values before any question, several in one message, times and dates in words, the bot's
//! restatement the user agrees to, corrections without the key's name, two keys of one type,
//! and the bot's own data that nobody agreed to. Messages carry their own time; relative dates
//! resolve in the bot's zone.

use std::collections::BTreeMap;

use confab_core::Role;
use confab_core::datapoints::{Evidence, Schema, SchemaInput};
use confab_core::extract::{Context, Found, Turn, extract};
use jiff::Timestamp;
use serde_json::{Value, json};

/// Friday 1 March 2019, 10:00 UTC: the first message's time; the others follow 20 s apart.
const START: &str = "2019-03-01T10:00:00Z";

fn schema(defs: Value) -> Schema {
    serde_json::from_value::<SchemaInput>(json!({ "datapoints": defs }))
        .unwrap()
        .validate()
        .unwrap()
}

fn run_at(
    schema: &Schema,
    ctx: &Context,
    start: &str,
    script: &[(&str, &str)],
) -> BTreeMap<String, Found> {
    let start = start.parse::<Timestamp>().unwrap().as_millisecond();
    let turns: Vec<Turn> = script
        .iter()
        .enumerate()
        .map(|(i, (role, text))| Turn {
            role: Role::parse(role).unwrap(),
            text,
            at: start + i as i64 * 20_000,
        })
        .collect();
    extract(schema, &turns, ctx)
}

fn run(schema: &Schema, script: &[(&str, &str)]) -> BTreeMap<String, Found> {
    run_at(schema, &Context::default(), START, script)
}

fn values(found: &BTreeMap<String, Found>) -> BTreeMap<&str, Value> {
    found.iter().map(|(k, f)| (k.as_str(), f.value.clone())).collect()
}

fn booking() -> Schema {
    schema(json!([
        {"key": "date", "type": "date", "questions": ["Date for the reservation"]},
        {"key": "time", "type": "time", "questions": ["Time for the reservation"]},
        {"key": "party_size", "type": "number", "questions": ["Number of people in the party"]}
    ]))
}

#[test]
fn values_given_before_any_question() {
    let s = booking();
    let f = run(&s, &[("user", "Hi, could you get me a restaurant booking on the 8th please?")]);
    assert_eq!(values(&f), BTreeMap::from([("date", json!("2019-03-08"))]));
    assert_eq!(f["date"].evidence, Evidence::OnlyKey);

    let f = run(
        &s,
        &[(
            "user",
            "Can you book a table for me at the Ancient Szechuan for the 11th of this month at \
             11:30 am?",
        )],
    );
    assert_eq!(
        values(&f),
        BTreeMap::from([("date", json!("2019-03-11")), ("time", json!("11:30"))])
    );
}

#[test]
fn times_as_people_say_them() {
    let s = booking();
    for (text, want) in [
        ("See if you can get one at Puerto 27 for 1:15 pm.", "13:15"),
        ("Make it at afternoon 12.", "12:00"),
        ("half past six in the evening", "18:30"),
        ("noon works", "12:00"),
        ("Reserve for 7 in the evening.", "19:00"),
        ("evening 5, thanks.", "17:00"),
        ("5 o'clock in the evening please", "17:00"),
    ] {
        let f = run(&s, &[("user", text)]);
        assert_eq!(f.get("time").map(|f| f.value.clone()), Some(json!(want)), "{text}");
        assert!(!f.contains_key("party_size"), "{text}: {f:?}");
    }
}

#[test]
fn dates_resolve_against_the_message_in_the_bot_zone() {
    let s = schema(json!([{"key": "day", "type": "date"}]));
    let date = |ctx: &Context, at: &str, text: &str| {
        run_at(&s, ctx, at, &[("user", text)]).get("day").map(|f| f.value.clone())
    };
    let utc = Context::default();
    for (text, want) in [
        ("today", "2019-03-01"),
        ("tomorrow please", "2019-03-02"),
        ("the day after tomorrow", "2019-03-03"),
        ("next Tuesday", "2019-03-05"),
        ("this Friday", "2019-03-01"),
        ("on the 11th of this month", "2019-03-11"),
        ("March 8th", "2019-03-08"),
        ("on 3/8", "2019-03-08"),
    ] {
        assert_eq!(date(&utc, START, text), Some(json!(want)), "{text}");
    }
    // 23:30 UTC on the 1st is still the 1st in California and already the 2nd in Warsaw.
    let la = Context::new(Some("US"), Some("America/Los_Angeles")).unwrap();
    let warsaw = Context::new(Some("PL"), Some("Europe/Warsaw")).unwrap();
    let late = "2019-03-01T23:30:00Z";
    assert_eq!(date(&la, late, "tomorrow"), Some(json!("2019-03-02")));
    assert_eq!(date(&warsaw, late, "tomorrow"), Some(json!("2019-03-03")));
    // The bot's locale orders numeric dates: day first in Poland, month first in the US.
    assert_eq!(date(&warsaw, START, "on 3/8"), Some(json!("2019-08-03")));
    assert_eq!(date(&la, START, "on 3/8"), Some(json!("2019-03-08")));
}

#[test]
fn counts_and_amounts_in_words() {
    let s = schema(json!([{"key": "number_of_tickets", "type": "number"}]));
    for (text, want) in [
        ("just me", 1),
        ("a party of four", 4),
        ("two tickets please", 2),
        ("It is just me, so 1.", 1),
        ("There's only one person.", 1),
    ] {
        let f = run(&s, &[("user", text)]);
        assert_eq!(
            f.get("number_of_tickets").map(|f| f.value.clone()),
            Some(json!(want)),
            "{text}"
        );
    }
    let s =
        schema(json!([{"key": "amount", "type": "money", "questions": ["Amount to transfer"]}]));
    for (text, want) in [
        ("send $45 to Amir", json!({"amount": 45, "currency": "USD"})),
        ("transfer 45 bucks to Amir", json!({"amount": 45, "currency": "USD"})),
    ] {
        let f = run(&s, &[("user", text)]);
        assert_eq!(f.get("amount").map(|f| f.value.clone()), Some(want), "{text}");
    }
    // A bare number is an amount only when the bot asked for one.
    assert!(run(&s, &[("user", "I have 3 accounts")]).is_empty());
    let f = run(&s, &[("bot", "How much would you like to transfer?"), ("user", "980")]);
    assert_eq!(f["amount"].value, json!({"amount": 980, "currency": null}));
    assert_eq!(f["amount"].evidence, Evidence::Asked);
}

#[test]
fn a_value_that_fits_no_key_is_dropped() {
    let s = schema(json!([
        {"key": "number_of_rooms", "type": "number", "questions": ["Number of rooms to book"]},
        {"key": "check_in_date", "type": "date"}
    ]));
    // Stars and nights are not rooms.
    let f = run(&s, &[("user", "I want a 3 star hotel for 4 nights")]);
    assert!(!f.contains_key("number_of_rooms"), "{f:?}");
    let f = run(&s, &[("user", "2 rooms please")]);
    assert_eq!(f["number_of_rooms"].value, json!(2));
    assert_eq!(f["number_of_rooms"].evidence, Evidence::Mentioned);
    // A restaurant schema without a party size takes only the time of "a table for 2 at 7 pm".
    let s = schema(json!([{"key": "time", "type": "time"}]));
    assert_eq!(
        values(&run(&s, &[("user", "a table for 2 at 7 pm")])),
        BTreeMap::from([("time", json!("19:00"))])
    );
}

#[test]
fn two_keys_of_one_type() {
    let s = schema(json!([
        {"key": "check_in_date", "type": "date", "questions": ["Start date for the reservation"]},
        {"key": "check_out_date", "type": "date", "questions": ["End date for the reservation"]}
    ]));
    let f = run(&s, &[("user", "Book me a room from the 3rd to the 7th")]);
    assert_eq!(
        values(&f),
        BTreeMap::from([
            ("check_in_date", json!("2019-03-03")),
            ("check_out_date", json!("2019-03-07"))
        ])
    );
    assert_eq!(f["check_in_date"].evidence, Evidence::Order);
    // Named the other way round, the words win over the order.
    let f = run(&s, &[("user", "I check out on the 9th and check in on the 4th")]);
    assert_eq!(f["check_in_date"].value, json!("2019-03-04"));
    assert_eq!(f["check_out_date"].value, json!("2019-03-09"));
    assert_eq!(f["check_out_date"].evidence, Evidence::Mentioned);
    // The bot's question decides an answer that names neither.
    let f = run(
        &s,
        &[
            ("user", "I'd like to check in on the 3rd"),
            ("bot", "When do you plan to check out?"),
            ("user", "The 12th."),
        ],
    );
    assert_eq!(f["check_in_date"].value, json!("2019-03-03"));
    assert_eq!(f["check_out_date"].value, json!("2019-03-12"));
    assert_eq!(f["check_out_date"].evidence, Evidence::Asked);
    // Flights: "return" and "leave" tell the times apart.
    let s = schema(json!([
        {"key": "outbound_departure_time", "type": "time", "questions": ["Departure time for the outbound leg flight"]},
        {"key": "outbound_arrival_time", "type": "time", "questions": ["Arrival time for the outbound leg flight"]},
        {"key": "inbound_arrival_time", "type": "time", "questions": ["Arrival time for the return leg flight"]},
        {"key": "inbound_departure_time", "type": "time", "questions": ["Departure time for the return leg flight"]}
    ]));
    let f = run(
        &s,
        &[(
            "user",
            "I will depart about 2:45 pm and the return flight leaves in the morning 3:45.",
        )],
    );
    assert_eq!(
        values(&f),
        BTreeMap::from([
            ("outbound_departure_time", json!("14:45")),
            ("inbound_departure_time", json!("03:45"))
        ])
    );
}

#[test]
fn the_users_yes_makes_the_bots_restatement_theirs() {
    let s = booking();
    let f = run(
        &s,
        &[
            ("user", "Book Benissimo next Friday around noon"),
            ("bot", "Please confirm your reservation at Benissimo at 12 pm for 2 on March 8th."),
            ("user", "Sure, that is great."),
        ],
    );
    assert_eq!(f["date"].value, json!("2019-03-08"));
    assert_eq!(f["date"].evidence, Evidence::Confirmed);
    assert_eq!(f["time"].evidence, Evidence::Confirmed);
    assert_eq!(f["date"].turn, 2);
    // The party size is the bot's default: the user never gave one, so it is not theirs.
    assert!(!f.contains_key("party_size"), "{f:?}");

    // The restatement corrects what the rules misread: the user's yes settles it.
    let f = run(
        &s,
        &[("user", "at 6"), ("bot", "So a table at 6 pm, is that right?"), ("user", "Yes")],
    );
    assert_eq!(f["time"].value, json!("18:00"));
    assert_eq!(f["time"].evidence, Evidence::Confirmed);

    // A no is not a yes.
    let f = run(
        &s,
        &[("user", "at 6 pm"), ("bot", "So a table at 7 pm, is that right?"), ("user", "No.")],
    );
    assert_eq!(f["time"].value, json!("18:00"));
    // A confirmed value is not replaced by a later guess of weaker evidence.
    let f = run(
        &s,
        &[
            ("user", "at 6 pm"),
            ("bot", "Please confirm: a table at 6 pm."),
            ("user", "Yes. Do they stay open past 10 pm?"),
        ],
    );
    assert_eq!(f["time"].value, json!("18:00"));
}

#[test]
fn corrections_replace_the_value_they_concern() {
    let s = booking();
    let f = run(
        &s,
        &[
            ("user", "A table for 2 at 6 pm on the 8th"),
            ("bot", "Please confirm: a table for 2 at 6 pm on March 8th."),
            ("user", "Actually, make it 7 pm instead."),
        ],
    );
    assert_eq!(f["time"].value, json!("19:00"));
    assert_eq!(f["time"].evidence, Evidence::Corrected);
    assert_eq!(f["date"].value, json!("2019-03-08"));

    let f = run(
        &s,
        &[
            ("user", "A table for 2 at 6 pm"),
            ("bot", "Please confirm: a table for 2 at 6 pm today."),
            ("user", "No, for 4 people."),
        ],
    );
    assert_eq!(f["party_size"].value, json!(4));
    assert_eq!(f["party_size"].evidence, Evidence::Corrected);
    assert_eq!(f["time"].value, json!("18:00"));

    for text in ["4, no wait, 5 people", "the 8th, not the 7th", "change it to the 8th"] {
        let f = run(&s, &[("user", "for 3 people on the 9th"), ("user", text)]);
        let want = if text.contains("people") {
            ("party_size", json!(5))
        } else {
            ("date", json!("2019-03-08"))
        };
        assert_eq!(f[want.0].value, want.1, "{text}");
    }
}

#[test]
fn the_bots_own_data_is_never_the_users() {
    let s = schema(json!([
        {"key": "phone", "type": "phone"},
        {"key": "address", "type": "text", "questions": ["what is your address"]},
        {"key": "time", "type": "time"}
    ]));
    let ctx = Context::new(Some("US"), None).unwrap();
    let f = run_at(
        &s,
        &ctx,
        START,
        &[
            ("user", "What's the restaurant's phone number and address?"),
            (
                "bot",
                "You can call them at 408-971-8523. They are at 71 North San Pedro Street and open at 5 pm.",
            ),
            ("user", "Great, thanks."),
            ("bot", "Shall I book it for you? Their number again is (415) 555-2671."),
            ("user", "Yes please"),
        ],
    );
    assert!(f.is_empty(), "{f:?}");
    // The user's own number, given unasked, is theirs.
    let f = run_at(&s, &ctx, START, &[("user", "call me back on 212 555 0123")]);
    assert_eq!(f["phone"].value, json!("+12125550123"));
}
