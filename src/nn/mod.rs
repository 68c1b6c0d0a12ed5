//! Models and losses on libtorch: backbones, the separable encoder E, the decoder D, losses, weights I/O, devices.
pub mod backbone;
pub mod bench;
pub mod decoder;
pub mod device;
pub mod encoder;
pub mod losses;
pub mod readout;
pub mod regularizers;
pub mod weights;
