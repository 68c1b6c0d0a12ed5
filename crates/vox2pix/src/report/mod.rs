//! Reports: reconstruction grids, SVG plots, the per-run HTML page and the ablation table.
pub mod ablation;
pub mod grid;
pub mod html;
pub mod study;
pub mod svg;
