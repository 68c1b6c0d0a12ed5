//! vox2pix — self-supervised natural image reconstruction and large-scale semantic classification from
//! brain activity (Gaziv et al. 2022; Beliy et al. 2019), on libtorch through tch-rs.
//!
//! This crate is the core of the workspace (`docs/architecture.md`). Data flows one way through its modules,
//! each importing only those before it:
//! [`data`] (datasets as tensors) → [`nn`] (layers, losses) → [`model`] (E, D and the backbone, assembled and
//! loaded from runs) → [`train`] (trainers) → [`eval`] (metrics) → [`report`] (HTML, plots) → [`app`] (jobs, demo,
//! ablation, benchmarks). Files on disk are `vox2pix_formats`' and the synthetic world is `vox2pix_synth`'; the
//! `vox2pix` binary (crate `vox2pix-cli`) parses arguments and calls [`app`].
#![warn(missing_docs)]
pub mod app;
pub mod data;
pub mod eval;
pub mod model;
pub mod nn;
pub mod report;
pub mod train;

pub use vox2pix_formats as formats;
pub use vox2pix_formats::{Dataset, ImageSet, SubjectData, ROI_NAMES};
pub use vox2pix_synth as synth;
