//! Integration tests of `vox2pix-formats`, one test binary for the crate (one link instead of one per file); each module
//! tests one area, and `helpers` holds what they share.
#[macro_use]
mod helpers;

mod bdata;
mod layout;
mod npz;
mod weights;
