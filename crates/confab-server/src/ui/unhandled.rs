//! What the bot could not answer: the range's not-handled user messages grouped by wording
//! (`confab_core::cluster`), largest group first, each with its share, a sparkline of its trend
//! over the range and links to example conversations.

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use confab_core::cluster::{ClusterView, UnhandledReport};

use super::charts::{f, number};
use super::period::{Period, url};
use super::session::Viewer;
use super::{Nav, UiError, render};
use crate::AppState;
use crate::api::analytics::unhandled_report;
use crate::extract::{Params, PathParams};

pub fn router() -> Router<AppState> {
    Router::new().route("/bots/{bot_id}/unhandled", get(unhandled))
}

const SPARK_W: f64 = 120.0;
const SPARK_H: f64 = 24.0;

/// A cluster as a table row.
pub struct Row {
    pub phrase: String,
    pub count: String,
    pub share: String,
    /// The sparkline's polyline points, in a `SPARK_W` × `SPARK_H` box.
    pub spark: String,
    pub spark_title: String,
    /// Example messages: text, time and the transcript's link.
    pub examples: Vec<(String, String, String)>,
}

/// The polyline of a trend, scaled to its own maximum (a flat line at the bottom when empty).
pub fn sparkline(trend: &[u64]) -> String {
    let max = trend.iter().copied().max().unwrap_or(0).max(1) as f64;
    let step = SPARK_W / (trend.len().max(2) - 1) as f64;
    trend
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            format!(
                "{},{}",
                f(i as f64 * step),
                f(SPARK_H - 1.0 - (SPARK_H - 2.0) * v as f64 / max)
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn row(bot_id: &str, c: ClusterView) -> Row {
    Row {
        count: number(c.count as f64),
        share: format!("{:.1} %", c.share * 100.0),
        spark: sparkline(&c.trend),
        spark_title: format!(
            "per slice of the range: {}",
            c.trend.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
        ),
        examples: c
            .examples
            .into_iter()
            .map(|e| {
                (
                    e.content,
                    e.timestamp,
                    format!("/bots/{}/conversations/{}", url(bot_id), url(&e.conversation_id)),
                )
            })
            .collect(),
        phrase: c.phrase,
    }
}

#[derive(askama::Template)]
#[template(path = "unhandled.html")]
struct UnhandledPage {
    nav: Nav,
    period: Period,
    report: UnhandledReport,
    rows: Vec<Row>,
    spark_box: String,
}

async fn unhandled(
    State(state): State<AppState>,
    viewer: Viewer,
    PathParams(bot_id): PathParams<String>,
    Params(params): Params,
) -> Result<Response, UiError> {
    let nav = Nav::of_bot(&state, &viewer, &bot_id, "unhandled").await?;
    let period = Period::from_params(&params, &viewer)?;
    let mut report =
        unhandled_report(&state, viewer.caller.team_id, &bot_id, (period.start, period.end))
            .await?;
    let rows = std::mem::take(&mut report.clusters).into_iter().map(|c| row(&bot_id, c)).collect();
    let spark_box = format!("0 0 {} {}", f(SPARK_W), f(SPARK_H));
    Ok(render(&UnhandledPage { nav, period, report, rows, spark_box })?.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparkline_spans_the_box_and_peaks_at_the_top() {
        assert_eq!(sparkline(&[0, 2, 1]), "0.0,23.0 60.0,1.0 120.0,12.0");
        assert_eq!(sparkline(&[0, 0]), "0.0,23.0 120.0,23.0");
    }
}
