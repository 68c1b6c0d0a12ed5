//! Training: the encoder trainer, the three-stream self-supervised decoder trainer, the synthetic world's
//! backbone, run directories and checkpoints.
pub mod optim;
pub mod run;
