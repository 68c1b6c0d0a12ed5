//! Training: the encoder trainer, the three-stream self-supervised decoder trainer, the synthetic world's
//! backbone, run directories and checkpoints.
pub mod augment;
pub mod optim;
pub mod pool;
pub mod run;
