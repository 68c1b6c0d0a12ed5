//! Integration tests of `vox2pix`, one test binary for the crate (one link instead of one per file); each module
//! tests one area; `helpers` (`tests/helpers.rs`, shared by every crate's test binary) holds what they share.
#[macro_use]
#[path = "../../../../tests/helpers.rs"]
mod helpers;

mod bench;
mod eval_reference;
mod eval_sanity;
mod layering;
mod nn_grad;
mod nn_shapes;
mod nn_torch;
mod nsd8;
mod paired;
mod prototypes;
