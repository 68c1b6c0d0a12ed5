//! Texture fields: paint textures for figures (gratings, checks, dots, radial, noise), value noise, the
//! 1/f luminance field and the dead-leaves background (`synthetic-world.md` §3).
use super::rng::{splitmix64, CounterRng};
use std::f32::consts::{PI, TAU};

/// A texture evaluated in a primitive's local coordinates (object radius ≈ 1); returns a mix weight in [0, 1]
/// between a paint's two colours.
#[derive(Clone, Copy, Debug)]
pub enum Texture {
    Uniform,
    /// Sinusoidal grating: orientation (radians), cycles per local unit, phase (radians).
    Grating {
        ori: f32,
        freq: f32,
        phase: f32,
    },
    /// Square checks (smoothed to stay anti-aliased).
    Checks {
        ori: f32,
        freq: f32,
        phase: f32,
    },
    /// Dots on a rotated lattice; `radius` is a fraction of the cell.
    Dots {
        ori: f32,
        freq: f32,
        radius: f32,
        phase: f32,
    },
    /// Angular spokes around the local origin (`freq` spokes).
    Radial {
        freq: f32,
        phase: f32,
    },
    /// Value noise with cells of 1 / `freq`.
    Noise {
        freq: f32,
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

    /// Mix weight at local (u, v); `px` is the size of one pixel in local units (for anti-aliasing).
    #[inline]
    pub fn at(&self, u: f32, v: f32, px: f32) -> f32 {
        match *self {
            Texture::Uniform => 0.0,
            Texture::Grating { ori, freq, phase } => {
                let a = TAU * freq * (u * ori.cos() + v * ori.sin()) + phase;
                0.5 + 0.5 * a.sin()
            }
            Texture::Checks { ori, freq, phase } => {
                let (c, s) = (ori.cos(), ori.sin());
                let a = (PI * freq * (u * c + v * s) + phase).sin();
                let b = (PI * freq * (-u * s + v * c) + phase).sin();
                // Steep but finite slope: hard squares alias, pure sinusoids look like plaids.
                (0.5 + 2.5 * a * b).clamp(0.0, 1.0)
            }
            Texture::Dots {
                ori,
                freq,
                radius,
                phase,
            } => {
                let (c, s) = (ori.cos(), ori.sin());
                let x = (u * c + v * s) * freq + phase / TAU;
                let y = (-u * s + v * c) * freq;
                let (fx, fy) = (x - x.floor() - 0.5, y - y.floor() - 0.5);
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
    let (x0, y0) = (x.floor(), y.floor());
    let (tx, ty) = (smooth(x - x0), smooth(y - y0));
    let (ix, iy) = (x0 as i32, y0 as i32);
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
        // Interpolation is separable: lattice index and smoothstep weight per column/row, computed once.
        let axis: Vec<(usize, f32)> = (0..size)
            .map(|i| {
                let f = (i as f32 + 0.5) * step;
                let k = f as usize;
                (k, smooth(f - k as f32))
            })
            .collect();
        for (y, &(iy, ty)) in axis.iter().enumerate() {
            let r0 = &lat[iy * side..(iy + 1) * side];
            let r1 = &lat[(iy + 1) * side..(iy + 2) * side];
            let out_row = &mut out[y * size..(y + 1) * size];
            for (o, &(ix, tx)) in out_row.iter_mut().zip(axis.iter()) {
                let top = r0[ix] + (r0[ix + 1] - r0[ix]) * tx;
                let bottom = r1[ix] + (r1[ix + 1] - r1[ix]) * tx;
                *o += amp * (top + (bottom - top) * ty - 0.5);
            }
        }
        cells *= 2;
        octave += 1;
    }
    out
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

/// Dead-leaves image (Lee, Mumford & Huang 2001): disks and rectangles with radius density ∝ r⁻³ on
/// [r_min, r_max], laid front to back with anti-aliased edges until every pixel is opaque. Writes HWC RGB.
pub fn dead_leaves(rgb: &mut [f32], size: usize, rng: &mut CounterRng, r_min: f32, r_max: f32) {
    let n = size * size;
    debug_assert_eq!(rgb.len(), n * 3);
    rgb.fill(0.0);
    let palette = natural_palette(rng);
    // Remaining transmittance of each pixel; a pixel is closed once it drops below CLOSED.
    const CLOSED: f32 = 1e-3;
    let mut trans = vec![1f32; n];
    let mut open = n;
    let (inv_min2, inv_max2) = (1.0 / (r_min * r_min), 1.0 / (r_max * r_max));
    let w = size as f32;
    // The tail of the coverage process (the last few open pixels) is a coupon-collector; the cap bounds the
    // cost and the rare leftovers take the last leaf's colour.
    let max_leaves = 40 * n;
    // Stop at 99.5 % coverage: the last pixels are a coupon-collector tail that would double the cost; they take
    // a neighbour's colour instead, which looks like one more tiny leaf.
    let stop_open = n / 200;
    let mut last = [0.5f32; 3];
    for _ in 0..max_leaves {
        // Inverse CDF of p(r) ∝ r⁻³.
        let u = rng.uniform() as f32;
        let r = 1.0 / (inv_min2 - u * (inv_min2 - inv_max2)).sqrt();
        let cx = rng.range(-r as f64, (w + r) as f64) as f32;
        let cy = rng.range(-r as f64, (w + r) as f64) as f32;
        let is_rect = rng.uniform() < 0.2;
        let (hx, hy) = if is_rect {
            (r * rng.range(0.5, 1.0) as f32, r * rng.range(0.5, 1.0) as f32)
        } else {
            (r, r)
        };
        let col = natural_colour(rng, &palette);
        last = col;
        let y0 = (cy - hy - 1.0).floor().max(0.0) as usize;
        let y1 = ((cy + hy + 1.0).ceil().max(0.0) as usize).min(size);
        // Squared-radius tests settle fully inside pixels without a square root.
        let (r_in2, r_out2) = ((r - 0.5).max(0.0).powi(2), (r + 0.5).powi(2));
        for y in y0..y1 {
            let dy = y as f32 + 0.5 - cy;
            // Horizontal extent of the shape in this row (plus the anti-aliasing half pixel).
            let half = if is_rect {
                if dy.abs() >= hy + 0.5 {
                    continue;
                }
                hx + 0.5
            } else {
                let h2 = r_out2 - dy * dy;
                if h2 <= 0.0 {
                    continue;
                }
                h2.sqrt()
            };
            let x0 = (cx - half).floor().max(0.0) as usize;
            let x1 = ((cx + half).ceil().max(0.0) as usize).min(size);
            if x0 >= x1 {
                continue;
            }
            let row = y * size;
            let trans_row = &mut trans[row + x0..row + x1];
            let rgb_row = &mut rgb[(row + x0) * 3..(row + x1) * 3];
            for (i, (t, px)) in trans_row.iter_mut().zip(rgb_row.chunks_exact_mut(3)).enumerate() {
                if *t < CLOSED {
                    continue;
                }
                let dx = (x0 + i) as f32 + 0.5 - cx;
                let cov = if is_rect {
                    (0.5 - (dx.abs() - hx).max(dy.abs() - hy)).clamp(0.0, 1.0)
                } else {
                    let d2 = dx * dx + dy * dy;
                    if d2 <= r_in2 {
                        1.0
                    } else {
                        (r + 0.5 - d2.sqrt()).clamp(0.0, 1.0)
                    }
                };
                if cov <= 0.0 {
                    continue;
                }
                let k = cov * *t;
                px[0] += col[0] * k;
                px[1] += col[1] * k;
                px[2] += col[2] * k;
                *t *= 1.0 - cov;
                if *t < CLOSED {
                    open -= 1;
                }
            }
        }
        if open <= stop_open {
            break;
        }
    }
    // Leftover transparency takes the colour of the pixel above (or to the left, or the last leaf).
    for p in 0..n {
        let t = trans[p];
        if t >= CLOSED {
            let src = if p >= size && trans[p - size] < CLOSED {
                Some(p - size)
            } else if p % size > 0 && trans[p - 1] < CLOSED {
                Some(p - 1)
            } else {
                None
            };
            for c in 0..3 {
                let fill = src.map_or(last[c], |q| rgb[q * 3 + c]);
                rgb[p * 3 + c] += fill * t;
            }
            trans[p] = 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
