//! Integration tests of `vox2pix-synth`, one test binary for the crate (one link instead of one per file); each module
//! tests one area, and `helpers` holds what they share.
#[macro_use]
mod helpers;

mod calibration;
mod images;
