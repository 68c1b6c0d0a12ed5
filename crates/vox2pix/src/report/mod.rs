//! Reports: reconstruction grids, SVG plots, the per-run HTML page, the ablation table and the human-rating page.
pub mod ablation;
pub mod grid;
pub mod html;
pub mod rating;
pub mod study;
pub mod svg;
