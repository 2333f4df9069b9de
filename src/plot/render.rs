//! Pixels: a figure's panels, title and legend drawn into an RGB buffer.
//!
//! The drawing goes straight to a plotters bitmap backend (lines, polygons, circles) with text
//! from [`MonoText`], rather than through plotters' chart builder: the plot rectangle of every
//! panel is then fixed by the constants below, so where a value lands is documented and a test
//! can check it pixel for pixel, and the axes use the [`Axis`] ticks computed in `ticks.rs`.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters_backend::{BackendColor, BackendCoord, BackendStyle, DrawingErrorKind};

use super::figure::{LEGEND_GAP, LEGEND_ROW_H, LEGEND_SWATCH, Layout, MARKERS_UP_TO, PANEL_H};
use super::figure::{PANEL_W, PanelData, TITLE_H, run_color};
use super::text::MonoText;
use super::ticks::Axis;

/// Left margin of a panel's plot rectangle (room for y tick labels).
pub const PLOT_LEFT: u32 = 70;
/// Right margin.
pub const PLOT_RIGHT: u32 = 20;
/// Top margin (the panel caption).
pub const PLOT_TOP: u32 = 30;
/// Bottom margin (x tick labels and the x axis name).
pub const PLOT_BOTTOM: u32 = 40;
/// Width of a run's line.
const LINE_W: u32 = 2;
/// Radius of the point markers of sparse series.
const MARKER_R: u32 = 3;

const BLACK_: BackendColor = BackendColor {
    alpha: 1.0,
    rgb: (0, 0, 0),
};
const FRAME: BackendColor = BackendColor {
    alpha: 1.0,
    rgb: (110, 110, 110),
};
const GRID: BackendColor = BackendColor {
    alpha: 1.0,
    rgb: (228, 228, 228),
};

/// A stroke or fill of one colour and width.
#[derive(Clone, Copy)]
struct Pen {
    color: BackendColor,
    width: u32,
}

impl BackendStyle for Pen {
    fn color(&self) -> BackendColor {
        self.color
    }
    fn stroke_width(&self) -> u32 {
        self.width
    }
}

fn pen(rgb: (u8, u8, u8), alpha: f64, width: u32) -> Pen {
    Pen {
        color: BackendColor { alpha, rgb },
        width,
    }
}

/// The pixel rectangle a panel's axes span: data `(x.lo, y.lo)` maps to `(left, bottom)` and
/// `(x.hi, y.hi)` to `(right, top)`, linearly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlotRect {
    /// Pixel column of `x.lo`.
    pub left: f64,
    /// Pixel column of `x.hi`.
    pub right: f64,
    /// Pixel row of `y.hi`.
    pub top: f64,
    /// Pixel row of `y.lo`.
    pub bottom: f64,
}

impl PlotRect {
    /// The plot rectangle of panel `index` (row-major in the layout's grid).
    pub fn of_panel(layout: &Layout, index: usize) -> Self {
        let (col, row) = (index as u32 % layout.cols, index as u32 / layout.cols);
        let (x0, y0) = (col * PANEL_W, layout.header_h() + row * PANEL_H);
        Self {
            left: f64::from(x0 + PLOT_LEFT),
            right: f64::from(x0 + PANEL_W - PLOT_RIGHT),
            top: f64::from(y0 + PLOT_TOP),
            bottom: f64::from(y0 + PANEL_H - PLOT_BOTTOM),
        }
    }

    /// The pixel of data point `(x, y)` on axes `ax`, `ay`.
    pub fn map(&self, ax: &Axis, ay: &Axis, x: f64, y: f64) -> BackendCoord {
        let fx = (x - ax.lo) / (ax.hi - ax.lo);
        let fy = (y - ay.lo) / (ay.hi - ay.lo);
        let px = self.left + fx * (self.right - self.left);
        let py = self.bottom - fy * (self.bottom - self.top);
        (px.round() as i32, py.round() as i32)
    }
}

type Backend<'a> = MonoText<BitMapBackend<'a>>;
type DrawResult =
    Result<(), DrawingErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>>;

/// Draws a figure into a new RGB buffer of `layout.width x layout.height` pixels.
pub fn render(
    layout: &Layout,
    title: &str,
    panels: &[PanelData],
    labels: &[&str],
    x_name: &str,
) -> anyhow::Result<Vec<u8>> {
    let mut buf = vec![255u8; (layout.width * layout.height * 3) as usize];
    {
        let bitmap = BitMapBackend::with_buffer(&mut buf, (layout.width, layout.height));
        let mut b = MonoText::new(bitmap);
        draw_all(&mut b, layout, title, panels, labels, x_name)
            .map_err(|e| anyhow::anyhow!("drawing `{title}`: {e}"))?;
        b.present()
            .map_err(|e| anyhow::anyhow!("drawing `{title}`: {e}"))?;
    }
    Ok(buf)
}

fn draw_all(
    b: &mut Backend<'_>,
    layout: &Layout,
    title: &str,
    panels: &[PanelData],
    labels: &[&str],
    x_name: &str,
) -> DrawResult {
    let centre = Pos::new(HPos::Center, VPos::Center);
    text(
        b,
        title,
        20,
        BLACK_,
        (layout.width as i32 / 2, TITLE_H as i32 / 2),
        centre,
    )?;
    draw_legend(b, layout, labels)?;
    for (i, panel) in panels.iter().enumerate() {
        draw_panel(b, PlotRect::of_panel(layout, i), panel, x_name)?;
    }
    Ok(())
}

fn draw_legend(b: &mut Backend<'_>, layout: &Layout, labels: &[&str]) -> DrawResult {
    let left = Pos::new(HPos::Left, VPos::Center);
    for (r, row) in layout.legend.iter().enumerate() {
        let y = (TITLE_H + r as u32 * LEGEND_ROW_H + LEGEND_ROW_H / 2) as i32;
        let mut x = LEGEND_GAP as i32;
        for &i in row {
            let swatch = pen(run_color(i), 1.0, 3);
            b.draw_line((x, y), (x + LEGEND_SWATCH as i32 - 8, y), &swatch)?;
            text(
                b,
                labels[i],
                12,
                BLACK_,
                (x + LEGEND_SWATCH as i32, y),
                left,
            )?;
            x += super::figure::legend_entry_w(labels[i]) as i32;
        }
    }
    Ok(())
}

fn draw_panel(b: &mut Backend<'_>, rect: PlotRect, p: &PanelData, x_name: &str) -> DrawResult {
    let (l, r) = (rect.left as i32, rect.right as i32);
    let (t, bot) = (rect.top as i32, rect.bottom as i32);
    let caption_pos = ((l + r) / 2, t - PLOT_TOP as i32 / 2);
    text(
        b,
        &p.caption,
        12,
        BLACK_,
        caption_pos,
        Pos::new(HPos::Center, VPos::Center),
    )?;
    // Grid and tick labels.
    let grid = Pen {
        color: GRID,
        width: 1,
    };
    for &v in &p.x.ticks {
        let (px, _) = rect.map(&p.x, &p.y, v, p.y.lo);
        b.draw_line((px, t), (px, bot), &grid)?;
        let label = p.x.format(v);
        text(
            b,
            &label,
            12,
            BLACK_,
            (px, bot + 4),
            Pos::new(HPos::Center, VPos::Top),
        )?;
    }
    for &v in &p.y.ticks {
        let (_, py) = rect.map(&p.x, &p.y, p.x.lo, v);
        b.draw_line((l, py), (r, py), &grid)?;
        let label = p.y.format(v);
        text(
            b,
            &label,
            12,
            BLACK_,
            (l - 6, py),
            Pos::new(HPos::Right, VPos::Center),
        )?;
    }
    let name_pos = ((l + r) / 2, bot + 22);
    text(
        b,
        x_name,
        12,
        BLACK_,
        name_pos,
        Pos::new(HPos::Center, VPos::Top),
    )?;
    let frame = Pen {
        color: FRAME,
        width: 1,
    };
    b.draw_rect((l, t), (r, bot), &frame, false)?;
    // Bands under every line, then faint raw values, then the lines and markers.
    let map = |x: f64, y: f64| rect.map(&p.x, &p.y, x, y);
    for c in &p.curves {
        if c.band.len() >= 2 {
            let upper = c.band.iter().map(|&(x, _, hi)| map(x, hi));
            let lower = c.band.iter().rev().map(|&(x, lo, _)| map(x, lo));
            b.fill_polygon(upper.chain(lower), &pen(run_color(c.run), 0.18, 1))?;
        }
    }
    for c in &p.curves {
        if c.raw.len() >= 2 {
            let path: Vec<_> = c.raw.iter().map(|&(x, y)| map(x, y)).collect();
            b.draw_path(path, &pen(run_color(c.run), 0.3, 1))?;
        }
    }
    for c in &p.curves {
        let style = pen(run_color(c.run), 1.0, LINE_W);
        let path: Vec<_> = c.line.iter().map(|&(x, y)| map(x, y)).collect();
        if path.len() >= 2 {
            b.draw_path(path.iter().copied(), &style)?;
        }
        if path.len() <= MARKERS_UP_TO {
            for &pt in &path {
                b.draw_circle(pt, MARKER_R, &style, true)?;
            }
        }
    }
    Ok(())
}

fn text(
    b: &mut Backend<'_>,
    s: &str,
    size: u32,
    color: BackendColor,
    pos: BackendCoord,
    anchor: Pos,
) -> DrawResult {
    let rgb = RGBColor(color.rgb.0, color.rgb.1, color.rgb.2);
    let style = TextStyle::from(("sans-serif", size).into_font())
        .color(&rgb)
        .pos(anchor);
    b.draw_text(s, &style, pos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::ticks::nice_axis;

    #[test]
    fn axis_ends_map_to_the_rectangle_corners() {
        let layout = Layout::new(3, &["a"]);
        // Panel 3 (index 2) is in column 0, row 1: y0 = 72 + 360.
        let rect = PlotRect::of_panel(&layout, 2);
        assert_eq!((rect.left, rect.right), (70.0, 620.0));
        assert_eq!((rect.top, rect.bottom), (432.0 + 30.0, 432.0 + 320.0));
        let (ax, ay) = (nice_axis(0.0, 10.0, 8, true), nice_axis(0.0, 1.0, 6, false));
        assert_eq!(rect.map(&ax, &ay, 0.0, 0.0), (70, 752));
        assert_eq!(rect.map(&ax, &ay, 10.0, 1.0), (620, 462));
        // Half-way: (70 + 620) / 2 = 345, (462 + 752) / 2 = 607.
        assert_eq!(rect.map(&ax, &ay, 5.0, 0.5), (345, 607));
    }
}
