//! The synthetic world's unpaired pool for the ED stream: non-test classes only, rendered on demand from
//! (world config, seed) recorded in the dataset manifest, so no image is stored.
use crate::data::manifest::DatasetManifest;
use crate::synth::world::{World, WorldConfig};
use crate::train::pool::ImagePool;
use anyhow::{Context, Result};

pub struct WorldPool {
    world: World,
    len: usize,
    /// Whether the dataset's class ids are synthetic wnids (90,000,000 + class) rather than class indices.
    wnid_ids: bool,
}

impl WorldPool {
    /// `per_class` images of every unpaired class; `exclude_paired` also drops the paired-training classes.
    pub fn new(manifest: &DatasetManifest, per_class: usize, exclude_paired: bool) -> Result<Self> {
        let mut config: WorldConfig =
            serde_json::from_value(manifest.world.clone().context("manifest has no world config")?)
                .context("manifest.json: the synthetic world config does not match this vox2pix version")?;
        config.unpaired_excludes_paired |= exclude_paired;
        let seed = manifest.seed.context("manifest.json: synthetic world without a seed")?;
        let world = World::new(config, seed)?;
        let len = world.unpaired_classes().len() * per_class.max(1);
        let wnid_ids = manifest.test_classes.iter().all(|&c| c >= 90_000_000);
        Ok(Self { world, len, wnid_ids })
    }
}

impl ImagePool for WorldPool {
    fn len(&self) -> usize {
        self.len
    }
    fn image_size(&self) -> usize {
        self.world.config.image_size
    }
    fn class_of(&self, i: usize) -> i64 {
        let c = self.world.unpaired_ref(i).class as i64;
        if self.wnid_ids {
            90_000_000 + c
        } else {
            c
        }
    }
    fn image(&self, i: usize) -> Result<Vec<f32>> {
        Ok(self.world.unpaired_image(i).rgb)
    }
    fn describe(&self) -> String {
        format!(
            "synthetic world '{}' seed {}: {} unpaired images of {} non-test classes",
            self.world.config.preset,
            self.world.seed,
            self.len,
            self.world.unpaired_classes().len()
        )
    }
}
