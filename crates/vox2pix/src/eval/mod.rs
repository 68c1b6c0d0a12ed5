//! Metrics (method.md §6, metrics.md §2–4): n-way identification, N-way semantic classification, encoder
//! voxel correlation and branch weights, PixCorr and SSIM, and the `metrics.json` / `metrics.csv` writers.
//! Everything takes tch tensors (CPU or GPU); every random draw is seeded and recorded with the numbers.
//!
//! How an `evaluate` command puts them together (images are RGB [N, 3, H, W] in [0, 1]):
//! 1. identification: `perceptual_distance_matrix(recon, candidates, input, batch, &mut backbone_taps)` and
//!    `pixel_correlation_distance_matrix(recon, candidates)` give [n_recon, n_candidates]; with candidates =
//!    the test GT images use `DistractorPool::OtherColumns`, with candidates = [test GT | external images] use
//!    `DistractorPool::Columns(external column indices)`; then `NWayIdentification::evaluate`.
//! 2. classification: stream exemplar embeddings through `PrototypeAccumulator`, then
//!    `SemanticClassification::evaluate(recon_embeddings, prototypes, true_class_rows)`.
//! 3. encoder: `voxel_correlation(E(x_test), y_test_avg, Some(noise_ceiling), rois)` and
//!    `branch_weight_summary(branch_weights [V, 4], rois)`.
//! 4. `pixcorr` / `ssim` per image → `MeanWithCi::of`; everything into `EvalMetrics` → `write_json`,
//!    `write_csv`, `write_per_image_csv` (all atomic).
pub mod classification;
pub mod draw;
pub mod encoder;
pub mod identification;
pub mod image;
pub mod layers;
pub mod nsd8;
pub mod paired;
pub mod perceptual;
pub mod prototypes;
pub mod rating;
pub mod results;
pub mod run_eval;
pub mod trials;

pub use classification::{
    bench_classification, ClassificationBench, ClassificationResult, PrototypeAccumulator, SemanticClassification,
};
pub use draw::Interval;
pub use encoder::{branch_weight_summary, voxel_correlation, RoiBranchWeights, VoxelCorrelation};
pub use identification::{DistractorPool, IdentificationResult, NWayIdentification};
pub use image::{pixcorr, ssim};
pub use nsd8::{correlation_distance, two_way_identification, Nsd8Metrics, Nsd8Suite, SuiteWeights};
pub use perceptual::{
    perceptual_distance_matrix, pixel_correlation_distance_matrix, weighted_perceptual_distance_matrix, LpipsHeads,
    PerceptualInput, UnitTaps,
};
pub use results::{EvalMetrics, IdentificationSet, MeanWithCi};
