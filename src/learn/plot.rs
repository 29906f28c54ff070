//! Learning-curve plots (SVG and PNG) of a training run, drawn with the crate's plotting
//! module [`crate::plot`] (text in the embedded DejaVu Sans).
//!
//! The y range is set by the learning curves and the untrained reference; a reference line
//! far outside it (e.g. cart-pole `mpc-true`, whose closed-loop cost lies above the untrained
//! policy's) is not drawn but named with its value in the legend, so the curves keep the height
//! of the plot. When the curves span more than a factor 20 and are positive, the y axis is
//! logarithmic. The legend goes to the emptiest corner.

use crate::plot::{save, HLine, Line, Panel, PlotError};
use std::path::Path;

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

/// The panel of `curves` (see the module docs for the axis and reference rules).
pub fn learning_curve_panel(curves: &Curves) -> Panel {
    let ys: Vec<f64> = curves
        .training
        .iter()
        .chain(&curves.evaluation)
        .map(|p| p.1)
        .chain(curves.untrained)
        .filter(|y| y.is_finite())
        .collect();
    let lo = ys.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = (hi - lo).max(1e-12 * hi.abs().max(1.0));
    let log_y = lo > 0.0 && hi / lo > 20.0;
    let inside = |y: f64| {
        if log_y {
            y > 0.0 && y >= lo / 3.0 && y <= hi * 3.0
        } else {
            y >= lo - 0.5 * span && y <= hi + 0.5 * span
        }
    };
    let mut panel = Panel {
        title: String::new(),
        x_label: "iteration".into(),
        y_label: curves.y_label.clone(),
        log_y,
        ..Panel::default()
    };
    let refs = [
        (curves.untrained, 7, "untrained θ(0), evaluated"),
        (curves.mpc_true, 2, "mpc-true: MPC with the true model"),
    ];
    for (y, color, what) in refs {
        let Some(y) = y.filter(|y| y.is_finite()) else {
            continue;
        };
        let value = crate::plot::tick_label((y * 10.0).round() / 10.0);
        if inside(y) {
            panel.hlines.push(HLine {
                label: format!("{what}: {value}"),
                color,
                dashed: true,
                y,
            });
        } else {
            panel.lines.push(Line {
                label: format!("{what}: {value} (off the scale, not drawn)"),
                color,
                dashed: true,
                ..Line::default()
            });
        }
    }
    panel.lines.push(Line {
        label: "training (exploring batch mean)".into(),
        color: 0,
        points: curves.training.clone(),
        ..Line::default()
    });
    panel.lines.push(Line {
        label: "evaluation (σ = 0)".into(),
        color: 1,
        markers: true,
        points: curves.evaluation.clone(),
        ..Line::default()
    });
    panel
}

/// Write `curves` as SVG to `svg` and PNG to `png`.
pub fn plot_learning_curve(curves: &Curves, svg: &Path, png: &Path) -> Result<(), PlotError> {
    let panel = learning_curve_panel(curves);
    let size = (900, 520);
    save(svg, &curves.title, std::slice::from_ref(&panel), 1, size)?;
    save(png, &curves.title, &[panel], 1, size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curves(mpc_true: f64) -> Curves {
        Curves {
            training: vec![(0.0, 1900.0), (1.0, 1500.0), (2.0, 1200.0)],
            evaluation: vec![(0.0, 1934.0), (2.0, 1100.0)],
            untrained: Some(1934.0),
            mpc_true: Some(mpc_true),
            ..Curves::default()
        }
    }

    #[test]
    fn a_far_reference_is_named_but_not_drawn() {
        let p = learning_curve_panel(&curves(9000.0));
        assert!(!p.log_y);
        assert_eq!(p.hlines.len(), 1, "only the untrained line is drawn");
        assert!(p.lines[0].label.contains("9000") && p.lines[0].points.is_empty());
        let near = learning_curve_panel(&curves(1000.0));
        assert_eq!(near.hlines.len(), 2);
        assert!(near.hlines[1].label.contains("mpc-true"));
    }
}
