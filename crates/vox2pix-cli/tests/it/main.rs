//! Integration tests of `vox2pix-cli`, one test binary for the crate (one link instead of one per file); each module
//! tests one area; `helpers` (`tests/helpers.rs`, shared by every crate's test binary) holds what they share.
#[macro_use]
#[path = "../../../../tests/helpers.rs"]
mod helpers;

mod bad_inputs;
mod convert;
mod evaluate;
mod gpu_parity;
mod info;
mod rating;
mod study;
mod synth;
mod train_tiny;
