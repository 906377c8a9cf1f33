//! The dashboard at `/`: server-rendered pages (askama, auto-escaped, since message content is
//! written by strangers) over the same store calls as the API, charts and flow diagrams drawn
//! here as SVG, one stylesheet and one small script embedded in the binary. Nothing is fetched
//! from elsewhere and every page works without the script.

mod charts;
mod conversations;
mod datapoints;
mod evidence;
mod flows;
mod layout;
mod overview;
mod period;
pub mod session;
mod unhandled;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Router, http::HeaderMap};

use crate::{ApiError, AppState};
use session::Viewer;

pub use session::SessionKey;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/assets/app.css", get(|| asset(CSS, "text/css; charset=utf-8")))
        .route("/assets/app.js", get(|| asset(JS, "text/javascript; charset=utf-8")))
        .merge(session::router())
        .merge(overview::router())
        .merge(conversations::router())
        .merge(flows::router())
        .merge(unhandled::router())
        .merge(datapoints::router())
        .layer(middleware::from_fn(security_headers))
}

const CSS: &str = include_str!("assets/app.css");
const JS: &str = include_str!("assets/app.js");

async fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // Assets change only with the binary; an hour saves a laptop the round trips.
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// Scripts only from this server (no inline script, so injected markup cannot run), no
/// framing, no MIME sniffing; pages hold a team's data, so no cache keeps them.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    let set = |h: &mut HeaderMap, name: HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(h, header::CONTENT_SECURITY_POLICY, CSP);
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "same-origin");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    response
}

/// A page that could not be shown: the API's error, as a page with the same status.
#[derive(Debug)]
pub struct UiError(pub ApiError);

impl<E: Into<ApiError>> From<E> for UiError {
    fn from(e: E) -> UiError {
        UiError(e.into())
    }
}

#[derive(askama::Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    reason: &'static str,
    message: String,
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        // The API's response decides status and logging; the page shows its message.
        let api = self.0.to_string();
        let message = match &self.0 {
            ApiError::Invalid(e) => format!("{}: {}", e.field, e.message),
            _ => api,
        };
        let status = self.0.into_response().status();
        let page = ErrorPage {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("Error"),
            message,
        };
        match askama::Template::render(&page) {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => status.into_response(),
        }
    }
}

/// Renders a page; a template that fails to render is an internal error.
pub fn render(t: &impl askama::Template) -> Result<Html<String>, UiError> {
    t.render().map(Html).map_err(|e| UiError(ApiError::Internal(format!("template: {e}"))))
}

/// What every page's header shows: the bots to switch between and where we are.
pub struct Nav {
    pub bots: Vec<String>,
    pub bot_id: String,
    pub active: &'static str,
    pub zone: String,
}

impl Nav {
    /// The header of one bot's page: checks the viewer may see the bot, which must exist.
    pub async fn of_bot(
        state: &AppState,
        viewer: &Viewer,
        bot_id: &str,
        active: &'static str,
    ) -> Result<Nav, UiError> {
        viewer.bot(bot_id)?;
        let mut bots = state.store.bot_ids(viewer.caller.team_id).await?;
        bots.retain(|b| viewer.caller.may_use_bot(b));
        if !bots.iter().any(|b| b == bot_id) {
            return Err(not_found("bot"));
        }
        Ok(Nav { bots, bot_id: bot_id.to_owned(), active, zone: viewer.zone_name.clone() })
    }
}

async fn visible_bots(
    state: &AppState,
    viewer: &Viewer,
) -> Result<Vec<confab_store::Bot>, UiError> {
    let mut bots = state.store.list_bots(viewer.caller.team_id).await?;
    bots.retain(|b| viewer.caller.may_use_bot(&b.bot_id));
    Ok(bots)
}

/// The `curl` an empty page offers: a first message to this server.
/// This server as the browser reached it, for the commands an empty page suggests.
pub fn host(headers: &HeaderMap) -> &str {
    headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1:8080")
}

pub fn first_message_curl(headers: &HeaderMap, bot_id: &str) -> String {
    let host = host(headers);
    let bot = if bot_id.is_empty() { "my-bot" } else { bot_id };
    format!(
        "curl -H \"Authorization: Bearer $CONFAB_KEY\" http://{host}/v1/bots/{bot}/messages -d '{{\n  \
         \"conversation_id\": \"c-1\", \"id\": \"m-1\", \"role\": \"user\",\n  \
         \"content\": \"Hi, I need help\", \"channel_type\": \"web\", \"user_id\": \"u-1\"\n}}'"
    )
}

#[derive(askama::Template)]
#[template(path = "home.html")]
struct HomePage {
    bots: Vec<confab_store::Bot>,
    curl: String,
    zone: String,
}

async fn home(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    let bots = visible_bots(&state, &viewer).await?;
    let page =
        HomePage { bots, curl: first_message_curl(&headers, ""), zone: viewer.zone_name.clone() };
    Ok(render(&page)?.into_response())
}

/// A 404 for a page, as a page.
pub fn not_found(what: &'static str) -> UiError {
    UiError(ApiError::NotFound(what))
}
