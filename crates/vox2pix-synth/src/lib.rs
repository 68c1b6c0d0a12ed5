//! The built-in synthetic world (`docs/synthetic-world.md`): procedural images in ≥ 1,030 classes and a
//! simulated visual cortex with known ground truth.
#![warn(missing_docs)]
pub mod cortex;
pub mod export;
pub mod features;
pub mod raster;
pub mod render;
pub mod taxonomy;
pub mod texture;
pub mod world;
