//! `caugym plot`'s library: training curves of one or more runs as PNG files.
//!
//! The pipeline is pure up to the last step: [`runs`] reads each run's `metrics.jsonl` (and
//! `eval.jsonl`), [`select`] turns metric groups or key patterns into figures of panels,
//! [`figure`] computes each panel's curves, axes and the image layout, [`render`] draws them,
//! and [`plot_runs`] writes one PNG per figure (to a temporary file, then renamed).

pub mod figure;
pub mod render;
pub mod runs;
pub mod select;
pub mod smooth;
pub mod text;
pub mod ticks;

use std::collections::BTreeSet;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use figure::{Layout, panel_data};
use runs::{Run, XAxis, read_run, run_labels};
use select::{Group, plan};

/// What to draw.
#[derive(Clone, Debug, PartialEq)]
pub struct PlotOptions {
    /// Metric groups (`reward`, `loss`, `kl`, `length`, `accuracy`, `optim`) or key patterns
    /// (`optim/lr`, `eval/**`), one figure each.
    pub metrics: Vec<String>,
    /// The x axis.
    pub x: XAxis,
    /// EMA span in points (0 or 1: no smoothing).
    pub smooth: usize,
}

impl Default for PlotOptions {
    fn default() -> Self {
        Self {
            metrics: Group::ALL.iter().map(|g| g.name().to_string()).collect(),
            x: XAxis::Step,
            smooth: 0,
        }
    }
}

/// What [`plot_runs`] did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plotted {
    /// The PNG files written, in figure order.
    pub files: Vec<PathBuf>,
    /// Skipped lines, values and figures, one sentence each.
    pub notes: Vec<String>,
}

/// Reads the runs in `dirs` and writes one PNG per requested figure into `out`, every run
/// overlaid in each panel (legend labels from the directory names).
pub fn plot_runs(dirs: &[PathBuf], out: &Path, options: &PlotOptions) -> Result<Plotted> {
    if dirs.is_empty() {
        bail!("no run directory given");
    }
    let mut notes = Vec::new();
    let mut loaded: Vec<Run> = Vec::new();
    for (dir, label) in dirs.iter().zip(run_labels(dirs)) {
        let (run, warnings) = read_run(dir, label)?;
        notes.extend(warnings);
        loaded.push(run);
    }
    let available: BTreeSet<String> = loaded
        .iter()
        .flat_map(|r| r.keys().into_iter().map(str::to_string))
        .collect();
    let (figures, skipped) = plan(&options.metrics, &available);
    notes.extend(skipped);
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let labels: Vec<&str> = loaded.iter().map(|r| r.label.as_str()).collect();
    let mut files = Vec::new();
    for fig in figures {
        let panels: Vec<_> = fig
            .panels
            .iter()
            .filter_map(|p| panel_data(&loaded, p, &options.x, options.smooth))
            .collect();
        if panels.is_empty() {
            notes.push(format!(
                "skipping `{}`: no line has both `{}` and its metrics",
                fig.stem,
                options.x.label()
            ));
            continue;
        }
        let layout = Layout::new(panels.len(), &labels);
        let rgb = render::render(&layout, &fig.title, &panels, &labels, options.x.label())?;
        let path = out.join(format!("{}.png", fig.stem));
        write_png(&path, layout.width, layout.height, &rgb)?;
        files.push(path);
    }
    Ok(Plotted { files, notes })
}

/// Encodes an RGB buffer as PNG into a temporary sibling, then renames it to `path`.
pub fn write_png(path: &Path, width: u32, height: u32, rgb: &[u8]) -> Result<()> {
    let tmp = path.with_extension("png.tmp");
    let encode = || -> Result<()> {
        let file = std::fs::File::create(&tmp)?;
        let mut enc = png::Encoder::new(BufWriter::new(file), width, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header()?;
        writer.write_image_data(rgb)?;
        writer.finish()?;
        Ok(())
    };
    if let Err(e) = encode() {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.context(format!("writing {}", tmp.display())));
    }
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))
}
