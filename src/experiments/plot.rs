//! Figures of the experiments: a grid of panels, each with lines (solid or dashed), shaded
//! percentile bands, horizontal reference lines and an optional horizontal band (the voltage
//! safe band). Written as PNG and SVG with `plotters`; text in DejaVu Sans embedded from the
//! `dejavu` crate (no system font needed).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use std::path::Path;

use super::ExperimentError;

/// A line of a panel.
#[derive(Clone, Debug)]
pub struct Line {
    /// Legend label (empty: no legend entry).
    pub label: String,
    /// Colour index (the same index gives the same colour in every panel).
    pub color: usize,
    /// Dashed instead of solid.
    pub dashed: bool,
    /// (x, y) points; non-finite points are skipped.
    pub points: Vec<(f64, f64)>,
}

/// A shaded band between two curves sampled at the same x.
#[derive(Clone, Debug)]
pub struct Band {
    /// Colour index.
    pub color: usize,
    /// (x, low, high).
    pub points: Vec<(f64, f64, f64)>,
}

/// A horizontal reference line across the panel.
#[derive(Clone, Debug)]
pub struct HLine {
    /// Legend label.
    pub label: String,
    /// Colour index.
    pub color: usize,
    /// Dashed (true) or dotted-looking thin dash (false: short dashes).
    pub dashed: bool,
    /// y value.
    pub y: f64,
}

/// One panel.
#[derive(Clone, Debug, Default)]
pub struct Panel {
    /// Title.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// Lines.
    pub lines: Vec<Line>,
    /// Percentile bands.
    pub bands: Vec<Band>,
    /// Horizontal reference lines.
    pub hlines: Vec<HLine>,
    /// Shaded horizontal region (low, high), e.g. the safe voltage band.
    pub y_band: Option<(f64, f64)>,
}

/// The colour of index `i` (a fixed palette readable on white).
pub fn color(i: usize) -> RGBColor {
    const C: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
        RGBColor(255, 127, 14),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(23, 190, 207),
        RGBColor(90, 90, 90),
    ];
    C[i % C.len()]
}

/// Draw `panels` in a grid of `cols` columns under `caption`, to `<stem>.png` and `<stem>.svg`.
pub fn save_grid(
    stem: &Path,
    caption: &str,
    panels: &[Panel],
    cols: usize,
) -> Result<(), ExperimentError> {
    register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
        .map_err(|_| ExperimentError::Plot("the embedded font could not be loaded".into()))?;
    let cols = cols.max(1);
    let rows = panels.len().div_ceil(cols).max(1);
    let size = (560 * cols as u32, 400 * rows as u32 + 40);
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    let err = |p: &Path, e: String| ExperimentError::Plot(format!("{}: {e}", p.display()));
    draw(
        BitMapBackend::new(&png, size).into_drawing_area(),
        caption,
        panels,
        (rows, cols),
    )
    .map_err(|e| err(&png, e))?;
    draw(
        SVGBackend::new(&svg, size).into_drawing_area(),
        caption,
        panels,
        (rows, cols),
    )
    .map_err(|e| err(&svg, e))
}

fn ranges(p: &Panel) -> Option<(f64, f64, f64, f64)> {
    let mut xs: Vec<f64> = Vec::new();
    let mut ys: Vec<f64> = Vec::new();
    for l in &p.lines {
        for &(x, y) in &l.points {
            xs.push(x);
            ys.push(y);
        }
    }
    for b in &p.bands {
        for &(x, lo, hi) in &b.points {
            xs.push(x);
            ys.push(lo);
            ys.push(hi);
        }
    }
    ys.extend(p.hlines.iter().map(|h| h.y));
    if let Some((lo, hi)) = p.y_band {
        ys.push(lo);
        ys.push(hi);
    }
    let fin = |v: &Vec<f64>| {
        v.iter()
            .copied()
            .filter(|a| a.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
                (a.min(x), b.max(x))
            })
    };
    let (x0, mut x1) = fin(&xs);
    let (y0, y1) = fin(&ys);
    if !(x0.is_finite() && y0.is_finite()) {
        return None;
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let pad = if y1 > y0 {
        0.05 * (y1 - y0)
    } else {
        0.5 * y0.abs().max(1.0)
    };
    Some((x0, x1, y0 - pad, y1 + pad))
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    caption: &str,
    panels: &[Panel],
    grid: (usize, usize),
) -> Result<(), String> {
    let e = |x: &dyn std::fmt::Display| x.to_string();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let inner = root
        .titled(caption, ("sans-serif", 22))
        .map_err(|x| e(&x))?;
    let areas = inner.split_evenly(grid);
    for (area, p) in areas.iter().zip(panels) {
        let Some((x0, x1, y0, y1)) = ranges(p) else {
            area.titled(&format!("{} (no data)", p.title), ("sans-serif", 16))
                .map_err(|x| e(&x))?;
            continue;
        };
        let mut chart = ChartBuilder::on(area)
            .caption(&p.title, ("sans-serif", 17))
            .margin(8)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .x_desc(p.x_label.as_str())
            .y_desc(p.y_label.as_str())
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|x| e(&x))?;
        if let Some((lo, hi)) = p.y_band {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x0, lo), (x1, hi)],
                    BLACK.mix(0.08).filled(),
                )))
                .map_err(|x| e(&x))?;
        }
        for b in &p.bands {
            let pts: Vec<(f64, f64)> = b
                .points
                .iter()
                .filter(|(x, l, h)| x.is_finite() && l.is_finite() && h.is_finite())
                .map(|&(x, _, h)| (x, h))
                .chain(
                    b.points
                        .iter()
                        .rev()
                        .filter(|(x, l, h)| x.is_finite() && l.is_finite() && h.is_finite())
                        .map(|&(x, l, _)| (x, l)),
                )
                .collect();
            if pts.len() >= 3 {
                chart
                    .draw_series(std::iter::once(Polygon::new(
                        pts,
                        color(b.color).mix(0.18).filled(),
                    )))
                    .map_err(|x| e(&x))?;
            }
        }
        for h in &p.hlines {
            let c = color(h.color);
            let style = c.stroke_width(2);
            let (size, gap) = if h.dashed { (10, 6) } else { (3, 4) };
            let s = chart
                .draw_series(DashedLineSeries::new(
                    vec![(x0, h.y), (x1, h.y)],
                    size,
                    gap,
                    style,
                ))
                .map_err(|x| e(&x))?;
            if !h.label.is_empty() {
                s.label(h.label.as_str()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
            }
        }
        for l in &p.lines {
            let c = color(l.color);
            let pts: Vec<(f64, f64)> = l
                .points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect();
            let s = if l.dashed {
                chart
                    .draw_series(DashedLineSeries::new(pts, 8, 5, c.stroke_width(2)))
                    .map_err(|x| e(&x))?
            } else {
                chart
                    .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                    .map_err(|x| e(&x))?
            };
            if !l.label.is_empty() {
                s.label(l.label.as_str()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
            }
        }
        if p.lines.iter().any(|l| !l.label.is_empty())
            || p.hlines.iter().any(|h| !h.label.is_empty())
        {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 13))
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(|x| e(&x))?;
        }
    }
    root.present().map_err(|x| e(&x))?;
    Ok(())
}
