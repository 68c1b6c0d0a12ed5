//! vox2pix's files on disk, with no libtorch: the lowest layer of the workspace (`docs/architecture.md`).
//!
//! - Datasets: the in-memory dataset model ([`dataset`]), the NumPy npy/npz codec ([`npz`]), the
//!   SelfSuperReconst layout ([`layout`]) with its manifest ([`manifest`]), bdpy BData files ([`bdata`] over
//!   [`hdf5`]), stimulus and unpaired image folders ([`images`]), the GOD → npz conversion ([`convert`]), fMRI
//!   preprocessing ([`preprocess`]) and the `vox2pix info` summary ([`summary`]); MATLAB MAT-files ([`mat5`])
//!   and the vim-1 conversion ([`vim1`]); NIfTI volumes ([`nifti`]) and the NSD conversion ([`nsd`]).
//! - Experiments: the training config file and the model hyperparameters it holds ([`config`]).
//! - Weights: `.pth` state dicts, safetensors, model cards and the checked download ([`weights`]).
//! - Shared plumbing every layer uses: atomic writes ([`io`]), the seeded counter-based random streams
//!   ([`rng`]), and the typed error of this crate ([`error`]).
//!
//! The formats follow `docs/data-formats.md`; the fuzz targets (`fuzz/`) exercise every reader here.
#![warn(missing_docs)]
pub mod bdata;
pub mod config;
pub mod convert;
pub mod dataset;
pub mod error;
pub mod hdf5;
pub mod images;
pub mod io;
pub mod layout;
pub mod manifest;
pub mod mat5;
pub mod nifti;
pub mod npz;
pub mod nsd;
pub mod preprocess;
pub mod rng;
pub mod summary;
pub mod vim1;
pub mod weights;

pub use dataset::{Dataset, ImageSet, SubjectData, ROI_NAMES};
pub use error::{ErrorKind, FormatError};
