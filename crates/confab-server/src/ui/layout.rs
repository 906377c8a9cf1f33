//! A layered (Sugiyama) layout for directed graphs, pure and deterministic, for the flow
//! diagram: cycles broken by the back edges of a depth-first search from the root, layers by
//! the longest path over what is left, dummy nodes on edges that span several layers, crossings
//! reduced by barycenter sweeps, then vertical positions. Nothing here knows about steps or SVG,
//! so the tests can check the geometry on any graph.

use std::collections::BTreeMap;

/// What to lay out: `n` nodes, edges by index (heaviest first: the search follows them in this
/// order, so the main path stays the spine), each node's height.
pub struct Input<'a> {
    pub n: usize,
    pub root: usize,
    pub edges: &'a [(usize, usize)],
    pub heights: &'a [f64],
}

/// One slot in a layer: a node, or the `k`-th bend of edge `e`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Item {
    Node(usize),
    Dummy { edge: usize, k: usize },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// Each node's layer.
    pub layer: Vec<usize>,
    /// Each edge: true if it closes a cycle (drawn as a return arc, left out of the layering).
    pub back: Vec<bool>,
    /// The layers, each top to bottom.
    pub layers: Vec<Vec<Item>>,
    /// Each node's top.
    pub y: Vec<f64>,
    /// Each forward edge's bends (one per layer it passes), as (layer, y).
    pub bends: Vec<Vec<(usize, f64)>>,
    /// The lowest bottom of anything placed.
    pub height: f64,
}

/// Vertical room between two boxes, and taken by a bend.
pub const GAP: f64 = 18.0;
pub const DUMMY_H: f64 = 6.0;
const SWEEPS: usize = 12;

pub fn layout(input: &Input) -> Layout {
    let back = back_edges(input);
    let layer = longest_path_layers(input, &back);
    let depth = layer.iter().copied().max().map_or(0, |m| m + 1);
    // Items per layer, first in order of discovery (node index order, which the caller makes
    // the order of size), then the bends of each long edge.
    let mut layers: Vec<Vec<Item>> = vec![vec![]; depth];
    for v in discovery_order(input, &back) {
        layers[layer[v]].push(Item::Node(v));
    }
    for (e, &(from, to)) in input.edges.iter().enumerate() {
        if back[e] || from == to {
            continue;
        }
        for (k, l) in (layer[from] + 1..layer[to]).enumerate() {
            layers[l].push(Item::Dummy { edge: e, k });
        }
    }
    let (up, down) = neighbours(input, &back, &layer, &layers);
    reduce_crossings(&mut layers, &up, &down);
    let (y, dummy_y, height) = coordinates(input, &layers, &up);
    let mut bends: Vec<Vec<(usize, f64)>> = vec![vec![]; input.edges.len()];
    for (l, items) in layers.iter().enumerate() {
        for it in items {
            if let Item::Dummy { edge, .. } = it {
                bends[*edge].push((l, dummy_y[&(l, *it)]));
            }
        }
    }
    Layout { layer, back, layers, y, bends, height }
}

/// Edges to a node still on the search's stack, searching from the root first, then from any
/// node not reached, in index order. Self-loops are back edges.
fn back_edges(input: &Input) -> Vec<bool> {
    let mut out: Vec<Vec<usize>> = vec![vec![]; input.n];
    for (e, &(from, _)) in input.edges.iter().enumerate() {
        out[from].push(e);
    }
    // 0 unseen, 1 on the stack, 2 done.
    let mut state = vec![0u8; input.n];
    let mut back = vec![false; input.edges.len()];
    let roots = std::iter::once(input.root).chain(0..input.n);
    for r in roots {
        if state[r] != 0 {
            continue;
        }
        state[r] = 1;
        let mut stack = vec![(r, 0usize)];
        while let Some((v, i)) = stack.last_mut() {
            let v = *v;
            if let Some(&e) = out[v].get(*i) {
                *i += 1;
                let to = input.edges[e].1;
                match state[to] {
                    0 => {
                        state[to] = 1;
                        stack.push((to, 0));
                    }
                    1 => back[e] = true,
                    _ => {}
                }
            } else {
                state[v] = 2;
                stack.pop();
            }
        }
    }
    back
}

/// The order nodes are first reached along forward edges, root first: the initial order
/// within each layer.
fn discovery_order(input: &Input, back: &[bool]) -> Vec<usize> {
    let mut seen = vec![false; input.n];
    let mut order = vec![];
    for r in std::iter::once(input.root).chain(0..input.n) {
        if seen[r] {
            continue;
        }
        seen[r] = true;
        let mut queue = std::collections::VecDeque::from([r]);
        while let Some(v) = queue.pop_front() {
            order.push(v);
            for (e, &(from, to)) in input.edges.iter().enumerate() {
                if from == v && !back[e] && !seen[to] {
                    seen[to] = true;
                    queue.push_back(to);
                }
            }
        }
    }
    order
}

/// Each node one layer past its furthest predecessor over the forward edges (Kahn's order).
fn longest_path_layers(input: &Input, back: &[bool]) -> Vec<usize> {
    let mut indegree = vec![0usize; input.n];
    let forward: Vec<(usize, usize)> = input
        .edges
        .iter()
        .zip(back)
        .filter(|((f, t), b)| !**b && f != t)
        .map(|(e, _)| *e)
        .collect();
    for &(_, to) in &forward {
        indegree[to] += 1;
    }
    let mut layer = vec![0usize; input.n];
    let mut ready: Vec<usize> = (0..input.n).filter(|&v| indegree[v] == 0).rev().collect();
    while let Some(v) = ready.pop() {
        for &(from, to) in forward.iter().filter(|(f, _)| *f == v) {
            layer[to] = layer[to].max(layer[from] + 1);
            indegree[to] -= 1;
            if indegree[to] == 0 {
                ready.push(to);
            }
        }
    }
    layer
}

type Links = BTreeMap<(usize, Item), Vec<Item>>;

/// For each item (keyed by layer and item), its neighbours one layer up and one layer down,
/// along forward edges split at their bends.
fn neighbours(
    input: &Input,
    back: &[bool],
    layer: &[usize],
    layers: &[Vec<Item>],
) -> (Links, Links) {
    let mut up: Links = BTreeMap::new();
    let mut down: Links = BTreeMap::new();
    for (l, items) in layers.iter().enumerate() {
        for it in items {
            up.entry((l, *it)).or_default();
            down.entry((l, *it)).or_default();
        }
    }
    for (e, &(from, to)) in input.edges.iter().enumerate() {
        if back[e] || from == to {
            continue;
        }
        let mut chain = vec![(layer[from], Item::Node(from))];
        for (k, l) in (layer[from] + 1..layer[to]).enumerate() {
            chain.push((l, Item::Dummy { edge: e, k }));
        }
        chain.push((layer[to], Item::Node(to)));
        for w in chain.windows(2) {
            down.entry(w[0]).or_default().push(w[1].1);
            up.entry(w[1]).or_default().push(w[0].1);
        }
    }
    (up, down)
}

fn position(layer: &[Item]) -> BTreeMap<Item, usize> {
    layer.iter().enumerate().map(|(i, it)| (*it, i)).collect()
}

/// Reorders each layer by the mean position of its neighbours in the layer before (sweeping
/// down) or after (sweeping up); an item with none keeps its place. Ties keep the current
/// order, so the result depends only on the input. The best order seen is kept.
fn reduce_crossings(layers: &mut [Vec<Item>], up: &Links, down: &Links) {
    let mut best = layers.to_vec();
    let mut best_crossings = crossings(layers, down);
    for sweep in 0..SWEEPS {
        let downward = sweep % 2 == 0;
        let order: Vec<usize> = if downward {
            (1..layers.len()).collect()
        } else {
            (0..layers.len().saturating_sub(1)).rev().collect()
        };
        for l in order {
            let (fixed, links) = if downward { (l - 1, up) } else { (l + 1, down) };
            let pos = position(&layers[fixed]);
            let mut keyed: Vec<(f64, usize, Item)> = layers[l]
                .iter()
                .enumerate()
                .map(|(i, it)| {
                    let ns = &links[&(l, *it)];
                    let bary = if ns.is_empty() {
                        i as f64
                    } else {
                        ns.iter().map(|n| pos[n] as f64).sum::<f64>() / ns.len() as f64
                    };
                    (bary, i, *it)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            layers[l] = keyed.into_iter().map(|k| k.2).collect();
        }
        let c = crossings(layers, down);
        if c < best_crossings {
            best_crossings = c;
            best = layers.to_vec();
        }
    }
    layers.clone_from_slice(&best);
}

/// Pairs of segments between adjacent layers that cross.
pub fn crossings(layers: &[Vec<Item>], down: &Links) -> usize {
    let mut total = 0;
    for l in 0..layers.len().saturating_sub(1) {
        let below = position(&layers[l + 1]);
        let segs: Vec<(usize, usize)> = layers[l]
            .iter()
            .enumerate()
            .flat_map(|(i, it)| down[&(l, *it)].iter().map(move |n| (i, n)))
            .map(|(i, n)| (i, below[n]))
            .collect();
        for (a, s) in segs.iter().enumerate() {
            for t in &segs[a + 1..] {
                if (s.0 < t.0 && s.1 > t.1) || (s.0 > t.0 && s.1 < t.1) {
                    total += 1;
                }
            }
        }
    }
    total
}

/// Tops, top to bottom in each layer's order: each item centred as near as it can be on its
/// neighbour in the layer before along its heaviest edge (the first listed), so the main path
/// runs straight; never above the item over it.
#[allow(clippy::type_complexity)]
fn coordinates(
    input: &Input,
    layers: &[Vec<Item>],
    up: &Links,
) -> (Vec<f64>, BTreeMap<(usize, Item), f64>, f64) {
    let mut y = vec![0.0; input.n];
    let mut dummy_y = BTreeMap::new();
    let mut height: f64 = 0.0;
    let mut centre: BTreeMap<(usize, Item), f64> = BTreeMap::new();
    for (l, items) in layers.iter().enumerate() {
        let mut next_free: f64 = 0.0;
        for it in items {
            let h = match it {
                Item::Node(v) => input.heights[*v],
                Item::Dummy { .. } => DUMMY_H,
            };
            let ns = &up[&(l, *it)];
            let wanted =
                if ns.is_empty() || l == 0 { next_free } else { centre[&(l - 1, ns[0])] - h / 2.0 };
            let top = wanted.max(next_free);
            match it {
                Item::Node(v) => y[*v] = top,
                Item::Dummy { .. } => {
                    dummy_y.insert((l, *it), top + h / 2.0);
                }
            }
            centre.insert((l, *it), top + h / 2.0);
            next_free = top + h + GAP;
            height = height.max(top + h);
        }
    }
    (y, dummy_y, height)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(n: usize, edges: &[(usize, usize)]) -> Layout {
        let heights = vec![40.0; n];
        layout(&Input { n, root: 0, edges, heights: &heights })
    }

    fn crossings_of(n: usize, edges: &[(usize, usize)], l: &Layout) -> usize {
        let (_, down) = neighbours(
            &Input { n, root: 0, edges, heights: &vec![40.0; n] },
            &l.back,
            &l.layer,
            &l.layers,
        );
        crossings(&l.layers, &down)
    }

    /// The demo's shop assistant: START, welcome … goodbye, and a fallback entered from most
    /// steps that returns to the step after. Edges heaviest first, as the page gives them.
    fn shop() -> (usize, Vec<(usize, usize)>) {
        // 0 START, 1 welcome, 2 ask_name, 3 ask_email, 4 ask_phone, 5 ask_date, 6 confirm,
        // 7 goodbye, 8 fallback.
        let mut edges: Vec<(usize, usize)> = (0..7).map(|i| (i, i + 1)).collect();
        for s in 2..=6 {
            edges.push((s, 8));
            edges.push((8, s + 1));
        }
        (9, edges)
    }

    #[test]
    fn a_linear_flow_with_a_fallback_has_one_layer_per_step_and_no_crossings() {
        let (n, edges) = shop();
        let l = run(n, &edges);
        // The spine, one layer per step in order; the fallback, entered from confirm and
        // leading on to goodbye, takes the layer between them.
        assert_eq!(l.layer, vec![0, 1, 2, 3, 4, 5, 6, 8, 7], "{:?}", l.layer);
        assert_eq!(crossings_of(n, &edges, &l), 0);
        // Every step of the spine sits on one row; the fallback below it.
        assert!(l.y[..8].iter().all(|y| *y == l.y[0]), "{:?}", l.y);
        assert!(l.y[8] > l.y[0]);
        // The fallback's returns to earlier steps close cycles.
        assert!(l.back.iter().any(|b| *b));
    }

    #[test]
    fn back_edges_are_the_ones_that_close_cycles() {
        // 0 → 1 → 2 → 1 (retry), 2 → 0 (restart), 2 → 3, 3 → 3 (self-loop).
        let edges = [(0, 1), (1, 2), (2, 1), (2, 0), (2, 3), (3, 3)];
        let l = run(4, &edges);
        assert_eq!(l.back, vec![false, false, true, true, false, true]);
        assert_eq!(l.layer, vec![0, 1, 2, 3]);
    }

    #[test]
    fn layers_are_stable() {
        let (n, edges) = shop();
        let first = run(n, &edges);
        for _ in 0..5 {
            assert_eq!(run(n, &edges), first);
        }
    }

    /// A small deterministic generator: the tests need varied graphs, not good randomness.
    struct Lcg(u64);
    impl Lcg {
        fn below(&mut self, n: usize) -> usize {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((self.0 >> 33) % n as u64) as usize
        }
    }

    #[test]
    fn large_random_flows_get_valid_stable_layers_and_no_overlaps() {
        for seed in 1..=20u64 {
            let mut rng = Lcg(seed);
            let n = 30 + rng.below(15);
            let mut edges = vec![];
            for v in 1..n {
                edges.push((rng.below(v), v)); // every node reachable
            }
            for _ in 0..n {
                edges.push((rng.below(n), rng.below(n)));
            }
            edges.sort();
            edges.dedup();
            let heights: Vec<f64> = (0..n).map(|_| 30.0 + rng.below(50) as f64).collect();
            let l = layout(&Input { n, root: 0, edges: &edges, heights: &heights });
            let again = layout(&Input { n, root: 0, edges: &edges, heights: &heights });
            assert_eq!(l, again, "seed {seed}: the same graph, the same picture");
            for (e, &(from, to)) in edges.iter().enumerate() {
                if !l.back[e] {
                    assert!(l.layer[from] < l.layer[to], "seed {seed}: {from} → {to}");
                    assert_eq!(l.bends[e].len(), l.layer[to] - l.layer[from] - 1);
                }
            }
            // The forward edges alone have no cycle: the layering proves it.
            for (li, items) in l.layers.iter().enumerate() {
                let mut spans: Vec<(f64, f64)> = items
                    .iter()
                    .map(|it| match it {
                        Item::Node(v) => {
                            assert_eq!(l.layer[*v], li);
                            (l.y[*v], l.y[*v] + heights[*v])
                        }
                        Item::Dummy { edge, k } => {
                            let y = l.bends[*edge][*k].1;
                            (y - DUMMY_H / 2.0, y + DUMMY_H / 2.0)
                        }
                    })
                    .collect();
                spans.sort_by(|a, b| a.0.total_cmp(&b.0));
                for w in spans.windows(2) {
                    assert!(w[0].1 < w[1].0, "seed {seed}, layer {li}: {w:?} overlap");
                }
            }
            let placed: usize =
                l.layers.iter().flatten().filter(|i| matches!(i, Item::Node(_))).count();
            assert_eq!(placed, n, "every node placed once");
        }
    }
}
