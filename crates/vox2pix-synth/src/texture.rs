//! Texture fields: paint textures for figures (gratings, checks, dots, radial, noise), value noise, the
//! 1/f luminance field and the dead-leaves background (`synthetic-world.md` §3).
use std::f32::consts::{PI, TAU};
use vox2pix_formats::rng::{splitmix64, CounterRng};

/// A texture evaluated in a primitive's local coordinates (object radius ≈ 1); returns a mix weight in [0, 1]
/// between a paint's two colours.
#[derive(Clone, Copy, Debug)]
pub enum Texture {
    /// No texture: the paint's first colour everywhere (weight 0).
    Uniform,
    /// Sinusoidal grating: orientation (radians), cycles per local unit, phase (radians).
    Grating {
        /// Orientation in radians.
        ori: f32,
        /// Cycles per local unit.
        freq: f32,
        /// Phase in radians.
        phase: f32,
    },
    /// Square checks (smoothed to stay anti-aliased).
    Checks {
        /// Orientation in radians.
        ori: f32,
        /// Checks per local unit along each axis (two checks per cycle).
        freq: f32,
        /// Phase in radians.
        phase: f32,
    },
    /// Dots on a rotated lattice; `radius` is a fraction of the cell.
    Dots {
        /// Orientation of the lattice in radians.
        ori: f32,
        /// Lattice cells per local unit.
        freq: f32,
        /// Dot radius as a fraction of the cell.
        radius: f32,
        /// Shift of the lattice along its first axis, in radians of a cell (2π = one cell).
        phase: f32,
    },
    /// Angular spokes around the local origin (`freq` spokes).
    Radial {
        /// Number of spokes.
        freq: f32,
        /// Angular phase in radians.
        phase: f32,
    },
    /// Value noise with cells of 1 / `freq`.
    Noise {
        /// Noise cells per local unit.
        freq: f32,
        /// Seed of the noise lattice.
        key: u64,
    },
}

/// Families in the order the class parameter `TEXTURE_FAMILY` selects them.
pub const N_TEXTURE_FAMILIES: usize = 6;

impl Texture {
    /// Builds family `family` (0 = uniform … 5 = noise) from orientation, frequency and an instance phase.
    pub fn from_family(family: usize, ori: f32, freq: f32, phase: f32, key: u64) -> Texture {
        match family % N_TEXTURE_FAMILIES {
            0 => Texture::Uniform,
            1 => Texture::Grating { ori, freq, phase },
            2 => Texture::Checks {
                ori,
                freq: freq * 0.7,
                phase,
            },
            3 => Texture::Dots {
                ori,
                freq: freq * 0.8,
                radius: 0.3,
                phase,
            },
            4 => Texture::Radial {
                freq: (freq * 2.0).round().max(3.0),
                phase,
            },
            _ => Texture::Noise { freq: freq * 1.5, key },
        }
    }

    /// Mix weight at local (u, v); `px` is the size of one pixel in local units (for anti-aliasing). For many
    /// pixels, [`Texture::prepare`] once and evaluate the prepared texture.
    pub fn at(&self, u: f32, v: f32, px: f32) -> f32 {
        self.prepare().at(u, v, px)
    }

    /// Precomputes the orientation's cosine and sine (they would otherwise cost two transcendental calls per pixel).
    pub fn prepare(&self) -> PreparedTexture {
        let ori = match *self {
            Texture::Grating { ori, .. } | Texture::Checks { ori, .. } | Texture::Dots { ori, .. } => ori,
            _ => 0.0,
        };
        let (s, c) = ori.sin_cos();
        PreparedTexture {
            texture: *self,
            cos: c,
            sin: s,
        }
    }
}

/// A texture with its orientation's cosine and sine precomputed.
#[derive(Clone, Copy, Debug)]
pub struct PreparedTexture {
    texture: Texture,
    cos: f32,
    sin: f32,
}

impl PreparedTexture {
    #[inline]
    /// Mix weight in [0, 1] at local (u, v); `px` is the size of one pixel in local units (for anti-aliasing).
    pub fn at(&self, u: f32, v: f32, px: f32) -> f32 {
        let (c, s) = (self.cos, self.sin);
        match self.texture {
            Texture::Uniform => 0.0,
            Texture::Grating { freq, phase, .. } => {
                let a = TAU * freq * (u * c + v * s) + phase;
                0.5 + 0.5 * a.sin()
            }
            Texture::Checks { freq, phase, .. } => {
                let a = (PI * freq * (u * c + v * s) + phase).sin();
                let b = (PI * freq * (-u * s + v * c) + phase).sin();
                // Steep but finite slope: hard squares alias, pure sinusoids look like plaids.
                (0.5 + 2.5 * a * b).clamp(0.0, 1.0)
            }
            Texture::Dots {
                freq, radius, phase, ..
            } => {
                let x = (u * c + v * s) * freq + phase / TAU;
                let y = (-u * s + v * c) * freq;
                let (fx, fy) = (x - floor_i(x) as f32 - 0.5, y - floor_i(y) as f32 - 0.5);
                let d = (fx * fx + fy * fy).sqrt();
                ((radius - d) / (px * freq).max(1e-3) + 0.5).clamp(0.0, 1.0)
            }
            Texture::Radial { freq, phase } => 0.5 + 0.5 * (freq * v.atan2(u) + phase).cos(),
            Texture::Noise { freq, key } => value_noise(u * freq, v * freq, key),
        }
    }
}

#[inline]
fn lattice(key: u64, ix: i32, iy: i32) -> f32 {
    let h = splitmix64(key ^ ((ix as u32 as u64) << 32 | iy as u32 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    (h >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
}

#[inline]
fn smooth(t: f32) -> f32 {
    t * t * (3.0 - 2.0 * t)
}

/// Smoothly interpolated lattice noise in [0, 1], a pure function of (x, y, key).
pub fn value_noise(x: f32, y: f32, key: u64) -> f32 {
    let (ix, iy) = (floor_i(x), floor_i(y));
    let (tx, ty) = (smooth(x - ix as f32), smooth(y - iy as f32));
    let a = lattice(key, ix, iy);
    let b = lattice(key, ix + 1, iy);
    let c = lattice(key, ix, iy + 1);
    let d = lattice(key, ix + 1, iy + 1);
    let top = a + (b - a) * tx;
    let bottom = c + (d - c) * tx;
    top + (bottom - top) * ty
}

/// Standard deviation of the unnormalised octave sum (value noise has SD ≈ 0.2 after interpolation); measured
/// by `pink_noise_has_unit_sd`.
const PINK_RAW_SD: f32 = 0.223;

/// Zero-mean luminance field with amplitude ∝ 1/f (power ∝ 1/f²): octave-summed value noise whose octave
/// amplitude is proportional to its wavelength. Standard deviation ≈ `gain` (measured over many fields, any size).
pub fn pink_noise_field(size: usize, key: u64, gain: f32) -> Vec<f32> {
    let n = size * size;
    let mut out = vec![0f32; n];
    let mut cells = 2usize;
    let mut octave = 0u64;
    // Octaves from 2 cells per side down to 2-pixel cells; each lattice is precomputed so a pixel costs one
    // bilinear lookup per octave.
    while size as f32 / cells as f32 >= 2.0 {
        let side = cells + 2;
        let okey = splitmix64(key ^ octave.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let lat: Vec<f32> = (0..side * side)
            .map(|i| lattice(okey, (i % side) as i32, (i / side) as i32))
            .collect();
        let amp = gain / PINK_RAW_SD * 2.0 / cells as f32;
        let step = cells as f32 / size as f32;
        // Interpolation is separable: first every lattice row is interpolated along x to full width, then each
        // image row is one vectorisable blend of two such rows.
        let axis: Vec<(usize, f32)> = (0..size)
            .map(|i| {
                let f = (i as f32 + 0.5) * step;
                let k = f as usize;
                (k, smooth(f - k as f32))
            })
            .collect();
        let rows: Vec<f32> = (0..side)
            .flat_map(|j| {
                let lrow = &lat[j * side..(j + 1) * side];
                axis.iter()
                    .map(move |&(ix, tx)| lrow[ix] + (lrow[ix + 1] - lrow[ix]) * tx)
            })
            .collect();
        for (y, &(iy, ty)) in axis.iter().enumerate() {
            let top = &rows[iy * size..(iy + 1) * size];
            let bottom = &rows[(iy + 1) * size..(iy + 2) * size];
            let out_row = &mut out[y * size..(y + 1) * size];
            for ((o, &a), &b) in out_row.iter_mut().zip(top).zip(bottom) {
                *o += amp * (a + (b - a) * ty - 0.5);
            }
        }
        cells *= 2;
        octave += 1;
    }
    out
}

/// Separable 3-tap blur [w, 1 − 2w, w] of an HWC RGB image with clamped edges: a mild optical point-spread
/// function, so that pixel-sized leaves do not add aliased, white high-frequency power.
pub fn soften(rgb: &mut [f32], size: usize, w: f32) {
    let c = 1.0 - 2.0 * w;
    let mut tmp = vec![0f32; rgb.len()];
    for y in 0..size {
        for x in 0..size {
            let (l, r) = (x.saturating_sub(1), (x + 1).min(size - 1));
            for ch in 0..3 {
                let at = |xx: usize| rgb[(y * size + xx) * 3 + ch];
                tmp[(y * size + x) * 3 + ch] = c * at(x) + w * (at(l) + at(r));
            }
        }
    }
    let row = size * 3;
    for y in 0..size {
        let (u, d) = (y.saturating_sub(1), (y + 1).min(size - 1));
        for i in 0..row {
            rgb[y * row + i] = c * tmp[y * row + i] + w * (tmp[u * row + i] + tmp[d * row + i]);
        }
    }
}

/// Converts HSV (all in [0, 1], hue wraps) to RGB.
pub fn hsv_to_rgb(h: f32, s: f32, v: f32) -> [f32; 3] {
    let (s, v) = (s.clamp(0.0, 1.0), v.clamp(0.0, 1.0));
    let h = h.rem_euclid(1.0) * 6.0;
    let i = h.floor();
    let f = h - i;
    let p = v * (1.0 - s);
    let q = v * (1.0 - s * f);
    let t = v * (1.0 - s * (1.0 - f));
    match i as i32 {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

/// A natural-looking colour: foliage, earth, sky or grey hues at low-to-mid saturation.
pub fn natural_colour(rng: &mut CounterRng, palette: &[f32; 3]) -> [f32; 3] {
    let base = palette[rng.below(3) as usize];
    let h = base + rng.range(-0.04, 0.04) as f32;
    let s = (rng.range(0.0, 0.5) * rng.range(0.4, 1.0)) as f32;
    let v = rng.range(0.2, 0.85) as f32;
    hsv_to_rgb(h, s, v)
}

/// Hues typical of natural scenes: foliage, earth/wood, sky/water.
pub fn natural_palette(rng: &mut CounterRng) -> [f32; 3] {
    const BASES: [f32; 5] = [0.27, 0.33, 0.08, 0.11, 0.58];
    let mut p = [0f32; 3];
    for h in p.iter_mut() {
        *h = BASES[rng.below(BASES.len() as u64) as usize];
    }
    p
}

/// Integer floor and ceil without a libm call (baseline x86-64 has no rounding instruction, and these run for
/// every leaf row). Valid for |x| < 2³¹.
#[inline]
fn floor_i(x: f32) -> i32 {
    let i = x as i32;
    if (i as f32) > x {
        i - 1
    } else {
        i
    }
}

#[inline]
fn ceil_i(x: f32) -> i32 {
    let i = x as i32;
    if (i as f32) < x {
        i + 1
    } else {
        i
    }
}

/// Distinct leaf colours per dead-leaves image.
const LEAF_COLOURS: usize = 48;

/// Dead-leaves image (Lee, Mumford & Huang 2001): disks and rectangles with radius density ∝ r⁻³ on
/// [r_min, r_max], laid front to back until (almost) every pixel is covered. Writes HWC RGB.
///
/// Pixels are point-sampled at their centres (hard leaf edges, as in the model's usual pixel rendering): each
/// row of a leaf is then one exact interval, so the cost is one flag test per covered pixel. Anti-aliasing the
/// leaves would leave edge pixels partly open and roughly double the number of leaves needed.
pub fn dead_leaves(rgb: &mut [f32], size: usize, rng: &mut CounterRng, r_min: f32, r_max: f32) {
    let n = size * size;
    debug_assert_eq!(rgb.len(), n * 3);
    // A per-image table of natural colours; each leaf picks one (one draw per leaf instead of an HSV conversion).
    let palette = natural_palette(rng);
    let colours: Vec<[f32; 3]> = (0..LEAF_COLOURS).map(|_| natural_colour(rng, &palette)).collect();
    // One bit per still-uncovered pixel, 64 per word, rows padded to whole words: a leaf row then costs one AND
    // per word, and pixels already covered cost nothing (most rows in the late phase).
    let words = size.div_ceil(64);
    let mut open_bits = vec![0u64; size * words];
    for y in 0..size {
        for wi in 0..words {
            let bits = (size - wi * 64).min(64);
            open_bits[y * words + wi] = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
        }
    }
    let mut open = n;
    let (inv_min2, inv_max2) = (1.0 / (r_min * r_min), 1.0 / (r_max * r_max));
    let w = size as f32;
    // Stop at 99.5 % coverage: the last pixels are a coupon-collector tail that would double the cost; they take
    // a neighbour's colour instead, which looks like one more tiny leaf.
    let stop_open = n / 200;
    let max_leaves = 40 * n;
    let mut last = [0.5f32; 3];
    for _ in 0..max_leaves {
        // Two 64-bit draws per leaf, split into bit fields: leaves are many and small, so fewer generator calls
        // matter more than full-precision uniforms.
        let a = rng.next_u64();
        let b = rng.next_u64();
        let unit = |bits: u64, n: u32| bits as f32 / (1u64 << n) as f32;
        // Inverse CDF of p(r) ∝ r⁻³.
        let u = unit(a >> 40, 24);
        let r = 1.0 / (inv_min2 - u * (inv_min2 - inv_max2)).sqrt();
        let cx = -r + (w + 2.0 * r) * unit((a >> 20) & 0xF_FFFF, 20);
        let cy = -r + (w + 2.0 * r) * unit(a & 0xF_FFFF, 20);
        let is_rect = (b >> 61) < 2; // 1 in 4
        let (hx, hy) = if is_rect {
            (
                r * (0.5 + 0.5 * unit((b >> 16) & 0xFFFF, 16)),
                r * (0.5 + 0.5 * unit(b & 0xFFFF, 16)),
            )
        } else {
            (r, r)
        };
        let col = colours[(((b >> 32) & 0xFFFF) as usize * LEAF_COLOURS) >> 16];
        last = col;
        // Rows whose centre y + 0.5 lies inside (cy − hy, cy + hy).
        let y0 = ceil_i(cy - hy - 0.5).max(0) as usize;
        let y1 = (floor_i(cy + hy - 0.5) + 1).clamp(0, size as i32) as usize;
        for y in y0..y1 {
            let dy = y as f32 + 0.5 - cy;
            let half = if is_rect {
                hx
            } else {
                let h2 = r * r - dy * dy;
                if h2 <= 0.0 {
                    continue;
                }
                h2.sqrt()
            };
            let x0 = ceil_i(cx - half - 0.5).max(0) as usize;
            let x1 = (floor_i(cx + half - 0.5) + 1).clamp(0, size as i32) as usize;
            if x0 >= x1 {
                continue;
            }
            let row = y * size;
            let mut x = x0;
            while x < x1 {
                let wi = x / 64;
                let end = x1.min((wi + 1) * 64);
                let nbits = end - x;
                let span = if nbits == 64 {
                    u64::MAX
                } else {
                    ((1u64 << nbits) - 1) << (x % 64)
                };
                let word = &mut open_bits[y * words + wi];
                let mut hit = *word & span;
                *word &= !span;
                open -= hit.count_ones() as usize;
                while hit != 0 {
                    let p = row + wi * 64 + hit.trailing_zeros() as usize;
                    rgb[p * 3..p * 3 + 3].copy_from_slice(&col);
                    hit &= hit - 1;
                }
                x = end;
            }
        }
        if open <= stop_open {
            break;
        }
    }
    // Leftovers take the colour of the pixel above (or to the left, or the last leaf); visited through the open
    // bits, in raster order, so a filled leftover can feed the next one.
    let is_open = |bits: &[u64], y: usize, x: usize| bits[y * words + x / 64] >> (x % 64) & 1 == 1;
    for y in 0..size {
        for wi in 0..words {
            let mut m = open_bits[y * words + wi];
            while m != 0 {
                let x = wi * 64 + m.trailing_zeros() as usize;
                m &= m - 1;
                let src = if y > 0 && !is_open(&open_bits, y - 1, x) {
                    Some((y - 1) * size + x)
                } else if x > 0 && !is_open(&open_bits, y, x - 1) {
                    Some(y * size + x - 1)
                } else {
                    None
                };
                let p = y * size + x;
                for c in 0..3 {
                    rgb[p * 3 + c] = src.map_or(last[c], |q| rgb[q * 3 + c]);
                }
                open_bits[y * words + wi] &= !(1u64 << (x % 64));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_floor_ceil_match_std() {
        for x in [-3.5f32, -3.0, -0.2, 0.0, 0.2, 1.0, 2.7, 1e6 + 0.5] {
            assert_eq!(floor_i(x), x.floor() as i32, "{x}");
            assert_eq!(ceil_i(x), x.ceil() as i32, "{x}");
        }
    }

    #[test]
    fn textures_follow_their_definitions() {
        // Grating: 0.5 + 0.5 sin(2π f (u cos θ + v sin θ) + φ), evaluated directly.
        let g = Texture::Grating {
            ori: 0.7,
            freq: 3.0,
            phase: 0.4,
        };
        for &(u, v) in &[(0.1f32, -0.3f32), (0.5, 0.2), (-0.8, 0.9)] {
            let direct = 0.5 + 0.5 * (TAU * 3.0 * (u * 0.7f32.cos() + v * 0.7f32.sin()) + 0.4).sin();
            assert!((g.at(u, v, 0.01) - direct).abs() < 1e-5);
        }
        // Grating is constant along its stripes (direction orthogonal to θ) and has period 1/f across them.
        let (du, dv) = (-(0.7f32).sin(), 0.7f32.cos());
        assert!((g.at(0.2, 0.1, 0.01) - g.at(0.2 + 0.37 * du, 0.1 + 0.37 * dv, 0.01)).abs() < 1e-4);
        assert!((g.at(0.2, 0.1, 0.01) - g.at(0.2 + 0.7f32.cos() / 3.0, 0.1 + 0.7f32.sin() / 3.0, 0.01)).abs() < 1e-4);
        // Dots: centre of a lattice cell is inside a dot, cell corner outside.
        let d = Texture::Dots {
            ori: 0.0,
            freq: 2.0,
            radius: 0.3,
            phase: 0.0,
        };
        assert_eq!(d.at(0.25, 0.25, 0.01), 1.0);
        assert_eq!(d.at(0.0, 0.0, 0.01), 0.0);
        // Radial: n spokes, so rotating by 2π/n returns the same value.
        let r = Texture::Radial { freq: 6.0, phase: 0.3 };
        let (a, b) = (0.4f32, 0.4 + TAU / 6.0);
        assert!((r.at(a.cos(), a.sin(), 0.01) - r.at(b.cos(), b.sin(), 0.01)).abs() < 1e-4);
        for t in [
            g,
            d,
            r,
            Texture::Checks {
                ori: 0.2,
                freq: 4.0,
                phase: 0.0,
            },
            Texture::Noise { freq: 3.0, key: 1 },
        ] {
            for k in 0..50 {
                let x = t.at(k as f32 * 0.037 - 0.9, k as f32 * 0.051 - 1.1, 0.01);
                assert!((0.0..=1.0).contains(&x));
            }
        }
    }

    #[test]
    fn hsv_primaries() {
        assert_eq!(hsv_to_rgb(0.0, 1.0, 1.0), [1.0, 0.0, 0.0]);
        let g = hsv_to_rgb(1.0 / 3.0, 1.0, 1.0);
        assert!((g[0]).abs() < 1e-5 && (g[1] - 1.0).abs() < 1e-5 && g[2].abs() < 1e-5);
        assert_eq!(hsv_to_rgb(0.3, 0.0, 0.4), [0.4, 0.4, 0.4]);
    }

    #[test]
    fn value_noise_hits_lattice_values_and_is_continuous() {
        // At integer points the interpolation returns the lattice value itself.
        assert_eq!(value_noise(3.0, 5.0, 9), lattice(9, 3, 5));
        let (a, b) = (value_noise(2.999, 1.5, 4), value_noise(3.001, 1.5, 4));
        assert!((a - b).abs() < 0.01);
    }

    #[test]
    fn pink_noise_has_unit_sd() {
        for size in [32, 112] {
            let (mut var, mut mean_abs) = (0.0, 0.0);
            for k in 0..40 {
                let f = pink_noise_field(size, k, 1.0);
                let m = f.iter().sum::<f32>() / f.len() as f32;
                mean_abs += m.abs() / 40.0;
                var += f.iter().map(|v| (v - m).powi(2)).sum::<f32>() / f.len() as f32 / 40.0;
            }
            // Within-image SD is a little below the ensemble SD (the coarsest octave moves the image mean).
            assert!((0.8..1.1).contains(&var.sqrt()), "size {size}: sd {}", var.sqrt());
            assert!(mean_abs < 0.6, "size {size}: mean {mean_abs}");
        }
    }

    #[test]
    fn dead_leaves_is_opaque_and_in_range() {
        let size = 48;
        let mut rgb = vec![0f32; size * size * 3];
        dead_leaves(&mut rgb, size, &mut CounterRng::new(3), 1.0, 0.35 * size as f32);
        assert!(rgb.iter().all(|&v| (0.0..=1.0).contains(&v)));
        // Opaque: no pixel is left at the black initial value.
        assert!(rgb.chunks(3).all(|p| p.iter().sum::<f32>() > 0.0));
    }
}
