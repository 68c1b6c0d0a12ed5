//! Training: the encoder trainer ([`encoder`]), the three-stream self-supervised decoder trainer ([`decoder`]),
//! the synthetic world's backbone trainer ([`backbone`]), and what they share: the optimiser ([`optim`]),
//! crash-safe checkpoints ([`checkpoint`]) and progress bars with the NaN guard ([`progress`]).
//! Models come from `model`, data from `data`; the configs are `vox2pix_formats::config`'s.
pub mod backbone;
pub mod checkpoint;
pub mod decoder;
pub mod encoder;
pub mod optim;
pub mod progress;

pub use backbone::{train_world_backbone, BackboneTraining};
pub use decoder::{train_decoder, DecoderOutcome};
pub use encoder::{train_encoder, EncoderOutcome};
