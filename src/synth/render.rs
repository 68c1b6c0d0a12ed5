//! Procedural image generator (`synthetic-world.md` §3). First version: dead-leaves background and a class-coloured
//! ellipse; the per-super-category templates follow.
use super::rng::{mix_key, CounterRng};
use super::taxonomy::{dim, SuperCategory, Taxonomy};
use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};

/// Which stream an image belongs to; each role draws its own instances, so no image is shared between roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    Train,
    Test,
    Unpaired,
    Exemplar,
    Distractor,
}

impl Role {
    fn stream_id(self) -> u64 {
        match self {
            Role::Train => 1,
            Role::Test => 2,
            Role::Unpaired => 3,
            Role::Exemplar => 4,
            Role::Distractor => 5,
        }
    }
}

/// One generated image.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub size: usize,
    /// H·W·3, HWC, values in [0, 1].
    pub rgb: Vec<f32>,
    /// H·W object coverage in [0, 1]; all zero for figure-less super-categories.
    pub mask: Vec<f32>,
    pub class: u32,
    pub super_category: SuperCategory,
}

fn hsv_to_rgb(h: f32, s: f32, v: f32) -> [f32; 3] {
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

/// Renders image `instance` of `class` for `role`: a pure function of its arguments.
pub fn render(tax: &Taxonomy, seed: u64, role: Role, class: u32, instance: u32, size: usize) -> Rendered {
    let spec = &tax.classes[class as usize];
    let mut rng = CounterRng::new(mix_key(seed, &[role.stream_id(), class as u64, instance as u64]));
    let n = size * size;
    let mut rgb = vec![0f32; n * 3];
    let mut mask = vec![0f32; n];
    // Dead leaves, back to front (first version).
    let w = size as f64;
    for _ in 0..(size * 4) {
        let r = 1.0 / (1.0 / 1.0f64.powi(2) - rng.uniform() * (1.0 - 1.0 / (0.35 * w).powi(2))).sqrt();
        let (cx, cy) = (rng.range(0.0, w), rng.range(0.0, w));
        let col = hsv_to_rgb(
            rng.uniform() as f32,
            rng.range(0.0, 0.5) as f32,
            rng.range(0.2, 0.9) as f32,
        );
        for y in 0..size {
            for x in 0..size {
                let (dx, dy) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
                if dx * dx + dy * dy < r * r {
                    rgb[(y * size + x) * 3..][..3].copy_from_slice(&col);
                }
            }
        }
    }
    if spec.super_category.has_figure() {
        let t = &spec.theta;
        let col = hsv_to_rgb(t[dim::HUE], 0.4 + 0.6 * t[dim::SATURATION], 0.4 + 0.6 * t[dim::VALUE]);
        let s = rng.range(0.5, 0.9) * w / 2.0;
        let (cx, cy) = (w / 2.0 + rng.range(-0.2, 0.2) * w, w / 2.0 + rng.range(-0.2, 0.2) * w);
        let (a, b) = (s, s * (0.5 + 0.5 * t[dim::SHAPE0] as f64));
        for y in 0..size {
            for x in 0..size {
                let (dx, dy) = ((x as f64 + 0.5 - cx) / a, (y as f64 + 0.5 - cy) / b);
                let k = (dx * dx + dy * dy).sqrt();
                let cov = ((1.0 - k) * b + 0.5).clamp(0.0, 1.0) as f32;
                let p = y * size + x;
                mask[p] = cov;
                for ch in 0..3 {
                    rgb[p * 3 + ch] = rgb[p * 3 + ch] * (1.0 - cov) + col[ch] * cov;
                }
            }
        }
    }
    Rendered {
        size,
        rgb,
        mask,
        class,
        super_category: spec.super_category,
    }
}

/// Quantises [0, 1] floats to bytes (round to nearest, clamped).
pub fn to_u8(rgb: &[f32]) -> Vec<u8> {
    rgb.iter().map(|&v| (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8).collect()
}

/// Writes `tiles` (all the same size) as a grid PNG with `columns` tiles per row and a 2-px grey gutter.
pub fn write_contact_sheet(path: &std::path::Path, tiles: &[Rendered], columns: usize) -> Result<()> {
    ensure!(!tiles.is_empty(), "contact sheet {}: no tiles to write", path.display());
    ensure!(
        columns > 0,
        "contact sheet {}: columns must be at least 1",
        path.display()
    );
    let s = tiles[0].size;
    ensure!(
        tiles.iter().all(|t| t.size == s && t.rgb.len() == s * s * 3),
        "contact sheet {}: all tiles must be {s}×{s} RGB",
        path.display()
    );
    let gap = 2;
    let rows = tiles.len().div_ceil(columns);
    let (w, h) = (columns * (s + gap) + gap, rows * (s + gap) + gap);
    let mut buf = vec![128u8; w * h * 3];
    for (i, t) in tiles.iter().enumerate() {
        let (x0, y0) = (gap + (i % columns) * (s + gap), gap + (i / columns) * (s + gap));
        let bytes = to_u8(&t.rgb);
        for y in 0..s {
            let dst = ((y0 + y) * w + x0) * 3;
            buf[dst..dst + s * 3].copy_from_slice(&bytes[y * s * 3..(y + 1) * s * 3]);
        }
    }
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&buf, w as u32, h as u32, image::ExtendedColorType::Rgb8)
        .with_context(|| format!("contact sheet {}: PNG encoding failed", path.display()))?;
    crate::util::write_bytes_atomic(path, &png)
}

use image::ImageEncoder;
