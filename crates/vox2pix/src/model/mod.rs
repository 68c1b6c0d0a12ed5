//! Models on disk and in memory: how E, D and the backbone are assembled from a config and loaded from a run, the
//! weight files behind them, and the run folder itself. `train` builds and saves models through here, and `eval`
//! loads them through here, so evaluation never depends on the trainers.
//!
//! - [`backbone`]: the frozen VGG16 by `backbone.weights`, with provenance and leakage checks;
//! - [`encoder`] / [`decoder`]: [`EncoderModel`] and [`DecoderModel`], fresh or from a finished run;
//! - [`weights`]: weight files into a VarStore, strictly by name (one [`weights::copy_into`] for all loads);
//! - [`run`]: the run folder (config, manifest, metrics, crash-safe checkpoints) that trainers write.
pub mod backbone;
pub mod decoder;
pub mod encoder;
pub mod run;
pub mod weights;

pub use backbone::{load_backbone, LoadedBackbone};
pub use decoder::{DecoderModel, DECODER_FILE};
pub use encoder::{EncoderModel, ENCODER_FILE};
pub use run::{run_config, RunDir};
