//! Reports: reconstruction grids, plots and the HTML page.
pub mod grid;
