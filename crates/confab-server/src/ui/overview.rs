//! A bot's overview: five totals for the range beside the period before it, conversations per
//! day by channel and messages per hour, each with the previous period as a dashed line.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use confab_core::buckets::Bucket;
use confab_core::series::{Agg, GroupKey, SeriesRequest, Stat};
use confab_core::summary::Dim;
use confab_store::BotSelector;
use futures_util::future::try_join_all;
use serde_json::Value;

use super::charts::{self, Chart, number};
use super::period::Period;
use super::session::Viewer;
use super::{Nav, UiError, first_message_curl, render};
use crate::AppState;
use crate::api::analytics::run;
use crate::extract::{Params, PathParams};

/// The longest range whose messages are drawn per hour.
const MAX_HOURLY_DAYS: i32 = 31;

pub fn router() -> Router<AppState> {
    Router::new().route("/bots/{bot_id}", get(overview))
}

pub struct Kpi {
    pub label: &'static str,
    pub value: String,
    pub prev: String,
    /// `+12%`, `−3%`, or empty when there is nothing to compare with.
    pub delta: String,
    /// `up`, `down` or `flat`, for the colour.
    pub trend: &'static str,
}

#[derive(askama::Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    nav: Nav,
    period: Period,
    kpis: Vec<Kpi>,
    charts: Vec<Chart>,
    empty: bool,
    curl: String,
    list_query: String,
}

/// A total over `[start, end)`, `None` where it is undefined (a mean of no conversations).
async fn total(
    state: &AppState,
    viewer: &Viewer,
    bot: &BotSelector,
    stat: Stat,
    period: &Period,
    (start, end): (i64, i64),
) -> Result<Option<f64>, UiError> {
    let req = SeriesRequest::total(stat, &period.tz, start, end, vec![])?;
    let data = run(state, viewer.caller.team_id, bot, &req, false).await?;
    Ok(data.series.first().and_then(|s| s.values.first()).and_then(Value::as_f64))
}

fn duration(seconds: f64) -> String {
    let s = seconds.round() as i64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
    }
}

/// How a total reads on the page.
type Show = fn(f64) -> String;

/// How a total compares with the period before.
#[derive(Clone, Copy)]
enum Compare {
    /// Relative change, coloured (more is better).
    Percent,
    /// Relative change, not coloured (a longer conversation is neither good nor bad).
    Neutral,
    /// A rate: the change in percentage points.
    Points,
}

fn kpi(label: &'static str, now: Option<f64>, prev: Option<f64>, show: Show, how: Compare) -> Kpi {
    let sign = |v: f64| if v >= 0.0 { "+" } else { "−" };
    let (delta, change) = match (now, prev, how) {
        (Some(n), Some(p), Compare::Points) => {
            let pts = (n - p) * 100.0;
            (format!("{}{:.1} pts", sign(pts), pts.abs()), pts)
        }
        (Some(n), Some(p), _) if p != 0.0 => {
            let pct = (n - p) / p.abs() * 100.0;
            (format!("{}{:.0}%", sign(pct), pct.abs()), pct)
        }
        _ => (String::new(), 0.0),
    };
    let trend = match how {
        _ if change.abs() < 0.5 => "flat",
        Compare::Neutral => "flat",
        _ if change > 0.0 => "up",
        _ => "down",
    };
    let text = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), show);
    Kpi { label, value: text(now), prev: text(prev), delta, trend }
}

/// `2026-11-20T00:00:00+01:00` as a day (`2026-11-20`) or an hour (`11-20 14h`).
fn short_label(label: &str, bucket: Bucket) -> String {
    match bucket {
        Bucket::Hour => {
            format!("{} {}h", label.get(5..10).unwrap_or(label), label.get(11..13).unwrap_or(""))
        }
        _ => label.get(..10).unwrap_or(label).to_owned(),
    }
}

/// A series of the range (split by `group`) and the previous period's totals, as a chart.
async fn chart(
    state: &AppState,
    viewer: &Viewer,
    bot: &BotSelector,
    period: &Period,
    (stat, bucket, group): (Stat, Bucket, Option<Dim>),
    (title, unit): (&str, &str),
) -> Result<Chart, UiError> {
    let team = viewer.caller.team_id;
    let group_by = group.map(|d| vec![GroupKey::Dim(d)]).unwrap_or_default();
    let (tz, start, end) = (&period.tz, period.start, period.end);
    let req = SeriesRequest::new(stat, bucket, tz, start, end, vec![], vec![], group_by)?;
    let data = run(state, team, bot, &req, true).await?;
    let prev_req = SeriesRequest::new(
        stat,
        bucket,
        tz,
        period.prev_start,
        period.prev_end,
        vec![],
        vec![],
        vec![],
    )?;
    let prev = run(state, team, bot, &prev_req, true).await?;
    // Rates are drawn as percentages.
    let scale =
        if matches!(stat, Stat::CompletionRate | Stat::ContainmentRate) { 100.0 } else { 1.0 };
    let values =
        |v: &[Value]| v.iter().map(|x| x.as_f64().unwrap_or(0.0) * scale).collect::<Vec<_>>();
    let series: Vec<(String, Vec<f64>)> = data
        .series
        .iter()
        .zip(&data.series_labels)
        .map(|(s, label)| {
            let label = if label.is_empty() { "(none)".to_owned() } else { label.clone() };
            (label, values(&s.values))
        })
        .collect();
    let labels: Vec<String> = data.x_values.iter().map(|l| short_label(l, bucket)).collect();
    let prev_labels: Vec<String> = prev.x_values.iter().map(|l| short_label(l, bucket)).collect();
    let prev_values = prev.series.first().map(|s| values(&s.values)).unwrap_or_default();
    Ok(charts::stacked(title, &labels, &series, Some((&prev_labels, &prev_values)), unit))
}

async fn overview(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    PathParams(bot_id): PathParams<String>,
    Params(params): Params,
) -> Result<Response, UiError> {
    let nav = Nav::of_bot(&state, &viewer, &bot_id, "overview").await?;
    let period = Period::from_params(&params, &viewer)?;
    let bot = BotSelector::One(bot_id.clone());
    let now = (period.start, period.end);
    let before = (period.prev_start, period.prev_end);
    let percent: Show = |v| format!("{:.1}%", v * 100.0);
    let stats: [(&'static str, Stat, Show, Compare); 6] = [
        ("Conversations", Stat::Conversations, number, Compare::Percent),
        ("Messages", Stat::Messages, number, Compare::Percent),
        ("Unique users", Stat::UniqueUsers, number, Compare::Percent),
        ("Mean duration", Stat::Duration(Agg::Mean), duration, Compare::Neutral),
        ("Containment", Stat::ContainmentRate, percent, Compare::Points),
        // Conversations that reached one of the bot's goal steps (its settings' `goal_steps`).
        ("Completion", Stat::CompletionRate, percent, Compare::Points),
    ];
    // The twelve totals are independent reads: asked together, the readers answer in parallel.
    let totals = try_join_all(stats.iter().flat_map(|(_, stat, _, _)| {
        [now, before].map(|range| total(&state, &viewer, &bot, *stat, &period, range))
    }))
    .await?;
    let kpis: Vec<Kpi> = stats
        .iter()
        .zip(totals.chunks(2))
        .map(|((label, _, show, how), t)| kpi(label, t[0], t[1], *show, *how))
        .collect();
    let empty = totals[0].unwrap_or(0.0) == 0.0 && totals[2].unwrap_or(0.0) == 0.0;
    let per_day = (Stat::Conversations, Bucket::Day, Some(Dim::ChannelType));
    // Hours make a readable chart for a month; past that, 720+ bars would be noise.
    let (bucket, title) = match period.days {
        ..=MAX_HOURLY_DAYS => (Bucket::Hour, "Messages per hour"),
        _ => (Bucket::Day, "Messages per day (the range is longer than a month)"),
    };
    let per_hour = (Stat::Messages, bucket, None);
    let charts = vec![
        chart(
            &state,
            &viewer,
            &bot,
            &period,
            per_day,
            ("Conversations per day by channel", "conversations"),
        )
        .await?,
        chart(&state, &viewer, &bot, &period, per_hour, (title, "messages")).await?,
        chart(
            &state,
            &viewer,
            &bot,
            &period,
            (Stat::CompletionRate, Bucket::Day, None),
            ("Completion rate per day (conversations that reached a goal step)", "% completed"),
        )
        .await?,
    ];
    let page = OverviewPage {
        curl: first_message_curl(&headers, &bot_id),
        list_query: period.list_query(),
        nav,
        period,
        kpis,
        charts,
        empty,
    };
    Ok(render(&page)?.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kpis_compare_with_the_period_before() {
        let k = kpi("x", Some(150.0), Some(100.0), number, Compare::Percent);
        assert_eq!((k.value.as_str(), k.delta.as_str(), k.trend), ("150", "+50%", "up"));
        let k = kpi("x", Some(50.0), Some(100.0), number, Compare::Percent);
        assert_eq!((k.delta.as_str(), k.trend), ("−50%", "down"));
        let k = kpi("x", Some(50.0), Some(100.0), number, Compare::Neutral);
        assert_eq!((k.delta.as_str(), k.trend), ("−50%", "flat"));
        let k = kpi("x", Some(0.9), Some(0.8), number, Compare::Points);
        assert_eq!((k.delta.as_str(), k.trend), ("+10.0 pts", "up"));
        let k = kpi("x", Some(5.0), Some(0.0), number, Compare::Percent);
        assert_eq!(k.delta, "", "nothing to compare with");
        assert_eq!(kpi("x", None, None, number, Compare::Percent).value, "–");
        assert_eq!(duration(75.4), "1m 15s");
        assert_eq!(duration(7300.0), "2h 01m");
        assert_eq!(short_label("2026-11-20T14:00:00+01:00", Bucket::Hour), "11-20 14h");
    }
}
