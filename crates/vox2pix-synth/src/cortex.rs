//! The simulated visual cortex (`docs/synthetic-world.md` §4): voxels of eight areas on a 3-D grid with
//! retinotopic pRFs, per-voxel linear readouts of image features (Gabor energy, texture/colour, shape, semantic
//! latent) mixed by per-area channel shares, compressive spatial summation, and the GOD-like single-trial
//! response model y = μ_v + o[v,r] + d_v(t) + g_r·SNR_v·s̃_v(x) + ε with independent, shared low-rank and
//! spatially smooth noise. Everything is a pure function of (config, seed, image), so any response can be
//! regenerated; the heavy part (feature readout) is a dense matrix product over image batches.
use super::features::{FeatureSpec, ImageFeatures, COLOUR_MAPS, GABOR_MAPS_PER_BAND, TEXTURE_MAPS_PER_BAND};
use anyhow::{bail, Result};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use vox2pix_formats::rng::{mix_key, CounterRng};

/// The labelled areas, in voxel order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Area {
    /// Primary visual cortex.
    V1,
    /// Secondary visual cortex.
    V2,
    /// Third visual area.
    V3,
    /// Fourth visual area.
    V4,
    /// Lateral occipital complex (`LOC`).
    Loc,
    /// Fusiform face area (`FFA`), face-selective.
    Ffa,
    /// Parahippocampal place area (`PPA`), scene- and building-selective.
    Ppa,
    /// Higher visual cortex outside LOC, FFA and PPA (`HVC-other`; only in the HVC and VC masks).
    HvcOther,
}

impl Area {
    /// Every area, in voxel order.
    pub const ALL: [Area; 8] = [
        Area::V1,
        Area::V2,
        Area::V3,
        Area::V4,
        Area::Loc,
        Area::Ffa,
        Area::Ppa,
        Area::HvcOther,
    ];

    /// Display and TOML name (`V1` … `PPA`, `HVC-other`).
    pub fn name(self) -> &'static str {
        match self {
            Area::V1 => "V1",
            Area::V2 => "V2",
            Area::V3 => "V3",
            Area::V4 => "V4",
            Area::Loc => "LOC",
            Area::Ffa => "FFA",
            Area::Ppa => "PPA",
            Area::HvcOther => "HVC-other",
        }
    }

    /// The ROI masks (names as in [`vox2pix_formats::ROI_NAMES`]) a voxel of this area belongs to.
    pub fn rois(self) -> &'static [&'static str] {
        match self {
            Area::V1 => &["V1", "LVC", "VC"],
            Area::V2 => &["V2", "LVC", "VC"],
            Area::V3 => &["V3", "LVC", "VC"],
            Area::V4 => &["V4", "VC"],
            Area::Loc => &["LOC", "HVC", "VC"],
            Area::Ffa => &["FFA", "HVC", "VC"],
            Area::Ppa => &["PPA", "HVC", "VC"],
            Area::HvcOther => &["HVC", "VC"],
        }
    }
}

/// Channel groups a voxel mixes (columns of the share table, §4.3).
pub const GROUPS: [&str; 4] = ["gabor", "texture_colour", "shape", "semantic"];

/// Parameters of one area. Shares are the mean fractions of explainable variance per channel group
/// (gabor, texture/colour, shape, semantic); each voxel draws its own from a Dirichlet around them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AreaConfig {
    /// Number of voxels of the area (0 leaves it out).
    pub voxels: usize,
    /// Median single-trial SNR (signal SD / noise SD) of the area's visual voxels.
    pub snr_median: f64,
    /// pRF size σ = prf_a_deg + prf_b · eccentricity (degrees).
    pub prf_a_deg: f64,
    /// Growth of the pRF size per degree of eccentricity (see `prf_a_deg`).
    pub prf_b: f64,
    /// Compressive spatial summation exponent n (Kay et al. 2013).
    pub css_exponent: f64,
    /// Eccentricity range of pRF centres (degrees; FFA foveal, PPA peripheral).
    pub ecc_range_deg: [f64; 2],
    /// Preferred spatial frequency at the fovea (cycles/degree); it falls with eccentricity.
    pub sf_pref_cpd: f64,
    /// Mean channel shares (gabor, texture/colour, shape, semantic); ≥ 0, not all 0.
    pub shares: [f64; 4],
}

/// Every area's parameters, keyed by area name in TOML (`[cortex.areas.V1]`, `[cortex.areas.HVC-other]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AreaTable {
    #[serde(rename = "V1")]
    /// `[cortex.areas.V1]`.
    pub v1: AreaConfig,
    #[serde(rename = "V2")]
    /// `[cortex.areas.V2]`.
    pub v2: AreaConfig,
    #[serde(rename = "V3")]
    /// `[cortex.areas.V3]`.
    pub v3: AreaConfig,
    #[serde(rename = "V4")]
    /// `[cortex.areas.V4]`.
    pub v4: AreaConfig,
    #[serde(rename = "LOC")]
    /// `[cortex.areas.LOC]`.
    pub loc: AreaConfig,
    #[serde(rename = "FFA")]
    /// `[cortex.areas.FFA]`.
    pub ffa: AreaConfig,
    #[serde(rename = "PPA")]
    /// `[cortex.areas.PPA]`.
    pub ppa: AreaConfig,
    #[serde(rename = "HVC-other")]
    /// `[cortex.areas.HVC-other]`.
    pub hvc_other: AreaConfig,
}

impl AreaTable {
    /// The parameters of `area`.
    pub fn get(&self, area: Area) -> &AreaConfig {
        match area {
            Area::V1 => &self.v1,
            Area::V2 => &self.v2,
            Area::V3 => &self.v3,
            Area::V4 => &self.v4,
            Area::Loc => &self.loc,
            Area::Ffa => &self.ffa,
            Area::Ppa => &self.ppa,
            Area::HvcOther => &self.hvc_other,
        }
    }
}

/// The simulated brain's parameters (`[cortex]` in a world preset). Defaults live in `presets/default.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CortexConfig {
    /// Per-area parameters (`[cortex.areas.*]`).
    pub areas: AreaTable,
    /// Visual field covered by the image (degrees, square).
    pub field_of_view_deg: f64,
    /// Gabor pyramid band centres (cycles/degree); bands above Nyquist are dropped.
    pub sf_cpd: Vec<f64>,
    /// Gabor orientations, evenly spaced over π (≥ 2).
    pub orientations: usize,
    /// Cells per side of the grid feature maps are pooled on before the pRF readout.
    pub pool_grid: usize,
    /// Log-Gaussian SF tuning width (octaves, SD).
    pub sf_bandwidth_octaves: f64,
    /// Eccentricity at which the preferred SF has halved.
    pub sf_pref_halving_ecc_deg: f64,
    /// Radial orientation bias amplitude (fraction).
    pub radial_bias: f64,
    /// Cortical magnification M(e) ∝ 1/(e + e₂): the e₂ (degrees).
    pub magnification_e2_deg: f64,
    /// Dirichlet concentration of the per-voxel channel shares (higher = closer to the area mean).
    pub share_concentration: f64,
    /// Dimension D of the semantic latent z (≥ 1).
    pub semantic_dim: usize,
    /// z_c = z_super + class_jitter·ε_c; z_img = z_c + instance_jitter·η.
    pub class_jitter: f64,
    /// SD of the per-image jitter η around the class embedding (see `class_jitter`).
    pub instance_jitter: f64,
    /// Weight of the preferred super-category direction in FFA (face) and PPA (scene, building) semantic
    /// readouts, relative to the voxel's random unit direction.
    pub face_preference: f64,
    /// Weight of the scene direction in PPA readouts (see `face_preference`).
    pub scene_preference: f64,
    /// Weight of the building direction in PPA readouts (see `face_preference`).
    pub building_preference: f64,
    /// Log-SD of the per-voxel log-normal SNR.
    pub snr_log_sd: f64,
    /// Fraction of voxels per area with SNR 0 ("non-visual").
    pub nonvisual_fraction: f64,
    /// Noise variance split (must sum to 1): independent, shared low-rank, spatially smooth.
    pub noise_independent: f64,
    /// Variance fraction of the shared low-rank noise.
    pub noise_shared: f64,
    /// Variance fraction of the spatially smooth noise.
    pub noise_smooth: f64,
    /// Rank of the shared noise (number of latent factors; ≥ 1 when `noise_shared` > 0).
    pub shared_factors: usize,
    /// FWHM of the spatially smooth noise, in voxels.
    pub smooth_fwhm_voxels: f64,
    /// Edge of one voxel in millimetres.
    pub voxel_size_mm: f64,
    /// Raw baseline μ_v ~ N(baseline_mean, baseline_sd²) (arbitrary scanner units, noise SD = 1).
    pub baseline_mean: f64,
    /// SD of the raw baseline μ_v across voxels (see `baseline_mean`).
    pub baseline_sd: f64,
    /// Per-run additive offset SD o[v, r] (noise-SD units).
    pub run_offset_sd: f64,
    /// SD of the linear within-run drift's end-to-end amplitude.
    pub drift_sd: f64,
    /// Per-run gain g_r = 1 + run_gain_sd·N(0, 1) (0 = gain 1).
    pub run_gain_sd: f64,
    /// Which fixed image set s̃ is standardised over: "test" (the experiment's test images, so the true SNR
    /// is exactly the SNR of the test set that calc_snr / the noise ceiling measure) or "pool" (a broad sample
    /// of `reference_images` non-test images, for worlds with too few test images).
    pub reference_set: ReferenceSet,
    /// Size of the "pool" reference set.
    pub reference_images: usize,
}

impl CortexConfig {
    /// Checks ranges; errors name the `cortex.*` field and the fix.
    pub fn validate(&self) -> Result<()> {
        let total: usize = Area::ALL.iter().map(|&a| self.areas.get(a).voxels).sum();
        if total == 0 {
            bail!("cortex.areas: all areas have 0 voxels; give at least one area voxels");
        }
        for a in Area::ALL {
            let c = self.areas.get(a);
            let f = |field: &str| format!("cortex.areas.{}.{field}", a.name());
            if c.voxels == 0 {
                continue;
            }
            if !(c.snr_median >= 0.0 && c.snr_median.is_finite()) {
                bail!("{} = {}: must be a finite SNR ≥ 0", f("snr_median"), c.snr_median);
            }
            if !(c.prf_a_deg > 0.0 && c.prf_b >= 0.0) {
                bail!("{} / {}: pRF size needs a > 0 and b ≥ 0", f("prf_a_deg"), f("prf_b"));
            }
            if !(c.css_exponent > 0.0 && c.css_exponent <= 1.0) {
                bail!(
                    "{} = {}: CSS exponent must be in (0, 1]",
                    f("css_exponent"),
                    c.css_exponent
                );
            }
            let [lo, hi] = c.ecc_range_deg;
            if !(lo >= 0.0 && hi > lo) {
                bail!("{} = {:?}: need 0 ≤ low < high", f("ecc_range_deg"), c.ecc_range_deg);
            }
            if c.sf_pref_cpd <= 0.0 {
                bail!("{} must be > 0 cycles/degree", f("sf_pref_cpd"));
            }
            if c.shares.iter().any(|s| s.is_nan() || *s < 0.0) || c.shares.iter().sum::<f64>() <= 0.0 {
                bail!("{} = {:?}: shares must be ≥ 0 and not all 0", f("shares"), c.shares);
            }
        }
        let split = self.noise_independent + self.noise_shared + self.noise_smooth;
        if [self.noise_independent, self.noise_shared, self.noise_smooth]
            .iter()
            .any(|&v| v < 0.0)
            || (split - 1.0).abs() > 1e-6
        {
            bail!("cortex.noise_independent + noise_shared + noise_smooth = {split}; they are variance fractions and must be ≥ 0 and sum to 1");
        }
        if self.noise_shared > 0.0 && self.shared_factors == 0 {
            bail!("cortex.shared_factors = 0 but noise_shared > 0; set shared_factors ≥ 1 or noise_shared = 0");
        }
        if !(0.0..1.0).contains(&self.nonvisual_fraction) {
            bail!(
                "cortex.nonvisual_fraction = {}: must be in [0, 1)",
                self.nonvisual_fraction
            );
        }
        if self.semantic_dim == 0 {
            bail!("cortex.semantic_dim must be ≥ 1");
        }
        if self.reference_set == ReferenceSet::Pool && self.reference_images < MIN_REFERENCE_IMAGES {
            bail!(
                "cortex.reference_images = {}: need ≥ {MIN_REFERENCE_IMAGES} images to standardise responses",
                self.reference_images
            );
        }
        if !(self.radial_bias >= 0.0 && self.radial_bias < 1.0) {
            bail!("cortex.radial_bias = {}: must be in [0, 1)", self.radial_bias);
        }
        if self.share_concentration <= 0.0 || self.sf_bandwidth_octaves <= 0.0 || self.magnification_e2_deg <= 0.0 {
            bail!("cortex.share_concentration, sf_bandwidth_octaves and magnification_e2_deg must be > 0");
        }
        if self.field_of_view_deg <= 0.0 || self.voxel_size_mm <= 0.0 || self.smooth_fwhm_voxels < 0.0 {
            bail!("cortex.field_of_view_deg and voxel_size_mm must be > 0, smooth_fwhm_voxels ≥ 0");
        }
        Ok(())
    }
}

/// The image set s̃ is standardised over (see [`CortexConfig::reference_set`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReferenceSet {
    /// The experiment's test images.
    Test,
    /// `reference_images` images of the non-test classes, from a stream no exported role uses.
    Pool,
}

/// Fewest reference images the standardisation accepts.
pub const MIN_REFERENCE_IMAGES: usize = 10;

/// Ground truth of one voxel.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Voxel {
    /// The area the voxel belongs to.
    pub area: Area,
    /// Grid position (voxel units); millimetres are `coord × voxel_size_mm`.
    pub coord: [i32; 3],
    /// pRF centre in degrees from fixation (x right, y down, as image pixels).
    pub x_deg: f64,
    /// pRF centre, vertical (degrees, down positive).
    pub y_deg: f64,
    /// Eccentricity of the pRF centre (degrees).
    pub ecc_deg: f64,
    /// Polar angle of the pRF centre (radians, from +x towards +y).
    pub polar_rad: f64,
    /// pRF size σ (degrees): `prf_a_deg + prf_b · ecc_deg`.
    pub sigma_deg: f64,
    /// Preferred spatial frequency at this eccentricity (cycles/degree).
    pub sf_pref_cpd: f64,
    /// Compressive spatial summation exponent n.
    pub css_exponent: f64,
    /// Realised channel shares (gabor, texture/colour, shape, semantic), summing to 1.
    pub shares: [f64; 4],
    /// True single-trial SNR (0 for non-visual voxels).
    pub snr: f64,
}

/// Which super-category indices the category-selective areas prefer.
#[derive(Clone, Copy, Debug)]
pub struct CategoryPreferences {
    /// Super-category index of faces (FFA).
    pub face: usize,
    /// Super-category index of scenes (PPA).
    pub scene: usize,
    /// Super-category index of buildings (PPA).
    pub building: usize,
}

/// One image handed to the cortex: pixels, object mask, class, and the key of its instance jitter.
#[derive(Clone, Copy, Debug)]
pub struct Stimulus<'a> {
    /// H·W·3 pixels, HWC, in [0, 1].
    pub rgb: &'a [f32],
    /// H·W object mask in [0, 1].
    pub mask: &'a [f32],
    /// Class id of the image.
    pub class: usize,
    /// Identifies the image (e.g. `mix_key(seed, [role, class, instance])`): seeds its semantic jitter η.
    pub key: u64,
}

/// One presentation: which image (row of the noiseless matrix), in which run, where in the run (0..1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Trial {
    /// Row of the image in the noiseless response matrix.
    pub image: usize,
    /// Run the trial is presented in.
    pub run: u32,
    /// Position within the run, 0 (start) … 1 (end); drives the linear drift.
    pub position: f32,
}

/// Stream tags for the counter RNG (distinct constants so streams never collide).
mod tag {
    pub const GEOMETRY: u64 = 0xC0_0001;
    pub const SHARES: u64 = 0xC0_0002;
    pub const SNR: u64 = 0xC0_0003;
    pub const WEIGHTS: u64 = 0xC0_0004;
    pub const SEMANTIC: u64 = 0xC0_0005;
    pub const IMAGE_JITTER: u64 = 0xC0_0006;
    pub const BASELINE: u64 = 0xC0_0007;
    pub const LOADINGS: u64 = 0xC0_0008;
    pub const RUN: u64 = 0xC0_0009;
    pub const TRIAL_NOISE: u64 = 0xC0_000A;
}

/// A built cortex: geometry, readout weights and standardisation constants.
pub struct Cortex {
    cfg: CortexConfig,
    seed: u64,
    spec: FeatureSpec,
    voxels: Vec<Voxel>,
    /// Readout weights `[features, V]` per pooled group.
    w_gabor: Array2<f32>,
    w_texture: Array2<f32>,
    w_shape: Array2<f32>,
    w_semantic: Array2<f32>,
    /// `[n_super, D]` and `[n_classes, D]` semantic embeddings.
    z_super: Array2<f32>,
    z_class: Array2<f32>,
    /// Per group (rows) and voxel: mean / SD of the group's term over the reference set, and √share.
    term_mean: Array2<f32>,
    term_sd: Array2<f32>,
    mix: Array2<f32>,
    /// Final standardisation of s over the reference set.
    s_mean: Array1<f32>,
    s_sd: Array1<f32>,
    /// Shared-noise loadings `[K, V]` (each voxel's column has unit norm).
    loadings: Array2<f32>,
    baseline: Array1<f32>,
    smooth: SmoothField,
}

impl Cortex {
    /// Builds the cortex for images of `image_size` px. `class_super[c]` is class c's super-category index;
    /// `reference` is the fixed image set responses are standardised over.
    pub fn build(
        cfg: &CortexConfig,
        seed: u64,
        image_size: usize,
        class_super: &[usize],
        prefs: CategoryPreferences,
        reference: &[Stimulus],
    ) -> Result<Cortex> {
        cfg.validate()?;
        if reference.len() < MIN_REFERENCE_IMAGES {
            bail!(
                "the cortex needs ≥ {MIN_REFERENCE_IMAGES} reference images to standardise responses, got {}",
                reference.len()
            );
        }
        let n_super = class_super
            .iter()
            .copied()
            .max()
            .map_or(0, |m| m + 1)
            .max(prefs.face.max(prefs.scene).max(prefs.building) + 1);
        let spec = FeatureSpec::new(
            image_size,
            cfg.field_of_view_deg,
            &cfg.sf_cpd,
            cfg.orientations,
            cfg.pool_grid,
        )?;
        let voxels = layout_voxels(cfg, seed);
        let v = voxels.len();

        // Semantic embeddings: z_super ~ N(0, I), z_c = z_super + jitter·ε_c.
        let d = cfg.semantic_dim;
        let mut rng = CounterRng::new(mix_key(seed, &[tag::SEMANTIC, 0]));
        let z_super = Array2::from_shape_fn((n_super, d), |_| rng.normal() as f32);
        let z_class = Array2::from_shape_fn((class_super.len(), d), |(c, k)| {
            let mut r = CounterRng::new(mix_key(seed, &[tag::SEMANTIC, 1, c as u64, k as u64]));
            z_super[[class_super[c], k]] + (cfg.class_jitter * r.normal()) as f32
        });

        let mut cortex = Cortex {
            cfg: cfg.clone(),
            seed,
            w_gabor: Array2::zeros((spec.gabor_len(), v)),
            w_texture: Array2::zeros((spec.texture_len(), v)),
            w_shape: Array2::zeros((spec.shape_len(), v)),
            w_semantic: Array2::zeros((d, v)),
            spec,
            z_super,
            z_class,
            term_mean: Array2::zeros((4, v)),
            term_sd: Array2::ones((4, v)),
            mix: Array2::zeros((4, v)),
            s_mean: Array1::zeros(v),
            s_sd: Array1::ones(v),
            loadings: Array2::zeros((cfg.shared_factors, v)),
            baseline: Array1::zeros(v),
            smooth: SmoothField::new(&voxels, cfg.smooth_fwhm_voxels),
            voxels,
        };
        for (j, vx) in cortex.voxels.iter().enumerate() {
            for g in 0..4 {
                cortex.mix[[g, j]] = vx.shares[g].sqrt() as f32;
            }
        }

        // Feature maps have very different scales (colour vs energy); each map is normalised by its mean over the
        // reference set so the random per-voxel map weights mean what they say.
        let ref_features: Vec<ImageFeatures> = reference
            .par_iter()
            .map(|s| cortex.spec.compute(s.rgb, s.mask))
            .collect();
        let scales = MapScales::from_reference(&cortex.spec, &ref_features);
        cortex.build_weights(&scales, prefs);

        let mut rng = CounterRng::new(mix_key(seed, &[tag::LOADINGS]));
        cortex.loadings = Array2::from_shape_fn((cfg.shared_factors, v), |_| rng.normal() as f32);
        for mut col in cortex.loadings.columns_mut() {
            let norm = col.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            col.mapv_inplace(|x| x / norm);
        }
        let mut rng = CounterRng::new(mix_key(seed, &[tag::BASELINE]));
        cortex.baseline = Array1::from_shape_fn(v, |_| (cfg.baseline_mean + cfg.baseline_sd * rng.normal()) as f32);

        // Standardise each group's term, then s, over the reference set.
        let mut terms = cortex.group_terms(&ref_features, reference);
        for (g, term) in terms.iter_mut().enumerate() {
            let (m, sd) = column_mean_sd(term.view());
            standardise_columns(term, m.view(), sd.view());
            cortex.term_mean.row_mut(g).assign(&m);
            cortex.term_sd.row_mut(g).assign(&sd);
        }
        let s = cortex.combine(&terms);
        let (m, sd) = column_mean_sd(s.view());
        cortex.s_mean = m;
        cortex.s_sd = sd;
        Ok(cortex)
    }

    /// The configuration the cortex was built from.
    pub fn config(&self) -> &CortexConfig {
        &self.cfg
    }
    /// Ground truth of every voxel, in voxel order (areas in [`Area::ALL`] order).
    pub fn voxels(&self) -> &[Voxel] {
        &self.voxels
    }
    /// Number of voxels V.
    pub fn n_voxels(&self) -> usize {
        self.voxels.len()
    }
    /// The image-feature computation the readouts use.
    pub fn feature_spec(&self) -> &FeatureSpec {
        &self.spec
    }
    /// Class embedding z_c (`[D]`).
    pub fn class_embedding(&self, class: usize) -> Vec<f32> {
        self.z_class.row(class).to_vec()
    }
    /// Super-category embedding z_super (`[D]`).
    pub fn super_embedding(&self, super_category: usize) -> Vec<f32> {
        self.z_super.row(super_category).to_vec()
    }

    /// Image embedding z_img = z_c + instance_jitter·η(key).
    pub fn image_embedding(&self, class: usize, key: u64) -> Vec<f32> {
        let mut r = CounterRng::new(mix_key(self.seed, &[tag::IMAGE_JITTER, key]));
        self.z_class
            .row(class)
            .iter()
            .map(|&z| z + (self.cfg.instance_jitter * r.normal()) as f32)
            .collect()
    }

    /// Boolean ROI masks over the voxels, for every name in [`vox2pix_formats::ROI_NAMES`].
    pub fn roi_masks(&self) -> std::collections::BTreeMap<String, Vec<bool>> {
        vox2pix_formats::ROI_NAMES
            .iter()
            .map(|&roi| {
                (
                    roi.to_string(),
                    self.voxels.iter().map(|v| v.area.rois().contains(&roi)).collect(),
                )
            })
            .collect()
    }

    /// Voxel centres in millimetres (`coord × voxel_size_mm`), e.g. for BData `voxel_x/y/z`.
    pub fn voxel_coords_mm(&self) -> Vec<[f64; 3]> {
        let mm = self.cfg.voxel_size_mm;
        self.voxels.iter().map(|v| v.coord.map(|c| c as f64 * mm)).collect()
    }

    /// True SNR per voxel.
    pub fn snr(&self) -> Vec<f32> {
        self.voxels.iter().map(|v| v.snr as f32).collect()
    }

    /// Analytic noise ceiling NC(n) = 100·SNR²/(SNR² + 1/n) in percent, per voxel.
    pub fn analytic_noise_ceiling(&self, n: usize) -> Vec<f32> {
        self.voxels
            .iter()
            .map(|v| (100.0 * v.snr * v.snr / (v.snr * v.snr + 1.0 / n.max(1) as f64)) as f32)
            .collect()
    }

    /// Noiseless standardised responses s̃ `[N, V]` (unit variance over the reference set).
    pub fn noiseless(&self, stimuli: &[Stimulus]) -> Array2<f32> {
        const CHUNK: usize = 64;
        let parts: Vec<Array2<f32>> = stimuli
            .par_chunks(CHUNK)
            .map(|chunk| {
                let feats: Vec<ImageFeatures> = chunk.iter().map(|s| self.spec.compute(s.rgb, s.mask)).collect();
                let mut terms = self.group_terms(&feats, chunk);
                for (g, t) in terms.iter_mut().enumerate() {
                    let (m, sd) = (self.term_mean.row(g), self.term_sd.row(g));
                    standardise_columns(t, m, sd);
                }
                let mut s = self.combine(&terms);
                standardise_columns(&mut s, self.s_mean.view(), self.s_sd.view());
                s
            })
            .collect();
        let views: Vec<ArrayView2<f32>> = parts.iter().map(|p| p.view()).collect();
        if views.is_empty() {
            return Array2::zeros((0, self.n_voxels()));
        }
        ndarray::concatenate(Axis(0), &views).unwrap_or_else(|_| unreachable!("chunks share the voxel axis"))
    }

    /// Raw single-trial responses `[trials, V]` for the given trials of one scan session (`session` keys the
    /// run effects and noise, so train and test sessions differ). `s_tilde[trial.image]` is the noiseless row.
    pub fn simulate(&self, s_tilde: ArrayView2<f32>, trials: &[Trial], session: u64) -> Array2<f32> {
        let v = self.n_voxels();
        let cfg = &self.cfg;
        let mut runs: Vec<u32> = trials.iter().map(|t| t.run).collect();
        runs.sort_unstable();
        runs.dedup();
        // Per-run offset, drift slope and gain.
        let run_effects: std::collections::BTreeMap<u32, (Vec<f32>, Vec<f32>, f32)> = runs
            .iter()
            .map(|&r| {
                let mut rng = CounterRng::new(mix_key(self.seed, &[tag::RUN, session, r as u64]));
                let offset: Vec<f32> = (0..v).map(|_| (cfg.run_offset_sd * rng.normal()) as f32).collect();
                let drift: Vec<f32> = (0..v).map(|_| (cfg.drift_sd * rng.normal()) as f32).collect();
                let gain = (1.0 + cfg.run_gain_sd * rng.normal()) as f32;
                (r, (offset, drift, gain))
            })
            .collect();
        let snr: Vec<f32> = self.snr();
        let (a_ind, a_sh, a_sm) = (
            cfg.noise_independent.sqrt() as f32,
            cfg.noise_shared.sqrt() as f32,
            cfg.noise_smooth.sqrt() as f32,
        );
        let mut out = Array2::<f32>::zeros((trials.len(), v));
        let flat = out
            .as_slice_mut()
            .unwrap_or_else(|| unreachable!("fresh arrays are contiguous"));
        flat.par_chunks_mut(v.max(1))
            .zip(trials.par_iter().enumerate())
            .for_each(|(row, (t, trial))| {
                let (offset, drift, gain) = &run_effects[&trial.run];
                let mut rng = CounterRng::new(mix_key(self.seed, &[tag::TRIAL_NOISE, session, t as u64]));
                let factors: Vec<f32> = (0..cfg.shared_factors).map(|_| rng.normal() as f32).collect();
                let smooth = if a_sm > 0.0 {
                    self.smooth.sample(&mut rng)
                } else {
                    Vec::new()
                };
                let s = s_tilde.row(trial.image);
                let tpos = trial.position - 0.5;
                for j in 0..v {
                    let mut noise = a_ind * rng.normal() as f32;
                    if a_sh > 0.0 {
                        let mut shared = 0f32;
                        for (k, f) in factors.iter().enumerate() {
                            shared += self.loadings[[k, j]] * f;
                        }
                        noise += a_sh * shared;
                    }
                    if a_sm > 0.0 {
                        noise += a_sm * smooth[j];
                    }
                    row[j] = self.baseline[j] + offset[j] + drift[j] * tpos + gain * snr[j] * s[j] + noise;
                }
            });
        out
    }

    /// Raw (unstandardised) term of every channel group `[N, V]` for a batch (semantic: w·z_img; pooled
    /// groups: (W·features)^css).
    fn group_terms(&self, feats: &[ImageFeatures], stimuli: &[Stimulus]) -> [Array2<f32>; 4] {
        let n = feats.len();
        let stack = |len: usize, pick: &dyn Fn(&ImageFeatures) -> &Vec<f32>| {
            let mut x = Array2::<f32>::zeros((n, len));
            for (i, f) in feats.iter().enumerate() {
                x.row_mut(i).assign(&ndarray::ArrayView1::from(pick(f).as_slice()));
            }
            x
        };
        let css: Vec<f32> = self.voxels.iter().map(|v| v.css_exponent as f32).collect();
        let pooled = |x: Array2<f32>, w: &Array2<f32>| {
            let mut p = x.dot(w);
            for mut row in p.rows_mut() {
                for (val, &e) in row.iter_mut().zip(&css) {
                    *val = val.max(0.0).powf(e);
                }
            }
            p
        };
        let gabor = pooled(stack(self.spec.gabor_len(), &|f| &f.gabor), &self.w_gabor);
        let texture = pooled(stack(self.spec.texture_len(), &|f| &f.texture), &self.w_texture);
        let shape = pooled(stack(self.spec.shape_len(), &|f| &f.shape), &self.w_shape);
        let mut z = Array2::<f32>::zeros((n, self.cfg.semantic_dim));
        for (i, s) in stimuli.iter().enumerate() {
            z.row_mut(i).assign(&Array1::from(self.image_embedding(s.class, s.key)));
        }
        let semantic = z.dot(&self.w_semantic);
        [gabor, texture, shape, semantic]
    }

    /// s = Σ_g √share_g · term_g, for terms already standardised over the reference set.
    fn combine(&self, terms: &[Array2<f32>; 4]) -> Array2<f32> {
        let (n, v) = terms[0].dim();
        let mut s = Array2::<f32>::zeros((n, v));
        for (g, term) in terms.iter().enumerate() {
            let w = self.mix.row(g);
            for (mut srow, trow) in s.rows_mut().into_iter().zip(term.rows()) {
                for j in 0..v {
                    srow[j] += w[j] * trow[j];
                }
            }
        }
        s
    }

    fn build_weights(&mut self, scales: &MapScales, prefs: CategoryPreferences) {
        let cfg = &self.cfg;
        let g = self.spec.grid;
        let cells = g * g;
        let nb = self.spec.bands.len();
        let fov = cfg.field_of_view_deg;
        let n_tex = nb * TEXTURE_MAPS_PER_BAND + COLOUR_MAPS;
        let no = self.spec.orientations;
        let unit = |v: Vec<f32>| {
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            v.into_iter().map(|x| x / n).collect::<Vec<f32>>()
        };
        let face = unit(self.z_super.row(prefs.face).to_vec());
        let scene = unit(self.z_super.row(prefs.scene).to_vec());
        let building = unit(self.z_super.row(prefs.building).to_vec());
        let d = cfg.semantic_dim;
        for (j, vx) in self.voxels.iter().enumerate() {
            let mut rng = CounterRng::new(mix_key(self.seed, &[tag::WEIGHTS, j as u64]));
            let prf = prf_cells(vx.x_deg, vx.y_deg, vx.sigma_deg, fov, g);
            // Gabor: pRF × log-Gaussian SF tuning × radial orientation bias, on the folded (sum, cos, sin) maps.
            let tuning: Vec<f64> = self
                .spec
                .bands
                .iter()
                .map(|b| (-(b.cpd / vx.sf_pref_cpd).log2().powi(2) / (2.0 * cfg.sf_bandwidth_octaves.powi(2))).exp())
                .collect();
            let tsum: f64 = tuning.iter().sum::<f64>().max(1e-12);
            let (c2, s2) = ((2.0 * vx.polar_rad).cos(), (2.0 * vx.polar_rad).sin());
            // Stripes parallel to the radial direction have carriers at φ − 90°, so weight 1 − a·cos 2(θ − φ).
            let orient = [1.0, -cfg.radial_bias * c2, -cfg.radial_bias * s2];
            for (b, t) in tuning.iter().enumerate() {
                for (m, o) in orient.iter().enumerate() {
                    let base = (b * GABOR_MAPS_PER_BAND + m) * cells;
                    let k = (t / tsum * o / scales.gabor[b]) as f32;
                    for (c, &p) in prf.iter().enumerate() {
                        self.w_gabor[[base + c, j]] = k * p as f32;
                    }
                }
            }
            // Texture / colour: random non-negative map weights over the pRF.
            let mw: Vec<f64> = (0..n_tex).map(|_| -(1.0 - rng.uniform()).ln()).collect();
            let mws: f64 = mw.iter().sum();
            for (m, w) in mw.iter().enumerate() {
                let k = (w / mws / scales.texture[m]) as f32;
                for (c, &p) in prf.iter().enumerate() {
                    self.w_texture[[m * cells + c, j]] = k * p as f32;
                }
            }
            // Shape: random non-negative edge-orientation preferences over a position-tolerant (large) pRF.
            let mw: Vec<f64> = (0..no).map(|_| -(1.0 - rng.uniform()).ln()).collect();
            let mws: f64 = mw.iter().sum();
            for (m, w) in mw.iter().enumerate() {
                let k = (w / mws / scales.shape[m]) as f32;
                for (c, &p) in prf.iter().enumerate() {
                    self.w_shape[[m * cells + c, j]] = k * p as f32;
                }
            }
            // Semantic: a random unit direction plus the area's category preference.
            let random = unit((0..d).map(|_| rng.normal() as f32).collect());
            let pref: Vec<f32> = match vx.area {
                Area::Ffa => face.iter().map(|x| x * cfg.face_preference as f32).collect(),
                Area::Ppa => scene
                    .iter()
                    .zip(&building)
                    .map(|(s, b)| s * cfg.scene_preference as f32 + b * cfg.building_preference as f32)
                    .collect(),
                _ => vec![0.0; d],
            };
            for k in 0..d {
                self.w_semantic[[k, j]] = random[k] + pref[k];
            }
        }
    }
}

/// Per-map normalisers (mean over the reference set, floored so empty maps stay finite).
struct MapScales {
    gabor: Vec<f64>,
    texture: Vec<f64>,
    shape: Vec<f64>,
}

impl MapScales {
    fn from_reference(spec: &FeatureSpec, feats: &[ImageFeatures]) -> Self {
        let cells = spec.grid * spec.grid;
        let mean_of = |pick: &dyn Fn(&ImageFeatures) -> &[f32], map: usize| -> f64 {
            let total: f64 = feats
                .iter()
                .map(|f| {
                    pick(f)[map * cells..(map + 1) * cells]
                        .iter()
                        .map(|&x| x as f64)
                        .sum::<f64>()
                })
                .sum();
            (total / (feats.len() * cells) as f64).max(1e-6)
        };
        let nb = spec.bands.len();
        // A map that is almost empty in the reference set (e.g. colour in a grey test set) must not get a huge
        // weight that blows up other images' responses: floor each scale at 1 % of its group's median.
        let floored = |v: Vec<f64>| {
            let mut sorted = v.clone();
            sorted.sort_by(f64::total_cmp);
            let floor = 0.01 * sorted[sorted.len() / 2];
            v.into_iter().map(|x| x.max(floor)).collect::<Vec<f64>>()
        };
        MapScales {
            gabor: floored(
                (0..nb)
                    .map(|b| mean_of(&|f| &f.gabor, b * GABOR_MAPS_PER_BAND))
                    .collect(),
            ),
            texture: floored(
                (0..nb * TEXTURE_MAPS_PER_BAND + COLOUR_MAPS)
                    .map(|m| mean_of(&|f| &f.texture, m))
                    .collect(),
            ),
            shape: floored((0..spec.orientations).map(|m| mean_of(&|f| &f.shape, m)).collect()),
        }
    }
}

/// Gaussian pRF integrated over each grid cell of the field (so pRFs smaller than a cell stay well defined),
/// normalised to sum 1 over the field.
fn prf_cells(x: f64, y: f64, sigma: f64, fov: f64, g: usize) -> Vec<f64> {
    let axis = |centre: f64| -> Vec<f64> {
        (0..g)
            .map(|c| {
                let lo = -fov / 2.0 + c as f64 * fov / g as f64;
                let hi = lo + fov / g as f64;
                let k = 1.0 / (sigma * std::f64::consts::SQRT_2);
                0.5 * (erf((hi - centre) * k) - erf((lo - centre) * k))
            })
            .collect()
    };
    let (ax, ay) = (axis(x), axis(y));
    let mut out = Vec::with_capacity(g * g);
    for wy in &ay {
        for wx in &ax {
            out.push(wy * wx);
        }
    }
    let total: f64 = out.iter().sum();
    if total > 1e-12 {
        out.iter_mut().for_each(|v| *v /= total);
    }
    out
}

/// Error function (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7).
fn erf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly =
        t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let y = 1.0 - poly * (-x * x).exp();
    if x >= 0.0 {
        y
    } else {
        -y
    }
}

/// Per-column mean and population SD (SD floored at 1e-12 so constant columns standardise to 0).
fn column_mean_sd(a: ArrayView2<f32>) -> (Array1<f32>, Array1<f32>) {
    let n = a.nrows().max(1) as f64;
    let mut mean = Array1::<f32>::zeros(a.ncols());
    let mut sd = Array1::<f32>::ones(a.ncols());
    for (j, col) in a.columns().into_iter().enumerate() {
        let m = col.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = col.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / n;
        mean[j] = m as f32;
        sd[j] = if var > 1e-24 { var.sqrt() as f32 } else { f32::INFINITY };
    }
    (mean, sd)
}

fn standardise_columns(a: &mut Array2<f32>, mean: ndarray::ArrayView1<f32>, sd: ndarray::ArrayView1<f32>) {
    for mut row in a.rows_mut() {
        for j in 0..row.len() {
            row[j] = (row[j] - mean[j]) / sd[j];
        }
    }
}

/// Places every area's voxels on a patch of the 3-D grid (areas side by side along x, two voxels thick) with
/// a log-polar retinotopic map: the position along y sets eccentricity through cortical magnification
/// M(e) ∝ 1/(e + e₂), the position along x sets polar angle.
fn layout_voxels(cfg: &CortexConfig, seed: u64) -> Vec<Voxel> {
    const THICKNESS: usize = 2;
    let mut voxels = Vec::new();
    let mut x0 = 0i32;
    let e2 = cfg.magnification_e2_deg;
    for area in Area::ALL {
        let ac = cfg.areas.get(area);
        if ac.voxels == 0 {
            continue;
        }
        let per_layer = ac.voxels.div_ceil(THICKNESS);
        let nu = ((per_layer as f64).sqrt().ceil() as usize).max(1); // eccentricity rows
        let nw = per_layer.div_ceil(nu); // polar-angle columns
        let [lo, hi] = ac.ecc_range_deg;
        let area_idx = area as u64;
        let mut share_rng = CounterRng::new(mix_key(seed, &[tag::SHARES, area_idx]));
        let mut snr_rng = CounterRng::new(mix_key(seed, &[tag::SNR, area_idx]));
        let mut geo_rng = CounterRng::new(mix_key(seed, &[tag::GEOMETRY, area_idx]));
        let mut placed = 0usize;
        'fill: for u in 0..nu {
            for w in 0..nw {
                for z in 0..THICKNESS {
                    if placed == ac.voxels {
                        break 'fill;
                    }
                    placed += 1;
                    let fu = (u as f64 + geo_rng.range(0.0, 1.0)) / nu as f64;
                    let fw = (w as f64 + geo_rng.range(0.0, 1.0)) / nw as f64;
                    let ecc = (lo + e2) * ((hi + e2) / (lo + e2)).powf(fu) - e2;
                    let polar = std::f64::consts::TAU * fw;
                    let snr = if share_rng.uniform() < cfg.nonvisual_fraction {
                        0.0
                    } else {
                        ac.snr_median * (cfg.snr_log_sd * snr_rng.normal()).exp()
                    };
                    voxels.push(Voxel {
                        area,
                        coord: [x0 + w as i32, u as i32, z as i32],
                        x_deg: ecc * polar.cos(),
                        y_deg: ecc * polar.sin(),
                        ecc_deg: ecc,
                        polar_rad: polar,
                        sigma_deg: ac.prf_a_deg + ac.prf_b * ecc,
                        sf_pref_cpd: ac.sf_pref_cpd / (1.0 + ecc / cfg.sf_pref_halving_ecc_deg),
                        css_exponent: ac.css_exponent,
                        shares: dirichlet(&ac.shares, cfg.share_concentration, &mut share_rng),
                        snr,
                    });
                }
            }
        }
        x0 += nw as i32 + 1;
    }
    voxels
}

/// Dirichlet draw around `mean` with concentration κ (components with mean 0 stay 0).
fn dirichlet(mean: &[f64; 4], kappa: f64, rng: &mut CounterRng) -> [f64; 4] {
    let total: f64 = mean.iter().sum();
    let mut out = [0f64; 4];
    for (o, &m) in out.iter_mut().zip(mean) {
        if m > 0.0 {
            *o = gamma(kappa * m / total, rng);
        }
    }
    let s: f64 = out.iter().sum();
    if s > 0.0 {
        out.iter_mut().for_each(|v| *v /= s);
    }
    out
}

/// Gamma(α, 1) by Marsaglia & Tsang (2000), with the U^{1/α} boost for α < 1.
fn gamma(alpha: f64, rng: &mut CounterRng) -> f64 {
    if alpha < 1.0 {
        let u = 1.0 - rng.uniform();
        return gamma(alpha + 1.0, rng) * u.powf(1.0 / alpha);
    }
    let d = alpha - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = rng.normal();
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = 1.0 - rng.uniform();
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// Spatially smooth unit-variance noise over the voxel grid: white noise on the bounding box, separable
/// Gaussian blur (zero padding), each voxel divided by its exact blurred-noise SD.
struct SmoothField {
    dims: [usize; 3],
    kernel: Vec<f32>,
    /// Flat grid index and 1/SD per voxel.
    index: Vec<usize>,
    inv_sd: Vec<f32>,
}

impl SmoothField {
    fn new(voxels: &[Voxel], fwhm: f64) -> Self {
        let mut dims = [1usize; 3];
        for v in voxels {
            for (d, &c) in dims.iter_mut().zip(&v.coord) {
                *d = (*d).max(c as usize + 1);
            }
        }
        let sigma = fwhm / (8.0 * 2f64.ln()).sqrt();
        let kernel: Vec<f32> = if sigma > 0.0 {
            let r = (3.0 * sigma).ceil() as i64;
            (-r..=r)
                .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp() as f32)
                .collect()
        } else {
            vec![1.0]
        };
        let r = (kernel.len() / 2) as i64;
        // Variance of blurred unit white noise at position p along one axis: Σ over in-bounds taps of k².
        let axis_var = |p: i64, n: usize| -> f64 {
            (-r..=r)
                .filter(|d| (0..n as i64).contains(&(p + d)))
                .map(|d| (kernel[(d + r) as usize] as f64).powi(2))
                .sum::<f64>()
        };
        let index = voxels
            .iter()
            .map(|v| (v.coord[0] as usize * dims[1] + v.coord[1] as usize) * dims[2] + v.coord[2] as usize)
            .collect();
        let inv_sd = voxels
            .iter()
            .map(|v| {
                let var: f64 = (0..3).map(|a| axis_var(v.coord[a] as i64, dims[a])).product();
                (1.0 / var.sqrt()) as f32
            })
            .collect();
        Self {
            dims,
            kernel,
            index,
            inv_sd,
        }
    }

    fn sample(&self, rng: &mut CounterRng) -> Vec<f32> {
        let [nx, ny, nz] = self.dims;
        let mut a: Vec<f32> = (0..nx * ny * nz).map(|_| rng.normal() as f32).collect();
        let r = (self.kernel.len() / 2) as i64;
        let strides = [ny * nz, nz, 1];
        for (&dim, &st) in self.dims.iter().zip(&strides) {
            let n = dim as i64;
            let mut b = vec![0f32; a.len()];
            for (i, out) in b.iter_mut().enumerate() {
                let p = ((i / st) % n as usize) as i64;
                let mut acc = 0f32;
                for d in -r..=r {
                    let q = p + d;
                    if q >= 0 && q < n {
                        acc += self.kernel[(d + r) as usize] * a[(i as i64 + d * st as i64) as usize];
                    }
                }
                *out = acc;
            }
            a = b;
        }
        self.index.iter().zip(&self.inv_sd).map(|(&i, &s)| a[i] * s).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::WorldConfig;

    #[test]
    fn erf_matches_reference_values() {
        // Reference values from tables (scipy.special.erf).
        for (x, want) in [
            (0.0, 0.0),
            (0.5, 0.520_499_877_8),
            (1.0, 0.842_700_792_9),
            (-2.0, -0.995_322_265_0),
        ] {
            assert!((erf(x) - want).abs() < 2e-7, "erf({x}) = {} vs {want}", erf(x));
        }
    }

    #[test]
    fn prf_cells_sum_to_one_and_centre_on_the_prf() {
        let (g, fov) = (20, 12.0);
        let w = prf_cells(2.0, -1.5, 0.8, fov, g);
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let cell = fov / g as f64;
        let (mut cx, mut cy) = (0.0, 0.0);
        for (i, &v) in w.iter().enumerate() {
            cx += v * (-fov / 2.0 + ((i % g) as f64 + 0.5) * cell);
            cy += v * (-fov / 2.0 + ((i / g) as f64 + 0.5) * cell);
        }
        assert!(
            (cx - 2.0).abs() < 0.02 && (cy + 1.5).abs() < 0.02,
            "centroid ({cx}, {cy})"
        );
    }

    #[test]
    fn gamma_and_dirichlet_have_the_right_means() {
        let mut rng = CounterRng::new(5);
        for alpha in [0.4, 1.0, 3.5] {
            let n = 40_000;
            let draws: Vec<f64> = (0..n).map(|_| gamma(alpha, &mut rng)).collect();
            let m = draws.iter().sum::<f64>() / n as f64;
            let var = draws.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n as f64;
            assert!((m - alpha).abs() < 0.03 * alpha.max(1.0), "Gamma({alpha}) mean {m}");
            assert!((var - alpha).abs() < 0.08 * alpha.max(1.0), "Gamma({alpha}) var {var}");
        }
        let mean = [0.6, 0.2, 0.15, 0.05];
        let mut acc = [0.0; 4];
        for _ in 0..5000 {
            let d = dirichlet(&mean, 20.0, &mut rng);
            assert!((d.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            acc.iter_mut().zip(d).for_each(|(a, v)| *a += v / 5000.0);
        }
        for (a, m) in acc.iter().zip(mean) {
            assert!((a - m).abs() < 0.01, "{acc:?}");
        }
        assert_eq!(dirichlet(&[0.85, 0.1, 0.05, 0.0], 20.0, &mut rng)[3], 0.0);
    }

    /// The blurred white noise of a voxel has unit variance and, along one axis, correlation
    /// Σ k(i)k(i+1) / Σ k(i)² with its neighbour (the sampled kernel's autocorrelation; ≈ exp(−1/(4σ²)) for
    /// wide kernels).
    #[test]
    fn smooth_noise_has_unit_variance_and_gaussian_autocorrelation() {
        let fwhm = 1.5;
        let sigma = fwhm / (8.0 * 2f64.ln()).sqrt();
        let voxels: Vec<Voxel> = (0..30)
            .map(|x| Voxel {
                area: Area::V1,
                coord: [x, 3, 3],
                x_deg: 0.0,
                y_deg: 0.0,
                ecc_deg: 0.0,
                polar_rad: 0.0,
                sigma_deg: 1.0,
                sf_pref_cpd: 1.0,
                css_exponent: 0.5,
                shares: [1.0, 0.0, 0.0, 0.0],
                snr: 0.0,
            })
            .chain(std::iter::once(Voxel {
                coord: [5, 6, 6],
                ..Voxel::default_for_test()
            }))
            .collect();
        let field = SmoothField::new(&voxels, fwhm);
        let mut rng = CounterRng::new(11);
        let n = 4000;
        let (mut var, mut cov, mut edge_var) = (0.0, 0.0, 0.0);
        for _ in 0..n {
            let s = field.sample(&mut rng);
            var += (s[10] * s[10]) as f64;
            cov += (s[10] * s[11]) as f64;
            edge_var += (s[30] * s[30]) as f64; // a corner voxel (zero padding) is rescaled to unit variance too
        }
        let (var, corr, edge_var) = (var / n as f64, cov / var, edge_var / n as f64);
        let k: Vec<f64> = (-4i64..=4)
            .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp())
            .collect();
        let want = k.windows(2).map(|w| w[0] * w[1]).sum::<f64>() / k.iter().map(|x| x * x).sum::<f64>();
        assert!((var - 1.0).abs() < 0.07, "variance {var}");
        assert!((edge_var - 1.0).abs() < 0.07, "edge variance {edge_var}");
        assert!((corr - want).abs() < 0.05, "neighbour correlation {corr} vs {want}");
    }

    impl Voxel {
        fn default_for_test() -> Voxel {
            Voxel {
                area: Area::V1,
                coord: [0, 0, 0],
                x_deg: 0.0,
                y_deg: 0.0,
                ecc_deg: 0.0,
                polar_rad: 0.0,
                sigma_deg: 1.0,
                sf_pref_cpd: 1.0,
                css_exponent: 0.5,
                shares: [1.0, 0.0, 0.0, 0.0],
                snr: 0.0,
            }
        }
    }

    fn noise_images(n: usize, size: usize, seed: u64) -> Images {
        (0..n)
            .map(|i| {
                let mut r = CounterRng::new(mix_key(seed, &[i as u64]));
                // Blocky random images with a square "object" so every channel group varies.
                let block = 4;
                let cells: Vec<[f32; 3]> = (0..(size / block).pow(2))
                    .map(|_| [r.uniform() as f32, r.uniform() as f32, r.uniform() as f32])
                    .collect();
                let mut rgb = vec![0f32; size * size * 3];
                let mut mask = vec![0f32; size * size];
                let (x0, y0, w) = (
                    r.below(size as u64 / 2) as usize,
                    r.below(size as u64 / 2) as usize,
                    size / 3,
                );
                for y in 0..size {
                    for x in 0..size {
                        let c = cells[(y / block) * (size / block) + x / block];
                        rgb[(y * size + x) * 3..(y * size + x) * 3 + 3].copy_from_slice(&c);
                        if (x0..x0 + w).contains(&x) && (y0..y0 + w).contains(&y) {
                            mask[y * size + x] = 1.0;
                        }
                    }
                }
                (rgb, mask)
            })
            .collect()
    }

    /// Images as (rgb, mask) buffers.
    type Images = Vec<(Vec<f32>, Vec<f32>)>;

    fn tiny_cortex(cfg: &CortexConfig) -> (Cortex, Images) {
        let imgs = noise_images(120, 32, 1);
        let class_super: Vec<usize> = (0..20).map(|c| c % 10).collect();
        let stim: Vec<Stimulus> = imgs
            .iter()
            .enumerate()
            .map(|(i, (rgb, mask))| Stimulus {
                rgb,
                mask,
                class: i % 20,
                key: i as u64,
            })
            .collect();
        let prefs = CategoryPreferences {
            face: 0,
            scene: 3,
            building: 7,
        };
        (Cortex::build(cfg, 7, 32, &class_super, prefs, &stim).unwrap(), imgs)
    }

    #[test]
    fn layout_rois_and_reference_standardisation() {
        let cfg = WorldConfig::preset("tiny").unwrap().cortex;
        let (cortex, imgs) = tiny_cortex(&cfg);
        assert_eq!(cortex.n_voxels(), 160);
        let rois = cortex.roi_masks();
        let count = |n: &str| rois[n].iter().filter(|&&b| b).count();
        assert_eq!(
            (count("V1"), count("LVC"), count("HVC"), count("VC")),
            (40, 95, 45, 160)
        );
        // Coordinates are unique grid positions.
        let mut coords: Vec<[i32; 3]> = cortex.voxels().iter().map(|v| v.coord).collect();
        coords.sort_unstable();
        coords.dedup();
        assert_eq!(coords.len(), 160);
        for v in cortex.voxels() {
            let a = cfg.areas.get(v.area);
            assert!(v.ecc_deg >= a.ecc_range_deg[0] - 1e-9 && v.ecc_deg <= a.ecc_range_deg[1] + 1e-9);
            assert!((v.sigma_deg - (a.prf_a_deg + a.prf_b * v.ecc_deg)).abs() < 1e-9);
        }
        // Cortical magnification: more V1 voxels in the central third of the eccentricity range.
        let v1: Vec<f64> = cortex
            .voxels()
            .iter()
            .filter(|v| v.area == Area::V1)
            .map(|v| v.ecc_deg)
            .collect();
        assert!(v1.iter().filter(|&&e| e < 2.0).count() > v1.len() / 2, "{v1:?}");
        // Over the reference set itself s̃ has mean 0 and SD 1 per voxel.
        let stim: Vec<Stimulus> = imgs
            .iter()
            .enumerate()
            .map(|(i, (rgb, mask))| Stimulus {
                rgb,
                mask,
                class: i % 20,
                key: i as u64,
            })
            .collect();
        let s = cortex.noiseless(&stim);
        let (m, sd) = column_mean_sd(s.view());
        assert!(
            m.iter().all(|x| x.abs() < 1e-4) && sd.iter().all(|x| (x - 1.0).abs() < 1e-3),
            "{m} {sd}"
        );
        // Deterministic.
        assert_eq!(s, cortex.noiseless(&stim));
    }

    #[test]
    fn simulated_noise_has_unit_variance_and_the_configured_shared_fraction() {
        let mut cfg = WorldConfig::preset("tiny").unwrap().cortex;
        cfg.run_offset_sd = 0.0;
        cfg.drift_sd = 0.0;
        let (cortex, _) = tiny_cortex(&cfg);
        let v = cortex.n_voxels();
        let zero = Array2::<f32>::zeros((1, v));
        let n = 3000;
        let trials: Vec<Trial> = (0..n)
            .map(|_| Trial {
                image: 0,
                run: 1,
                position: 0.5,
            })
            .collect();
        let y = cortex.simulate(zero.view(), &trials, 9);
        let mut resid = y.clone();
        for mut row in resid.rows_mut() {
            row -= &cortex.baseline;
        }
        let per_voxel_var: Vec<f32> = resid
            .columns()
            .into_iter()
            .map(|c| c.iter().map(|x| x * x).sum::<f32>() / n as f32)
            .collect();
        let mean_var = per_voxel_var.iter().sum::<f32>() / v as f32;
        assert!((mean_var - 1.0).abs() < 0.03, "mean noise variance {mean_var}");
        // Shared part: projecting the noise on the known loadings recovers noise_shared of the variance
        // (the loadings are not orthogonal, so compare the covariance along them with the model's).
        let mut shared_cov = 0.0f64;
        let mut model = 0.0f64;
        for a in 0..v {
            for b in (a + 1)..v.min(a + 20) {
                let c: f64 = resid
                    .column(a)
                    .iter()
                    .zip(resid.column(b))
                    .map(|(x, y)| (*x as f64) * (*y as f64))
                    .sum::<f64>()
                    / n as f64;
                let l: f64 = (0..cfg.shared_factors)
                    .map(|k| (cortex.loadings[[k, a]] * cortex.loadings[[k, b]]) as f64)
                    .sum();
                shared_cov += c * l;
                model += cfg.noise_shared * l * l;
            }
        }
        let ratio = shared_cov / model;
        assert!(
            (ratio - 1.0).abs() < 0.35,
            "shared covariance along the loadings / model = {ratio}"
        );
    }
}
