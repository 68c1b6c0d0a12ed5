//! Image features the simulated cortex reads out (`docs/synthetic-world.md` §4.3), computed once per image and
//! pooled onto a coarse `grid × grid` map of the visual field so that every voxel's pRF is a linear readout:
//! * Gabor-wavelet-pyramid energy (Kay et al. 2008): quadrature pairs at each spatial frequency that fits below
//!   Nyquist, `orientations` directions, phase-invariant energy, log(1 + gain·E). Orientations are folded into
//!   three maps per band (sum, cos 2θ- and sin 2θ-weighted sums) because a voxel's orientation tuning is a weak
//!   second-harmonic bias (radial bias), which is exactly a linear combination of those three.
//! * Texture / colour (V4): per band the local orientation contrast and the "energy of energy" (squared
//!   deviation of the energy map from its local mean), plus rectified L−M and S−(L+M) opponent signals.
//! * Shape (LOC): histogram of edge orientations inside the object mask (Sobel gradients weighted by the mask).
//!
//! Each band is filtered on the pyramid level where its period is 2.25–4.5 px, with a separable complex Gabor
//! (an isotropic Gaussian envelope times a plane wave factorises into x and y parts), which keeps a 112 px image
//! at a few milliseconds.
use anyhow::{bail, Result};

/// Energy gain inside log(1 + gain·E): a grating of amplitude ≈ 0.1 (contrast 20 %) sits at the knee.
const ENERGY_GAIN: f32 = 100.0;
/// Gaussian envelope SD in units of the carrier period (≈ 1-octave spatial-frequency bandwidth).
const SIGMA_PER_PERIOD: f64 = 0.56;
/// Smallest period (px) a band is filtered at; bands whose full-resolution period is below it are dropped.
const MIN_PERIOD_PX: f64 = 2.25;
/// Texture maps per band (orientation contrast, energy of energy) and colour-opponent maps.
pub const TEXTURE_MAPS_PER_BAND: usize = 2;
/// Colour-opponent maps (rectified ± channels of two opponent axes), once per image, not per band.
pub const COLOUR_MAPS: usize = 4;
/// Gabor maps per band (orientation sum, cos 2θ, sin 2θ).
pub const GABOR_MAPS_PER_BAND: usize = 3;

/// A complex 1-D filter as (re, im) taps.
type ComplexKernel = Vec<(f32, f32)>;

/// One spatial-frequency band of the pyramid.
#[derive(Clone, Debug)]
pub struct Band {
    /// Centre frequency in cycles per degree.
    pub cpd: f64,
    /// Pyramid level it is filtered on (0 = full resolution, each level halves the side).
    level: usize,
    /// Per orientation: the complex 1-D kernels along x and along y (re, im).
    kernels: Vec<(ComplexKernel, ComplexKernel)>,
}

/// Fixed description of the feature computation for one image size.
#[derive(Clone, Debug)]
pub struct FeatureSpec {
    /// Image side in pixels.
    pub image_size: usize,
    /// Pooling grid side: every map is pooled to `grid`×`grid` cells.
    pub grid: usize,
    /// Number of Gabor orientations (evenly spaced over π).
    pub orientations: usize,
    /// Spatial-frequency bands below Nyquist, in the order of `sf_cpd`.
    pub bands: Vec<Band>,
    /// Orientation angle θ_o (radians, direction of the carrier wave vector in pixel axes, y down).
    pub thetas: Vec<f64>,
}

/// One image's pooled features; each block is `[map][grid y][grid x]`, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageFeatures {
    /// Gabor energy maps, [`GABOR_MAPS_PER_BAND`] per band ([`FeatureSpec::gabor_len`] values).
    pub gabor: Vec<f32>,
    /// Texture maps per band, then the colour maps ([`FeatureSpec::texture_len`] values).
    pub texture: Vec<f32>,
    /// Edge-orientation histogram of the object, one map per orientation ([`FeatureSpec::shape_len`] values).
    pub shape: Vec<f32>,
}

impl FeatureSpec {
    /// `sf_cpd` are the wanted band centres; those above Nyquist for `image_size` over `fov_deg` are dropped.
    pub fn new(image_size: usize, fov_deg: f64, sf_cpd: &[f64], orientations: usize, grid: usize) -> Result<Self> {
        if image_size < 8 {
            bail!("image size {image_size} px is too small for the cortex model; use at least 8");
        }
        if orientations < 2 {
            bail!("cortex.orientations = {orientations}: need at least 2 orientations");
        }
        if grid < 2 {
            bail!("cortex.pool_grid = {grid}: need at least 2 cells per side");
        }
        let thetas: Vec<f64> = (0..orientations)
            .map(|o| o as f64 * std::f64::consts::PI / orientations as f64)
            .collect();
        let mut bands = Vec::new();
        for &cpd in sf_cpd {
            if !(cpd > 0.0 && cpd.is_finite()) {
                bail!("cortex.sf_cpd contains {cpd}; spatial frequencies must be positive cycles/degree");
            }
            let cycles = cpd * fov_deg;
            if image_size as f64 / cycles < MIN_PERIOD_PX {
                continue; // above (or too close to) Nyquist at this image size
            }
            let mut level = 0;
            while (image_size >> (level + 1)) >= 4 && (image_size >> (level + 1)) as f64 / cycles >= MIN_PERIOD_PX {
                level += 1;
            }
            let period = (image_size >> level) as f64 / cycles;
            let kernels = thetas.iter().map(|&th| gabor_kernels(period, th)).collect();
            bands.push(Band { cpd, level, kernels });
        }
        if bands.is_empty() {
            bail!("no spatial-frequency band in cortex.sf_cpd = {sf_cpd:?} fits below Nyquist at {image_size} px over {fov_deg}°; add a lower frequency");
        }
        Ok(Self {
            image_size,
            grid,
            orientations,
            bands,
            thetas,
        })
    }

    /// Length of [`ImageFeatures::gabor`]: bands × 3 maps × grid².
    pub fn gabor_len(&self) -> usize {
        self.bands.len() * GABOR_MAPS_PER_BAND * self.grid * self.grid
    }
    /// Length of [`ImageFeatures::texture`]: (bands × 2 + 4 colour maps) × grid².
    pub fn texture_len(&self) -> usize {
        (self.bands.len() * TEXTURE_MAPS_PER_BAND + COLOUR_MAPS) * self.grid * self.grid
    }
    /// Length of [`ImageFeatures::shape`]: orientations × grid².
    pub fn shape_len(&self) -> usize {
        self.orientations * self.grid * self.grid
    }

    /// Features of one image: `rgb` is HWC in [0, 1], `mask` the object mask (H×W, 0..1).
    pub fn compute(&self, rgb: &[f32], mask: &[f32]) -> ImageFeatures {
        let s = self.image_size;
        assert_eq!(
            rgb.len(),
            s * s * 3,
            "image buffer does not match the feature spec's size"
        );
        assert_eq!(mask.len(), s * s, "mask buffer does not match the feature spec's size");
        let g = self.grid;
        let mut lum: Vec<f32> = rgb
            .chunks_exact(3)
            .map(|p| 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2])
            .collect();
        // The separable complex Gabor keeps a residual DC gain of exp(−(2π·0.56)²/2) ≈ 0.2 %; removing the image
        // mean makes uniform images give exactly zero energy.
        let mean = lum.iter().sum::<f32>() / lum.len() as f32;
        lum.iter_mut().for_each(|v| *v -= mean);
        let mut pyramid = vec![Plane { n: s, v: lum }];
        let max_level = self.bands.iter().map(|b| b.level).max().unwrap_or(0);
        for _ in 0..max_level {
            let next = pyramid.last().map(halve).unwrap_or_else(|| unreachable!());
            pyramid.push(next);
        }

        let mut gabor = Vec::with_capacity(self.gabor_len());
        let mut texture = Vec::with_capacity(self.texture_len());
        for band in &self.bands {
            let plane = &pyramid[band.level];
            let n = plane.n;
            let (mut sum, mut cos2, mut sin2) = (vec![0f32; n * n], vec![0f32; n * n], vec![0f32; n * n]);
            for (o, (kx, ky)) in band.kernels.iter().enumerate() {
                let energy = complex_energy(plane, kx, ky);
                let (c, sn) = ((2.0 * self.thetas[o]).cos() as f32, (2.0 * self.thetas[o]).sin() as f32);
                for i in 0..n * n {
                    let e = (1.0 + ENERGY_GAIN * energy[i]).ln();
                    sum[i] += e;
                    cos2[i] += c * e;
                    sin2[i] += sn * e;
                }
            }
            let pool = Pooler::new(n, g);
            for map in [&sum, &cos2, &sin2] {
                gabor.extend(pool.pool(map));
            }
            // Orientation contrast: how strongly one orientation dominates locally.
            let contrast: Vec<f32> = (0..n * n)
                .map(|i| (cos2[i] * cos2[i] + sin2[i] * sin2[i]).sqrt())
                .collect();
            texture.extend(pool.pool(&contrast));
            // Energy of energy: second-order modulation of the energy map around its 3×3 local mean.
            let local = box3(&Plane { n, v: sum.clone() });
            let eoe: Vec<f32> = sum.iter().zip(&local).map(|(a, b)| (a - b) * (a - b)).collect();
            texture.extend(pool.pool(&eoe));
        }
        let full = Pooler::new(s, g);
        // Colour opponents from an RGB→LMS transform (Reinhard et al. 2001), rectified into ± channels.
        let (mut lm_pos, mut lm_neg, mut s_pos, mut s_neg) = (
            vec![0f32; s * s],
            vec![0f32; s * s],
            vec![0f32; s * s],
            vec![0f32; s * s],
        );
        for (i, p) in rgb.chunks_exact(3).enumerate() {
            let l = 0.3811 * p[0] + 0.5783 * p[1] + 0.0402 * p[2];
            let m = 0.1967 * p[0] + 0.7244 * p[1] + 0.0782 * p[2];
            let sc = 0.0241 * p[0] + 0.1288 * p[1] + 0.8444 * p[2];
            let lm = l - m;
            let by = sc - 0.5 * (l + m);
            lm_pos[i] = lm.max(0.0);
            lm_neg[i] = (-lm).max(0.0);
            s_pos[i] = by.max(0.0);
            s_neg[i] = (-by).max(0.0);
        }
        for map in [&lm_pos, &lm_neg, &s_pos, &s_neg] {
            texture.extend(full.pool(map));
        }

        let shape = self.edge_histogram(&pyramid[0], mask, &full);
        ImageFeatures { gabor, texture, shape }
    }

    /// Sobel edge orientations (mod π) weighted by gradient magnitude × object mask, linearly split between the
    /// two nearest orientation bins, pooled per grid cell.
    fn edge_histogram(&self, lum: &Plane, mask: &[f32], pool: &Pooler) -> Vec<f32> {
        let n = lum.n;
        let nb = self.orientations;
        let mut bins = vec![vec![0f32; n * n]; nb];
        let q = pad1(lum);
        let w = n + 2;
        // Padded coordinates: image pixel (x, y) sits at (x+1, y+1).
        let at = |x: isize, y: isize| q[(y + 1) as usize * w + (x + 1) as usize];
        for y in 0..n as isize {
            for x in 0..n as isize {
                let m = mask[y as usize * n + x as usize];
                if m <= 0.0 {
                    continue;
                }
                let gx = (at(x + 1, y - 1) + 2.0 * at(x + 1, y) + at(x + 1, y + 1))
                    - (at(x - 1, y - 1) + 2.0 * at(x - 1, y) + at(x - 1, y + 1));
                let gy = (at(x - 1, y + 1) + 2.0 * at(x, y + 1) + at(x + 1, y + 1))
                    - (at(x - 1, y - 1) + 2.0 * at(x, y - 1) + at(x + 1, y - 1));
                let mag = (gx * gx + gy * gy).sqrt() * m;
                if mag <= 0.0 {
                    continue;
                }
                let angle = (gy as f64).atan2(gx as f64).rem_euclid(std::f64::consts::PI);
                let pos = angle / std::f64::consts::PI * nb as f64;
                let b0 = pos.floor() as usize % nb;
                let frac = (pos - pos.floor()) as f32;
                let i = y as usize * n + x as usize;
                bins[b0][i] += mag * (1.0 - frac);
                bins[(b0 + 1) % nb][i] += mag * frac;
            }
        }
        bins.iter().flat_map(|b| pool.pool(b)).collect()
    }
}

/// A square single-channel image.
struct Plane {
    n: usize,
    v: Vec<f32>,
}

/// 2×2 box average (drops a trailing odd row/column).
fn halve(p: &Plane) -> Plane {
    let m = p.n / 2;
    let mut v = vec![0f32; m * m];
    for y in 0..m {
        for x in 0..m {
            let i = 2 * y * p.n + 2 * x;
            v[y * m + x] = 0.25 * (p.v[i] + p.v[i + 1] + p.v[i + p.n] + p.v[i + p.n + 1]);
        }
    }
    Plane { n: m, v }
}

/// 3×3 local mean with mirrored borders.
fn box3(p: &Plane) -> Vec<f32> {
    let n = p.n;
    let q = pad1(p);
    let w = n + 2;
    let mut out = vec![0f32; n * n];
    for y in 0..n {
        for x in 0..n {
            let mut acc = 0f32;
            for dy in 0..3 {
                let row = &q[(y + dy) * w + x..(y + dy) * w + x + 3];
                acc += row[0] + row[1] + row[2];
            }
            out[y * n + x] = acc / 9.0;
        }
    }
    out
}

/// The plane with one mirrored pixel on every side (`(n+2)²`, row-major).
fn pad1(p: &Plane) -> Vec<f32> {
    let (n, w) = (p.n, p.n + 2);
    let mut q = vec![0f32; w * w];
    for y in 0..w {
        let sy = reflect(y as isize - 1, n);
        for x in 0..w {
            q[y * w + x] = p.v[sy * n + reflect(x as isize - 1, n)];
        }
    }
    q
}

/// Mirror index into 0..n (…, 2, 1, 0, 1, 2, …, n−1, n−2, …), valid for any offset.
#[inline]
fn reflect(i: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let m = i.rem_euclid(period);
    (if m < n as isize { m } else { period - m }) as usize
}

/// Complex separable Gabor for carrier period `period` px and direction `theta`: exp(−r²/2σ²)·exp(i k·r) =
/// [g(x) e^{i kx x}]·[g(y) e^{i ky y}], each factor normalised so the 2-D envelope sums to 1.
fn gabor_kernels(period: f64, theta: f64) -> (ComplexKernel, ComplexKernel) {
    let sigma = SIGMA_PER_PERIOD * period;
    let radius = (3.0 * sigma).ceil() as isize;
    let k = std::f64::consts::TAU / period;
    let (kx, ky) = (k * theta.cos(), k * theta.sin());
    let env: Vec<f64> = (-radius..=radius)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp())
        .collect();
    let norm: f64 = env.iter().sum();
    let make = |kk: f64| -> ComplexKernel {
        (-radius..=radius)
            .zip(&env)
            .map(|(i, &g)| {
                let ph = kk * i as f64;
                ((g / norm * ph.cos()) as f32, (g / norm * ph.sin()) as f32)
            })
            .collect()
    };
    (make(kx), make(ky))
}

/// |(image ⊛ kx) ⊛ ky|² with mirrored borders. Both passes run as row-wise multiply-adds over mirror-padded
/// rows so the inner loops are branch-free and vectorise.
fn complex_energy(p: &Plane, kx: &[(f32, f32)], ky: &[(f32, f32)]) -> Vec<f32> {
    let n = p.n;
    let r = kx.len() / 2;
    let (mut re, mut im) = (vec![0f32; (n + 2 * r) * n], vec![0f32; (n + 2 * r) * n]);
    let mut padded = vec![0f32; n + 2 * r];
    // Horizontal pass into rows r..r+n of a buffer with r mirrored rows above and below.
    for y in 0..n {
        let row = &p.v[y * n..(y + 1) * n];
        for (i, v) in padded.iter_mut().enumerate() {
            *v = row[reflect(i as isize - r as isize, n)];
        }
        let (ore, oim) = (
            &mut re[(y + r) * n..(y + r + 1) * n],
            &mut im[(y + r) * n..(y + r + 1) * n],
        );
        for (t, &(kr, ki)) in kx.iter().enumerate() {
            let src = &padded[t..t + n];
            for ((a, b), &v) in ore.iter_mut().zip(oim.iter_mut()).zip(src) {
                *a += kr * v;
                *b += ki * v;
            }
        }
    }
    // Mirror rows: padded row r−1−i is image row −1−i, padded row r+n+i is image row n+i.
    for i in 0..r {
        let (dst_top, src_top) = (r - 1 - i, r + reflect(-(i as isize) - 1, n));
        let (dst_bot, src_bot) = (r + n + i, r + reflect((n + i) as isize, n));
        for buf in [&mut re, &mut im] {
            buf.copy_within(src_top * n..(src_top + 1) * n, dst_top * n);
            buf.copy_within(src_bot * n..(src_bot + 1) * n, dst_bot * n);
        }
    }
    // Vertical pass: output row y accumulates padded rows y..y+2r.
    let mut energy = vec![0f32; n * n];
    let (mut a, mut b) = (vec![0f32; n], vec![0f32; n]);
    for y in 0..n {
        a.fill(0.0);
        b.fill(0.0);
        for (t, &(kr, ki)) in ky.iter().enumerate() {
            let (rr, ii) = (&re[(y + t) * n..(y + t + 1) * n], &im[(y + t) * n..(y + t + 1) * n]);
            for (((a, b), &x), &z) in a.iter_mut().zip(b.iter_mut()).zip(rr).zip(ii) {
                *a += kr * x - ki * z;
                *b += kr * z + ki * x;
            }
        }
        for ((e, &x), &z) in energy[y * n..(y + 1) * n].iter_mut().zip(&a).zip(&b) {
            *e = x * x + z * z;
        }
    }
    energy
}

/// Area-weighted resampling of an n×n map onto the g×g field grid: pixel i covers [i/n, (i+1)/n) of the field,
/// cell c covers [c/g, (c+1)/g); weights are overlaps, normalised per cell.
struct Pooler {
    n: usize,
    g: usize,
    /// Per pixel index along one axis: up to the cells it overlaps with their weights.
    taps: Vec<Vec<(usize, f32)>>,
}

impl Pooler {
    fn new(n: usize, g: usize) -> Self {
        let mut taps = vec![Vec::new(); n];
        let mut cell_total = vec![0f64; g];
        for (i, t) in taps.iter_mut().enumerate() {
            let (a, b) = (i as f64 / n as f64, (i + 1) as f64 / n as f64);
            for (c, total) in cell_total.iter_mut().enumerate() {
                let (lo, hi) = (c as f64 / g as f64, (c + 1) as f64 / g as f64);
                let overlap = (b.min(hi) - a.max(lo)).max(0.0);
                if overlap > 1e-12 {
                    t.push((c, overlap as f32));
                    *total += overlap;
                }
            }
        }
        for t in &mut taps {
            for (c, w) in t.iter_mut() {
                *w /= cell_total[*c] as f32;
            }
        }
        Self { n, g, taps }
    }

    fn pool(&self, map: &[f32]) -> Vec<f32> {
        let (n, g) = (self.n, self.g);
        let mut rows = vec![0f32; n * g];
        for y in 0..n {
            for x in 0..n {
                let v = map[y * n + x];
                for &(c, w) in &self.taps[x] {
                    rows[y * g + c] += w * v;
                }
            }
        }
        let mut out = vec![0f32; g * g];
        for y in 0..n {
            for &(cy, w) in &self.taps[y] {
                for cx in 0..g {
                    out[cy * g + cx] += w * rows[y * g + cx];
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grating(size: usize, cycles: f64, theta: f64, amp: f32) -> Vec<f32> {
        let mut rgb = vec![0f32; size * size * 3];
        for y in 0..size {
            for x in 0..size {
                let ph =
                    std::f64::consts::TAU * cycles * (x as f64 * theta.cos() + y as f64 * theta.sin()) / size as f64;
                let v = 0.5 + amp * ph.cos() as f32;
                rgb[(y * size + x) * 3..(y * size + x) * 3 + 3].fill(v);
            }
        }
        rgb
    }

    #[test]
    fn bands_above_nyquist_are_dropped() {
        let cpd = [0.5, 1.0, 2.0, 4.0];
        assert_eq!(FeatureSpec::new(112, 12.0, &cpd, 8, 20).unwrap().bands.len(), 4);
        assert_eq!(FeatureSpec::new(64, 12.0, &cpd, 8, 16).unwrap().bands.len(), 3);
        assert_eq!(FeatureSpec::new(32, 12.0, &cpd, 8, 16).unwrap().bands.len(), 2);
        assert!(FeatureSpec::new(32, 12.0, &[8.0], 8, 16).is_err());
    }

    #[test]
    fn reflect_mirrors_without_repeating_the_edge() {
        let got: Vec<usize> = (-3..8).map(|i| reflect(i, 4)).collect();
        assert_eq!(got, vec![3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1]);
    }

    /// Reference, computed independently of the filter code: correlating A·cos(k·r) with g(i)·e^{ik·i} gives
    /// (A/2)·[e^{−ik·r} + Ĝ(2k)·e^{ik·r}], so E = (A/2)²·(1 + 2Ĝ cos(2k·r) + Ĝ²), where Ĝ(2k) is the
    /// normalised envelope's (aliased) transform at twice the carrier — near Nyquist it is not negligible.
    #[test]
    fn gabor_energy_matches_analytic_grating_response_and_tunes_to_orientation() {
        let size = 64;
        let spec = FeatureSpec::new(size, 12.0, &[1.0], 8, 8).unwrap();
        let band = &spec.bands[0];
        let n = size >> band.level;
        let cycles = 12.0;
        let period = n as f64 / cycles;
        let sigma = SIGMA_PER_PERIOD * period;
        let radius = (3.0 * sigma).ceil() as i64;
        let g_hat = |w: f64| {
            let (mut num, mut den) = (0.0, 0.0);
            for i in -radius..=radius {
                let g = (-(i * i) as f64 / (2.0 * sigma * sigma)).exp();
                num += g * (w * i as f64).cos();
                den += g;
            }
            num / den
        };
        let amp = 0.2f64;
        for (o, &theta) in spec.thetas.iter().enumerate() {
            // The grating is built directly at the band's pyramid level so only the filter is under test.
            let lum: Vec<f32> = grating(n, cycles, theta, amp as f32)
                .chunks_exact(3)
                .map(|p| p[0] - 0.5)
                .collect();
            let plane = Plane { n, v: lum };
            let (kx, ky) = &band.kernels[o];
            let e = complex_energy(&plane, kx, ky);
            let c = n / 2;
            let k = std::f64::consts::TAU / period;
            let (wx, wy) = (k * theta.cos(), k * theta.sin());
            let gh = g_hat(2.0 * wx) * g_hat(2.0 * wy);
            let phase = 2.0 * (wx * c as f64 + wy * c as f64);
            let want = (amp / 2.0).powi(2) * (1.0 + 2.0 * gh * phase.cos() + gh * gh);
            let got = e[c * n + c] as f64;
            assert!(
                (got - want).abs() < 0.01 * want,
                "orientation {o}: energy {got} vs analytic {want}"
            );
            // Orthogonal orientation: response near zero.
            let (kx2, ky2) = &band.kernels[(o + 4) % 8];
            let off = complex_energy(&plane, kx2, ky2)[c * n + c] as f64;
            assert!(off < 0.02 * want, "orthogonal energy {off} vs preferred {want}");
        }
    }

    #[test]
    fn pooled_gabor_orientation_maps_track_the_grating() {
        let size = 64;
        let spec = FeatureSpec::new(size, 12.0, &[1.0], 8, 8).unwrap();
        let mask = vec![0f32; size * size];
        let g2 = 64;
        for &theta in &[0.0, std::f64::consts::FRAC_PI_4, std::f64::consts::FRAC_PI_2] {
            let f = spec.compute(&grating(size, 12.0, theta, 0.2), &mask);
            let mean = |m: usize| f.gabor[m * g2..(m + 1) * g2].iter().sum::<f32>() / g2 as f32;
            let (sum, c, s) = (mean(0), mean(1), mean(2));
            // The folded maps point at 2θ of the grating.
            let got = 0.5 * (s as f64).atan2(c as f64);
            let diff = (got - theta).rem_euclid(std::f64::consts::PI);
            assert!(diff.min(std::f64::consts::PI - diff) < 0.05, "θ {theta}: got {got}");
            assert!(sum > 0.5, "energy sum {sum}");
        }
        // A blank image has no energy, no texture, no shape.
        let blank = spec.compute(&vec![0.5; size * size * 3], &vec![1.0; size * size]);
        assert!(blank.gabor.iter().all(|v| v.abs() < 1e-6));
        assert!(blank.shape.iter().all(|v| v.abs() < 1e-6));
    }

    #[test]
    fn pooler_preserves_the_mean_and_locates_content() {
        for (n, g) in [(112, 20), (14, 20), (32, 16)] {
            let p = Pooler::new(n, g);
            let map: Vec<f32> = (0..n * n).map(|i| ((i * 7919) % 13) as f32).collect();
            let out = p.pool(&map);
            let (m_in, m_out) = (
                map.iter().sum::<f32>() / (n * n) as f32,
                out.iter().sum::<f32>() / (g * g) as f32,
            );
            assert!((m_in - m_out).abs() < 1e-3 * m_in, "{n}->{g}: {m_in} vs {m_out}");
        }
        // A bright top-left quadrant lands in the top-left cells only.
        let p = Pooler::new(32, 4);
        let map: Vec<f32> = (0..32 * 32)
            .map(|i| if i / 32 < 16 && i % 32 < 16 { 1.0 } else { 0.0 })
            .collect();
        let out = p.pool(&map);
        assert_eq!(
            out,
            vec![1., 1., 0., 0., 1., 1., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0.]
        );
    }

    #[test]
    fn edge_histogram_sees_only_masked_edges_at_their_orientation() {
        let size = 32;
        let spec = FeatureSpec::new(size, 12.0, &[1.0], 8, 4).unwrap();
        // A vertical step edge at x = 16: horizontal gradient → bin 0.
        let mut rgb = vec![0f32; size * size * 3];
        for y in 0..size {
            for x in 16..size {
                rgb[(y * size + x) * 3..(y * size + x) * 3 + 3].fill(1.0);
            }
        }
        let full = spec.compute(&rgb, &vec![1.0; size * size]);
        let per_bin: Vec<f32> = full.shape.chunks(16).map(|c| c.iter().sum()).collect();
        let best = per_bin
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|b| b.0);
        assert_eq!(best, Some(0), "{per_bin:?}");
        assert!(per_bin[4] < 1e-6, "orthogonal bin must be empty: {per_bin:?}");
        let unmasked = spec.compute(&rgb, &vec![0.0; size * size]);
        assert!(unmasked.shape.iter().all(|&v| v == 0.0));
    }
}
