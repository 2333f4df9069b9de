//! The numbers of a figure, before any pixel: each panel's curves (raw, smoothed, ±std band)
//! and axes, the run colours, and the image layout.

use super::runs::{Run, XAxis};
use super::select::Panel;
use super::smooth::ema;
use super::ticks::{Axis, nice_axis};

/// Panel size in pixels; panels sit in one column when there is one, else in two.
pub const PANEL_W: u32 = 640;
/// Panel height in pixels.
pub const PANEL_H: u32 = 360;
/// Height of the figure title strip.
pub const TITLE_H: u32 = 40;
/// Height of one legend row; the legend strip adds [`LEGEND_PAD`] below its rows.
pub const LEGEND_ROW_H: u32 = 24;
/// Space below the legend rows.
pub const LEGEND_PAD: u32 = 8;
/// Left margin of the legend and the gap between its entries.
pub const LEGEND_GAP: u32 = 16;
/// Length of the line sample before a legend label, including the space after it.
pub const LEGEND_SWATCH: u32 = 34;
/// Most ticks on an x axis.
const X_TICKS: usize = 8;
/// Most ticks on a y axis.
const Y_TICKS: usize = 6;
/// Series with at most this many points also get a marker per point (sparse evaluations).
pub const MARKERS_UP_TO: usize = 20;

/// Run colours, in run order (Tableau 10, which stays distinguishable for most colour-vision
/// deficiencies); an 11th run reuses the first colour.
pub const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// The colour of run `i`.
pub fn run_color(i: usize) -> (u8, u8, u8) {
    PALETTE[i % PALETTE.len()]
}

/// One run's curve in a panel.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    /// Index of the run (and its colour).
    pub run: usize,
    /// The drawn line: the smoothed values when smoothing, else the logged ones.
    pub line: Vec<(f64, f64)>,
    /// The logged values, drawn faintly under a smoothed line; empty without smoothing.
    pub raw: Vec<(f64, f64)>,
    /// `(x, mean - std, mean + std)` for the band; empty without a std metric.
    pub band: Vec<(f64, f64, f64)>,
}

/// A panel ready to draw.
#[derive(Clone, Debug, PartialEq)]
pub struct PanelData {
    /// Panel caption.
    pub caption: String,
    /// One per run that logs the metric.
    pub curves: Vec<Curve>,
    /// Covers every x.
    pub x: Axis,
    /// Covers every drawn value: raw, smoothed and band.
    pub y: Axis,
}

/// The curves of `panel` for every run, smoothed with an EMA of `span` points; `None` when no
/// run has a point of it (e.g. no line holds both the metric and the x key).
pub fn panel_data(runs: &[Run], panel: &Panel, x: &XAxis, span: usize) -> Option<PanelData> {
    let mut curves = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let raw = run.series(x, &panel.key);
        if raw.is_empty() {
            continue;
        }
        let band = match &panel.band {
            Some(std) => band(&run.paired_series(x, &panel.key, std), span),
            None => Vec::new(),
        };
        let line = smoothed(&raw, span);
        let raw = if span > 1 { raw } else { Vec::new() };
        curves.push(Curve {
            run: i,
            line,
            raw,
            band,
        });
    }
    if curves.is_empty() {
        return None;
    }
    let xs = curves
        .iter()
        .flat_map(|c| c.line.iter().map(|p| p.0).chain(c.band.iter().map(|b| b.0)));
    let (x_lo, x_hi) = bounds(xs);
    let ys = curves.iter().flat_map(|c| {
        let lines = c.line.iter().chain(&c.raw).map(|p| p.1);
        lines.chain(c.band.iter().flat_map(|b| [b.1, b.2]))
    });
    let (y_lo, y_hi) = bounds(ys);
    let caption = match panel.band {
        Some(_) => format!("{} (+/- std)", panel.key),
        None => panel.key.clone(),
    };
    Some(PanelData {
        caption,
        curves,
        x: nice_axis(x_lo, x_hi, X_TICKS, *x == XAxis::Step),
        y: nice_axis(y_lo, y_hi, Y_TICKS, false),
    })
}

fn smoothed(points: &[(f64, f64)], span: usize) -> Vec<(f64, f64)> {
    let ys: Vec<f64> = points.iter().map(|p| p.1).collect();
    points
        .iter()
        .zip(ema(&ys, span))
        .map(|(p, y)| (p.0, y))
        .collect()
}

/// `(x, mean - std, mean + std)`, mean and std each smoothed like the line.
fn band(points: &[(f64, f64, f64)], span: usize) -> Vec<(f64, f64, f64)> {
    let means: Vec<f64> = points.iter().map(|p| p.1).collect();
    let stds: Vec<f64> = points.iter().map(|p| p.2).collect();
    let (means, stds) = (ema(&means, span), ema(&stds, span));
    points
        .iter()
        .zip(means.iter().zip(&stds))
        .map(|(p, (m, s))| (p.0, m - s, m + s))
        .collect()
}

fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    })
}

/// Where things go in the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Image width.
    pub width: u32,
    /// Image height.
    pub height: u32,
    /// Panel grid columns.
    pub cols: u32,
    /// Panel grid rows.
    pub rows: u32,
    /// Legend entries (indices into the labels given) per legend row.
    pub legend: Vec<Vec<usize>>,
}

impl Layout {
    /// The layout for `panels` panels and a legend of `labels`.
    pub fn new(panels: usize, labels: &[&str]) -> Self {
        let cols: u32 = if panels <= 1 { 1 } else { 2 };
        let rows = (panels as u32).div_ceil(cols).max(1);
        let width = cols * PANEL_W;
        let legend = legend_rows(labels, width);
        let legend_h = legend.len() as u32 * LEGEND_ROW_H + LEGEND_PAD;
        Self {
            width,
            height: TITLE_H + legend_h + rows * PANEL_H,
            cols,
            rows,
            legend,
        }
    }

    /// Height of the title and legend strips together.
    pub fn header_h(&self) -> u32 {
        self.height - self.rows * PANEL_H
    }
}

/// Width of a legend entry: line sample, label (7 px per character) and the gap after it.
pub fn legend_entry_w(label: &str) -> u32 {
    LEGEND_SWATCH + 7 * label.chars().count() as u32 + LEGEND_GAP
}

/// Greedy wrapping of legend entries into rows of at most `width` pixels (after the left
/// margin); an entry wider than a row gets a row of its own.
fn legend_rows(labels: &[&str], width: u32) -> Vec<Vec<usize>> {
    let mut rows: Vec<Vec<usize>> = Vec::new();
    let mut used = width; // forces a first row
    for (i, label) in labels.iter().enumerate() {
        let w = legend_entry_w(label);
        if used + w > width {
            rows.push(Vec::new());
            used = LEGEND_GAP;
        }
        used += w;
        rows.last_mut().expect("a row was just pushed").push(i);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn run(points: &[(u64, &[(&str, f64)])]) -> Run {
        let rows = points
            .iter()
            .map(|(s, kv)| (*s, kv.iter().map(|(k, v)| (k.to_string(), *v)).collect()))
            .collect::<BTreeMap<_, _>>();
        Run {
            label: String::new(),
            rows,
        }
    }

    #[test]
    fn band_and_axes_cover_mean_plus_minus_std() {
        // Run 0: reward 0.5 +/- 0.1 at step 1, 0.7 +/- 0.2 at step 4. Run 1 has no reward.
        let runs = [
            run(&[
                (1, &[("r_mean", 0.5), ("r_std", 0.1)]),
                (4, &[("r_mean", 0.7), ("r_std", 0.2)]),
            ]),
            run(&[(2, &[("loss", 1.0)])]),
        ];
        let panel = Panel {
            key: "r_mean".into(),
            band: Some("r_std".into()),
        };
        let d = panel_data(&runs, &panel, &XAxis::Step, 1).unwrap();
        assert_eq!(d.caption, "r_mean (+/- std)");
        assert_eq!(d.curves.len(), 1);
        let c = &d.curves[0];
        assert_eq!(c.run, 0);
        assert_eq!(c.line, [(1.0, 0.5), (4.0, 0.7)]);
        assert!(c.raw.is_empty());
        let expect = [(1.0, 0.4, 0.6), (4.0, 0.5, 0.9)];
        for (b, e) in c.band.iter().zip(expect) {
            assert!(
                (b.1 - e.1).abs() < 1e-12 && (b.2 - e.2).abs() < 1e-12,
                "{b:?}"
            );
        }
        // y from 0.4 to 0.9 (band edges), 6 ticks at most: 0.1 gives 0.4..0.9 = 6.
        assert_eq!((d.y.lo, d.y.step), (0.4, 0.1));
        assert!((d.y.hi - 0.9).abs() < 1e-12);
        // x from step 1 to 4, integer: 1..4 in steps of 1.
        assert_eq!(d.x.ticks, [1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn smoothing_keeps_the_raw_points_for_the_faint_line() {
        let runs = [run(&[
            (1, &[("l", 1.0)]),
            (2, &[("l", 2.0)]),
            (3, &[("l", 3.0)]),
        ])];
        let panel = Panel {
            key: "l".into(),
            band: None,
        };
        let d = panel_data(&runs, &panel, &XAxis::Step, 3).unwrap();
        // EMA span 3 of 1, 2, 3 is 1, 5/3, 17/7 (see smooth.rs).
        let c = &d.curves[0];
        assert_eq!(c.raw, [(1.0, 1.0), (2.0, 2.0), (3.0, 3.0)]);
        assert!((c.line[1].1 - 5.0 / 3.0).abs() < 1e-12);
        assert!((c.line[2].1 - 17.0 / 7.0).abs() < 1e-12);
        // No run has the key, or no line has the x key: nothing to draw.
        let other = Panel {
            key: "absent".into(),
            band: None,
        };
        assert_eq!(panel_data(&runs, &other, &XAxis::Step, 1), None);
        assert_eq!(panel_data(&runs, &panel, &XAxis::parse("tokens"), 1), None);
    }

    #[test]
    fn layout_grid_and_legend_wrapping() {
        // One panel, two short labels: one column, one legend row.
        let l = Layout::new(1, &["a", "b"]);
        assert_eq!((l.width, l.height), (640, 40 + 24 + 8 + 360));
        assert_eq!(l.legend, [vec![0, 1]]);
        assert_eq!(l.header_h(), 72);
        // Three panels: two columns, two rows.
        let l = Layout::new(3, &["a"]);
        assert_eq!((l.cols, l.rows, l.width, l.height), (2, 2, 1280, 72 + 720));
        // 40-character labels are 34 + 280 + 16 = 330 px wide: two fit in 640 (16 + 660 > 640
        // does not), so each takes a row of its own in one column.
        let long = "x".repeat(40);
        let l = Layout::new(1, &[&long, &long, "c"]);
        assert_eq!(l.legend, [vec![0], vec![1, 2]]);
    }
}
