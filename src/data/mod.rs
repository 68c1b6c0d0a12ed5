//! Datasets as the field holds them: the in-memory dataset model ([`dataset`]), the NumPy npy/npz codec
//! ([`npz`]), the SelfSuperReconst file layout ([`layout`]) with its manifest ([`manifest`]), and fMRI
//! preprocessing ([`preprocess`]).
pub mod dataset;
pub mod layout;
pub mod manifest;
pub mod npz;
pub mod preprocess;
// Real data (issue #6): BData HDF5, image folders, GOD → npz conversion, pretrained weight download.
pub mod bdata;
pub mod convert;
pub mod hdf5;
pub mod images;
pub mod pth;
pub mod weights_fetch;
