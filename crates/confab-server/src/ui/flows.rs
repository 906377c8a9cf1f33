//! The aggregate dialogue flow as a left-to-right diagram: columns by distance from `START`,
//! nodes sized by how many conversations reached them, edges by traversals, drop-offs in red.
//! Each node links to the conversations that passed through it; each drop-off badge to those
//! that ended there.

use std::collections::{BTreeMap, VecDeque};

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use confab_core::flow::{FlowGraph, FlowRequest, StepKey};
use confab_core::rollup::Plan;

use super::charts::{f, number};
use super::period::{Period, url};
use super::session::Viewer;
use super::{Nav, UiError, render};
use crate::AppState;
use crate::api::analytics::still_active_after;
use crate::extract::{Params, PathParams};

pub fn router() -> Router<AppState> {
    Router::new().route("/bots/{bot_id}/flows", get(flows))
}

/// Steps drawn besides `START` and `DROPOFF`; the rest are listed as hidden.
const MAX_NODES: usize = 40;
const NODE_W: f64 = 136.0;
const COL_W: f64 = 200.0;
const GAP: f64 = 16.0;
const MIN_H: f64 = 22.0;
const MAX_H: f64 = 90.0;
const PAD: f64 = 12.0;

pub struct Node {
    pub x: String,
    pub y: String,
    pub w: String,
    pub h: String,
    pub text_x: String,
    pub text_y: String,
    pub class: &'static str,
    pub label: String,
    pub count: String,
    pub title: String,
    pub href: String,
    /// Conversations that ended here: the badge's text, position and link.
    pub drop: Option<(String, String, String, String)>,
}

pub struct Edge {
    pub d: String,
    pub width: String,
    pub class: &'static str,
    pub title: String,
}

pub struct Diagram {
    pub view_box: String,
    pub width: String,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    pub hidden: usize,
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        s.chars().take(n - 1).chain(['…']).collect()
    }
}

/// Lays out `graph`; `list` is the link to the range's conversations, which nodes narrow.
pub fn diagram(graph: &FlowGraph, list: &str) -> Diagram {
    let start = StepKey::start();
    let dropoff = StepKey::dropoff();
    let special = |k: &StepKey| *k == start || *k == dropoff;
    // The largest steps, and the two ends.
    let mut shown: Vec<&StepKey> =
        graph.nodes.iter().filter(|n| special(&n.step)).map(|n| &n.step).collect();
    let steps: Vec<_> = graph.nodes.iter().filter(|n| !special(&n.step)).collect();
    shown.extend(steps.iter().take(MAX_NODES).map(|n| &n.step));
    let hidden = steps.len().saturating_sub(MAX_NODES);
    let count: BTreeMap<&StepKey, i64> = graph.nodes.iter().map(|n| (&n.step, n.count)).collect();
    let edges: Vec<_> =
        graph.edges.iter().filter(|e| shown.contains(&&e.from) && shown.contains(&&e.to)).collect();
    // Columns: breadth-first distance from START; DROPOFF after the last.
    let mut layer: BTreeMap<&StepKey, usize> = BTreeMap::new();
    layer.insert(&start, 0);
    let mut queue = VecDeque::from([&start]);
    while let Some(k) = queue.pop_front() {
        let next = layer[k] + 1;
        for e in edges.iter().filter(|e| &e.from == k && e.to != dropoff) {
            if !layer.contains_key(&e.to) {
                layer.insert(&e.to, next);
                queue.push_back(&e.to);
            }
        }
    }
    for k in &shown {
        if **k != dropoff {
            layer.entry(k).or_insert(1);
        }
    }
    let last = layer.values().copied().max().unwrap_or(0) + 1;
    layer.insert(&dropoff, last);
    let max_count = shown.iter().map(|k| count[k]).max().unwrap_or(1).max(1) as f64;
    let height_of = |k: &StepKey| MIN_H + (MAX_H - MIN_H) * count[k] as f64 / max_count;
    let mut columns: BTreeMap<usize, Vec<&StepKey>> = BTreeMap::new();
    for k in &shown {
        columns.entry(layer[k]).or_default().push(k);
    }
    let mut place: BTreeMap<&StepKey, (f64, f64, f64)> = BTreeMap::new();
    let mut total_h: f64 = 0.0;
    for (col, keys) in &mut columns {
        keys.sort_by(|a, b| count[b].cmp(&count[a]).then_with(|| a.cmp(b)));
        let mut y = PAD;
        for k in keys.iter() {
            let h = height_of(k);
            place.insert(k, (PAD + *col as f64 * COL_W, y, h));
            y += h + GAP + 14.0;
        }
        total_h = total_h.max(y);
    }
    let exits: BTreeMap<&StepKey, i64> =
        graph.edges.iter().filter(|e| e.to == dropoff).map(|e| (&e.from, e.count)).collect();
    let nodes = shown
        .iter()
        .filter_map(|k| {
            let (x, y, h) = *place.get(k)?;
            let (class, href) = if **k == start {
                ("node start", list.to_owned())
            } else if **k == dropoff {
                ("node drop", format!("{}&status=ended", list))
            } else {
                ("node", format!("{}&step={}", list, url(&k.id)))
            };
            let kind = if k.kind.is_empty() { String::new() } else { format!(" ({})", k.kind) };
            let drop = exits.get(k).filter(|_| !special(k)).map(|n| {
                (
                    format!("↓ {}", number(*n as f64)),
                    f(x + NODE_W - 4.0),
                    f(y + h + 12.0),
                    format!("{}&status=ended&completed=false&last_step={}", list, url(&k.id)),
                )
            });
            Some(Node {
                x: f(x),
                y: f(y),
                w: f(NODE_W),
                h: f(h),
                text_x: f(x + 6.0),
                text_y: f(y + 15.0),
                class,
                label: short(&k.id, 18),
                count: number(count[k] as f64),
                // A step entered twice by one conversation (a loop) counts twice.
                title: format!(
                    "{}{kind}: entered {} times{}",
                    k.id,
                    count[k],
                    exits.get(k).map_or(String::new(), |n| format!(
                        ", {n} dropped off here ({:.1}%)",
                        100.0 * *n as f64 / count[k].max(1) as f64
                    ))
                ),
                href,
                drop,
            })
        })
        .collect();
    let max_edge = edges.iter().map(|e| e.count).max().unwrap_or(1).max(1) as f64;
    // A drop-off line from an early column would cross every column after it: those steps
    // show their drop-offs as badges only.
    let edges = edges
        .iter()
        .filter(|e| e.to != dropoff || layer.get(&e.from) == Some(&(last - 1)))
        .filter_map(|e| {
            let (x1, y1, h1) = *place.get(&e.from)?;
            let (x2, y2, h2) = *place.get(&e.to)?;
            let (sx, sy) = (x1 + NODE_W, y1 + h1 / 2.0);
            let (tx, ty) = (x2, y2 + h2 / 2.0);
            let bend = ((tx - sx).abs() / 2.0).max(40.0);
            Some(Edge {
                d: format!(
                    "M{} {} C{} {} {} {} {} {}",
                    f(sx),
                    f(sy),
                    f(sx + bend),
                    f(sy),
                    f(tx - bend),
                    f(ty),
                    f(tx),
                    f(ty)
                ),
                width: f(1.0 + 13.0 * e.count as f64 / max_edge),
                class: if e.to == dropoff { "edge drop" } else { "edge" },
                title: format!("{} → {}: {} conversations", e.from.id, e.to.id, e.count),
            })
        })
        .collect();
    let width = PAD * 2.0 + last as f64 * COL_W + NODE_W;
    Diagram {
        view_box: format!("0 0 {} {}", f(width), f(total_h.max(60.0))),
        width: f(width),
        nodes,
        edges,
        hidden,
    }
}

#[derive(askama::Template)]
#[template(path = "flows.html")]
struct FlowsPage {
    nav: Nav,
    period: Period,
    diagram: Option<Diagram>,
}

async fn flows(
    State(state): State<AppState>,
    viewer: Viewer,
    PathParams(bot_id): PathParams<String>,
    Params(params): Params,
) -> Result<Response, UiError> {
    let nav = Nav::of_bot(&state, &viewer, &bot_id, "flows").await?;
    let period = Period::from_params(&params, &viewer)?;
    let team = viewer.caller.team_id;
    let req = FlowRequest {
        start: period.start,
        end: period.end,
        plan: Plan::span(period.start, period.end),
        filters: vec![],
        active_after: still_active_after(&state, team, &bot_id).await?,
    };
    let graph = state.store.flow_totals(team, &bot_id, &req).await?.graph();
    let base = format!("/bots/{}/conversations?{}", url(&bot_id), period.list_query());
    let diagram = (!graph.nodes.is_empty()).then(|| diagram(&graph, &base));
    Ok(render(&FlowsPage { nav, period, diagram })?.into_response())
}
