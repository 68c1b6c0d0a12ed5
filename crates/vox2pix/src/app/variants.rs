//! The decoder variants that `study`, `ablation` and `demo --baseline` train side by side: one definition of
//! "paired only", "+ ED", "+ ED + DE" and the controls, as a function of the base config.
use anyhow::{Context, Result};
use vox2pix_formats::config::TrainConfig;

/// One decoder variant: which training streams and losses D uses on top of a base config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// Paired data only: the baseline every effect is measured against.
    Paired,
    /// Paired only, at the +ED variant's compute: as many images per step (paired batch = paired + unpaired) and
    /// the same number of steps, so a gain of +ED is not just more gradient signal.
    PairedEqual,
    /// Paired + the ED cycle on unpaired images (the paper's method).
    Ed,
    /// Paired + ED + the DE cycle on unpaired fMRI.
    EdDe,
    /// Paired + ED with pixel losses only (no perceptual terms): the claim is about the combination.
    EdPixel,
}

/// Every variant, in table order.
pub const ALL_VARIANTS: [Variant; 5] = [
    Variant::Paired,
    Variant::PairedEqual,
    Variant::Ed,
    Variant::EdDe,
    Variant::EdPixel,
];

impl Variant {
    /// The variant's name in folders, tables and `--variants`.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Paired => "paired",
            Variant::PairedEqual => "paired-equal",
            Variant::Ed => "ed",
            Variant::EdDe => "ed-de",
            Variant::EdPixel => "ed-pixel",
        }
    }

    /// Parses a `--variants` entry.
    pub fn parse(s: &str) -> Result<Variant> {
        ALL_VARIANTS.into_iter().find(|v| v.name() == s).with_context(|| {
            format!(
                "unknown study variant '{s}'; choose from {}",
                ALL_VARIANTS.map(|v| v.name()).join(", ")
            )
        })
    }

    /// The decoder config of this variant on top of `base` (whose ED and DE batch sizes are kept where it sets
    /// them); `steps` is the base config's steps per epoch on the dataset (only `paired-equal` uses it).
    pub fn config(self, base: &TrainConfig, steps: usize) -> TrainConfig {
        let mut c = base.clone();
        let t = &mut c.decoder_training;
        let unpaired = if t.unpaired_batch > 0 {
            t.unpaired_batch
        } else {
            t.paired_batch
        };
        let de = if t.de_batch > 0 { t.de_batch } else { unpaired };
        let ed_on = |t: &mut vox2pix_formats::config::DecoderTraining| {
            t.unpaired_batch = unpaired;
            if t.weight_ed <= 0.0 {
                t.weight_ed = 1.0;
            }
        };
        match self {
            Variant::Paired => {
                t.unpaired_batch = 0;
                t.de_batch = 0;
            }
            Variant::PairedEqual => {
                t.paired_batch += unpaired;
                t.unpaired_batch = 0;
                t.de_batch = 0;
                t.steps_per_epoch = steps;
            }
            Variant::Ed => {
                ed_on(t);
                t.de_batch = 0;
            }
            Variant::EdDe => {
                ed_on(t);
                t.de_batch = de;
                if t.weight_de <= 0.0 {
                    t.weight_de = 1.0;
                }
            }
            Variant::EdPixel => {
                ed_on(t);
                t.de_batch = 0;
                c.image_loss.percept_weight = 0.0;
            }
        }
        c
    }
}
