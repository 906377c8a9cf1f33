//! Chart geometry: bars (stacked by series), a dashed line for the previous period, axis ticks
//! and hover texts, computed here and drawn by `templates/chart.html` as SVG. Numbers are
//! formatted once, here; every text goes through the template's escaping.

/// The drawing's size in SVG units; it scales to the page's width.
const WIDTH: f64 = 800.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 8.0;
const BOTTOM: f64 = 22.0;
/// Series colours (`.c0`…`.c7` in the stylesheet); further series reuse them.
const PALETTE: usize = 8;

pub struct Bar {
    pub x: String,
    pub y: String,
    pub w: String,
    pub h: String,
    pub class: String,
    pub title: String,
}

pub struct Tick {
    pub pos: String,
    pub label: String,
}

pub struct Legend {
    pub class: String,
    pub label: String,
}

pub struct Chart {
    pub title: String,
    pub view_box: String,
    pub bars: Vec<Bar>,
    /// `points` of the previous period's totals.
    pub prev: Option<String>,
    /// Hover areas over the previous period's points, one per bucket.
    pub prev_points: Vec<Bar>,
    pub y_ticks: Vec<Tick>,
    pub x_ticks: Vec<Tick>,
    pub legend: Vec<Legend>,
    pub left: String,
    pub right: String,
    pub base: String,
    /// Where the x labels sit, under the axis.
    pub label_y: String,
}

/// A number as a person reads it: integers plainly, others with up to two decimals.
pub fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// An SVG coordinate, to a tenth of a unit.
pub fn f(v: f64) -> String {
    format!("{v:.1}")
}

/// A round axis maximum at or above `max`, and its tick step (1, 2 or 5 × a power of ten).
fn axis(max: f64) -> (f64, f64) {
    if max <= 0.0 {
        return (1.0, 1.0);
    }
    let rough = max / 4.0;
    let mag = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * mag).find(|s| *s >= rough).unwrap();
    let step = step.max(1.0);
    ((max / step).ceil() * step, step)
}

/// Stacked bars, one column per bucket; `series` are `(label, values)` in stacking order;
/// `prev` are the previous period's bucket labels and totals (aligned by position).
pub fn stacked(
    title: &str,
    x_labels: &[String],
    series: &[(String, Vec<f64>)],
    prev: Option<(&[String], &[f64])>,
    unit: &str,
) -> Chart {
    let n = x_labels.len().max(1);
    let totals: Vec<f64> = (0..n)
        .map(|i| series.iter().map(|(_, v)| v.get(i).copied().unwrap_or(0.0)).sum())
        .collect();
    let prev_max = prev.map_or(0.0, |(_, p)| p.iter().copied().fold(0.0, f64::max));
    let (top, step) = axis(totals.iter().copied().fold(0.0, f64::max).max(prev_max));
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let col = plot_w / n as f64;
    let gap = if col > 6.0 { col * 0.15 } else { 0.0 };
    let y_of = |v: f64| TOP + plot_h - v / top * plot_h;
    let mut bars = vec![];
    for i in 0..n {
        let mut acc = 0.0;
        for (s, (label, values)) in series.iter().enumerate() {
            let v = values.get(i).copied().unwrap_or(0.0);
            if v <= 0.0 {
                continue;
            }
            let (y0, y1) = (y_of(acc), y_of(acc + v));
            acc += v;
            bars.push(Bar {
                x: f(LEFT + i as f64 * col + gap / 2.0),
                y: f(y1),
                w: f((col - gap).max(0.5)),
                h: f((y0 - y1).max(0.5)),
                class: format!("c{}", s % PALETTE),
                title: match series.len() {
                    1 => format!("{}: {} {unit}", x_labels[i], number(v)),
                    _ => format!(
                        "{} · {label}: {} of {} {unit}",
                        x_labels[i],
                        number(v),
                        number(totals[i])
                    ),
                },
            });
        }
    }
    let (prev, prev_points) = match prev {
        Some((prev_labels, p)) => {
            let points: Vec<String> = p
                .iter()
                .enumerate()
                .map(|(i, v)| format!("{},{}", f(LEFT + (i as f64 + 0.5) * col), f(y_of(*v))))
                .collect();
            let hover = p
                .iter()
                .enumerate()
                .map(|(i, v)| Bar {
                    x: f(LEFT + (i as f64 + 0.5) * col - 3.0),
                    y: f(y_of(*v) - 3.0),
                    w: "6".into(),
                    h: "6".into(),
                    class: "prev-point".into(),
                    title: format!(
                        "previous period, {}: {} {unit}",
                        prev_labels.get(i).map_or("", String::as_str),
                        number(*v)
                    ),
                })
                .collect();
            (Some(points.join(" ")), hover)
        }
        None => (None, vec![]),
    };
    let y_ticks = (0..)
        .map(|k| k as f64 * step)
        .take_while(|v| *v <= top + 1e-9)
        .map(|v| Tick { pos: f(y_of(v)), label: number(v) })
        .collect();
    // At most ~8 labels under the axis, evenly spaced.
    let every = n.div_ceil(8).max(1);
    let x_ticks = (0..n)
        .step_by(every)
        .filter(|i| *i < x_labels.len())
        .map(|i| Tick { pos: f(LEFT + (i as f64 + 0.5) * col), label: x_labels[i].clone() })
        .collect();
    let legend = match series.len() {
        0 | 1 => vec![],
        _ => series
            .iter()
            .enumerate()
            .map(|(s, (label, _))| Legend {
                class: format!("c{}", s % PALETTE),
                label: label.clone(),
            })
            .collect(),
    };
    Chart {
        title: title.to_owned(),
        view_box: format!("0 0 {WIDTH} {HEIGHT}"),
        bars,
        prev,
        prev_points,
        y_ticks,
        x_ticks,
        legend,
        left: f(LEFT),
        right: f(WIDTH - RIGHT),
        base: f(TOP + plot_h),
        label_y: f(TOP + plot_h + 15.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_is_round_and_covers_the_maximum() {
        assert_eq!(axis(0.0), (1.0, 1.0));
        assert_eq!(axis(3.0), (3.0, 1.0));
        assert_eq!(axis(17.0), (20.0, 5.0));
        assert_eq!(axis(930.0), (1000.0, 500.0));
    }

    #[test]
    fn bars_stack_and_carry_their_values() {
        let labels = vec!["2026-11-01".to_owned(), "2026-11-02".to_owned()];
        let series = vec![("web".to_owned(), vec![2.0, 0.0]), ("sms".to_owned(), vec![1.0, 4.0])];
        let c = stacked("t", &labels, &series, Some((&labels, &[1.0, 1.0])), "conversations");
        assert_eq!(c.bars.len(), 3, "a zero draws nothing");
        assert_eq!(c.bars[0].title, "2026-11-01 · web: 2 of 3 conversations");
        assert_eq!(c.bars[2].title, "2026-11-02 · sms: 4 of 4 conversations");
        assert!(c.bars[1].y.parse::<f64>().unwrap() < c.bars[0].y.parse::<f64>().unwrap());
        assert_eq!(c.legend.len(), 2);
        assert_eq!(c.prev_points.len(), 2);
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(12.0), "12");
    }
}
