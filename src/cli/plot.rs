//! Time-series plots with plotters: stacked panels of lines over time, an optional shaded band.
//!
//! PNG (bitmap backend) and SVG are both rendered with text. plotters' `ab_glyph` font backend
//! needs a registered font even for SVG (it measures text for the layout), and system fonts are
//! not a dependency: DejaVu Sans is embedded from the `dejavu` crate (pure Rust, no
//! dependencies, Bitstream Vera / public-domain licence). Every plotting failure is an error.

use anyhow::{anyhow, bail, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use std::fmt::Display;
use std::path::Path;

/// One panel: named series of (t, y) points, an optional shaded horizontal band.
#[derive(Debug, Clone)]
pub struct Panel {
    /// Panel caption.
    pub title: String,
    /// Label of the y axis.
    pub y_label: String,
    /// (name, points) per line.
    pub series: Vec<(String, Vec<(f64, f64)>)>,
    /// Shaded band (low, high) on the y axis.
    pub band: Option<(f64, f64)>,
}

impl Panel {
    /// A panel without band.
    pub fn new(title: &str, y_label: &str, series: Vec<(String, Vec<(f64, f64)>)>) -> Self {
        Self {
            title: title.into(),
            y_label: y_label.into(),
            series,
            band: None,
        }
    }
}

trait PlotErr<T> {
    fn plot(self) -> Result<T>;
}

impl<T, E: Display> PlotErr<T> for std::result::Result<T, E> {
    fn plot(self) -> Result<T> {
        self.map_err(|e| anyhow!("plotting failed: {e}"))
    }
}

enum Kind {
    Png,
    Svg,
}

fn kind(path: &Path) -> Result<Kind> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("png") => Ok(Kind::Png),
        Some("svg") => Ok(Kind::Svg),
        _ => bail!("plot file `{}` must end in .png or .svg", path.display()),
    }
}

/// Check that `path` has a supported extension (before running anything expensive).
pub fn check_extension(path: &Path) -> Result<()> {
    kind(path).map(|_| ())
}

/// Draw `panels` stacked vertically under `caption` into `path` (.png or .svg).
pub fn plot(path: &Path, caption: &str, panels: &[Panel]) -> Result<()> {
    let kind = kind(path)?;
    register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
        .map_err(|_| anyhow!("the embedded font could not be loaded"))?;
    let size = (1000, 360 * panels.len().max(1) as u32);
    match kind {
        Kind::Png => draw(
            BitMapBackend::new(path, size).into_drawing_area(),
            caption,
            panels,
        ),
        Kind::Svg => draw(
            SVGBackend::new(path, size).into_drawing_area(),
            caption,
            panels,
        ),
    }
    .map_err(|e| anyhow!("{e:#} (file `{}`)", path.display()))
}

fn ranges(p: &Panel) -> Result<(f64, f64, f64, f64)> {
    let pts = p.series.iter().flat_map(|(_, v)| v.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for &(x, y) in pts.filter(|(x, y)| x.is_finite() && y.is_finite()) {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if !(x0.is_finite() && y0.is_finite()) {
        bail!("panel `{}` has no finite data to plot", p.title);
    }
    if let Some((lo, hi)) = p.band {
        y0 = y0.min(lo);
        y1 = y1.max(hi);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let pad = if y1 > y0 { 0.05 * (y1 - y0) } else { 1.0 };
    Ok((x0, x1, y0 - pad, y1 + pad))
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    caption: &str,
    panels: &[Panel],
) -> Result<()> {
    root.fill(&WHITE).plot()?;
    let inner = root.titled(caption, ("sans-serif", 24)).plot()?;
    let areas = inner.split_evenly((panels.len().max(1), 1));
    for (area, p) in areas.iter().zip(panels) {
        let (x0, x1, y0, y1) = ranges(p)?;
        let mut chart = ChartBuilder::on(area)
            .caption(&p.title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, y0..y1)
            .plot()?;
        chart
            .configure_mesh()
            .x_desc("t")
            .y_desc(p.y_label.as_str())
            .draw()
            .plot()?;
        if let Some((lo, hi)) = p.band {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x0, lo), (x1, hi)],
                    GREEN.mix(0.15).filled(),
                )))
                .plot()?;
        }
        for (i, (name, pts)) in p.series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let finite = pts
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite());
            chart
                .draw_series(LineSeries::new(finite, color.stroke_width(2)))
                .plot()?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .plot()?;
    }
    root.present().plot()?;
    Ok(())
}
