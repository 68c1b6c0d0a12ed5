//! Datasets as the field holds them: the in-memory dataset model ([`dataset`]), the NumPy npy/npz codec
//! ([`npz`]), the SelfSuperReconst file layout ([`layout`]) with its manifest ([`manifest`]), and fMRI
//! preprocessing ([`preprocess`]).
pub mod dataset;
pub mod layout;
pub mod manifest;
pub mod npz;
pub mod preprocess;
