//! Training: the encoder trainer, the three-stream self-supervised decoder trainer, the synthetic world's
//! backbone, run directories and checkpoints.
pub mod augment;
pub mod backbone;
pub mod backbone_bn;
pub mod config;
pub mod data;
pub mod decoder;
pub mod encoder;
pub mod jobs;
pub mod optim;
pub mod pool;
pub mod progress;
pub mod run;
pub mod world_pool;
