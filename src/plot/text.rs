//! Text for the plots without system fonts: a drawing-backend wrapper whose `draw_text` and
//! `estimate_text_size` use pre-rasterised Noto Sans Mono glyphs.
//!
//! Why this way: plotters draws text through font-kit/FreeType (`ttf` feature), which needs
//! system font libraries and installed fonts — neither is guaranteed on a fresh CI machine —
//! or through `ab_glyph`, which needs font bytes at run time. `noto-sans-mono-bitmap` ships the
//! glyphs (OFL font, MIT crate, no dependencies) as anti-aliased coverage bytes compiled into
//! the binary, so labels render the same everywhere and no font is read or downloaded. Every
//! other drawing call goes straight to the wrapped backend; plotters lays out titles and tick
//! labels through `estimate_text_size`, so its layout agrees with what is drawn.

use noto_sans_mono_bitmap::{
    FontWeight, RasterHeight, RasterizedChar, get_raster, get_raster_width,
};
use plotters::prelude::DrawingBackend;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};

/// Text sizes from this point up use the larger glyphs (titles), below it the smaller ones.
const LARGE_FROM: f64 = 18.0;

/// A monospace face of one size.
#[derive(Clone, Copy, Debug)]
pub struct Face {
    height: RasterHeight,
}

impl Face {
    /// The face closest to a plotters font size (pixels): 16 px glyphs (about 12 pt) for
    /// labels, 20 px (about 15 pt) for titles.
    pub fn for_size(size: f64) -> Self {
        let height = if size >= LARGE_FROM {
            RasterHeight::Size20
        } else {
            RasterHeight::Size16
        };
        Self { height }
    }

    /// Advance width of every glyph.
    pub fn glyph_width(self) -> u32 {
        get_raster_width(FontWeight::Regular, self.height) as u32
    }

    /// Line height.
    pub fn line_height(self) -> u32 {
        self.height.val() as u32
    }

    /// Width and height of one line of `text`.
    pub fn text_size(self, text: &str) -> (u32, u32) {
        (
            self.glyph_width() * text.chars().count() as u32,
            self.line_height(),
        )
    }

    /// The glyph of `c`; characters outside Basic Latin (and control characters) draw as `?`.
    fn glyph(self, c: char) -> RasterizedChar {
        get_raster(c, FontWeight::Regular, self.height)
            .or_else(|| get_raster('?', FontWeight::Regular, self.height))
            .expect("`?` is in the Basic Latin range the crate is built with")
    }
}

/// A backend that draws text with [`Face`] and delegates everything else to `B`.
pub struct MonoText<B> {
    inner: B,
}

impl<B> MonoText<B> {
    /// Wraps `inner`.
    pub fn new(inner: B) -> Self {
        Self { inner }
    }
}

type DrawResult<B> = Result<(), DrawingErrorKind<<B as DrawingBackend>::ErrorType>>;

impl<B: DrawingBackend> DrawingBackend for MonoText<B> {
    type ErrorType = B::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> DrawResult<B> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> DrawResult<B> {
        self.inner.present()
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> DrawResult<B> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> DrawResult<B> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> DrawResult<B> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> DrawResult<B> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> DrawResult<B> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> DrawResult<B> {
        self.inner.fill_polygon(vert, style)
    }

    fn blit_bitmap(&mut self, pos: BackendCoord, size: (u32, u32), src: &[u8]) -> DrawResult<B> {
        self.inner.blit_bitmap(pos, size, src)
    }

    /// Same anchoring and rotation as plotters' default: the unrotated box is placed by the
    /// anchor, then rotated about `pos`.
    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> DrawResult<B> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let face = Face::for_size(style.size());
        let (w, h) = face.text_size(text);
        let (w, h) = (w as i32, h as i32);
        let anchor = style.anchor();
        let dx = match anchor.h_pos {
            HPos::Left => 0,
            HPos::Center => -w / 2,
            HPos::Right => -w,
        };
        let dy = match anchor.v_pos {
            VPos::Top => 0,
            VPos::Center => -h / 2,
            VPos::Bottom => -h,
        };
        let transform = style.transform();
        let advance = face.glyph_width() as i32;
        for (i, c) in text.chars().enumerate() {
            let glyph = face.glyph(c);
            for (gy, row) in glyph.rows().enumerate() {
                for (gx, &coverage) in row.iter().enumerate() {
                    if coverage == 0 {
                        continue;
                    }
                    let x = dx + i as i32 * advance + gx as i32;
                    let (x, y) = transform.transform(x, dy + gy as i32);
                    let ink = BackendColor {
                        alpha: color.alpha * f64::from(coverage) / 255.0,
                        rgb: color.rgb,
                    };
                    self.inner.draw_pixel((pos.0 + x, pos.1 + y), ink)?;
                }
            }
        }
        Ok(())
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        Ok(Face::for_size(style.size()).text_size(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plotters::prelude::*;
    use plotters_backend::text_anchor::Pos;

    const W: u32 = 40;
    const H: u32 = 24;

    /// Draws `text` in black at `pos` with `anchor` on white and returns the bounding box of
    /// the inked pixels (min x, min y, max x, max y).
    fn ink_box(text: &str, pos: (i32, i32), anchor: Pos) -> Option<(u32, u32, u32, u32)> {
        let mut buf = vec![255u8; (W * H * 3) as usize];
        {
            let mut backend = MonoText::new(BitMapBackend::with_buffer(&mut buf, (W, H)));
            let style = TextStyle::from(("sans-serif", 12).into_font()).pos(anchor);
            backend.draw_text(text, &style, pos).unwrap();
            backend.present().unwrap();
        }
        let mut bbox: Option<(u32, u32, u32, u32)> = None;
        for y in 0..H {
            for x in 0..W {
                if buf[((y * W + x) * 3) as usize] < 128 {
                    let b = bbox.get_or_insert((x, y, x, y));
                    *b = (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y));
                }
            }
        }
        bbox
    }

    #[test]
    fn sizes_come_from_the_glyph_grid() {
        // 16 px glyphs are 7 px wide, 20 px glyphs 9 px.
        assert_eq!(Face::for_size(12.0).text_size("0.25"), (28, 16));
        assert_eq!(Face::for_size(20.0).text_size("Loss"), (36, 20));
        // Non-ASCII is one `?` wide, not several bytes wide.
        assert_eq!(Face::for_size(12.0).text_size("μ=1"), (21, 16));
    }

    #[test]
    fn glyphs_are_inked_inside_their_anchored_box() {
        let top_left = Pos::new(HPos::Left, VPos::Top);
        // "1" at (2, 2): ink within its 7x16 cell, and some ink exists.
        let (x0, y0, x1, y1) = ink_box("1", (2, 2), top_left).expect("no ink");
        assert!(
            x0 >= 2 && x1 < 9 && y0 >= 2 && y1 < 18,
            "{:?}",
            (x0, y0, x1, y1)
        );
        // "11" reaches into the second cell: its ink ends 7 px further right.
        let (_, _, x1b, _) = ink_box("11", (2, 2), top_left).unwrap();
        assert_eq!(x1b, x1 + 7);
        // Right/bottom anchoring at (30, 20) puts the same glyph 28 px right and 18 px down
        // less its 7x16 box: x0 + 28 - 7, y0 + 18 - 16.
        let (rx0, ry0, _, _) = ink_box("1", (30, 20), Pos::new(HPos::Right, VPos::Bottom)).unwrap();
        assert_eq!((rx0, ry0), (x0 + 21, y0 + 2));
        // A space draws nothing.
        assert_eq!(ink_box(" ", (2, 2), top_left), None);
    }
}
