//! The aggregate dialogue flow as a left-to-right layered diagram ([`super::layout`]): one
//! column per layer of the step graph, loops drawn as dashed return arcs over the boxes, lines
//! as wide as their traversals. Each box says how often its step was entered, how many
//! conversations ended there and where the others went; it links to the conversations that
//! passed through it, its drop-off figure to those that ended there.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use confab_core::flow::{FlowGraph, FlowNode, FlowRequest, StepKey};
use confab_core::rollup::Plan;
use confab_core::time::now_millis;

use super::charts::{f, number};
use super::layout;
use super::period::{Period, url};
use super::session::Viewer;
use super::{Nav, UiError, render};
use crate::AppState;
use crate::extract::{Params, PathParams};

pub fn router() -> Router<AppState> {
    Router::new().route("/bots/{bot_id}/flows", get(flows))
}

/// Steps drawn besides `START`; the rest are listed as hidden.
const MAX_NODES: usize = 40;
const NODE_W: f64 = 168.0;
const COL_W: f64 = 236.0;
const PAD: f64 = 14.0;
/// A box's header, and each figure line under it.
const HEAD_H: f64 = 22.0;
const LINE_H: f64 = 15.0;
/// Exits listed in a box, by traversals; the rest are summed.
const MAX_EXITS: usize = 3;

/// One line of figures in a step's box. The box draws whatever list it is given, so another
/// figure is one more push in [`figures_of`].
pub struct Figure {
    pub text: String,
    pub class: &'static str,
    pub href: Option<String>,
    pub title: String,
    pub x: String,
    pub y: String,
}

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
    pub figures: Vec<Figure>,
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

/// A figure before it is placed: text, CSS class, link and hover text.
struct Line(String, &'static str, Option<String>, String);

/// What a step's box says under its name: how many conversations were there and how often it
/// was entered, the share of those conversations that reached a goal (when the bot has goal
/// steps), drop-offs (conversations that ended there without one, and their share) and its
/// exits by edge.
fn figures_of(
    k: &StepKey,
    entered: i64,
    node: Option<&FlowNode>,
    dropped: Option<i64>,
    goals: bool,
    exits: &[(&StepKey, i64)],
    list: &str,
) -> Vec<Line> {
    let mut lines = vec![];
    let conversations = node.map_or(0, |n| n.conversations);
    let pct = |rate: Option<f64>| rate.map_or("–".to_owned(), |r| format!("{:.0}%", 100.0 * r));
    let start = *k == StepKey::start();
    let at = if start { String::new() } else { format!("&step={}", url(&k.id)) };
    if start {
        lines.push(Line(
            format!("{} conversations", number(conversations as f64)),
            "fig",
            None,
            format!("{conversations} conversations reached a step"),
        ));
    } else {
        lines.push(Line(
            format!("{} conv. · in {}", number(conversations as f64), number(entered as f64)),
            "fig",
            None,
            format!(
                "{conversations} conversations were at {}; it was entered {entered} times (a \
                 conversation that comes back enters again)",
                k.id
            ),
        ));
    }
    if goals && let Some(n) = node {
        lines.push(Line(
            format!("✓ {} completed", pct(n.completion_rate)),
            "fig done-badge",
            Some(format!("{list}&completed=true{at}")),
            format!(
                "{} of the {conversations} conversations at {} reached a goal step",
                n.completed, k.id
            ),
        ));
    }
    // Without goals every ended conversation is a drop-off: said per step, not for START.
    if let Some(n) = dropped.filter(|n| *n > 0 && (goals || !start)) {
        let (what, link) = if start {
            ("ended without reaching a goal", format!("{list}&status=ended&completed=false"))
        } else {
            (
                "ended here without reaching a goal",
                format!("{list}&status=ended&completed=false&last_step={}", url(&k.id)),
            )
        };
        lines.push(Line(
            format!("↓ {} dropped ({})", number(n as f64), pct(node.and_then(|n| n.dropoff_rate))),
            "fig drop-badge",
            Some(link),
            format!("{n} of the {conversations} conversations at {} {what}", k.id),
        ));
    }
    for (to, n) in exits.iter().take(MAX_EXITS) {
        lines.push(Line(
            format!("→ {} {}", short(&to.id, 14), number(*n as f64)),
            "fig exit",
            None,
            format!("{} → {}: {n}", k.id, to.id),
        ));
    }
    if exits.len() > MAX_EXITS {
        let rest: i64 = exits[MAX_EXITS..].iter().map(|(_, n)| n).sum();
        lines.push(Line(
            format!("→ {} more {}", exits.len() - MAX_EXITS, number(rest as f64)),
            "fig exit",
            None,
            format!("{} other exits", exits.len() - MAX_EXITS),
        ));
    }
    lines
}

/// A path with horizontal tangents through `points`, straight where two share a height.
fn smooth(points: &[(f64, f64)]) -> String {
    let mut d = format!("M{} {}", f(points[0].0), f(points[0].1));
    for w in points.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if y0 == y1 {
            d.push_str(&format!(" L{} {}", f(x1), f(y1)));
        } else {
            let dx = (x1 - x0) / 2.0;
            d.push_str(&format!(
                " C{} {} {} {} {} {}",
                f(x0 + dx),
                f(y0),
                f(x1 - dx),
                f(y1),
                f(x1),
                f(y1)
            ));
        }
    }
    d
}

/// Lays out `graph` as layers left to right ([`layout`]); `list` is the link to the range's
/// conversations, which nodes narrow; `goals`: whether the bot has goal steps (each box then
/// gives the share of its conversations that completed). `DROPOFF` is not drawn as a node: each box says how many
/// ended there, so no line runs from every step to one far corner.
pub fn diagram(graph: &FlowGraph, list: &str, goals: bool) -> Diagram {
    let start = StepKey::start();
    let dropoff = StepKey::dropoff();
    // START, then the largest steps.
    let mut shown: Vec<&StepKey> = vec![];
    if graph.nodes.iter().any(|n| n.step == start) {
        shown.push(&start);
    }
    let steps: Vec<_> =
        graph.nodes.iter().filter(|n| n.step != start && n.step != dropoff).collect();
    shown.extend(steps.iter().take(MAX_NODES).map(|n| &n.step));
    let hidden = steps.len().saturating_sub(MAX_NODES);
    let index: BTreeMap<&StepKey, usize> = shown.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    let count: BTreeMap<&StepKey, i64> = graph.nodes.iter().map(|n| (&n.step, n.count)).collect();
    let mut dropped: BTreeMap<&StepKey, i64> =
        graph.edges.iter().filter(|e| e.to == dropoff).map(|e| (&e.from, e.count)).collect();
    if let Some(all) = graph.nodes.iter().find(|n| n.step == dropoff) {
        dropped.insert(&start, all.count);
    }
    let node: BTreeMap<&StepKey, &FlowNode> = graph.nodes.iter().map(|n| (&n.step, n)).collect();
    // Heaviest first (the graph's order), so the search follows the main path.
    let edges: Vec<_> = graph
        .edges
        .iter()
        .filter_map(|e| Some((index.get(&e.from).copied()?, index.get(&e.to).copied()?, e)))
        .collect();
    let mut exits: Vec<Vec<(&StepKey, i64)>> = vec![vec![]; shown.len()];
    for (from, _, e) in &edges {
        exits[*from].push((&e.to, e.count));
    }
    let lines: Vec<Vec<Line>> = shown
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let (n, d) = (node.get(k).copied(), dropped.get(k).copied());
            figures_of(k, count[k], n, d, goals, &exits[i], list)
        })
        .collect();
    let heights: Vec<f64> = lines.iter().map(|l| HEAD_H + LINE_H * l.len() as f64 + 4.0).collect();
    let pairs: Vec<(usize, usize)> = edges.iter().map(|(a, b, _)| (*a, *b)).collect();
    let placed = layout::layout(&layout::Input {
        n: shown.len(),
        root: 0,
        edges: &pairs,
        heights: &heights,
    });
    let x_of = |layer: usize| PAD + layer as f64 * COL_W;
    // Return arcs run over the boxes (under them they would cross the lines that fan into a
    // fallback step), higher the further back they go: room for the highest above the top row.
    let rise = |from: usize, to: usize| {
        let span = placed.layer[from].abs_diff(placed.layer[to]).min(12) as f64;
        if from == to { 24.0 } else { 26.0 + 9.0 * span }
    };
    let margin = pairs
        .iter()
        .zip(&placed.back)
        .filter(|((a, b), back)| **back || a == b)
        .map(|((a, b), _)| rise(*a, *b))
        .fold(0.0, f64::max);
    let y0 = PAD + margin;
    let top = |i: usize| y0 + placed.y[i];
    let nodes = shown
        .iter()
        .enumerate()
        .zip(lines)
        .map(|((i, k), lines)| {
            let (x, y, h) = (x_of(placed.layer[i]), top(i), heights[i]);
            let (class, href) = if **k == start {
                ("node start", list.to_owned())
            } else {
                ("node", format!("{}&step={}", list, url(&k.id)))
            };
            let kind = if k.kind.is_empty() { String::new() } else { format!(" ({})", k.kind) };
            let figures = lines
                .into_iter()
                .enumerate()
                .map(|(j, Line(text, class, href, title))| Figure {
                    text,
                    class,
                    href,
                    title,
                    x: f(x + 8.0),
                    y: f(y + HEAD_H + LINE_H * j as f64 + 10.0),
                })
                .collect();
            Node {
                x: f(x),
                y: f(y),
                w: f(NODE_W),
                h: f(h),
                text_x: f(x + 8.0),
                text_y: f(y + 15.0),
                class,
                label: short(&k.id, 18),
                count: number(count[k] as f64),
                title: format!("{}{kind}: entered {} times", k.id, count[k]),
                href,
                figures,
            }
        })
        .collect();
    let max_edge = edges.iter().map(|e| e.2.count).max().unwrap_or(1).max(1) as f64;
    let edges = edges
        .iter()
        .enumerate()
        .map(|(e, (from, to, edge))| {
            let (x1, y1, h1) = (x_of(placed.layer[*from]), top(*from), heights[*from]);
            let (x2, y2, h2) = (x_of(placed.layer[*to]), top(*to), heights[*to]);
            let title = format!("{} → {}: {} conversations", edge.from.id, edge.to.id, edge.count);
            let width = f(1.0 + 11.0 * edge.count as f64 / max_edge);
            if from == to {
                // A step that repeats itself: a small loop over its top right corner.
                let (sx, sy) = (x1 + NODE_W - 30.0, y1);
                let d = format!(
                    "M{} {} C{} {} {} {} {} {}",
                    f(sx),
                    f(sy),
                    f(sx - 10.0),
                    f(sy - 22.0),
                    f(sx + 30.0),
                    f(sy - 22.0),
                    f(sx + 20.0),
                    f(sy)
                );
                return Edge { d, width, class: "edge back", title: format!("{title} (repeats)") };
            }
            if placed.back[e] {
                // A return arc from the top of one box to the top of the other; a cubic's
                // peak is three quarters of the way to its control points.
                let (sx, sy) = (x1 + NODE_W / 2.0 + 6.0, y1);
                let (tx, ty) = (x2 + NODE_W / 2.0 - 6.0, y2);
                let high = sy.min(ty) - rise(*from, *to) * 4.0 / 3.0;
                let d = format!(
                    "M{} {} C{} {} {} {} {} {}",
                    f(sx),
                    f(sy),
                    f(sx),
                    f(high),
                    f(tx),
                    f(high),
                    f(tx),
                    f(ty)
                );
                return Edge { d, width, class: "edge back", title: format!("{title} (returns)") };
            }
            let mut points = vec![(x1 + NODE_W, y1 + h1 / 2.0)];
            for &(layer, y) in &placed.bends[e] {
                points.push((x_of(layer), y0 + y));
                points.push((x_of(layer) + NODE_W, y0 + y));
            }
            points.push((x2, y2 + h2 / 2.0));
            Edge { d: smooth(&points), width, class: "edge", title }
        })
        .collect();
    let layers = placed.layer.iter().copied().max().unwrap_or(0) + 1;
    let width = PAD * 2.0 + (layers - 1) as f64 * COL_W + NODE_W;
    Diagram {
        view_box: format!("0 0 {} {}", f(width), f((y0 + placed.height + PAD).max(60.0))),
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
    let settings = state.store.bot_settings(team, &bot_id).await?;
    let req = FlowRequest {
        start: period.start,
        end: period.end,
        plan: Plan::span(period.start, period.end),
        filters: vec![],
        active_after: now_millis() - settings.inactivity_ms(),
    };
    let graph = state.store.flow_totals(team, &bot_id, &req).await?.graph();
    let base = format!("/bots/{}/conversations?{}", url(&bot_id), period.list_query());
    let goals = !settings.goal_steps.is_empty();
    let diagram = (!graph.nodes.is_empty()).then(|| diagram(&graph, &base, goals));
    Ok(render(&FlowsPage { nav, period, diagram })?.into_response())
}
