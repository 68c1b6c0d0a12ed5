//! Unpaired image pools for the ED stream (and any other stream that draws images without fMRI), with the
//! leakage rule enforced where images are drawn: an image of a test class can never reach a training step.
use anyhow::{bail, Result};
use std::collections::BTreeSet;

/// A finite, indexable set of unpaired images (synthetic world: rendered on demand; real data: a decoded cache).
pub trait ImagePool: Send + Sync {
    /// Number of images.
    fn len(&self) -> usize;
    /// Whether the pool has no image.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Side length of the square images.
    fn image_size(&self) -> usize;
    /// Class id of image `i` (same id space as the dataset's test classes).
    fn class_of(&self, i: usize) -> i64;
    /// Image `i` as HWC f32 in [0, 1] (`size·size·3` values).
    fn image(&self, i: usize) -> Result<Vec<f32>>;
    /// What the pool is, for run manifests.
    fn describe(&self) -> String;
}

/// A pool wrapped with the set of forbidden (test) classes. Construction fails if the pool contains any of
/// them, and every draw is checked again, so a mistake in a pool implementation cannot leak test classes.
pub struct GuardedPool<P: ImagePool> {
    pool: P,
    forbidden: BTreeSet<i64>,
}

impl<P: ImagePool> GuardedPool<P> {
    /// Wraps `pool`, refusing an empty pool and one holding any image of `test_classes`.
    pub fn new(pool: P, test_classes: &[i64]) -> Result<Self> {
        let forbidden: BTreeSet<i64> = test_classes.iter().copied().collect();
        if pool.is_empty() {
            bail!("the unpaired image pool ({}) is empty", pool.describe());
        }
        let leaked: Vec<usize> = (0..pool.len())
            .filter(|&i| forbidden.contains(&pool.class_of(i)))
            .take(5)
            .collect();
        if !leaked.is_empty() {
            bail!(
                "leakage: the unpaired pool ({}) contains images of test classes (e.g. images {:?} of class {}); \
                 test classes must never enter a training stream",
                pool.describe(),
                leaked,
                pool.class_of(leaked[0])
            );
        }
        Ok(Self { pool, forbidden })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.pool.len()
    }

    /// Whether the pool has no image.
    pub fn is_empty(&self) -> bool {
        self.pool.is_empty()
    }

    /// Side length of the square images.
    pub fn image_size(&self) -> usize {
        self.pool.image_size()
    }

    /// What the pool is, for run manifests.
    pub fn describe(&self) -> String {
        self.pool.describe()
    }

    /// Draws image `i` for training, re-checking its class.
    pub fn training_image(&self, i: usize) -> Result<Vec<f32>> {
        let c = self.pool.class_of(i);
        if self.forbidden.contains(&c) {
            bail!("leakage: image {i} of the unpaired pool belongs to test class {c}; refusing to train on it");
        }
        self.pool.image(i)
    }
}

impl ImagePool for Box<dyn ImagePool> {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn image_size(&self) -> usize {
        (**self).image_size()
    }
    fn class_of(&self, i: usize) -> i64 {
        (**self).class_of(i)
    }
    fn image(&self, i: usize) -> Result<Vec<f32>> {
        (**self).image(i)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// A decoded class-folder pool (real data, `vox2pix_formats::images`).
impl ImagePool for vox2pix_formats::images::UnpairedPool {
    fn len(&self) -> usize {
        self.class_ids.len()
    }
    fn image_size(&self) -> usize {
        self.pixels.shape()[1]
    }
    fn class_of(&self, i: usize) -> i64 {
        self.class_ids[i]
    }
    fn image(&self, i: usize) -> Result<Vec<f32>> {
        let img = self.pixels.index_axis(ndarray::Axis(0), i);
        Ok(img.iter().map(|&v| v as f32 / 255.0).collect())
    }
    fn describe(&self) -> String {
        format!(
            "{} images of {} classes, {} per class",
            self.class_ids.len(),
            self.class_ids.iter().collect::<BTreeSet<_>>().len(),
            self.spec.per_class
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake(Vec<i64>);
    impl ImagePool for Fake {
        fn len(&self) -> usize {
            self.0.len()
        }
        fn image_size(&self) -> usize {
            2
        }
        fn class_of(&self, i: usize) -> i64 {
            self.0[i]
        }
        fn image(&self, _: usize) -> Result<Vec<f32>> {
            Ok(vec![0.5; 12])
        }
        fn describe(&self) -> String {
            "fake".into()
        }
    }

    #[test]
    fn test_classes_are_refused() {
        let err = GuardedPool::new(Fake(vec![1, 2, 7]), &[7, 9])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("leakage") && err.contains("class 7"), "{err}");
        let ok = GuardedPool::new(Fake(vec![1, 2, 3]), &[7, 9]).unwrap();
        assert_eq!(ok.training_image(1).unwrap().len(), 12);
        assert!(GuardedPool::new(Fake(vec![]), &[]).is_err());
    }
}
