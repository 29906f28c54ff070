//! Learning-curve plots (SVG and PNG) with `plotters`.
//!
//! Text (title, axis labels, legend) needs a font registered with plotters' `ab_glyph` backend.
//! The first plot looks for a DejaVu Sans / Liberation Sans TrueType file in the usual system
//! font directories (or the file named by `DIFFOP_PLOT_FONT`) and registers it as
//! `sans-serif`. Without a font both files are drawn without any text (curves only: training
//! cost in blue, evaluation cost in red, untrained reference dashed grey, `mpc-true` green).
//! Plotting never fails a run: callers get an error value to report and go on.

use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

/// The curves of one run.
#[derive(Clone, Debug, Default)]
pub struct Curves {
    /// Title (task, mode, seed).
    pub title: String,
    /// y-axis label.
    pub y_label: String,
    /// (iteration, batch mean cost) of the exploring trajectories.
    pub training: Vec<(f64, f64)>,
    /// (iteration, deterministic evaluation cost).
    pub evaluation: Vec<(f64, f64)>,
    /// Evaluation cost of θ⁽⁰⁾.
    pub untrained: Option<f64>,
    /// Evaluation cost of the true model (`mpc-true`).
    pub mpc_true: Option<f64>,
}

const FONT_CANDIDATES: [&str; 5] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial.ttf",
];

/// Register a system font once; true if text can be drawn.
fn font_available() -> bool {
    static FONT: OnceLock<bool> = OnceLock::new();
    *FONT.get_or_init(|| {
        let env = std::env::var("DIFFOP_PLOT_FONT").ok();
        let paths = env.iter().map(String::as_str).chain(FONT_CANDIDATES);
        for p in paths {
            if let Ok(bytes) = std::fs::read(p) {
                let leaked: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, leaked).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

type PlotResult = Result<(), Box<dyn std::error::Error>>;

/// Write `curves` as SVG to `svg` and PNG to `png`. Both are attempted; the first error is
/// returned as text.
pub fn plot_learning_curve(curves: &Curves, svg: &Path, png: &Path) -> Result<(), String> {
    let text = font_available();
    let size = (900, 540);
    let r1 = draw(SVGBackend::new(svg, size).into_drawing_area(), curves, text);
    let r2 = draw(
        BitMapBackend::new(png, size).into_drawing_area(),
        curves,
        text,
    );
    r1.and(r2).map_err(|e| e.to_string())
}

fn bounds(curves: &Curves) -> Option<(f64, f64, f64, f64)> {
    let ys = curves
        .training
        .iter()
        .chain(&curves.evaluation)
        .map(|p| p.1)
        .chain(curves.untrained)
        .chain(curves.mpc_true)
        .filter(|y| y.is_finite());
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for y in ys {
        lo = lo.min(y);
        hi = hi.max(y);
    }
    let x_max = curves
        .training
        .iter()
        .chain(&curves.evaluation)
        .map(|p| p.0)
        .fold(1.0, f64::max);
    if !lo.is_finite() {
        return None;
    }
    let pad = ((hi - lo) * 0.05).max(1e-9 * hi.abs().max(1.0));
    Some((0.0, x_max, lo - pad, hi + pad))
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, c: &Curves, text: bool) -> PlotResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let Some((x0, x1, y0, y1)) = bounds(c) else {
        root.present()?;
        return Ok(());
    };
    let mut builder = ChartBuilder::on(&root);
    builder.margin(15);
    if text {
        builder
            .caption(&c.title, ("sans-serif", 22))
            .x_label_area_size(45)
            .y_label_area_size(80);
    }
    let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1)?;
    if text {
        chart
            .configure_mesh()
            .x_desc("iteration")
            .y_desc(c.y_label.as_str())
            .label_style(("sans-serif", 15))
            .draw()?;
    }
    let grey = RGBColor(120, 120, 120);
    let green = RGBColor(0, 140, 60);
    let lines = [
        (c.untrained, grey, "untrained θ(0)"),
        (c.mpc_true, green, "mpc-true"),
    ];
    for (y, color, label) in lines {
        if let Some(y) = y.filter(|y| y.is_finite()) {
            let s = chart.draw_series(DashedLineSeries::new(
                vec![(x0, y), (x1, y)],
                8,
                5,
                color.stroke_width(2),
            ))?;
            if text {
                s.label(label).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            }
        }
    }
    let blue = RGBColor(40, 90, 200);
    let s = chart.draw_series(LineSeries::new(c.training.iter().copied(), blue))?;
    if text {
        s.label("training (exploring batch mean)")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], blue));
    }
    let red = RGBColor(210, 40, 40);
    let s = chart.draw_series(LineSeries::new(
        c.evaluation.iter().copied(),
        red.stroke_width(2),
    ))?;
    if text {
        s.label("evaluation (σ = 0)")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], red));
    }
    chart.draw_series(
        c.evaluation
            .iter()
            .map(|&p| Circle::new(p, 3, red.filled())),
    )?;
    if text {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()?;
    }
    root.present()?;
    Ok(())
}
