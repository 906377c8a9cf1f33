//! The datapoints table: conversations × the bot's schema keys, each key's fill rate over every
//! conversation the filters match, and the same rows as a CSV download.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use confab_core::extract::display;
use confab_core::query::ConversationFilter;

use super::conversations::{Form, Row, filled, next_page, query_without, row_of};
use super::period::url;
use super::session::Viewer;
use super::{Nav, UiError, render};
use crate::AppState;
use crate::api::export;
use crate::extract::{Params, PathParams};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/bots/{bot_id}/datapoints", get(table))
        .route("/bots/{bot_id}/datapoints.csv", get(csv))
}

/// Rows per page of the table.
const PAGE_ROWS: u32 = 50;

pub struct Column {
    pub key: String,
    pub filled: i64,
    pub rate: String,
}

pub struct TableRow {
    pub conversation: Row,
    pub cells: Vec<String>,
}

#[derive(askama::Template)]
#[template(path = "datapoints.html")]
struct TablePage {
    nav: Nav,
    form: Form,
    error: Option<String>,
    has_schema: bool,
    columns: Vec<Column>,
    total: i64,
    rows: Vec<TableRow>,
    next: Option<String>,
    csv: String,
    schema_curl: String,
    curl: String,
    filtered: bool,
}

async fn table(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    PathParams(bot_id): PathParams<String>,
    Params(params): Params,
) -> Result<Response, UiError> {
    let nav = Nav::of_bot(&state, &viewer, &bot_id, "datapoints").await?;
    let team = viewer.caller.team_id;
    let params = filled(params);
    let host = super::host(&headers);
    let mut page = TablePage {
        nav,
        form: Form::of(&params),
        curl: super::first_message_curl(&headers, &bot_id),
        filtered: params.iter().any(|(k, _)| k != "cursor" && k != "limit"),
        error: None,
        has_schema: false,
        columns: vec![],
        total: 0,
        rows: vec![],
        next: None,
        csv: format!(
            "/bots/{}/datapoints.csv?{}",
            url(&bot_id),
            query_without(&params, &["cursor", "limit"])
        ),
        schema_curl: format!(
            "curl -X PUT -H \"Authorization: Bearer $CONFAB_ADMIN_KEY\" \
             http://{host}/v1/bots/{bot_id}/datapoints/schema -d '{{\"datapoints\": [\n  \
             {{\"key\": \"email\", \"type\": \"email\"}}, {{\"key\": \"phone\", \"type\": \"phone\"}}\n]}}'"
        ),
    };
    let schema = state.store.datapoint_schema(team, &bot_id).await?;
    let keys: Vec<String> =
        schema.map(|s| s.datapoints.into_iter().map(|d| d.key).collect()).unwrap_or_default();
    page.has_schema = !keys.is_empty();
    if keys.is_empty() {
        return Ok(render(&page)?.into_response());
    }
    let (filter, mut page_req) = match ConversationFilter::from_params(&params) {
        Ok(parsed) => parsed,
        Err(e) => {
            page.error = Some(format!("{}: {}", e.field, e.message));
            return Ok((StatusCode::BAD_REQUEST, render(&page)?).into_response());
        }
    };
    if !params.iter().any(|(k, _)| k == "limit") {
        page_req.limit = PAGE_ROWS;
    }
    let fill = state.store.datapoint_fill(team, &bot_id, &filter).await?;
    page.total = fill.conversations;
    page.columns = keys
        .iter()
        .map(|k| {
            let filled = fill.keys.iter().find(|(key, _)| key == k).map_or(0, |(_, n)| *n);
            let rate = match fill.conversations {
                0 => "–".to_owned(),
                // Rounded down: 199 of 200 is not everyone.
                n => format!("{}%", filled * 100 / n),
            };
            Column { key: k.clone(), filled, rate }
        })
        .collect();
    let listed = state.store.list_conversations(team, &bot_id, &filter, &page_req).await?;
    let pks: Vec<i64> = listed.items.iter().map(|c| c.pk).collect();
    let values = state.store.datapoints_of(team, &pks).await?;
    page.rows = listed
        .items
        .iter()
        .map(|c| {
            let dps = values.iter().find(|(pk, _)| *pk == c.pk).map(|(_, v)| v.as_slice());
            let cells = keys
                .iter()
                .map(|k| {
                    dps.and_then(|d| d.iter().find(|d| &d.key == k))
                        .map(|d| display(&d.value))
                        .unwrap_or_default()
                })
                .collect();
            TableRow { conversation: row_of(&bot_id, c, &viewer.tz), cells }
        })
        .collect();
    page.next = listed.next_cursor.map(|c| next_page(&params, &c));
    Ok(render(&page)?.into_response())
}

/// The API's `datapoints.csv` export, for a signed-in browser.
async fn csv(
    State(state): State<AppState>,
    viewer: Viewer,
    PathParams(bot_id): PathParams<String>,
    Params(params): Params,
) -> Result<Response, UiError> {
    Ok(export::datapoints_csv_for(state, viewer.caller, bot_id, filled(params)).await?)
}
