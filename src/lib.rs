//! vox2pix — self-supervised natural image reconstruction and large-scale semantic classification from
//! brain activity (Gaziv et al. 2022; Beliy et al. 2019), on libtorch through tch-rs.
//!
//! Data flows one way: [`data`] / [`synth`] (datasets) → [`nn`] (models and losses) → [`train`] (trainers, runs)
//! → [`eval`] (metrics) → [`report`] (HTML, plots). The `vox2pix` binary ([`cli`]) is a thin layer over these.
pub mod cli;
pub mod data;
pub mod eval;
pub mod nn;
pub mod pipeline;
pub mod report;
pub mod synth;
pub mod train;
pub mod util;

pub use data::dataset::{Dataset, ImageSet, SubjectData, ROI_NAMES};
