//! The one plotting module: figures of panels (lines, percentile bands, horizontal reference
//! lines, a shaded y band), written as PNG or SVG with `plotters` (feature `plot`).
//!
//! Text is drawn in DejaVu Sans embedded from the `dejavu` crate (no system font is read);
//! it is registered once per process. Every failure is a [`PlotError`] naming the file.
//! Layout rules, so that a figure can be read without its code: tick labels are formatted
//! compactly (`50`, not `50.0`), the legend goes to the corner of a panel that covers the
//! fewest data points, a panel may use a logarithmic y axis ([`Panel::log_y`]).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A plotting failure.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The embedded font could not be registered.
    #[error("the embedded DejaVu Sans font could not be registered")]
    Font,
    /// The file name does not end in `.png` or `.svg`.
    #[error("plot file `{0}` must end in .png or .svg")]
    Extension(PathBuf),
    /// The file cannot be created.
    #[error("cannot create the plot file `{path}`: {source}")]
    Create {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Drawing or encoding failed.
    #[error("drawing the plot `{path}` failed: {message}")]
    Draw {
        /// The file.
        path: PathBuf,
        /// What plotters reported.
        message: String,
    },
}

/// A line of a panel.
#[derive(Clone, Debug, Default)]
pub struct Line {
    /// Legend label (empty: no legend entry).
    pub label: String,
    /// Colour index (the same index gives the same colour in every panel).
    pub color: usize,
    /// Dashed instead of solid.
    pub dashed: bool,
    /// Draw a dot at every point.
    pub markers: bool,
    /// (x, y) points; non-finite points (and y ≤ 0 on a log axis) are skipped.
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
    /// Long dashes (true) or short dashes (false).
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
    /// Logarithmic y axis (values ≤ 0 are not drawn).
    pub log_y: bool,
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

fn font() -> Result<(), PlotError> {
    static FONT: OnceLock<bool> = OnceLock::new();
    let ok = *FONT.get_or_init(|| {
        register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular()).is_ok()
    });
    ok.then_some(()).ok_or(PlotError::Font)
}

enum Kind {
    Png,
    Svg,
}

fn kind(path: &Path) -> Result<Kind, PlotError> {
    let ext = path.extension().and_then(|e| e.to_str());
    match ext.map(str::to_ascii_lowercase).as_deref() {
        Some("png") => Ok(Kind::Png),
        Some("svg") => Ok(Kind::Svg),
        _ => Err(PlotError::Extension(path.to_path_buf())),
    }
}

/// Check, before any expensive work, that `path` ends in .png/.svg and can be created (the
/// directory exists and is writable). A file that did not exist is removed again.
pub fn check_output(path: &Path) -> Result<(), PlotError> {
    kind(path)?;
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|source| PlotError::Create {
            path: path.to_path_buf(),
            source,
        })?;
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// Draw `panels` in a grid of `cols` columns under `caption` into `path` (.png or .svg);
/// each panel is `panel_size` pixels.
pub fn save(
    path: &Path,
    caption: &str,
    panels: &[Panel],
    cols: usize,
    panel_size: (u32, u32),
) -> Result<(), PlotError> {
    let kind = kind(path)?;
    font()?;
    let cols = cols.max(1);
    let rows = panels.len().div_ceil(cols).max(1);
    let size = (panel_size.0 * cols as u32, panel_size.1 * rows as u32 + 40);
    let result = match kind {
        Kind::Png => draw(
            BitMapBackend::new(path, size).into_drawing_area(),
            caption,
            panels,
            (rows, cols),
        ),
        Kind::Svg => draw(
            SVGBackend::new(path, size).into_drawing_area(),
            caption,
            panels,
            (rows, cols),
        ),
    };
    result.map_err(|message| PlotError::Draw {
        path: path.to_path_buf(),
        message,
    })
}

/// [`save`] to `<stem>.png` and `<stem>.svg` with 560 × 400 panels.
pub fn save_grid(
    stem: &Path,
    caption: &str,
    panels: &[Panel],
    cols: usize,
) -> Result<(), PlotError> {
    let size = (560, 400);
    save(&stem.with_extension("png"), caption, panels, cols, size)?;
    save(&stem.with_extension("svg"), caption, panels, cols, size)
}

/// A tick label: integers without decimals, otherwise at most four significant digits.
pub fn tick_label(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 || !v.is_finite() {
        return if v.is_finite() {
            "0".into()
        } else {
            v.to_string()
        };
    }
    if (v - v.round()).abs() <= 1e-9 * a.max(1.0) && a < 1e7 {
        return format!("{}", v.round() as i64);
    }
    if !(1e-3..1e7).contains(&a) {
        return format!("{v:.1e}");
    }
    let decimals = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

/// The y value as drawn (log10 on a log axis; `None` when not drawable).
fn ty(p: &Panel, y: f64) -> Option<f64> {
    if !y.is_finite() {
        None
    } else if p.log_y {
        (y > 0.0).then(|| y.log10())
    } else {
        Some(y)
    }
}

fn points(p: &Panel, l: &Line) -> Vec<(f64, f64)> {
    l.points
        .iter()
        .filter(|(x, _)| x.is_finite())
        .filter_map(|&(x, y)| ty(p, y).map(|y| (x, y)))
        .collect()
}

fn ranges(p: &Panel) -> Option<(f64, f64, f64, f64)> {
    let mut xs: Vec<f64> = Vec::new();
    let mut ys: Vec<f64> = Vec::new();
    for l in &p.lines {
        for (x, y) in points(p, l) {
            xs.push(x);
            ys.push(y);
        }
    }
    for b in &p.bands {
        for &(x, lo, hi) in &b.points {
            xs.push(x);
            ys.extend(ty(p, lo));
            ys.extend(ty(p, hi));
        }
    }
    ys.extend(p.hlines.iter().filter_map(|h| ty(p, h.y)));
    if let Some((lo, hi)) = p.y_band {
        ys.extend(ty(p, lo));
        ys.extend(ty(p, hi));
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
        0.06 * (y1 - y0)
    } else {
        0.5 * y0.abs().max(1.0)
    };
    Some((x0, x1, y0 - pad, y1 + pad))
}

/// The points of a panel in drawing coordinates (lines, and samples of the reference lines).
fn all_points(p: &Panel, (x0, x1, _, _): (f64, f64, f64, f64)) -> Vec<(f64, f64)> {
    let mut pts: Vec<(f64, f64)> = p.lines.iter().flat_map(|l| points(p, l)).collect();
    for h in &p.hlines {
        if let Some(y) = ty(p, h.y) {
            pts.extend((0..=20).map(|k| (x0 + (x1 - x0) * k as f64 / 20.0, y)));
        }
    }
    pts
}

/// How many points lie in the quarter (38 % × 42 % of the area) at a legend corner.
fn corner_count(p: &Panel, range: (f64, f64, f64, f64), pos: &SeriesLabelPosition) -> usize {
    let (x0, x1, y0, y1) = range;
    let (right, top) = match pos {
        SeriesLabelPosition::UpperRight => (true, true),
        SeriesLabelPosition::UpperLeft => (false, true),
        SeriesLabelPosition::LowerRight => (true, false),
        _ => (false, false),
    };
    all_points(p, range)
        .iter()
        .filter(|&&(x, y)| {
            let fx = (x - x0) / (x1 - x0);
            let fy = (y - y0) / (y1 - y0);
            let inx = if right { fx >= 0.62 } else { fx <= 0.38 };
            let iny = if top { fy >= 0.58 } else { fy <= 0.42 };
            inx && iny
        })
        .count()
}

/// The corner of the panel holding the fewest points (upper right on ties).
fn legend_corner(p: &Panel, range: (f64, f64, f64, f64)) -> SeriesLabelPosition {
    let corners = [
        SeriesLabelPosition::UpperRight,
        SeriesLabelPosition::UpperLeft,
        SeriesLabelPosition::LowerRight,
        SeriesLabelPosition::LowerLeft,
    ];
    let mut best = (usize::MAX, SeriesLabelPosition::UpperRight);
    for pos in corners {
        let c = corner_count(p, range, &pos);
        if c < best.0 {
            best = (c, pos);
        }
    }
    best.1
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
        draw_panel(area, p)?;
    }
    root.present().map_err(|x| e(&x))?;
    Ok(())
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &Panel) -> Result<(), String> {
    let e = |x: &dyn std::fmt::Display| x.to_string();
    let Some(range) = ranges(p) else {
        area.titled(&format!("{} (no data)", p.title), ("sans-serif", 16))
            .map_err(|x| e(&x))?;
        return Ok(());
    };
    let entries = p.lines.iter().filter(|l| !l.label.is_empty()).count()
        + p.hlines.iter().filter(|h| !h.label.is_empty()).count();
    let (x0, x1, y0, mut y1) = range;
    let mut corner = legend_corner(p, range);
    if entries > 0 && corner_count(p, range, &corner) > 0 {
        // Every corner holds data: make room above it for the legend (≈ 7 % per entry).
        let top = (y1 - y0) * (0.08 * entries as f64 + 0.04);
        y1 += top / (1.0 - (0.08 * entries as f64 + 0.04)).max(0.3);
        let up = (x0, x1, y0, y1);
        corner = if corner_count(p, up, &SeriesLabelPosition::UpperLeft)
            < corner_count(p, up, &SeriesLabelPosition::UpperRight)
        {
            SeriesLabelPosition::UpperLeft
        } else {
            SeriesLabelPosition::UpperRight
        };
    }
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, ("sans-serif", 17))
        .margin(8)
        .margin_right(28)
        .x_label_area_size(40)
        .y_label_area_size(72)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|x| e(&x))?;
    let log = p.log_y;
    let y_fmt = move |v: &f64| {
        if log {
            tick_label(10f64.powf(*v))
        } else {
            tick_label(*v)
        }
    };
    let x_fmt = |v: &f64| tick_label(*v);
    let y_desc = if log {
        format!("{} (log scale)", p.y_label)
    } else {
        p.y_label.clone()
    };
    chart
        .configure_mesh()
        .x_desc(p.x_label.as_str())
        .y_desc(y_desc)
        .x_labels(8)
        .y_labels(7)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style(("sans-serif", 14))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(|x| e(&x))?;
    if let Some((lo, hi)) = p.y_band {
        if let (Some(lo), Some(hi)) = (ty(p, lo), ty(p, hi)) {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x0, lo), (x1, hi)],
                    GREEN.mix(0.12).filled(),
                )))
                .map_err(|x| e(&x))?;
        }
    }
    for b in &p.bands {
        let ok: Vec<(f64, f64, f64)> = b
            .points
            .iter()
            .filter(|(x, _, _)| x.is_finite())
            .filter_map(|&(x, l, h)| Some((x, ty(p, l)?, ty(p, h)?)))
            .collect();
        let pts: Vec<(f64, f64)> = ok
            .iter()
            .map(|&(x, _, h)| (x, h))
            .chain(ok.iter().rev().map(|&(x, l, _)| (x, l)))
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
        let (size, gap) = if h.dashed { (10, 6) } else { (3, 4) };
        let pts = ty(p, h.y).map_or_else(Vec::new, |y| vec![(x0, y), (x1, y)]);
        let s = chart
            .draw_series(DashedLineSeries::new(pts, size, gap, c.stroke_width(2)))
            .map_err(|x| e(&x))?;
        if !h.label.is_empty() {
            s.label(h.label.as_str()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
            });
        }
    }
    for l in &p.lines {
        let c = color(l.color);
        let pts = points(p, l);
        if l.markers {
            chart
                .draw_series(pts.iter().map(|&q| Circle::new(q, 3, c.filled())))
                .map_err(|x| e(&x))?;
        }
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
    if p.lines.iter().any(|l| !l.label.is_empty()) || p.hlines.iter().any(|h| !h.label.is_empty()) {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .position(corner)
            .draw()
            .map_err(|x| e(&x))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_are_compact() {
        assert_eq!(tick_label(50.0), "50");
        assert_eq!(tick_label(-3.0), "-3");
        assert_eq!(tick_label(0.25), "0.25");
        assert_eq!(tick_label(1.05), "1.05");
        assert_eq!(tick_label(1934.06), "1934");
        assert_eq!(tick_label(0.0), "0");
        assert_eq!(tick_label(2.5e-5), "2.5e-5");
    }

    #[test]
    fn bad_extension_and_missing_directory_are_errors() {
        assert!(matches!(
            check_output(Path::new("x.jpg")),
            Err(PlotError::Extension(_))
        ));
        let e = check_output(Path::new("/nonexistent-dir-diffop/x.png")).unwrap_err();
        assert!(
            e.to_string().contains("/nonexistent-dir-diffop/x.png"),
            "{e}"
        );
    }

    #[test]
    fn writes_png_and_svg() {
        let dir = std::env::temp_dir().join(format!("diffop-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let panel = Panel {
            title: "t".into(),
            lines: vec![Line {
                label: "a".into(),
                points: vec![(0.0, 1.0), (1.0, 10.0)],
                ..Line::default()
            }],
            log_y: true,
            ..Panel::default()
        };
        save_grid(&dir.join("f"), "caption", &[panel], 1).unwrap();
        assert!(std::fs::metadata(dir.join("f.png")).unwrap().len() > 1000);
        assert!(std::fs::metadata(dir.join("f.svg")).unwrap().len() > 1000);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
