//! Exports of a bot's conversations, filtered like the list: `datapoints.csv` (one row per
//! conversation, one column per schema key) and `conversations.jsonl` (one conversation with
//! its transcript and datapoints per line). Both stream a page at a time, so memory stays flat
//! whatever the size of the export.

use std::sync::Arc;

use std::collections::BTreeMap;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use confab_core::auth::{Caller, Scope};
use confab_core::conversation::{Conversation, ConversationView, Status};
use confab_core::datapoints::{DatapointView, values_view};
use confab_core::extract::display;
use confab_core::query::{ConversationFilter, FilterParams, PageRequest};
use confab_core::summary::Dim;
use confab_core::time::format_rfc3339;
use confab_store::Store;
use futures_util::stream;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::BotPath;
use super::views::{self, MessageView};
use crate::auth::Allow;
use crate::extract::{Params, PathParams};
use crate::{ApiError, ApiResult, AppState};

/// Conversations read per page of the export.
const PAGE: u32 = 100;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(datapoints_csv)).routes(routes!(conversations_jsonl))
}

/// One line of `conversations.jsonl`.
#[derive(Serialize, ToSchema)]
struct ExportLine {
    #[serde(flatten)]
    conversation: ConversationView,
    datapoints: BTreeMap<String, DatapointView>,
    messages: Vec<MessageView>,
}

#[derive(Clone, Copy)]
enum Format {
    Csv,
    Jsonl,
}

/// One export in progress: what to read next.
struct Export {
    store: Arc<dyn Store>,
    team_id: i64,
    bot_id: String,
    filter: ConversationFilter,
    page: Option<PageRequest>,
    format: Format,
    keys: Vec<String>,
    header: bool,
}

/// The list's filters; `limit` and `cursor` page the list and mean nothing here.
fn filter_of(params: Vec<(String, String)>) -> ApiResult<ConversationFilter> {
    if let Some((k, _)) = params.iter().find(|(k, _)| k == "limit" || k == "cursor") {
        return Err(ApiError::invalid(k.clone(), "an export has every matching conversation"));
    }
    Ok(ConversationFilter::from_params(&params)?.0)
}

async fn start(
    state: AppState,
    caller: Caller,
    bot_id: String,
    params: Vec<(String, String)>,
    format: Format,
) -> ApiResult<Export> {
    caller.bot(Scope::Read, &bot_id)?;
    let filter = filter_of(params)?;
    // The schema also says the bot exists: an unknown bot is a 404 before any byte is sent.
    let schema = state.store.datapoint_schema(caller.team_id, &bot_id).await?;
    let keys =
        schema.map(|s| s.datapoints.into_iter().map(|d| d.key).collect()).unwrap_or_default();
    Ok(Export {
        store: state.store.clone(),
        team_id: caller.team_id,
        bot_id,
        filter,
        page: Some(PageRequest { limit: PAGE, cursor: None }),
        format,
        keys,
        header: true,
    })
}

fn respond(export: Export, content_type: &'static str, filename: &str) -> Response {
    let body = Body::from_stream(stream::unfold(export, |mut ex| async move {
        let chunk = next_chunk(&mut ex).await;
        match chunk {
            Ok(Some(bytes)) => Some((Ok::<Bytes, std::io::Error>(bytes), ex)),
            Ok(None) => None,
            // Headers are sent: the only way left to say "failed" is to cut the stream short,
            // which clients see as an incomplete body.
            Err(e) => {
                tracing::error!(error = %e, "export failed mid-stream");
                Some((Err(std::io::Error::other(e)), ex))
            }
        }
    }));
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
        ],
        body,
    )
        .into_response()
}

/// Every matching conversation as a CSV row: its id, user, channel, status and times, then one
/// column per datapoint key of the bot's schema. Streamed.
#[utoipa::path(get, path = "/v1/bots/{bot_id}/export/datapoints.csv", operation_id = "exportDatapointsCsv", tag = "export",
    params(BotPath, FilterParams),
    responses((status = 200, description = "RFC 4180 CSV with a header row", content_type = "text/csv", body = String)))]
async fn datapoints_csv(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(bot_id): PathParams<String>,
    Params(params): Params,
) -> ApiResult<Response> {
    datapoints_csv_for(state, caller, bot_id, params).await
}

/// The CSV export for a caller already known (the dashboard's session).
pub(crate) async fn datapoints_csv_for(
    state: AppState,
    caller: Caller,
    bot_id: String,
    params: Vec<(String, String)>,
) -> ApiResult<Response> {
    let ex = start(state, caller, bot_id, params, Format::Csv).await?;
    Ok(respond(ex, "text/csv; charset=utf-8", "datapoints.csv"))
}

/// Every matching conversation with its datapoints and transcript, one JSON object
/// ([`ExportLine`]) per line. Streamed.
#[utoipa::path(get, path = "/v1/bots/{bot_id}/export/conversations.jsonl", operation_id = "exportConversationsJsonl", tag = "export",
    params(BotPath, FilterParams),
    responses((status = 200, description = "One ExportLine object per line", content_type = "application/x-ndjson", body = ExportLine)))]
async fn conversations_jsonl(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(bot_id): PathParams<String>,
    Params(params): Params,
) -> ApiResult<Response> {
    let ex = start(state, caller, bot_id, params, Format::Jsonl).await?;
    Ok(respond(ex, "application/x-ndjson", "conversations.jsonl"))
}

const CSV_COLUMNS: [&str; 6] =
    ["conversation_id", "user_id", "channel_type", "status", "started_at", "ended_at"];

/// The next page of the export as bytes; `None` when it is done.
async fn next_chunk(ex: &mut Export) -> Result<Option<Bytes>, String> {
    let mut out = String::new();
    if ex.header {
        ex.header = false;
        if let Format::Csv = ex.format {
            let cells = CSV_COLUMNS.iter().map(|c| (*c).to_owned()).chain(ex.keys.iter().cloned());
            csv_row(&mut out, cells);
            return Ok(Some(Bytes::from(out)));
        }
    }
    let Some(page) = ex.page.take() else { return Ok(None) };
    let listed = ex
        .store
        .list_conversations(ex.team_id, &ex.bot_id, &ex.filter, &page)
        .await
        .map_err(|e| e.to_string())?;
    ex.page = listed.next_cursor.map(|c| PageRequest { limit: PAGE, cursor: Some(c) });
    if listed.items.is_empty() {
        return Ok(None);
    }
    let pks: Vec<i64> = listed.items.iter().map(|c| c.pk).collect();
    let values = ex.store.datapoints_of(ex.team_id, &pks).await.map_err(|e| e.to_string())?;
    let transcripts = match ex.format {
        Format::Jsonl => ex.store.transcripts(ex.team_id, &pks).await.map_err(|e| e.to_string())?,
        Format::Csv => vec![],
    };
    for conv in &listed.items {
        let dps =
            values.iter().find(|(pk, _)| *pk == conv.pk).map(|(_, v)| v.as_slice()).unwrap_or(&[]);
        match ex.format {
            Format::Csv => {
                let fixed = csv_fixed(conv);
                let by_key = ex.keys.iter().map(|k| {
                    dps.iter().find(|d| d.key == *k).map(|d| display(&d.value)).unwrap_or_default()
                });
                csv_row(&mut out, fixed.into_iter().chain(by_key));
            }
            Format::Jsonl => {
                let messages = transcripts
                    .iter()
                    .find(|(pk, _)| *pk == conv.pk)
                    .map(|(_, m)| m.as_slice())
                    .unwrap_or(&[]);
                let line = ExportLine {
                    conversation: conv.view(),
                    datapoints: values_view(dps, conv.status == Status::Ended),
                    messages: messages.iter().map(views::message).collect(),
                };
                out.push_str(&serde_json::to_string(&line).map_err(|e| e.to_string())?);
                out.push('\n');
            }
        }
    }
    Ok(Some(Bytes::from(out)))
}

fn csv_fixed(c: &Conversation) -> Vec<String> {
    let s = &c.summary;
    vec![
        c.conversation_id.clone(),
        s.dim(Dim::UserId).unwrap_or_default().to_owned(),
        s.dim(Dim::ChannelType).unwrap_or_default().to_owned(),
        c.status.as_str().to_owned(),
        format_rfc3339(s.started_at),
        match c.status {
            Status::Ended => format_rfc3339(s.last_message_at),
            Status::Active => String::new(),
        },
    ]
}

/// One RFC 4180 record (CRLF-terminated). A cell a spreadsheet would read as a formula — one
/// starting with `=`, `+`, `-`, `@`, a tab or a carriage return — gets a leading `'`, the
/// OWASP-recommended neutralisation: the text shows as typed and never runs.
fn csv_row(out: &mut String, cells: impl Iterator<Item = String>) {
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            out.push(',');
        }
        let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
        let cell = if risky { format!("'{cell}") } else { cell };
        if cell.contains([',', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&cell.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&cell);
        }
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::csv_row;

    #[test]
    fn cells_are_quoted_and_formulas_neutralised() {
        let mut out = String::new();
        let cells = [
            "plain",
            "a,b",
            "say \"hi\"",
            "=HYPERLINK(\"x\")",
            "+1",
            "-2",
            "@SUM(A1)",
            "line\nbreak",
        ];
        csv_row(&mut out, cells.iter().map(|s| s.to_string()));
        assert_eq!(
            out,
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"'=HYPERLINK(\"\"x\"\")\",'+1,'-2,'@SUM(A1),\"line\nbreak\"\r\n"
        );
    }
}
