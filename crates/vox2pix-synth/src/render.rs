//! Procedural image generator (`synthetic-world.md` §3): a dead-leaves background with 1/f luminance noise and
//! one figure drawn from its super-category's template and its class parameters θ_c, jittered per instance.
//! Every image is a pure function of (taxonomy, seed, role, class, instance, size).
use super::raster::{Canvas, Frame, Paint, Shape};
use super::taxonomy::{dim, SuperCategory, Taxonomy, THETA_DIM};
use super::texture::{dead_leaves, hsv_to_rgb, pink_noise_field, soften, Texture, N_TEXTURE_FAMILIES};
use anyhow::{ensure, Context, Result};
use image::ImageEncoder;
use serde::{Deserialize, Serialize};
use std::f32::consts::{FRAC_PI_2, PI, TAU};
use vox2pix_formats::rng::{mix_key, CounterRng};

/// Which stream an image belongs to; each role draws its own instances, so no image is shared between roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Paired training images.
    Train,
    /// Test images.
    Test,
    /// Unpaired images (the decoder's ED stream).
    Unpaired,
    /// Class exemplars (class prototypes for the classification metric).
    Exemplar,
    /// Identification distractors (and the cortex's reference images).
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
    /// Image side in pixels (H = W = size).
    pub size: usize,
    /// H·W·3, HWC, values in [0, 1].
    pub rgb: Vec<f32>,
    /// H·W object coverage in [0, 1]; all zero for figure-less super-categories (scene, pattern).
    pub mask: Vec<f32>,
    /// Class id.
    pub class: u32,
    /// The class's super-category.
    pub super_category: SuperCategory,
    /// This instance's parameters: θ_c with the instance jitter applied (ground truth for the simulator).
    pub theta: [f32; THETA_DIM],
}

/// Key of the image stream (seed, role, class, instance); also usable by other modules to tie per-image
/// randomness (e.g. semantic jitter) to the same image.
pub fn image_key(seed: u64, role: Role, class: u32, instance: u32) -> u64 {
    mix_key(seed, &[0x1_6d67, role.stream_id(), class as u64, instance as u64])
}

/// Dead-leaves radii bounds in pixels: r_min = 1 px, r_max = 0.35·W (spec §3).
const LEAF_R_MIN: f32 = 1.0;
const LEAF_R_MAX_FRAC: f32 = 0.35;
/// Standard deviation of the 1/f luminance gain field multiplied into backgrounds.
const PINK_NOISE_GAIN: f32 = 0.18;
/// Side weight of the [w, 1 − 2w, w] optical blur; with PINK_NOISE_GAIN it sets the spectrum slope (§6 check 3:
/// measured mean −2.05 at 64 px; without blur and noise the point-sampled leaves give ≈ −1.5).
const OPTICAL_BLUR: f32 = 0.125;

/// The background alone (dead leaves × 1/f luminance noise) for an image key.
pub fn render_background(key: u64, size: usize) -> Vec<f32> {
    let mut rgb = vec![0f32; size * size * 3];
    let mut rng = CounterRng::new(mix_key(key, &[0xbac6]));
    dead_leaves(
        &mut rgb,
        size,
        &mut rng,
        LEAF_R_MIN,
        (LEAF_R_MAX_FRAC * size as f32).max(2.0),
    );
    soften(&mut rgb, size, OPTICAL_BLUR);
    let noise = pink_noise_field(size, mix_key(key, &[0x1f]), 1.0);
    for (p, &n) in noise.iter().enumerate() {
        // Linear rather than exp(): same look at this gain, and exp per pixel was a tenth of the image cost.
        let g = (1.0 + PINK_NOISE_GAIN * n).max(0.2);
        for c in 0..3 {
            rgb[p * 3 + c] = (rgb[p * 3 + c] * g).clamp(0.0, 1.0);
        }
    }
    rgb
}

/// Instance-level decoded parameters shared by the templates.
struct Look {
    /// Jittered θ (continuous shape dimensions are read through `s(i)`).
    theta: [f32; THETA_DIM],
    /// The class centre θ_c: discrete template choices (`k(i, n)`) read it so they never change within a class.
    class_theta: [f32; THETA_DIM],
    primary: [f32; 3],
    secondary: [f32; 3],
    texture: Texture,
    texture_family: usize,
    key: u64,
}

impl Look {
    fn s(&self, i: usize) -> f32 {
        self.theta[dim::SHAPE0 + i]
    }

    /// Discrete choice among `n` options from shape dimension `i` of the class centre.
    fn k(&self, i: usize, n: usize) -> usize {
        bin(self.class_theta[dim::SHAPE0 + i], n)
    }
}

fn jitter01(rng: &mut CounterRng, x: f32, amount: f32) -> f32 {
    (x + rng.range(-amount as f64, amount as f64) as f32).clamp(0.0, 1.0)
}

fn lerp(a: f32, b: f32, t: f32) -> f32 {
    a + (b - a) * t
}

fn scale_rgb(c: [f32; 3], k: f32) -> [f32; 3] {
    [(c[0] * k).min(1.0), (c[1] * k).min(1.0), (c[2] * k).min(1.0)]
}

/// Colour priors per super-category (hue interval, saturation and value ranges) applied to θ's colour dims.
fn colours(sup: SuperCategory, t: &[f32; THETA_DIM]) -> ([f32; 3], [f32; 3]) {
    let (h, s, v, h2) = (t[dim::HUE], t[dim::SATURATION], t[dim::VALUE], t[dim::SECOND_HUE]);
    match sup {
        // Skin tones; hair from dark to light brown/blond plus a few dyed colours.
        SuperCategory::Face => (
            hsv_to_rgb(lerp(0.02, 0.10, h), lerp(0.25, 0.6, s), lerp(0.45, 0.95, v)),
            if h2 < 0.8 {
                hsv_to_rgb(
                    lerp(0.03, 0.12, h2 / 0.8),
                    lerp(0.3, 0.8, s),
                    lerp(0.08, 0.75, 1.0 - v * h2),
                )
            } else {
                hsv_to_rgb(h2 * 5.0, 0.7, 0.7)
            },
        ),
        SuperCategory::Animal => (
            hsv_to_rgb(h, lerp(0.2, 0.85, s), lerp(0.3, 0.9, v)),
            hsv_to_rgb(h + lerp(-0.15, 0.15, h2), lerp(0.2, 0.9, 1.0 - s), lerp(0.05, 0.5, v)),
        ),
        // Plastic or painted handles in vivid class colours; bare or painted metal heads (the otherwise unused
        // texture-orientation dimension sets the paint's saturation).
        SuperCategory::Tool => (
            hsv_to_rgb(h, lerp(0.6, 1.0, s), lerp(0.5, 1.0, v)),
            hsv_to_rgb(
                h2,
                lerp(0.0, 0.8, t[dim::TEXTURE_ORIENTATION]),
                lerp(0.45, 0.95, 1.0 - v),
            ),
        ),
        // Ground (earth to grass) and sky (blue, or dusk for some classes).
        SuperCategory::Scene => (
            hsv_to_rgb(lerp(0.04, 0.38, h), lerp(0.25, 0.75, s), lerp(0.25, 0.7, v)),
            if h2 < 0.75 {
                hsv_to_rgb(lerp(0.52, 0.66, h2 / 0.75), lerp(0.25, 0.7, s), lerp(0.7, 1.0, v))
            } else {
                hsv_to_rgb(
                    lerp(0.0, 0.12, (h2 - 0.75) * 4.0),
                    lerp(0.4, 0.8, s),
                    lerp(0.75, 1.0, v),
                )
            },
        ),
        SuperCategory::Food => (
            hsv_to_rgb(h, lerp(0.7, 1.0, s), lerp(0.6, 1.0, v)),
            hsv_to_rgb(h2, lerp(0.5, 1.0, s), lerp(0.5, 1.0, 1.0 - v)),
        ),
        SuperCategory::Vehicle => (
            hsv_to_rgb(h, lerp(0.5, 1.0, s), lerp(0.35, 0.95, v)),
            hsv_to_rgb(lerp(0.5, 0.62, h2), lerp(0.2, 0.5, s), lerp(0.55, 0.9, h2)),
        ),
        // Leaves (yellow-green to blue-green) and blossoms (any hue).
        SuperCategory::Plant => (
            hsv_to_rgb(lerp(0.14, 0.45, h), lerp(0.4, 0.9, s), lerp(0.3, 0.85, v)),
            hsv_to_rgb(h2, lerp(0.5, 0.9, s), lerp(0.75, 1.0, v)),
        ),
        // Stone, brick, plaster façades; dark or lit windows.
        SuperCategory::Building => (
            hsv_to_rgb(h, lerp(0.05, 0.45, s), lerp(0.45, 0.92, v)),
            hsv_to_rgb(lerp(0.5, 0.65, h2), lerp(0.1, 0.5, s), lerp(0.1, 0.45, h2)),
        ),
        SuperCategory::Symbol => (
            hsv_to_rgb(h, lerp(0.6, 1.0, s), lerp(0.5, 1.0, v)),
            hsv_to_rgb(
                h2,
                lerp(0.0, 0.9, s),
                if v > 0.5 {
                    lerp(0.0, 0.25, h2)
                } else {
                    lerp(0.85, 1.0, h2)
                },
            ),
        ),
        SuperCategory::Pattern => (
            hsv_to_rgb(h, lerp(0.3, 1.0, s), lerp(0.4, 1.0, v)),
            hsv_to_rgb(h2, lerp(0.2, 1.0, 1.0 - s), lerp(0.1, 0.8, 1.0 - v)),
        ),
    }
}

/// Per-instance jitter of θ: colour and continuous shape dimensions move a little; discrete choices (texture family,
/// template variants) are read from the class centre and so stay with the class.
fn sample_look(sup: SuperCategory, theta_c: &[f32; THETA_DIM], rng: &mut CounterRng, key: u64) -> Look {
    let mut t = *theta_c;
    t[dim::HUE] = (t[dim::HUE] + rng.range(-0.02, 0.02) as f32).rem_euclid(1.0);
    t[dim::SECOND_HUE] = (t[dim::SECOND_HUE] + rng.range(-0.02, 0.02) as f32).rem_euclid(1.0);
    t[dim::SATURATION] = jitter01(rng, t[dim::SATURATION], 0.06);
    t[dim::VALUE] = jitter01(rng, t[dim::VALUE], 0.06);
    t[dim::TEXTURE_ORIENTATION] = jitter01(rng, t[dim::TEXTURE_ORIENTATION], 0.03);
    t[dim::TEXTURE_FREQUENCY] = jitter01(rng, t[dim::TEXTURE_FREQUENCY], 0.05);
    for v in t[dim::SHAPE0..dim::SHAPE0 + 5].iter_mut() {
        *v = jitter01(rng, *v, 0.05);
    }
    let (primary, secondary) = colours(sup, &t);
    let family = bin(theta_c[dim::TEXTURE_FAMILY], N_TEXTURE_FAMILIES);
    let ori = t[dim::TEXTURE_ORIENTATION] * PI;
    let freq = lerp(1.5, 5.0, t[dim::TEXTURE_FREQUENCY]);
    let phase = rng.range(0.0, TAU as f64) as f32;
    let texture = Texture::from_family(family, ori, freq, phase, mix_key(key, &[0x7e]));
    Look {
        theta: t,
        class_theta: *theta_c,
        primary,
        secondary,
        texture,
        texture_family: family,
        key,
    }
}

/// Renders image `instance` of `class` for `role`: a pure function of its arguments. Panics if `class` is not in
/// `tax` (class ids come from the world) or `size` is 0.
pub fn render(tax: &Taxonomy, seed: u64, role: Role, class: u32, instance: u32, size: usize) -> Rendered {
    assert!(size > 0, "render: image size must be positive");
    let spec = &tax.classes[class as usize];
    let sup = spec.super_category;
    let key = image_key(seed, role, class, instance);
    let mut rng = CounterRng::new(key);
    let look = sample_look(sup, &spec.theta, &mut rng, key);
    let mut canvas = Canvas {
        size,
        rgb: render_background(key, size),
        mask: vec![0.0; size * size],
    };
    let w = size as f32;
    match sup {
        SuperCategory::Scene => draw_scene(&mut canvas, &look, &mut rng),
        SuperCategory::Pattern => draw_pattern(&mut canvas, &look, &mut rng),
        _ => {
            // Position ± 20 % of the field, extent 0.5–0.9 of the field (local radius 1 = half the extent).
            let cx = w * (0.5 + rng.range(-0.2, 0.2) as f32);
            let cy = w * (0.5 + rng.range(-0.2, 0.2) as f32);
            let scale = w * rng.range(0.5, 0.9) as f32 / 2.0;
            let (max_rot, may_mirror) = match sup {
                SuperCategory::Face => (0.25, true),
                SuperCategory::Animal => (0.25, true),
                // Tools keep their class orientation (no mirror), which makes them recognisable.
                SuperCategory::Tool => (0.25, false),
                SuperCategory::Food => (PI, false),
                SuperCategory::Vehicle => (0.1, true),
                SuperCategory::Plant => (0.15, true),
                SuperCategory::Building => (0.05, false),
                _ => (0.15, false),
            };
            let rot = rng.range(-max_rot as f64, max_rot as f64) as f32;
            let mirror = may_mirror && rng.uniform() < 0.5;
            let frame = Frame::new(cx, cy, rot, scale, mirror);
            match sup {
                SuperCategory::Face => draw_face(&mut canvas, &frame, &look, &mut rng),
                SuperCategory::Animal => draw_animal(&mut canvas, &frame, &look, &mut rng),
                SuperCategory::Tool => draw_tool(&mut canvas, &frame, &look, &mut rng),
                SuperCategory::Food => draw_food(&mut canvas, &frame, &look, &mut rng),
                SuperCategory::Vehicle => draw_vehicle(&mut canvas, &frame, &look, &mut rng),
                SuperCategory::Plant => draw_plant(&mut canvas, &frame, &look, &mut rng),
                SuperCategory::Building => draw_building(&mut canvas, &frame, &look, &mut rng),
                _ => draw_symbol(&mut canvas, &frame, &look, &mut rng),
            }
        }
    }
    Rendered {
        size,
        rgb: canvas.rgb,
        mask: canvas.mask,
        class,
        super_category: sup,
        theta: look.theta,
    }
}

fn bin(x: f32, n: usize) -> usize {
    ((x * n as f32) as usize).min(n - 1)
}

const DARK: [f32; 3] = [0.06, 0.05, 0.05];
const WHITE: [f32; 3] = [0.95, 0.95, 0.93];

/// Oval head, two eyes, brows, nose and a mouth arc; hair style and an accessory are class choices.
fn draw_face(c: &mut Canvas, f: &Frame, l: &Look, rng: &mut CounterRng) {
    let rx = lerp(0.62, 0.82, l.s(0));
    let skin = Paint::shaded(l.primary, 0.2);
    let hair = Paint {
        texture: Texture::Noise { freq: 6.0, key: l.key },
        b: scale_rgb(l.secondary, 0.75),
        ..Paint::shaded(l.secondary, 0.15)
    };
    let hair_style = l.k(4, 5);
    match hair_style {
        2 => c.fill(
            f,
            &Shape::RoundRect {
                hx: rx * 1.18,
                hy: 0.95,
                r: 0.35,
            },
            &hair,
            true,
        ),
        3 => c.fill(
            &f.child(0.0, -0.25, 0.0, 1.0),
            &Shape::Ellipse {
                rx: rx * 1.35,
                ry: 0.95,
            },
            &hair,
            true,
        ),
        _ => {}
    }
    if l.texture_family == 4 {
        // Ears.
        for side in [-1.0, 1.0] {
            c.fill(
                &f.child(side * rx, -0.05, 0.0, 1.0),
                &Shape::Ellipse { rx: 0.14, ry: 0.22 },
                &skin,
                true,
            );
        }
    }
    c.fill(f, &Shape::Ellipse { rx, ry: 1.0 }, &skin, true);
    if (1..=3).contains(&hair_style) {
        c.fill(
            &f.child(0.0, -0.62, 0.0, 1.0),
            &Shape::Ellipse {
                rx: rx * 1.04,
                ry: 0.45,
            },
            &hair,
            true,
        );
    }
    if l.texture_family == 5 {
        let freckles = Paint {
            b: scale_rgb(l.primary, 0.8),
            texture: Texture::Dots {
                ori: 0.3,
                freq: 7.0,
                radius: 0.18,
                phase: 0.0,
            },
            ..skin
        };
        c.fill(
            &f.child(0.0, 0.12, 0.0, 1.0),
            &Shape::Ellipse { rx: rx * 0.7, ry: 0.25 },
            &freckles,
            true,
        );
    }
    let eye_dx = rx * lerp(0.28, 0.5, l.s(1));
    let eye_y = lerp(-0.25, 0.0, l.s(3));
    let eye_r = lerp(0.07, 0.15, l.s(2));
    let iris = hsv_to_rgb(l.theta[dim::TEXTURE_FREQUENCY] * 0.6, 0.6, 0.45);
    let brow_tilt = (l.theta[dim::TEXTURE_ORIENTATION] - 0.5) * 0.8;
    let gaze = rng.range(-0.3, 0.3) as f32 * eye_r;
    for side in [-1.0f32, 1.0] {
        let e = f.child(side * eye_dx, eye_y, 0.0, 1.0);
        c.fill(
            &e,
            &Shape::Ellipse {
                rx: eye_r * 1.5,
                ry: eye_r,
            },
            &Paint::solid(WHITE),
            true,
        );
        c.fill(
            &e.child(gaze, 0.0, 0.0, 1.0),
            &Shape::Ellipse {
                rx: eye_r * 0.75,
                ry: eye_r * 0.75,
            },
            &Paint::solid(iris),
            true,
        );
        c.fill(
            &e.child(gaze, 0.0, 0.0, 1.0),
            &Shape::Ellipse {
                rx: eye_r * 0.38,
                ry: eye_r * 0.38,
            },
            &Paint::solid(DARK),
            true,
        );
        let by = -eye_r * 1.9;
        let (bx0, bx1) = (-eye_r * 1.4, eye_r * 1.4);
        let tilt = side * brow_tilt * eye_r;
        c.fill(
            &e,
            &Shape::Capsule {
                a: [bx0, by - tilt],
                b: [bx1, by + tilt],
                r: 0.035,
            },
            &Paint::solid(scale_rgb(l.secondary, 0.7)),
            true,
        );
    }
    if l.texture_family == 1 {
        // Glasses.
        let frame_paint = Paint::solid([0.1, 0.1, 0.12]);
        for side in [-1.0f32, 1.0] {
            c.fill(
                &f.child(side * eye_dx, eye_y, 0.0, 1.0),
                &Shape::Ring {
                    r: eye_r * 2.0,
                    w: 0.03,
                },
                &frame_paint,
                true,
            );
        }
        c.fill(
            f,
            &Shape::Capsule {
                a: [-eye_dx + eye_r * 2.0, eye_y],
                b: [eye_dx - eye_r * 2.0, eye_y],
                r: 0.025,
            },
            &frame_paint,
            true,
        );
    }
    let nose = Paint::solid(scale_rgb(l.primary, 0.78));
    c.fill(
        f,
        &Shape::Capsule {
            a: [0.0, eye_y + 0.1],
            b: [0.04, eye_y + 0.4],
            r: 0.045,
        },
        &nose,
        true,
    );
    let mouth_y = lerp(0.42, 0.6, l.s(3));
    let mouth_r = lerp(0.18, 0.4, l.theta[dim::TEXTURE_FREQUENCY]) * rx;
    let smile = lerp(0.35, 1.1, l.s(1));
    let lips = Paint::solid(hsv_to_rgb(0.98, 0.55, 0.45));
    c.fill(
        &f.child(0.0, mouth_y - mouth_r * 0.8, 0.0, 1.0),
        &Shape::Arc {
            r: mouth_r,
            w: 0.04,
            a0: FRAC_PI_2 - smile,
            a1: FRAC_PI_2 + smile,
        },
        &lips,
        true,
    );
    match l.texture_family {
        2 => {
            // Hat: brim and crown.
            let hat = Paint::shaded(scale_rgb(l.secondary, 0.9), 0.2);
            c.fill(
                &f.child(0.0, -0.78, 0.0, 1.0),
                &Shape::RoundRect {
                    hx: rx * 1.35,
                    hy: 0.07,
                    r: 0.05,
                },
                &hat,
                true,
            );
            c.fill(
                &f.child(0.0, -1.05, 0.0, 1.0),
                &Shape::RoundRect {
                    hx: rx * 0.8,
                    hy: 0.28,
                    r: 0.1,
                },
                &hat,
                true,
            );
        }
        3 => {
            // Beard around the chin, leaving the mouth visible.
            let beard = Paint { alpha: 0.95, ..hair };
            c.fill(
                &f.child(0.0, 0.78, 0.0, 1.0),
                &Shape::Ellipse {
                    rx: rx * 0.75,
                    ry: 0.28,
                },
                &beard,
                true,
            );
        }
        _ => {}
    }
}

/// Textured body blob with head, legs (or fins) and a tail.
fn draw_animal(c: &mut Canvas, f: &Frame, l: &Look, rng: &mut CounterRng) {
    let texture = if l.texture_family == 0 {
        Texture::Noise { freq: 4.0, key: l.key }
    } else {
        l.texture
    };
    let coat = Paint {
        a: l.primary,
        b: l.secondary,
        texture,
        shade: 0.25,
        alpha: 1.0,
    };
    let plain = Paint::shaded(l.primary, 0.2);
    let body_ry = lerp(0.3, 0.5, l.s(0));
    let body_rx = 0.72;
    let legs = [0usize, 2, 4, 4, 6][l.k(3, 5)];
    let leg_len = lerp(0.3, 0.6, l.s(4));
    let dark_coat = Paint::shaded(scale_rgb(l.primary, 0.7), 0.1);
    // Legs first so the body overlaps their tops.
    let stride = rng.range(-0.15, 0.15) as f32;
    for i in 0..legs {
        let u = lerp(-0.5, 0.5, (i / 2) as f32 / ((legs / 2).max(2) - 1) as f32) + if i % 2 == 1 { 0.08 } else { 0.0 };
        let swing = if i % 2 == 0 { stride } else { -stride };
        let p = if i % 2 == 1 { &dark_coat } else { &plain };
        c.fill(
            f,
            &Shape::Capsule {
                a: [u, body_ry * 0.5],
                b: [u + swing, body_ry * 0.5 + leg_len],
                r: 0.055,
            },
            p,
            true,
        );
    }
    // Tail.
    let tail_up = lerp(-0.6, 0.4, l.s(2));
    if legs == 0 {
        // Fish-like: a tail fin.
        c.fill(
            f,
            &Shape::Triangle {
                p: [[-body_rx * 0.8, 0.0], [-body_rx - 0.35, -0.3], [-body_rx - 0.35, 0.3]],
            },
            &dark_coat,
            true,
        );
    } else {
        c.fill(
            f,
            &Shape::Capsule {
                a: [-body_rx * 0.85, 0.0],
                b: [-body_rx - 0.3, tail_up],
                r: 0.045,
            },
            &dark_coat,
            true,
        );
    }
    c.fill(
        f,
        &Shape::Ellipse {
            rx: body_rx,
            ry: body_ry,
        },
        &coat,
        true,
    );
    let head_r = lerp(0.2, 0.34, l.s(2));
    let (hu, hv) = (
        body_rx * 0.9,
        if legs == 0 {
            0.0
        } else {
            -body_ry * lerp(0.6, 1.3, l.s(1))
        },
    );
    let head = f.child(hu, hv, 0.0, 1.0);
    if legs > 0 {
        // Neck.
        c.fill(
            f,
            &Shape::Capsule {
                a: [body_rx * 0.6, 0.0],
                b: [hu, hv],
                r: head_r * 0.55,
            },
            &coat,
            true,
        );
        let ear_pointy = l.k(1, 2) == 1;
        for du in [-0.5f32, 0.3] {
            let shape = if ear_pointy {
                Shape::Triangle {
                    p: [
                        [du * head_r - 0.08, -head_r * 0.6],
                        [du * head_r + 0.08, -head_r * 0.6],
                        [du * head_r, -head_r * 1.5],
                    ],
                }
            } else {
                Shape::Ellipse {
                    rx: head_r * 0.35,
                    ry: head_r * 0.35,
                }
            };
            let ear_frame = if ear_pointy {
                head
            } else {
                head.child(du * head_r, -head_r * 0.8, 0.0, 1.0)
            };
            c.fill(&ear_frame, &shape, &dark_coat, true);
        }
    }
    c.fill(
        &head,
        &Shape::Ellipse {
            rx: head_r * 1.1,
            ry: head_r,
        },
        &coat,
        true,
    );
    // Snout and eye.
    c.fill(
        &head.child(head_r * 0.9, head_r * 0.25, 0.0, 1.0),
        &Shape::Ellipse {
            rx: head_r * 0.45,
            ry: head_r * 0.35,
        },
        &plain,
        true,
    );
    c.fill(
        &head.child(head_r * 0.35, -head_r * 0.25, 0.0, 1.0),
        &Shape::Ellipse { rx: 0.05, ry: 0.05 },
        &Paint::solid(DARK),
        true,
    );
}

/// Elongated handle plus a class-specific head (hammer, blade, wrench, fork, brush).
fn draw_tool(c: &mut Canvas, f: &Frame, l: &Look, _rng: &mut CounterRng) {
    // Class orientation on top of the instance rotation; the whole tool spans local u ∈ [−1, 1].
    let f = f.child(0.0, 0.0, l.s(3) * PI, 1.0);
    let handle_r = lerp(0.12, 0.22, l.s(0));
    let grip = Paint {
        a: l.primary,
        b: scale_rgb(l.primary, 0.6),
        texture: if l.texture_family.is_multiple_of(2) {
            Texture::Uniform
        } else {
            Texture::Grating {
                ori: 0.0,
                freq: lerp(4.0, 9.0, l.theta[dim::TEXTURE_FREQUENCY]),
                phase: 0.0,
            }
        },
        shade: 0.3,
        alpha: 1.0,
    };
    let metal = Paint::shaded(l.secondary, 0.35);
    let head_size = lerp(0.9, 1.5, l.s(2));
    let kind = l.k(1, 5);
    let handle_end = if kind == 1 { 0.0 } else { 0.35 };
    c.fill(
        &f,
        &Shape::Capsule {
            a: [-1.0, 0.0],
            b: [handle_end, 0.0],
            r: handle_r,
        },
        &grip,
        true,
    );
    match kind {
        0 => {
            c.fill(
                &f.child(0.45, 0.0, 0.0, 1.0),
                &Shape::RoundRect {
                    hx: 0.14,
                    hy: 0.32 * head_size,
                    r: 0.04,
                },
                &metal,
                true,
            );
        }
        1 => {
            c.fill(
                &f,
                &Shape::RoundRect {
                    hx: 0.05,
                    hy: handle_r * 1.6,
                    r: 0.02,
                },
                &metal,
                true,
            );
            c.fill(
                &f.child(0.5, 0.0, 0.0, 1.0),
                &Shape::Ellipse {
                    rx: 0.5,
                    ry: 0.08 * head_size,
                },
                &metal,
                true,
            );
        }
        2 => {
            c.fill(
                &f.child(0.55, 0.0, 0.0, 1.0),
                &Shape::Arc {
                    r: 0.2 * head_size,
                    w: 0.07,
                    a0: -PI + 0.9,
                    a1: PI - 0.9,
                },
                &metal,
                true,
            );
        }
        3 => {
            let n = 3 + l.k(4, 3);
            let spread = 0.28 * head_size;
            c.fill(
                &f,
                &Shape::Capsule {
                    a: [0.35, -spread],
                    b: [0.35, spread],
                    r: 0.05,
                },
                &metal,
                true,
            );
            for i in 0..n {
                let v = lerp(-spread, spread, i as f32 / (n - 1) as f32);
                c.fill(
                    &f,
                    &Shape::Capsule {
                        a: [0.35, v],
                        b: [0.95, v],
                        r: 0.035,
                    },
                    &metal,
                    true,
                );
            }
        }
        _ => {
            let bristles = Paint {
                a: l.secondary,
                b: scale_rgb(l.secondary, 0.5),
                texture: Texture::Grating {
                    ori: FRAC_PI_2,
                    freq: 14.0,
                    phase: 0.0,
                },
                shade: 0.2,
                alpha: 1.0,
            };
            c.fill(
                &f.child(0.5, 0.0, 0.0, 1.0),
                &Shape::RoundRect {
                    hx: 0.14,
                    hy: 0.22 * head_size,
                    r: 0.05,
                },
                &metal,
                true,
            );
            c.fill(
                &f.child(0.8, 0.0, 0.0, 1.0),
                &Shape::RoundRect {
                    hx: 0.2,
                    hy: 0.26 * head_size,
                    r: 0.02,
                },
                &bristles,
                true,
            );
        }
    }
}

/// Horizon, sky and textured ground plane with mountains; no figure, the mask stays empty.
fn draw_scene(c: &mut Canvas, l: &Look, rng: &mut CounterRng) {
    let size = c.size;
    let w = size as f32;
    let horizon = w * (lerp(0.3, 0.65, l.s(0)) + rng.range(-0.05, 0.05) as f32);
    let tilt = (l.s(1) - 0.5) * 0.25 + rng.range(-0.05, 0.05) as f32;
    let sky = l.secondary;
    let haze = scale_rgb([sky[0] * 0.5 + 0.5, sky[1] * 0.5 + 0.5, sky[2] * 0.5 + 0.5], 1.0);
    let ground = l.primary;
    let ground_b = scale_rgb(l.primary, 0.6);
    let vanish_x = w * (0.5 + rng.range(-0.2, 0.2) as f32);
    let freq = lerp(3.0, 10.0, l.theta[dim::TEXTURE_FREQUENCY]);
    let phase = rng.range(0.0, TAU as f64) as f32;
    let kind = l.texture_family;
    for y in 0..size {
        for x in 0..size {
            let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
            let hy = horizon + tilt * (fx - w / 2.0);
            let d = fy - hy;
            let p = y * size + x;
            let t = (-d / w * 2.5).clamp(0.0, 1.0);
            let sky_col = [
                lerp(haze[0], sky[0], t),
                lerp(haze[1], sky[1], t),
                lerp(haze[2], sky[2], t),
            ];
            // Perspective: depth ∝ 1/d, lateral ∝ (x − vanishing point)/d.
            let dg = d.max(0.0);
            let depth = w / (dg + 1.0);
            let lateral = (fx - vanish_x) / (dg + 1.0);
            let m = match kind {
                1 => 0.5 + 0.5 * (freq * depth * 0.5 + phase).sin(),
                2 => {
                    let a = (freq * depth * 0.5 + phase).sin() * (freq * lateral * 1.5).sin();
                    (0.5 + 3.0 * a).clamp(0.0, 1.0)
                }
                3 => ((0.6 - (lateral * 1.2).abs()) * 4.0).clamp(0.0, 1.0),
                4 => 0.5 + 0.5 * (freq * depth * 2.0 + phase + 0.5 * (fx * 0.3).sin()).sin() * (dg / w * 2.0).min(1.0),
                _ => 0.0,
            };
            let ground_col = [
                lerp(ground[0], ground_b[0], m),
                lerp(ground[1], ground_b[1], m),
                lerp(ground[2], ground_b[2], m),
            ];
            // Anti-aliased horizon; the sky keeps a little of the background as clouds, the ground more as
            // natural texture.
            let g = (d + 0.5).clamp(0.0, 1.0);
            let px = &mut c.rgb[p * 3..p * 3 + 3];
            for ch in 0..3 {
                let sky_v = sky_col[ch] * 0.88 + px[ch] * 0.12;
                let ground_v = ground_col[ch] * 0.65 + px[ch] * 0.35;
                px[ch] = lerp(sky_v, ground_v, g);
            }
        }
    }
    // Mountains or hills on the horizon (large planes), bluish with distance.
    let n_mountains = l.k(2, 4);
    let mountain = Paint::shaded(
        [
            lerp(sky[0], ground[0], 0.4) * 0.8,
            lerp(sky[1], ground[1], 0.4) * 0.8,
            lerp(sky[2], ground[2], 0.4) * 0.85,
        ],
        0.15,
    );
    let frame = Frame::new(0.0, 0.0, 0.0, 1.0, false);
    for i in 0..n_mountains {
        let mx = w * ((i as f32 + 0.5) / n_mountains as f32 + rng.range(-0.12, 0.12) as f32);
        let hgt = w * lerp(0.1, 0.3, l.s(3)) * rng.range(0.7, 1.2) as f32;
        let half = hgt * lerp(1.0, 2.2, l.s(4));
        let base = horizon + tilt * (mx - w / 2.0) + 1.5;
        c.fill(
            &frame,
            &Shape::Triangle {
                p: [[mx - half, base], [mx + half, base], [mx, base - hgt]],
            },
            &mountain,
            false,
        );
    }
    if l.k(4, 5) >= 3 {
        let sun = Paint::solid(scale_rgb([1.0, 0.95, 0.75], 1.0));
        let sx = w * rng.range(0.15, 0.85) as f32;
        let sy = (horizon * rng.range(0.2, 0.6) as f32).max(w * 0.08);
        c.fill(
            &Frame::new(sx, sy, 0.0, w * 0.06, false),
            &Shape::Ellipse { rx: 1.0, ry: 1.0 },
            &sun,
            false,
        );
    }
}

/// Round, saturated foods: fruit, sliced round, elongated loaf, berry cluster; optionally on a plate.
fn draw_food(c: &mut Canvas, f: &Frame, l: &Look, rng: &mut CounterRng) {
    let kind = l.k(0, 4);
    let on_plate = l.k(4, 2) == 1;
    let f = if on_plate {
        c.fill(
            f,
            &Shape::Ellipse { rx: 1.0, ry: 1.0 },
            &Paint::shaded([0.92, 0.92, 0.9], 0.1),
            true,
        );
        c.fill(
            f,
            &Shape::Ring { r: 0.85, w: 0.015 },
            &Paint::solid([0.78, 0.78, 0.76]),
            true,
        );
        f.child(0.0, 0.0, 0.0, 0.72)
    } else {
        *f
    };
    let body = Paint {
        a: l.primary,
        b: scale_rgb(l.primary, 0.75),
        texture: l.texture,
        shade: 0.3,
        alpha: 1.0,
    };
    let stem = Paint::solid(hsv_to_rgb(0.08, 0.6, 0.3));
    let leaf = Paint::shaded(hsv_to_rgb(0.3, 0.7, 0.5), 0.2);
    let phases = [
        l.theta[dim::TEXTURE_ORIENTATION] * TAU,
        l.theta[dim::TEXTURE_FREQUENCY] * TAU,
        1.0,
        2.0,
    ];
    match kind {
        0 => {
            let wobble = lerp(0.0, 0.1, l.s(1));
            let shape = Shape::Polar {
                r0: 0.85,
                harmonics: [(wobble, phases[0]), (wobble * 0.5, phases[1]), (0.0, 0.0), (0.0, 0.0)],
                star_n: 0.0,
                star_depth: 0.0,
            };
            c.fill(&f, &shape, &body, true);
            c.fill(
                &f,
                &Shape::Capsule {
                    a: [0.0, -0.75],
                    b: [0.08, -1.05],
                    r: 0.05,
                },
                &stem,
                true,
            );
            if l.k(2, 5) >= 2 {
                c.fill(
                    &f.child(0.22, -0.95, 0.5, 1.0),
                    &Shape::Ellipse { rx: 0.22, ry: 0.08 },
                    &leaf,
                    true,
                );
            }
        }
        1 => {
            let rind = Paint::shaded(l.secondary, 0.2);
            c.fill(&f, &Shape::Ellipse { rx: 0.9, ry: 0.9 }, &rind, true);
            let segments = 5.0 + l.k(1, 5) as f32;
            let flesh = Paint {
                a: l.primary,
                b: scale_rgb(l.primary, 0.7),
                texture: Texture::Radial {
                    freq: segments,
                    phase: rng.range(0.0, 6.3) as f32,
                },
                shade: 0.15,
                alpha: 1.0,
            };
            c.fill(&f, &Shape::Ellipse { rx: 0.8, ry: 0.8 }, &flesh, true);
            if l.k(2, 2) == 1 {
                let seed_paint = Paint::solid(scale_rgb(l.secondary, 0.5));
                for i in 0..6 {
                    let a = i as f32 / 6.0 * TAU + phases[0];
                    c.fill(
                        &f.child(0.45 * a.cos(), 0.45 * a.sin(), a, 1.0),
                        &Shape::Ellipse { rx: 0.09, ry: 0.06 },
                        &seed_paint,
                        true,
                    );
                }
            }
        }
        2 => {
            let ry = lerp(0.3, 0.55, l.s(1));
            let bend = lerp(-0.3, 0.3, l.s(2));
            c.fill(
                &f.child(0.0, bend * 0.3, 0.0, 1.0),
                &Shape::Ellipse { rx: 0.95, ry },
                &body,
                true,
            );
            // Scores across the top.
            let score = Paint::solid(scale_rgb(l.primary, 0.6));
            for i in 0..3 {
                let u = (i as f32 - 1.0) * 0.4;
                c.fill(
                    &f.child(u, bend * 0.3 - ry * 0.3, 0.6, 1.0),
                    &Shape::Capsule {
                        a: [0.0, -ry * 0.3],
                        b: [0.0, ry * 0.3],
                        r: 0.03,
                    },
                    &score,
                    true,
                );
            }
        }
        _ => {
            let r = lerp(0.16, 0.26, l.s(1));
            let rows = [1usize, 2, 3, 4];
            let berry = Paint::shaded(l.primary, 0.35);
            c.fill(
                &f,
                &Shape::Capsule {
                    a: [0.0, -0.7],
                    b: [0.05, -1.0],
                    r: 0.04,
                },
                &stem,
                true,
            );
            for (ri, &n) in rows.iter().rev().enumerate() {
                for k in 0..n {
                    let u = (k as f32 - (n as f32 - 1.0) / 2.0) * r * 1.8 + rng.range(-0.03, 0.03) as f32;
                    let v = -0.6 + ri as f32 * r * 1.6;
                    c.fill(&f.child(u, v, 0.0, 1.0), &Shape::Ellipse { rx: r, ry: r }, &berry, true);
                }
            }
        }
    }
    // Specular highlight.
    c.fill(
        &f.child(-0.3, -0.35, -0.6, 1.0),
        &Shape::Ellipse { rx: 0.14, ry: 0.08 },
        &Paint {
            alpha: 0.45,
            ..Paint::solid([1.0, 1.0, 1.0])
        },
        true,
    );
}

/// Box body with a cabin, windows and wheels.
fn draw_vehicle(c: &mut Canvas, f: &Frame, l: &Look, _rng: &mut CounterRng) {
    let body_hy = lerp(0.18, 0.32, l.s(0));
    let cabin_hx = lerp(0.3, 0.75, l.s(1));
    let cabin_hy = lerp(0.15, 0.28, l.s(0));
    let cabin_u = (l.s(2) - 0.5) * (1.0 - cabin_hx) * 1.4;
    let wheel_r = lerp(0.16, 0.28, l.s(4));
    let wheels: &[f32] = if l.k(3, 5) == 4 {
        &[-0.68, -0.25, 0.68]
    } else {
        &[-0.62, 0.62]
    };
    let paint_texture = if l.texture_family == 1 {
        Texture::Grating {
            ori: FRAC_PI_2,
            freq: 2.0,
            phase: 0.0,
        }
    } else {
        Texture::Uniform
    };
    let body = Paint {
        a: l.primary,
        b: scale_rgb(l.primary, 0.7),
        texture: paint_texture,
        shade: 0.25,
        alpha: 1.0,
    };
    let glass = Paint::shaded(l.secondary, 0.3);
    let body_v = 0.05;
    let cabin_v = body_v - body_hy - cabin_hy * 0.85;
    c.fill(
        &f.child(cabin_u, cabin_v, 0.0, 1.0),
        &Shape::RoundRect {
            hx: cabin_hx,
            hy: cabin_hy,
            r: cabin_hy * 0.6,
        },
        &body,
        true,
    );
    let n_windows = 2 + l.k(1, 2);
    for i in 0..n_windows {
        let wu = cabin_u + lerp(-cabin_hx, cabin_hx, (i as f32 + 0.5) / n_windows as f32);
        let wx = cabin_hx / n_windows as f32 * 0.75;
        c.fill(
            &f.child(wu, cabin_v - cabin_hy * 0.05, 0.0, 1.0),
            &Shape::RoundRect {
                hx: wx,
                hy: cabin_hy * 0.65,
                r: 0.03,
            },
            &glass,
            true,
        );
    }
    c.fill(
        &f.child(0.0, body_v, 0.0, 1.0),
        &Shape::RoundRect {
            hx: 1.0,
            hy: body_hy,
            r: 0.1,
        },
        &body,
        true,
    );
    c.fill(
        &f.child(0.93, body_v - body_hy * 0.3, 0.0, 1.0),
        &Shape::Ellipse { rx: 0.06, ry: 0.05 },
        &Paint::solid([1.0, 0.95, 0.6]),
        true,
    );
    let tyre = Paint::shaded([0.08, 0.08, 0.09], 0.1);
    let hub = Paint::shaded([0.7, 0.7, 0.72], 0.2);
    for &u in wheels {
        let wf = f.child(u, body_v + body_hy, 0.0, 1.0);
        c.fill(
            &wf,
            &Shape::Ellipse {
                rx: wheel_r,
                ry: wheel_r,
            },
            &tyre,
            true,
        );
        c.fill(
            &wf,
            &Shape::Ellipse {
                rx: wheel_r * 0.45,
                ry: wheel_r * 0.45,
            },
            &hub,
            true,
        );
    }
}

/// Recursive branching strokes with leaf ellipses and optional blossoms.
fn draw_plant(c: &mut Canvas, f: &Frame, l: &Look, rng: &mut CounterRng) {
    let depth = 2 + l.k(0, 3);
    let spread = lerp(0.3, 0.8, l.s(1));
    let leaf_size = lerp(0.15, 0.3, l.s(2));
    let leaf_aspect = lerp(0.25, 0.7, l.s(3));
    let flowers = l.k(4, 5) >= 3;
    let bark = Paint::shaded(hsv_to_rgb(0.07, 0.55, lerp(0.25, 0.45, l.theta[dim::VALUE])), 0.2);
    let leaf_texture = if l.texture_family == 1 {
        Texture::Grating {
            ori: 0.0,
            freq: 6.0,
            phase: 0.0,
        }
    } else {
        Texture::Uniform
    };
    let leaf = Paint {
        a: l.primary,
        b: scale_rgb(l.primary, 0.7),
        texture: leaf_texture,
        shade: 0.3,
        alpha: 1.0,
    };
    let blossom = Paint::shaded(l.secondary, 0.2);
    let three_way = l.texture_family >= 3;
    if l.texture_family == 2 || l.texture_family == 5 {
        // Flower pot.
        let pot = Paint::shaded(
            hsv_to_rgb(0.05 + l.theta[dim::TEXTURE_ORIENTATION] * 0.1, 0.6, 0.6),
            0.25,
        );
        c.fill(
            f,
            &Shape::Triangle {
                p: [[-0.3, 0.7], [0.3, 0.7], [0.0, 1.5]],
            },
            &pot,
            true,
        );
        c.fill(
            &f.child(0.0, 0.88, 0.0, 1.0),
            &Shape::RoundRect {
                hx: 0.25,
                hy: 0.14,
                r: 0.03,
            },
            &pot,
            true,
        );
    }
    // Explicit stack instead of recursion: (start, angle, length, level).
    let mut stack = vec![([0.0f32, 0.8f32], 0.0f32, lerp(0.5, 0.7, 1.0 - l.s(0)), 0usize)];
    let mut tips = Vec::new();
    while let Some((p, angle, len, level)) = stack.pop() {
        let end = [p[0] + len * angle.sin(), p[1] - len * angle.cos()];
        let r = 0.05 * (depth - level) as f32 / depth as f32 + 0.012;
        c.fill(f, &Shape::Capsule { a: p, b: end, r }, &bark, true);
        if level + 1 >= depth {
            tips.push((end, angle));
            continue;
        }
        let children: &[f32] = if three_way { &[-1.0, 0.0, 1.0] } else { &[-1.0, 1.0] };
        for &k in children {
            let a = angle + k * spread + rng.range(-0.15, 0.15) as f32;
            stack.push((end, a, len * rng.range(0.62, 0.78) as f32, level + 1));
        }
    }
    for (p, angle) in tips {
        for k in [-1.0f32, 0.0, 1.0] {
            let a = angle + k * 0.7;
            let (u, v) = (p[0] + leaf_size * a.sin(), p[1] - leaf_size * a.cos());
            c.fill(
                &f.child(u, v, a, 1.0),
                &Shape::Ellipse {
                    rx: leaf_size * leaf_aspect,
                    ry: leaf_size,
                },
                &leaf,
                true,
            );
        }
        if flowers {
            let fl = f.child(p[0], p[1], 0.0, 1.0);
            c.fill(
                &fl,
                &Shape::Polar {
                    r0: leaf_size * 0.9,
                    harmonics: [(0.0, 0.0); 4],
                    star_n: 5.0,
                    star_depth: 0.5,
                },
                &blossom,
                true,
            );
            c.fill(
                &fl,
                &Shape::Ellipse {
                    rx: leaf_size * 0.25,
                    ry: leaf_size * 0.25,
                },
                &Paint::solid([0.95, 0.85, 0.2]),
                true,
            );
        }
    }
}

/// Rectangular façade with a window grid, a door and a flat, gabled or domed roof.
fn draw_building(c: &mut Canvas, f: &Frame, l: &Look, rng: &mut CounterRng) {
    let hx = lerp(0.4, 0.9, l.s(0));
    let hy = 0.8;
    let rows = 2 + l.k(1, 5);
    let cols = 2 + l.k(2, 4);
    let roof_kind = l.k(3, 3);
    let facade_texture = match l.texture_family {
        1 | 4 => Texture::Grating {
            ori: FRAC_PI_2,
            freq: lerp(6.0, 14.0, l.theta[dim::TEXTURE_FREQUENCY]),
            phase: 0.0,
        },
        2 => Texture::Checks {
            ori: 0.0,
            freq: lerp(8.0, 16.0, l.theta[dim::TEXTURE_FREQUENCY]),
            phase: 0.0,
        },
        5 => Texture::Noise { freq: 5.0, key: l.key },
        _ => Texture::Uniform,
    };
    let facade = Paint {
        a: l.primary,
        b: scale_rgb(l.primary, 0.85),
        texture: facade_texture,
        shade: 0.15,
        alpha: 1.0,
    };
    let roof = Paint::shaded(
        scale_rgb(hsv_to_rgb(l.theta[dim::SECOND_HUE] * 0.15, 0.5, 0.55), 1.0),
        0.2,
    );
    match roof_kind {
        1 => c.fill(
            f,
            &Shape::Triangle {
                p: [
                    [-hx - 0.08, -hy + 0.02],
                    [hx + 0.08, -hy + 0.02],
                    [0.0, -hy - lerp(0.2, 0.45, l.s(4))],
                ],
            },
            &roof,
            true,
        ),
        2 => c.fill(
            &f.child(0.0, -hy, 0.0, 1.0),
            &Shape::Ellipse {
                rx: hx * 0.6,
                ry: lerp(0.15, 0.35, l.s(4)),
            },
            &roof,
            true,
        ),
        _ => {}
    }
    c.fill(f, &Shape::RoundRect { hx, hy, r: 0.02 }, &facade, true);
    if roof_kind == 0 {
        c.fill(
            &f.child(0.0, -hy, 0.0, 1.0),
            &Shape::RoundRect {
                hx: hx + 0.05,
                hy: 0.05,
                r: 0.01,
            },
            &roof,
            true,
        );
    }
    let lit_share = l.theta[dim::TEXTURE_ORIENTATION];
    let lit = Paint::solid(hsv_to_rgb(0.13, 0.5, 0.95));
    let dark = Paint::shaded(l.secondary, 0.4);
    let (cell_w, cell_h) = (2.0 * hx / cols as f32, (2.0 * hy - 0.45) / rows as f32);
    let window = Shape::RoundRect {
        hx: cell_w * 0.3,
        hy: cell_h * 0.3,
        r: 0.01,
    };
    for r in 0..rows {
        for k in 0..cols {
            let u = -hx + (k as f32 + 0.5) * cell_w;
            let v = -hy + 0.05 + (r as f32 + 0.5) * cell_h;
            let p = if rng.uniform() < lit_share as f64 * 0.6 {
                &lit
            } else {
                &dark
            };
            c.fill(&f.child(u, v, 0.0, 1.0), &window, p, true);
        }
    }
    let door = Paint::shaded(scale_rgb(l.secondary, 0.6), 0.2);
    c.fill(
        &f.child(0.0, hy - 0.17, 0.0, 1.0),
        &Shape::RoundRect {
            hx: 0.1,
            hy: 0.17,
            r: 0.02,
        },
        &door,
        true,
    );
}

/// A glyph of 2–4 strokes on a 3×3 grid (fixed per class), optionally on a plate (disk, square, diamond).
fn draw_symbol(c: &mut Canvas, f: &Frame, l: &Look, rng: &mut CounterRng) {
    let plate_kind = l.k(0, 4);
    let width = lerp(0.07, 0.14, l.s(1));
    let plate = Paint::shaded(l.primary, 0.15);
    match plate_kind {
        1 => c.fill(f, &Shape::Ellipse { rx: 1.0, ry: 1.0 }, &plate, true),
        2 => c.fill(
            f,
            &Shape::RoundRect {
                hx: 0.9,
                hy: 0.9,
                r: 0.2,
            },
            &plate,
            true,
        ),
        3 => c.fill(
            &f.child(0.0, 0.0, PI / 4.0, 1.0),
            &Shape::RoundRect {
                hx: 0.72,
                hy: 0.72,
                r: 0.08,
            },
            &plate,
            true,
        ),
        _ => {}
    }
    let ink = Paint::solid(if plate_kind == 0 { l.primary } else { l.secondary });
    // The glyph comes from the class centre only (not the instance jitter): hash θ's bits.
    let mut g = CounterRng::new(mix_key(0x6c79, &l.class_theta.map(|x| x.to_bits() as u64)));
    let n_strokes = 2 + g.below(3) as usize;
    let node = |i: u64| -> [f32; 2] { [((i % 3) as f32 - 1.0) * 0.5, ((i / 3) as f32 - 1.0) * 0.55] };
    for _ in 0..n_strokes {
        let a = g.below(9);
        let mut b = g.below(9);
        if a == b {
            b = (a + 4) % 9;
        }
        let kind = g.below(4);
        let j = |rng: &mut CounterRng| rng.range(-0.04, 0.04) as f32;
        let (pa, pb) = (node(a), node(b));
        if kind == 0 {
            // Arc stroke centred between the two nodes.
            let (mx, my) = ((pa[0] + pb[0]) / 2.0, (pa[1] + pb[1]) / 2.0);
            let r = (((pa[0] - pb[0]).powi(2) + (pa[1] - pb[1]).powi(2)).sqrt() / 2.0).max(0.25);
            let a0 = g.range(-PI as f64, 0.0) as f32;
            c.fill(
                &f.child(mx + j(rng), my + j(rng), 0.0, 1.0),
                &Shape::Arc {
                    r,
                    w: width,
                    a0,
                    a1: a0 + PI,
                },
                &ink,
                true,
            );
        } else {
            c.fill(
                f,
                &Shape::Capsule {
                    a: [pa[0] + j(rng), pa[1] + j(rng)],
                    b: [pb[0] + j(rng), pb[1] + j(rng)],
                    r: width,
                },
                &ink,
                true,
            );
        }
    }
}

/// Full-field texture (no figure): the class's texture family, orientation, frequency and colours, with an
/// instance phase and slight orientation change; an optional second layer makes plaids.
fn draw_pattern(c: &mut Canvas, l: &Look, rng: &mut CounterRng) {
    let size = c.size;
    let w = size as f32;
    let family = if l.texture_family == 0 { 6 } else { l.texture_family };
    let ori = l.theta[dim::TEXTURE_ORIENTATION] * PI + rng.range(-0.1, 0.1) as f32;
    // Cycles per half-field (local unit = W/2).
    let freq = lerp(1.5, 6.0, l.theta[dim::TEXTURE_FREQUENCY]) * rng.range(0.9, 1.1) as f32;
    let phase = rng.range(0.0, TAU as f64) as f32;
    let base = if family == 6 {
        Texture::Grating {
            ori,
            freq: freq * 0.5,
            phase,
        }
    } else {
        Texture::from_family(family, ori, freq, phase, mix_key(l.key, &[0x9a]))
    }
    .prepare();
    let overlay = if l.k(0, 2) == 1 || family == 6 {
        Some(
            Texture::Grating {
                ori: ori + FRAC_PI_2 * lerp(0.5, 1.0, l.s(1)),
                freq: freq * lerp(0.5, 1.5, l.s(2)),
                phase: phase * 1.7,
            }
            .prepare(),
        )
    } else {
        None
    };
    let (cx, cy) = (w * rng.range(0.3, 0.7) as f32, w * rng.range(0.3, 0.7) as f32);
    let px = 2.0 / w;
    let keep = 0.15;
    for y in 0..size {
        for x in 0..size {
            let u = (x as f32 + 0.5 - cx) * px;
            let v = (y as f32 + 0.5 - cy) * px;
            let mut t = base.at(u, v, px);
            if let Some(o) = overlay {
                t = 0.6 * t + 0.4 * o.at(u, v, px);
            }
            let p = y * size + x;
            for ch in 0..3 {
                let col = lerp(l.primary[ch], l.secondary[ch], t);
                c.rgb[p * 3 + ch] = col * (1.0 - keep) + c.rgb[p * 3 + ch] * keep;
            }
        }
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
    vox2pix_formats::io::write_bytes_atomic(path, &png)
}
