//! Models and losses on libtorch: backbones, the separable encoder E, the decoder D, losses, devices.
pub mod device;
