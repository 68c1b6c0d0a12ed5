//! Integration tests of `vox2pix-formats`, one test binary for the crate (one link instead of one per file); each module
//! tests one area; `helpers` (`tests/helpers.rs`, shared by every crate's test binary) holds what they share.
#[macro_use]
#[path = "../../../../tests/helpers.rs"]
mod helpers;

mod bdata;
mod layout;
mod npz;
mod nsd;
mod presets;
mod vim1;
mod weights;
