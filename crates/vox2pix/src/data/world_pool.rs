//! The synthetic world's unpaired pool for the ED stream: non-test classes only, rendered on demand from
//! (world config, seed) recorded in the dataset manifest, so no image is stored.
use crate::data::pool::ImagePool;
use anyhow::Result;
use std::path::Path;
use vox2pix_synth::world::World;

/// Unpaired images of a synthetic world, rendered on demand (`per_class` images per unpaired class).
pub struct WorldPool {
    world: World,
    len: usize,
}

impl WorldPool {
    /// `per_class` images of every unpaired class; `exclude_paired` also drops the paired-training classes.
    pub fn new(world_dir: &Path, per_class: usize, exclude_paired: bool) -> Result<Self> {
        let mut world = vox2pix_synth::export::world_from_dir(world_dir)?;
        if exclude_paired && !world.config.unpaired_excludes_paired {
            let mut config = world.config.clone();
            config.unpaired_excludes_paired = true;
            world = World::new(config, world.seed)?;
        }
        let len = world.unpaired_classes().len() * per_class.max(1);
        Ok(Self { world, len })
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
        self.world.unpaired_ref(i).class as i64
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
