//! The datapoints the generated bots collect: one definition per field the dialogue asks for
//! (name, email, phone, date), its type, and the phrases by which the bot's messages ask for it
//! in each of the five languages. Each bot's schema holds the fields its booking asks for, in
//! its order, and the email its human agents ask for in hand-offs.

use serde_json::{Value, json};

use super::dialogue::{DATE, EMAIL, NAME, PHONE};
use super::people::BotProfile;

/// A field's key, type and questions (phrases found, lower-cased, in the bot's or the agent's
/// message asking for it: one or more per language).
struct Field {
    key: &'static str,
    kind: &'static str,
    questions: &'static [&'static str],
}

/// Indexed by the dialogue's field numbers ([`NAME`], [`EMAIL`], [`PHONE`], [`DATE`]).
const FIELDS: [Field; 4] = [
    Field {
        key: "Name",
        kind: "name",
        questions: &[
            "your name",
            "jak masz na imię",
            "wie ist ihr name",
            "cómo te llamas",
            "vous appelez-vous",
        ],
    },
    Field {
        key: "Email",
        kind: "email",
        questions: &[
            "email address",
            "adres e-mail",
            "e-mail-adresse",
            "correo electrónico",
            "adresse e-mail",
        ],
    },
    Field {
        key: "Phone",
        kind: "phone",
        questions: &[
            "phone number",
            "numerem telefonu",
            "telefonnummer",
            "número de teléfono",
            "numéro de téléphone",
        ],
    },
    Field {
        key: "Date",
        kind: "date",
        questions: &["which date", "jaki termin", "welcher tag", "qué fecha", "quelle date"],
    },
];

fn definition(field: usize, required: bool) -> Value {
    let f = &FIELDS[field];
    json!({"key": f.key, "type": f.kind, "required": required, "questions": f.questions})
}

/// Every field the generator's users answer, name and email required (what the bots together
/// ask for; a bot of mixed traffic, such as the benchmark's single-message one, takes this).
pub(super) fn union() -> Value {
    json!({"datapoints": [
        definition(NAME, true),
        definition(EMAIL, true),
        definition(PHONE, false),
        definition(DATE, false),
    ]})
}

/// The schema of one bot: the fields its booking asks for, in its order and required, then the
/// email if the booking does not ask for it (its agents do, in hand-offs).
pub(super) fn of_bot(bot: &BotProfile) -> Value {
    let asked = &bot.collect[..bot.collected];
    let mut datapoints: Vec<Value> = asked.iter().map(|&f| definition(f, true)).collect();
    if !asked.contains(&EMAIL) {
        datapoints.push(definition(EMAIL, false));
    }
    json!({ "datapoints": datapoints })
}

/// The questions of `field`, for the tests to check them against the bots' lines.
#[cfg(test)]
pub(super) fn questions(field: usize) -> &'static [&'static str] {
    FIELDS[field].questions
}
