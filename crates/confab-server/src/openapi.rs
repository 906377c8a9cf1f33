//! The OpenAPI 3.1 documents of every API we serve, made from the handlers' own annotations and
//! types (utoipa) by the same router calls that route them, so a document cannot miss a route or
//! drift from a response: `/openapi.json` for the native API and `/compat/<vendor>/openapi.json`
//! for each vendor's. [`finish`] adds what every authenticated operation shares: the key schemes
//! and the error answers ([`ErrorBody`]) any handler may give.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, InfoBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder, ServerBuilder,
};
use utoipa::{OpenApi as _, PartialSchema as _, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

/// What every failure is answered with.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// What went wrong, for programs: `invalid_request`, `unauthorized`, `forbidden`,
    /// `not_found`, `conflict`, `method_not_allowed`, `payload_too_large`, `rate_limited`,
    /// `unavailable`, `disk_full` or `internal`.
    #[schema(example = "invalid_request")]
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// The parameter or body field at fault (`datapoints.email`, `messages[3].timestamp`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// With a `413` for the body: the largest body the server takes, in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_bytes: Option<u64>,
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(document), components(schemas(ErrorBody, ErrorDetail)))]
struct Shared;

/// A router whose document already has what every document shares.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(Shared::openapi())
}

/// The document itself, as JSON (served by [`serve_document`]).
#[utoipa::path(
    get,
    path = "/openapi.json", operation_id = "openapi",
    tag = "meta",
    security(()),
    responses((status = 200, description = "This OpenAPI 3.1 document", content_type = "application/json", body = Object))
)]
async fn document(State(json): State<Bytes>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], json)
}

/// What a document says of itself, and who serves it.
pub struct About {
    pub title: &'static str,
    pub description: &'static str,
    /// Where its paths start, for a compat API (`/compat/chatlayer`).
    pub base: Option<String>,
}

/// Completes `router`'s document and routes `GET /openapi.json` to it.
pub fn finish(router: OpenApiRouter<AppState>, about: About) -> axum::Router<AppState> {
    let (router, mut doc) = router.split_for_parts();
    doc.info = InfoBuilder::new()
        .title(about.title)
        .description(Some(about.description))
        .version(env!("CARGO_PKG_VERSION"))
        .build();
    if let Some(base) = about.base {
        doc.servers = Some(vec![ServerBuilder::new().url(base).build()]);
    }
    add_security(&mut doc);
    add_errors(&mut doc);
    let json = Bytes::from(serde_json::to_vec(&doc).expect("an OpenAPI document serializes"));
    router.route("/openapi.json", axum::routing::get(document).with_state(json))
}

/// Keys go as a Bearer token or in Basic auth (as user name or password): every operation takes
/// either unless it says it needs none (`security(())`).
fn add_security(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    components.add_security_scheme(
        "basic",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
    );
    doc.security = Some(vec![
        SecurityRequirement::new("bearer", Vec::<String>::new()),
        SecurityRequirement::new("basic", Vec::<String>::new()),
    ]);
}

/// The error answers every authenticated operation may give, added where the operation does not
/// describe its own.
fn add_errors(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
        ];
        let writes = [false, true, true, true, true, false];
        for (op, writes) in operations.into_iter().zip(writes) {
            if let Some(op) = op.as_mut().filter(|op| !is_public(op)) {
                add_operation_errors(op, writes);
            }
        }
    }
}

fn is_public(op: &Operation) -> bool {
    op.security.as_ref().is_some_and(|s| s.iter().all(|r| *r == SecurityRequirement::default()))
}

/// `writes`: the operation's method writes (every `PUT`, `POST`, `DELETE` and `PATCH` may).
fn add_operation_errors(op: &mut Operation, writes: bool) {
    let mut errors = vec![
        ("400", "A parameter or body field is invalid; `field` names it", &[][..]),
        (
            "401",
            "No key, or one that is unknown or revoked",
            &[("WWW-Authenticate", "The schemes accepted")],
        ),
        ("403", "The key lacks the scope, or may not use this bot", &[]),
        ("404", "The bot, conversation or other resource does not exist in the caller's team", &[]),
        (
            "429",
            "The key made too many requests of this kind (reads or writes; when the server \
             limits them); retry after the given seconds",
            &[
                ("Retry-After", "Seconds to wait"),
                ("RateLimit-Limit", "Requests the key may make at once"),
                ("RateLimit-Remaining", "Requests left now (0)"),
                ("RateLimit-Reset", "Seconds until the key's allowance is full again"),
            ],
        ),
        ("500", "An internal error (logged with the request id)", &[]),
        (
            "503",
            "The database is unavailable; retry after the given seconds",
            &[("Retry-After", "Seconds to wait")],
        ),
    ];
    if op.request_body.is_some() {
        errors.push((
            "413",
            "The body is larger than allowed; `field` is `body` and `limit_bytes` the limit",
            &[],
        ));
    }
    if writes {
        errors.push((
            "507",
            "The database's disk is full: nothing of the write was stored; retry once space is \
             freed (reads keep working)",
            &[("Retry-After", "Seconds to wait")],
        ));
    }
    for (status, description, headers) in errors {
        if op.responses.responses.contains_key(status) {
            continue;
        }
        let mut response = ResponseBuilder::new().description(description).content(
            "application/json",
            ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
        );
        for &(name, description) in headers {
            response = response.header(
                name,
                HeaderBuilder::new()
                    .schema(String::schema())
                    .description(Some(description))
                    .build(),
            );
        }
        let response: Response = response.build();
        op.responses.responses.insert(status.to_owned(), RefOr::T(response));
    }
}
