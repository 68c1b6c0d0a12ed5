//! Datasets as the field holds them: the in-memory dataset model ([`dataset`]), the NumPy npy/npz codec
//! ([`npz`]) and the SelfSuperReconst file layout, and fMRI preprocessing ([`preprocess`]).
pub mod dataset;
