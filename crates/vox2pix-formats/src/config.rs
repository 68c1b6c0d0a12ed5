//! Training configuration: one TOML file per experiment. Presets (`tiny`, `demo`, `paper`, `ssr`, `ssrc`,
//! `nips19`) are files under `configs/`, embedded in the binary; a path selects a user file; `METHOD@SCALE`
//! (e.g. `ssr@demo`) puts one config's method on another's sizes and schedule ([`TrainConfig::method_at_scale`]).
//! `--set key.sub=value` overrides any field. Unknown keys are errors (a typo must never silently fall back to a
//! default).

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Presets shipped with vox2pix: (name, TOML text).
pub const PRESETS: [(&str, &str); 6] = [
    ("tiny", include_str!("../../../configs/tiny.toml")),
    ("demo", include_str!("../../../configs/demo.toml")),
    ("paper", include_str!("../../../configs/paper.toml")),
    ("ssr", include_str!("../../../configs/ssr.toml")),
    ("ssrc", include_str!("../../../configs/ssrc.toml")),
    ("nips19", include_str!("../../../configs/nips19.toml")),
];

/// Fields that set a run's size, length and data rather than its method: `METHOD@SCALE` takes them from SCALE.
/// The backbone is among them (a synthetic world has its own narrow VGG16 and no VGG19).
pub const SCALE_FIELDS: [&str; 18] = [
    "seed",
    "roi",
    "precision",
    "backbone.width",
    "backbone.weights",
    "backbone.encoder",
    "encoder.head_channels",
    "encoder.patch_size",
    "encoder_training.epochs",
    "encoder_training.lr_steps",
    "decoder.channels",
    "decoder.kernel_size",
    "decoder.groups",
    "decoder_training.epochs",
    "decoder_training.steps_per_epoch",
    "decoder_training.lr_decay_every",
    "decoder_training.lr_milestones",
    "decoder_training.unpaired_per_class",
];

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
/// A training configuration (`configs/*.toml`): the seed, the ROI, the model hyperparameters and both training
/// stages. Unknown keys are errors; every section falls back to its defaults.
pub struct TrainConfig {
    /// Seed of every random draw (initialisation, batch order, shifts, dropout).
    #[serde(default)]
    pub seed: u64,
    /// ROI mask(s) whose union selects the voxels the models use (`VC` = all visual cortex).
    #[serde(default = "default_roi")]
    pub roi: Vec<String>,
    /// Paired training images E and D train on: 0 (default) = all. N = a class-balanced, nested subset (the
    /// first image of every class, then the second, … in the dataset's order), for learning curves over the
    /// paired-set size (`vox2pix study --paired-images`). At most the dataset's count.
    #[serde(default)]
    pub paired_images: usize,
    #[serde(default)]
    /// The frozen pretrained CNN (`[backbone]`).
    pub backbone: BackboneConfig,
    #[serde(default)]
    /// Sizes and regularisers of the encoder E (`[encoder]`).
    pub encoder: EncoderConfig,
    #[serde(default)]
    /// Schedule of the encoder stage (`[encoder_training]`).
    pub encoder_training: EncoderTraining,
    #[serde(default)]
    /// Sizes and regularisers of the decoder D (`[decoder]`).
    pub decoder: DecoderConfig,
    #[serde(default)]
    /// Weights of the image loss of the decoder stage (`[image_loss]`).
    pub image_loss: ImageLossConfig,
    #[serde(default)]
    /// Schedule and streams of the decoder stage (`[decoder_training]`).
    pub decoder_training: DecoderTraining,
    /// Precision of the training forward passes: "f32" (default) or "bf16" autocast (weights, optimizer state
    /// and losses stay float32). Evaluation always runs in float32.
    #[serde(default)]
    pub precision: Precision,
}

fn default_roi() -> Vec<String> {
    vec!["VC".into()]
}

/// The frozen pretrained CNN shared by E, the perceptual loss and the identification metric.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BackboneConfig {
    /// Channel width multiplier of VGG16 (1.0 = torchvision; the synthetic world's own backbone is narrower).
    pub width: f64,
    /// `world` = the synthetic world's backbone (trained by `train-backbone`, shipped for the demo world),
    /// `vgg16` = torchvision's (`vox2pix weights fetch vgg16`), or a path to torchvision VGG16 weights (`.pth` or
    /// `.safetensors`).
    pub weights: String,
    /// The backbone E reads its four taps from. `shared` (default): the one above, as in [NI22]. Otherwise
    /// `vgg19` or `vgg16` (torchvision's, `vox2pix weights fetch vgg19`) or a path to torchvision VGG16/VGG19
    /// weights, always at width 1.0; the architecture is read from the file. SelfSuperReconst's E reads VGG19
    /// while its perceptual loss stays on VGG16 (`ssr` preset). The perceptual loss and the identification
    /// metric always use `weights`.
    pub encoder: String,
}

impl Default for BackboneConfig {
    fn default() -> Self {
        Self {
            width: 1.0,
            weights: "world".into(),
            encoder: "shared".into(),
        }
    }
}

/// Encoder training, [NI22] defaults (`method.md` §2.1).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EncoderTraining {
    /// Training epochs (50).
    pub epochs: usize,
    /// Images per batch (64).
    pub batch_size: usize,
    /// Step schedule: `[first_epoch, lr]` pairs (1-based epochs), e.g. `[[1, 1e-3], [21, 1e-4]]`.
    pub lr_steps: Vec<(usize, f64)>,
    /// Random integer translation of the input image, ±`shift_px` in x and y, nearest-edge fill.
    pub shift_px: i64,
    /// AMSGrad (true, the Keras code) or plain Adam (false, SelfSuperReconst).
    pub amsgrad: bool,
}

impl Default for EncoderTraining {
    fn default() -> Self {
        Self {
            epochs: 50,
            batch_size: 64,
            lr_steps: vec![(1, 1e-3), (21, 1e-4), (31, 1e-5), (36, 1e-6)],
            shift_px: 5,
            amsgrad: true,
        }
    }
}

impl EncoderTraining {
    /// Learning rate of (1-based) `epoch`.
    pub fn lr_at(&self, epoch: usize) -> f64 {
        self.lr_steps
            .iter()
            .rfind(|(e, _)| *e <= epoch)
            .map(|(_, lr)| *lr)
            .unwrap_or(self.lr_steps[0].1)
    }
}

/// Where the DE stream's unpaired fMRI comes from.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum DeSource {
    /// Training fMRI without its images (no test data touched).
    Train,
    /// [NIPS19]: random ⅓-subset averages of the *test* fMRI repeats (transductive; never the test images).
    /// Must be allowed explicitly with `allow_test_fmri = true`.
    TestRepeats,
}

/// Decoder training, [NI22] defaults (`method.md` §5).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DecoderTraining {
    /// Training epochs (150).
    pub epochs: usize,
    /// Steps per epoch; 0 = number of training trials / `paired_batch` (the paper's 75).
    pub steps_per_epoch: usize,
    /// Rows per step of each stream: paired (y → D → x̂), ED (x → E → D → x̂), DE (y → D → E → ŷ).
    pub paired_batch: usize,
    /// Rows per step of the ED stream (unpaired images); 0 disables it.
    pub unpaired_batch: usize,
    /// Rows per step of the DE stream (unpaired fMRI); 0 disables it.
    pub de_batch: usize,
    /// Loss weights of the three streams.
    pub weight_paired: f64,
    /// Loss weight of the ED stream.
    pub weight_ed: f64,
    /// Loss weight of the DE stream.
    pub weight_de: f64,
    /// lr = lr · lr_decay^⌊(epoch+1)/lr_decay_every⌋ (epoch 0-based), the Keras schedule.
    pub lr: f64,
    /// Factor applied to the learning rate every `lr_decay_every` epochs (0.2).
    pub lr_decay: f64,
    /// Epochs between learning-rate decays (30).
    pub lr_decay_every: usize,
    /// AMSGrad (true, the Keras code) or plain Adam (false, SelfSuperReconst).
    pub amsgrad: bool,
    /// PyTorch `MultiStepLR` instead (SelfSuperReconst: `[100, 140]` with `lr_decay` 0.2): the rate of 0-based
    /// epoch e is lr · lr_decay^(number of milestones ≤ e); empty (the default) keeps the Keras schedule above,
    /// and `lr_decay_every` is then unused.
    pub lr_milestones: Vec<usize>,
    /// ±px random shift of the ED stream's encoder input (its target stays unshifted).
    pub ed_shift_px: i64,
    /// Unpaired images drawn per non-test class (the pool is classes × this).
    pub unpaired_per_class: usize,
    /// Also remove the paired-training classes from the unpaired pool (stricter than [NI22]).
    pub unpaired_exclude_paired_classes: bool,
    /// Compute the perceptual features of the paired targets once and reuse them every step.
    pub cache_paired_targets: bool,
    /// Where the DE stream's fMRI comes from (default: the training fMRI).
    pub de_source: DeSource,
    /// Required for `de_source = "test-repeats"`.
    pub allow_test_fmri: bool,
    /// Weights of the fMRI loss of the DE stream: SNR-weighted MAE + w·(−cos).
    pub fmri_cos_weight: f64,
}

impl Default for DecoderTraining {
    fn default() -> Self {
        Self {
            epochs: 150,
            steps_per_epoch: 0,
            paired_batch: 16,
            unpaired_batch: 16,
            de_batch: 0,
            weight_paired: 1.0,
            weight_ed: 1.0,
            weight_de: 0.0,
            lr: 1e-3,
            lr_decay: 0.2,
            lr_decay_every: 30,
            lr_milestones: Vec::new(),
            amsgrad: true,
            ed_shift_px: 5,
            unpaired_per_class: 50,
            unpaired_exclude_paired_classes: false,
            cache_paired_targets: true,
            de_source: DeSource::Train,
            allow_test_fmri: false,
            fmri_cos_weight: 0.1,
        }
    }
}

impl DecoderTraining {
    /// Steps in one epoch over `n_trials` paired trials: `steps_per_epoch`, or, when that is 0, as many
    /// `paired_batch`-sized batches as fit (the paper's 1,200 / 16 = 75), at least one.
    pub fn steps_for(&self, n_trials: usize) -> usize {
        if self.steps_per_epoch > 0 {
            self.steps_per_epoch
        } else {
            (n_trials / self.paired_batch.max(1)).max(1)
        }
    }

    /// Learning rate of 0-based `epoch`: Keras 1e-3 · 0.2^⌊(epoch+1)/30⌋, or with `lr_milestones` PyTorch's
    /// `MultiStepLR` (stepped once per epoch).
    pub fn lr_at(&self, epoch: usize) -> f64 {
        let decays = if self.lr_milestones.is_empty() {
            (epoch + 1) / self.lr_decay_every.max(1)
        } else {
            self.lr_milestones.iter().filter(|&&m| m <= epoch).count()
        };
        self.lr * self.lr_decay.powi(decays as i32)
    }
}

impl TrainConfig {
    /// Loads a preset by name, a TOML file by path or `METHOD@SCALE` (each side a preset or a path), then applies
    /// `key.sub=value` overrides.
    pub fn load(name_or_path: &str, overrides: &[String]) -> Result<Self> {
        if let Some((method, scale)) = name_or_path
            .split_once('@')
            .filter(|_| !Path::new(name_or_path).exists())
        {
            let composed = Self::method_at_scale(
                &Self::load(method, &[]).with_context(|| format!("the method side of '{name_or_path}'"))?,
                &Self::load(scale, &[]).with_context(|| format!("the scale side of '{name_or_path}'"))?,
            )
            .with_context(|| format!("cannot compose config '{name_or_path}'"))?;
            return Self::from_toml(&composed.to_toml()?, overrides).with_context(|| {
                format!(
                    "invalid config '{name_or_path}' with --set {}",
                    overrides.join(" --set ")
                )
            });
        }
        let (origin, text) = match PRESETS.iter().find(|(n, _)| *n == name_or_path) {
            Some((n, t)) => (format!("preset '{n}'"), t.to_string()),
            None => {
                let p = Path::new(name_or_path);
                if !p.exists() {
                    let names: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
                    bail!(
                        "config '{name_or_path}' is neither a preset ({}) nor an existing file",
                        names.join(", ")
                    );
                }
                (
                    p.display().to_string(),
                    std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
                )
            }
        };
        Self::from_toml(&text, overrides).with_context(|| {
            if overrides.is_empty() {
                format!("invalid config {origin}")
            } else {
                format!("invalid config {origin} with --set {}", overrides.join(" --set "))
            }
        })
    }

    /// `method`'s method at `scale`'s size: `scale`, changed wherever `method` differs from the `paper` preset
    /// outside [`SCALE_FIELDS`]. So `paper@demo` is `demo` itself, and `ssr@demo` is `demo` with SelfSuperReconst's
    /// blocks, losses, regularisers, optimisers and batch mix. Two method fields are rescaled rather than copied:
    /// `decoder_training.lr` by method/paper (SSR's 5e-3 is 5× paper's 1e-3, so 5× scale's), and the shifts
    /// `encoder_training.shift_px` / `decoder_training.ed_shift_px` by the same ratio (pixels scale with the image).
    /// Schedules (epochs, learning-rate steps and milestones) stay `scale`'s: their shape at another length is not
    /// the method's.
    pub fn method_at_scale(method: &TrainConfig, scale: &TrainConfig) -> Result<TrainConfig> {
        let paper = Self::load("paper", &[])?;
        let as_table = |c: &TrainConfig| -> Result<toml::Table> { Ok(toml::Table::try_from(c)?) };
        let (m, p, mut out) = (as_table(method)?, as_table(&paper)?, as_table(scale)?);
        let mut leaves = Vec::new();
        collect_leaves(&m, "", &mut leaves);
        for (key, mv) in leaves {
            if SCALE_FIELDS.contains(&key.as_str()) || leaf(&p, &key) == Some(&mv) {
                continue;
            }
            // Rescaled fields: scale's value × method/paper (paper's values are all > 0).
            let rescaled = |f: fn(&TrainConfig) -> f64| f(scale) * f(method) / f(&paper);
            let value = match key.as_str() {
                "decoder_training.lr" => toml::Value::Float(rescaled(|c| c.decoder_training.lr)),
                "encoder_training.shift_px" => {
                    toml::Value::Integer(rescaled(|c| c.encoder_training.shift_px as f64).round() as i64)
                }
                "decoder_training.ed_shift_px" => {
                    toml::Value::Integer(rescaled(|c| c.decoder_training.ed_shift_px as f64).round() as i64)
                }
                _ => mv,
            };
            set_leaf(&mut out, &key, value);
        }
        let text = toml::to_string(&out)?;
        let cfg: TrainConfig = toml::from_str(&text).map_err(|e| anyhow::anyhow!("{e}"))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses a config from TOML text, applies `key.sub=value` overrides and validates it.
    pub fn from_toml(text: &str, overrides: &[String]) -> Result<Self> {
        let mut table: toml::Table = text.parse().context("not valid TOML")?;
        for o in overrides {
            apply_override(&mut table, o)?;
        }
        // Without overrides, deserialise the user's own text so error line numbers point into their file;
        // with overrides, a re-serialised copy (the error still shows the offending key and value).
        let text = if overrides.is_empty() {
            text.to_string()
        } else {
            toml::to_string(&table)?
        };
        let cfg: TrainConfig = toml::from_str(&text).map_err(|e| anyhow::anyhow!("{e}"))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The config as pretty-printed TOML (every field, defaults included).
    pub fn to_toml(&self) -> Result<String> {
        Ok(toml::to_string_pretty(self)?)
    }

    fn validate(&self) -> Result<()> {
        let e = &self.encoder_training;
        let d = &self.decoder_training;
        if e.batch_size == 0 || d.paired_batch == 0 {
            bail!("encoder_training.batch_size and decoder_training.paired_batch must be ≥ 1");
        }
        if e.lr_steps.is_empty() || e.lr_steps.iter().any(|(_, lr)| *lr <= 0.0 || !lr.is_finite()) {
            bail!("encoder_training.lr_steps must be a non-empty list of [first_epoch, lr > 0]");
        }
        if d.lr <= 0.0 || !d.lr.is_finite() {
            bail!("decoder_training.lr must be a positive number (got {})", d.lr);
        }
        if d.lr_milestones.windows(2).any(|w| w[0] >= w[1]) || d.lr_milestones.first() == Some(&0) {
            bail!(
                "decoder_training.lr_milestones must be increasing epochs ≥ 1 (got {:?}), e.g. [100, 140]",
                d.lr_milestones
            );
        }
        if e.shift_px < 0 || d.ed_shift_px < 0 {
            bail!("shift sizes (encoder_training.shift_px, decoder_training.ed_shift_px) must be ≥ 0");
        }
        if d.de_source == DeSource::TestRepeats && d.de_batch > 0 && !d.allow_test_fmri {
            bail!("decoder_training.de_source = \"test-repeats\" uses test fMRI (transductive, as in [NIPS19]); set decoder_training.allow_test_fmri = true to accept that");
        }
        if self.roi.is_empty() {
            bail!("roi must name at least one ROI (e.g. [\"VC\"])");
        }
        if self.backbone.width <= 0.0 || self.backbone.width > 1.0 || self.backbone.width.is_nan() {
            bail!("backbone.width must be in (0, 1] (got {})", self.backbone.width);
        }
        // The models' own checks, at load time, so a bad field is refused before any work.
        self.encoder.validate()?;
        self.decoder.validate()?;
        Ok(())
    }
}

/// Every non-table value of `t` with its dotted key.
fn collect_leaves(t: &toml::Table, prefix: &str, out: &mut Vec<(String, toml::Value)>) {
    for (k, v) in t {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(sub) => collect_leaves(sub, &key, out),
            _ => out.push((key, v.clone())),
        }
    }
}

fn leaf<'a>(t: &'a toml::Table, key: &str) -> Option<&'a toml::Value> {
    let mut parts = key.split('.').peekable();
    let mut cur = t;
    while let Some(p) = parts.next() {
        let v = cur.get(p)?;
        if parts.peek().is_none() {
            return Some(v);
        }
        cur = v.as_table()?;
    }
    None
}

fn set_leaf(t: &mut toml::Table, key: &str, value: toml::Value) {
    let parts: Vec<&str> = key.split('.').collect();
    let mut cur = t;
    for p in &parts[..parts.len() - 1] {
        cur = match cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(Default::default()))
        {
            toml::Value::Table(sub) => sub,
            _ => return,
        };
    }
    cur.insert(parts[parts.len() - 1].to_string(), value);
}

/// Applies `a.b.c=value`; the value is parsed as a TOML value (number, bool, array, quoted string) and falls
/// back to a bare string.
fn apply_override(table: &mut toml::Table, o: &str) -> Result<()> {
    let (key, raw) = o
        .split_once('=')
        .with_context(|| format!("override '{o}' must look like key.sub=value"))?;
    let value: toml::Value = format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let parts: Vec<&str> = key.trim().split('.').collect();
    let mut cur = table;
    for p in &parts[..parts.len() - 1] {
        cur = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(Default::default()))
            .as_table_mut()
            .with_context(|| format!("override '{o}': '{p}' is not a section"))?;
    }
    cur.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

// ---- Model hyperparameters: the config blocks of E, D and the image loss (the models in `vox2pix::nn` take them) ----

/// Every size and weight of E. Defaults are [NI22] (`SSReconstnClass: encoder_model.py`, `encoder_param`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EncoderConfig {
    /// Output channels of each branch head's convolution (32).
    pub head_channels: i64,
    /// Side of the square patch unfolded at every head position (3 → 3·3·32 = 288 features).
    pub patch_size: i64,
    /// Stride of branch 3's convolution: 1 = [NI22] (S/4 map shared with branches 1–2), 2 = SSR variant.
    pub branch3_stride: i64,
    /// One space map per distinct head size (paper) instead of one per branch.
    pub share_space_maps: bool,
    /// Dropout on the space-map outputs in training mode (0.5; 0.25 when E is rebuilt inside the decoder stage).
    pub dropout: f64,
    /// BatchNorm epsilon (Keras default 1e-3).
    pub bn_eps: f64,
    /// BatchNorm running-average momentum in PyTorch's convention (Keras momentum 0.99 → 0.01).
    pub bn_momentum: f64,
    /// L1 on head convolution kernels (Σ|w|).
    pub conv_l1: f64,
    /// L1 on the space maps (Σ|w|).
    pub space_l1: f64,
    /// Neighbour-smoothed group term on the space maps (Σ sqrt(avg4(W²))).
    pub space_group: f64,
    /// L1 on the per-voxel feature-mix weights.
    pub feature_l1: f64,
    /// L1 on the per-voxel branch-mix weights.
    pub branch_l1: f64,
    /// Weight of SelfSuperReconst's spatial-compactness term on the space maps (`fc_mom2`; 0 = off, the Keras code;
    /// 10 in SSR's `scripts/train_enc_rgb.sh`): each voxel's squared map, its second moment about its own centroid,
    /// summed over voxels and divided by 2 · side · V, once per branch that reads the map (SSR's loop).
    pub space_mom2: f64,
    /// Weight of a per-branch loss: each branch's prediction alone, scored by the same MSE + cosine loss as the
    /// mix and averaged over the four branches (0 = the paper: only the mix is scored). Jointly trained branches
    /// split every voxel between them, so which depth a voxel prefers is not identifiable from them; with this
    /// term each branch is also a layer-wise encoding model of its own (science.md, claim 3).
    pub branch_solo: f64,
    /// Encoder loss: MSE weight.
    pub mse_weight: f64,
    /// Encoder loss: weight of −cos(y, ŷ).
    pub cos_weight: f64,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        EncoderConfig {
            head_channels: 32,
            patch_size: 3,
            branch3_stride: 1,
            share_space_maps: true,
            dropout: 0.5,
            bn_eps: 1e-3,
            bn_momentum: 0.01,
            conv_l1: 1e-5,
            space_l1: 5e-6,
            space_group: 1e-5,
            feature_l1: 5e-6,
            branch_l1: 5e-2,
            space_mom2: 0.0,
            branch_solo: 0.0,
            mse_weight: 1.0,
            cos_weight: 0.1,
        }
    }
}

impl EncoderConfig {
    /// Checks ranges; errors name the field and the accepted values.
    pub fn validate(&self) -> Result<()> {
        if self.head_channels < 1 {
            bail!(
                "encoder.head_channels = {}: must be ≥ 1 (paper: 32)",
                self.head_channels
            );
        }
        if self.patch_size < 1 || self.patch_size % 2 == 0 {
            bail!(
                "encoder.patch_size = {}: must be an odd number ≥ 1 (paper: 3)",
                self.patch_size
            );
        }
        if self.branch3_stride != 1 && self.branch3_stride != 2 {
            bail!(
                "encoder.branch3_stride = {}: must be 1 ([NI22]) or 2 (SSR)",
                self.branch3_stride
            );
        }
        if !(0.0..1.0).contains(&self.dropout) {
            bail!("encoder.dropout = {}: must be in [0, 1)", self.dropout);
        }
        if self.bn_eps.is_nan() || self.bn_eps <= 0.0 || !(0.0..=1.0).contains(&self.bn_momentum) {
            bail!(
                "encoder.bn_eps must be > 0 and encoder.bn_momentum in [0, 1] (got {}, {})",
                self.bn_eps,
                self.bn_momentum
            );
        }
        let weights = [
            ("conv_l1", self.conv_l1),
            ("space_l1", self.space_l1),
            ("space_group", self.space_group),
            ("feature_l1", self.feature_l1),
            ("branch_l1", self.branch_l1),
            ("space_mom2", self.space_mom2),
            ("branch_solo", self.branch_solo),
            ("mse_weight", self.mse_weight),
            ("cos_weight", self.cos_weight),
        ];
        for (name, w) in weights {
            if !w.is_finite() || w < 0.0 {
                bail!("encoder.{name} = {w}: must be a finite number ≥ 0");
            }
        }
        Ok(())
    }
}

/// Interpolation of the 2× upsampling steps.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Upsample {
    /// [NI22] (Keras `UpSampling2D(interpolation='bilinear')`); PyTorch convention, align_corners = false.
    #[default]
    Bilinear,
    /// [NIPS19].
    Nearest,
    /// SSR.
    Bicubic,
}

/// The layer order and padding of D's upsampling blocks and output convolution.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum DecoderBlock {
    /// [NI22]'s Keras code (`decoder_model.py`): zero-padded 5×5 conv → ReLU → GroupNorm; output conv zero-padded.
    #[default]
    Keras,
    /// SelfSuperReconst's `BaseDecoder` (`utils/models.py`): reflection pad → 5×5 conv → GroupNorm → Swish
    /// (x·sigmoid(x)); output conv after a reflection pad.
    Ssr,
}

/// Every size and weight of D. Defaults are [NI22] (`SSReconstnClass: decoder_model.py`, `decoder_param`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DecoderConfig {
    /// Channels of the FC output grid and of every upsampling block (64).
    pub channels: i64,
    /// Kernel side of the block and output convolutions (5).
    pub kernel_size: i64,
    /// GroupNorm groups (32); must divide `channels`.
    pub groups: i64,
    /// GroupNorm epsilon (1e-5).
    pub gn_eps: f64,
    /// Interpolation of the 2× upsampling steps (bilinear).
    pub upsample: Upsample,
    /// Layer order, activation and padding of the blocks (`keras`; `ssr` for SelfSuperReconst's).
    pub block: DecoderBlock,
    /// FC group lasso: weight of mean(|W|·snr_inv_n[v]).
    pub fc_l1: f64,
    /// FC group lasso: weight of the neighbour-smoothed group term.
    pub fc_group: f64,
    /// FC group lasso: neighbours' share n_reg in (W² + n·avg(W²)) / (1 + n).
    pub fc_neighbour: f64,
    /// FC group lasso: the neighbourhood of avg: 4 (edges, edge-repeating padding; the Keras code) or 8 (edges
    /// and corners, reflect padding; SelfSuperReconst's `train_decoder.py`).
    pub fc_neighbours: usize,
    /// L1 on the block convolution kernels (Σ|w|).
    pub conv_l1: f64,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        DecoderConfig {
            channels: 64,
            kernel_size: 5,
            groups: 32,
            gn_eps: 1e-5,
            upsample: Upsample::Bilinear,
            block: DecoderBlock::Keras,
            fc_l1: 20.0,
            fc_group: 400.0,
            fc_neighbour: 0.5,
            fc_neighbours: 4,
            conv_l1: 1e-5,
        }
    }
}

impl DecoderConfig {
    /// Checks ranges: `groups` divides `channels`, an odd kernel, finite non-negative weights; errors name the field.
    pub fn validate(&self) -> Result<()> {
        if self.channels < 1 || self.groups < 1 || self.channels % self.groups != 0 {
            bail!(
                "decoder.groups = {} must divide decoder.channels = {} (paper: 32, 64)",
                self.groups,
                self.channels
            );
        }
        if self.kernel_size < 1 || self.kernel_size % 2 == 0 {
            bail!("decoder.kernel_size = {}: must be odd (paper: 5)", self.kernel_size);
        }
        if self.fc_neighbours != 4 && self.fc_neighbours != 8 {
            bail!(
                "decoder.fc_neighbours = {}: must be 4 (Keras) or 8 (SelfSuperReconst)",
                self.fc_neighbours
            );
        }
        for (name, w) in [
            ("gn_eps", self.gn_eps),
            ("fc_l1", self.fc_l1),
            ("fc_group", self.fc_group),
            ("fc_neighbour", self.fc_neighbour),
            ("conv_l1", self.conv_l1),
        ] {
            if !w.is_finite() || w < 0.0 {
                bail!("decoder.{name} = {w}: must be a finite number ≥ 0");
            }
        }
        Ok(())
    }
}

/// Where the perceptual loss reads the backbone.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum PerceptualTaps {
    /// relu1_2, relu2_2, relu3_3, relu4_3, relu5_3: the last ReLU of each VGG16 block ([NI22]'s Keras code).
    #[default]
    Relu,
    /// pool1 … pool5: each block's output after its 2×2 max-pool (SelfSuperReconst's `ImageLoss`,
    /// `features[:5]`, `[:10]`, `[:17]`, `[:24]`, `[:31]`).
    Pool,
}

/// Weights of L_img = percept·L_percept + mae·L_mae + tv·L_tv ([NI22]: 10 / 1 / 0.3, β = 2.5).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ImageLossConfig {
    /// Weight of the perceptual loss L_percept (10).
    pub percept_weight: f64,
    /// Weight of the pixel MAE L_mae (1).
    pub mae_weight: f64,
    /// Weight of the total-variation loss L_tv (0.3).
    pub tv_weight: f64,
    /// L_percept = Σ_k layer_weights[k] · d_k over the five blocks (`taps`); the default 0.2 each is the paper's mean
    /// of the five distances (layer ablations set the unused ones to 0 and rescale the rest).
    pub layer_weights: [f64; 5],
    /// β in mean((Δx² + Δy²)^(β/2)).
    pub tv_exponent: f64,
    /// The backbone outputs L_percept compares: `relu` (before each block's max-pool) or `pool` (after it).
    pub taps: PerceptualTaps,
}

impl Default for ImageLossConfig {
    fn default() -> Self {
        ImageLossConfig {
            percept_weight: 10.0,
            mae_weight: 1.0,
            tv_weight: 0.3,
            layer_weights: [0.2; 5],
            tv_exponent: 2.5,
            taps: PerceptualTaps::Relu,
        }
    }
}

impl ImageLossConfig {
    /// Checks that every weight and the TV exponent are finite and ≥ 0; errors name the field.
    pub fn validate(&self) -> Result<()> {
        let mut all = vec![
            ("percept_weight", self.percept_weight),
            ("mae_weight", self.mae_weight),
            ("tv_weight", self.tv_weight),
            ("tv_exponent", self.tv_exponent),
        ];
        all.extend(self.layer_weights.iter().map(|&w| ("layer_weights[]", w)));
        for (name, w) in all {
            if !w.is_finite() || w < 0.0 {
                bail!("image_loss.{name} = {w}: must be a finite number ≥ 0");
            }
        }
        Ok(())
    }
}

/// Arithmetic precision of the training forward passes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// Everything in float32 (reference numbers).
    #[default]
    F32,
    /// bfloat16 autocast: convolutions and matrix products in bf16, reductions and losses in float32, weights
    /// and optimizer state stay float32. Pays on GPUs and on CPUs with AVX512-BF16/AMX.
    Bf16,
}

/// Input normalisation matching the weight source (method.md §2.1); applied once, inside the backbone.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum InputNorm {
    /// torchvision weights: RGB, (x − mean) / std with ImageNet statistics.
    #[default]
    Torchvision,
    /// Keras/caffe weights: ×255, RGB→BGR, subtract the BGR pixel mean.
    Caffe,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_parse_and_differ() {
        let get = |name: &str| TrainConfig::load(name, &[]).unwrap();
        let all: Vec<TrainConfig> = PRESETS.iter().map(|(n, _)| get(n)).collect();
        for (i, a) in all.iter().enumerate() {
            for (j, b) in all.iter().enumerate().skip(i + 1) {
                assert_ne!(
                    a, b,
                    "presets {} and {} are the same config",
                    PRESETS[i].0, PRESETS[j].0
                );
            }
        }
        assert_eq!(
            get("paper").decoder_training.epochs,
            150,
            "paper preset must keep the paper's 150 epochs"
        );
        assert!(
            get("nips19").decoder_training.de_batch > 0,
            "nips19 preset has the DE stream on"
        );
        assert_eq!(
            get("paper").decoder_training.de_batch,
            0,
            "paper preset has the DE stream off"
        );
    }

    #[test]
    fn unknown_key_is_an_error_naming_it() {
        let err = format!(
            "{:#}",
            TrainConfig::from_toml("[decoder_training]\nepochz = 3\n", &[]).unwrap_err()
        );
        assert!(err.contains("epochz"), "{err}");
        let err = format!(
            "{:#}",
            TrainConfig::from_toml("", &["decoder_training.lr=-1".into()]).unwrap_err()
        );
        assert!(err.contains("decoder_training.lr"), "{err}");
        let err = format!("{:#}", TrainConfig::from_toml("seed = \"x\"\n", &[]).unwrap_err());
        assert!(err.contains("seed") || err.contains("integer"), "{err}");
    }

    #[test]
    fn overrides_and_schedules() {
        let c = TrainConfig::from_toml(
            "",
            &["decoder_training.epochs=3".into(), "roi=[\"LVC\",\"HVC\"]".into()],
        )
        .unwrap();
        assert_eq!(c.decoder_training.epochs, 3);
        assert_eq!(c.roi, vec!["LVC", "HVC"]);
        let d = DecoderTraining::default();
        assert!(
            (d.lr_at(0) - 1e-3).abs() < 1e-12
                && (d.lr_at(29) - 2e-4).abs() < 1e-12
                && (d.lr_at(59) - 4e-5).abs() < 1e-12
        );
        let e = EncoderTraining::default();
        assert_eq!(
            (e.lr_at(20), e.lr_at(21), e.lr_at(35), e.lr_at(36)),
            (1e-3, 1e-4, 1e-5, 1e-6)
        );
    }
}
