//! Figures of the experiments, drawn with the crate's one plotting module [`crate::plot`]
//! (grids of panels, DejaVu Sans embedded); this module only maps its errors.

use std::path::Path;

pub use crate::plot::{color, Band, HLine, Line, Panel};

use super::ExperimentError;

/// Draw `panels` in a grid of `cols` columns under `caption`, to `<stem>.png` and `<stem>.svg`.
pub fn save_grid(
    stem: &Path,
    caption: &str,
    panels: &[Panel],
    cols: usize,
) -> Result<(), ExperimentError> {
    crate::plot::save_grid(stem, caption, panels, cols)
        .map_err(|e| ExperimentError::Plot(e.to_string()))
}
