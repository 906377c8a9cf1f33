//! Drop-in replacements for vendors' public APIs, one file each. Vendor formats live only here.

mod botsheets;
mod botuj;
mod chatlayer;
mod chatzuri;

use axum::Router;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .nest("/botsheets", botsheets::router())
        .nest("/chatzuri", chatzuri::router())
        .nest("/botuj", botuj::router())
        .nest("/chatlayer", chatlayer::router())
}
