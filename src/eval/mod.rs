//! Metrics (method.md §6, metrics.md §2–4): n-way identification, N-way semantic classification, encoder
//! voxel correlation and branch weights, PixCorr and SSIM, and the `metrics.json` / `metrics.csv` writers.
//! Everything takes tch tensors (CPU or GPU); every random draw is seeded.
pub mod classification;
pub mod draw;
pub mod encoder;
pub mod identification;
pub mod image;
pub mod pearson;
pub mod perceptual;
pub mod results;
pub mod trials;

pub use classification::{
    bench_classification, ClassificationBench, ClassificationResult, PrototypeAccumulator, SemanticClassification,
};
pub use draw::Interval;
pub use encoder::{branch_weight_summary, voxel_correlation, RoiBranchWeights, VoxelCorrelation};
pub use identification::{DistractorPool, IdentificationResult, NWayIdentification};
pub use image::{pixcorr, ssim};
pub use perceptual::{perceptual_distance_matrix, pixel_correlation_distance_matrix, PerceptualInput, UnitTaps};
pub use results::{EvalMetrics, IdentificationSet, MeanWithCi};
