//! Integration tests of `vox2pix`, one test binary for the crate (one link instead of one per file); each module
//! tests one area, and `helpers` holds what they share.
#[macro_use]
mod helpers;

mod bench;
mod eval_reference;
mod eval_sanity;
mod nn_grad;
mod nn_shapes;
mod nn_torch;
