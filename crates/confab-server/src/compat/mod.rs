//! Drop-in replacements for vendors' public APIs, one file each. Vendor formats live only here.

mod botsheets;
mod botuj;
mod chatlayer;
mod chatzuri;

use axum::Router;
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;
use crate::openapi::{self, About};

/// Each vendor's API under `/compat/<vendor>`, with its own OpenAPI document at
/// `/compat/<vendor>/openapi.json`.
pub fn router() -> Router<AppState> {
    let vendors: [(&'static str, &'static str, OpenApiRouter<AppState>); 4] = [
        (
            "botsheets",
            "Botsheets' Get Datapoints Collected (seed 000), served by Confab.",
            botsheets::router(),
        ),
        (
            "chatzuri",
            "Chatzuri's Get Conversations (seed 002), served by Confab.",
            chatzuri::router(),
        ),
        ("botuj", "Botuj.pl's conversation list (seed 003), served by Confab.", botuj::router()),
        (
            "chatlayer",
            "Sinch Chatlayer's Analytics API 1.0.0 (seed 001), served by Confab.",
            chatlayer::router(),
        ),
    ];
    let mut router = Router::new();
    for (name, description, vendor) in vendors {
        let base = format!("/compat/{name}");
        let about = About { title: name, description, base: Some(base) };
        router = router
            .nest(&format!("/{name}"), openapi::finish(openapi::router().merge(vendor), about));
    }
    router
}
