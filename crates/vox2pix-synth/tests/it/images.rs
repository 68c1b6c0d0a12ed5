//! Image generator checks (`synthetic-world.md` §3 and §6 #1, #3, #4): determinism, value ranges, background
//! spectrum, per-super-category statistics, class distinctness, contact sheets.
use vox2pix_synth::render::{render, render_background, to_u8, write_contact_sheet, Rendered, Role};
use vox2pix_synth::taxonomy::{SuperCategory, Taxonomy, N_SUPER};

const SEED: u64 = 20_221_103;

#[test]
fn same_inputs_give_bit_identical_images_and_other_inputs_differ() {
    let tax = Taxonomy::new(SEED, 40);
    for class in 0..20u32 {
        for size in [32, 112] {
            let a = render(&tax, SEED, Role::Train, class, 3, size);
            let b = render(&tax, SEED, Role::Train, class, 3, size);
            assert_eq!(
                a.rgb.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                b.rgb.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
            assert_eq!(
                a.mask.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                b.mask.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
            assert_eq!(a.theta, b.theta);
            // Rendering other images in between does not change the result (no hidden state).
            let _ = render(&tax, SEED, Role::Test, class, 9, size);
            assert_eq!(render(&tax, SEED, Role::Train, class, 3, size).rgb, a.rgb);
            let others = [
                render(&Taxonomy::new(SEED + 1, 40), SEED + 1, Role::Train, class, 3, size),
                render(&tax, SEED, Role::Test, class, 3, size),
                render(&tax, SEED, Role::Unpaired, class, 3, size),
                render(&tax, SEED, Role::Exemplar, class, 3, size),
                render(&tax, SEED, Role::Distractor, class, 3, size),
                render(&tax, SEED, Role::Train, class, 4, size),
            ];
            for (i, o) in others.iter().enumerate() {
                let mad = mean_abs_diff(&a.rgb, &o.rgb);
                assert!(
                    mad > 0.02,
                    "class {class} size {size}: variant {i} differs by only {mad}"
                );
            }
        }
    }
}

#[test]
fn values_in_range_at_every_size() {
    let tax = Taxonomy::new(SEED, 30);
    for size in [32, 64, 112, 224] {
        for class in 0..10u32 {
            let r = render(&tax, SEED, Role::Unpaired, class, 0, size);
            assert_eq!(
                (r.size, r.rgb.len(), r.mask.len()),
                (size, size * size * 3, size * size)
            );
            assert!(
                r.rgb.iter().all(|v| (0.0..=1.0).contains(v)),
                "class {class} size {size}: rgb out of [0,1]"
            );
            assert!(
                r.mask.iter().all(|v| (0.0..=1.0).contains(v)),
                "class {class} size {size}: mask out of [0,1]"
            );
            assert_eq!(r.class, class);
            assert_eq!(r.super_category, tax.super_of(class));
            // Not a flat image.
            let mean = r.rgb.iter().sum::<f32>() / r.rgb.len() as f32;
            let var = r.rgb.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / r.rgb.len() as f32;
            assert!(var > 1e-3, "class {class} size {size}: nearly flat image (var {var})");
        }
    }
    let bytes = to_u8(&[0.0, 1.0, 0.5, -0.2, 1.7, 0.25]);
    assert_eq!(bytes, vec![0, 255, 128, 0, 255, 64]);
}

fn mean_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32
}

fn main_tiles(tax: &Taxonomy, classes_per_super: usize, size: usize) -> Vec<Rendered> {
    let mut tiles = Vec::new();
    for s in 0..N_SUPER {
        for k in 0..classes_per_super {
            let class = (k * N_SUPER + s) as u32;
            tiles.push(render(tax, SEED, Role::Train, class, k as u32, size));
        }
    }
    tiles
}

/// Writes the review contact sheet (10 super-categories × 8 classes, plus a row of instances per super-category)
/// to $VOX2PIX_CONTACT_SHEET or /tmp/vox2pix_synth_contact.png.
#[test]
#[ignore = "writes a review image; run with --ignored"]
fn write_review_contact_sheet() {
    let path = std::env::var("VOX2PIX_CONTACT_SHEET").unwrap_or_else(|_| "/tmp/vox2pix_synth_contact.png".into());
    let size: usize = std::env::var("VOX2PIX_CONTACT_SIZE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(112);
    let tax = Taxonomy::new(SEED, 1030);
    let tiles = main_tiles(&tax, 8, size);
    write_contact_sheet(std::path::Path::new(&path), &tiles, 8).unwrap();
    // Instances of one class per super-category.
    let mut inst = Vec::new();
    for s in 0..N_SUPER {
        for i in 0..8 {
            inst.push(render(&tax, SEED, Role::Unpaired, s as u32, i, size));
        }
    }
    write_contact_sheet(std::path::Path::new(&path.replace(".png", "_instances.png")), &inst, 8).unwrap();
}

/// Nanoseconds this thread has spent on a CPU (Linux schedstat); unlike wall time it is not inflated when other
/// processes share the cores.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Iterations for timing tests: $VOX2PIX_BENCH_N or `default` (small values let callgrind count instructions).
fn bench_n(default: usize) -> usize {
    std::env::var("VOX2PIX_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Milliseconds per call of `f` over `n` calls: (wall, on-CPU).
fn time_per_call(n: usize, mut f: impl FnMut(usize)) -> (f64, f64) {
    let (t0, c0) = (std::time::Instant::now(), thread_cpu_ns());
    for i in 0..n {
        f(i);
    }
    (
        t0.elapsed().as_secs_f64() * 1e3 / n as f64,
        (thread_cpu_ns() - c0) as f64 * 1e-6 / n as f64,
    )
}

#[test]
#[ignore = "timing; run with --ignored --nocapture --test-threads 1 in release"]
fn render_cost() {
    let tax = Taxonomy::new(SEED, 1030);
    let n = bench_n(400);
    for size in [32, 64, 112, 224] {
        let (wall, cpu) = time_per_call(n, |i| {
            std::hint::black_box(render(
                &tax,
                SEED,
                Role::Unpaired,
                (i * 7 % 1030) as u32,
                i as u32,
                size,
            ));
        });
        let (bg_wall, bg_cpu) = time_per_call(n, |i| {
            std::hint::black_box(render_background(i as u64, size));
        });
        println!("size {size}: {cpu:.3} ms CPU per image ({wall:.3} wall); background alone {bg_cpu:.3} ms CPU ({bg_wall:.3} wall)");
    }
    for s in 0..N_SUPER {
        let (wall, cpu) = time_per_call(n / 2, |i| {
            std::hint::black_box(render(
                &tax,
                SEED,
                Role::Unpaired,
                (s + 10 * (i % 100)) as u32,
                i as u32,
                112,
            ));
        });
        println!(
            "{:>9}: {cpu:.3} ms CPU per 112 px image ({wall:.3} wall)",
            SuperCategory::from_index(s).name()
        );
    }
}

#[test]
#[ignore = "timing; run with --ignored --nocapture --test-threads 1 in release"]
fn background_parts_cost() {
    use vox2pix_formats::rng::CounterRng;
    use vox2pix_synth::texture::{dead_leaves, pink_noise_field};
    let size = 112;
    let mut rgb = vec![0f32; size * size * 3];
    let n = bench_n(300);
    let (_, dl) = time_per_call(n, |i| {
        dead_leaves(&mut rgb, size, &mut CounterRng::new(i as u64), 1.0, 0.35 * size as f32)
    });
    let (_, pn) = time_per_call(n, |i| {
        std::hint::black_box(pink_noise_field(size, i as u64, 1.0));
    });
    println!("112 px, CPU per call: dead leaves {dl:.3} ms, 1/f noise {pn:.3} ms");
}

/// Radially averaged power spectrum slope (log P vs log f) of a grey image, by a direct 2-D DFT with a Hann
/// window, fitted over 2 … size/4 cycles per image.
fn spectrum_slope(grey: &[f64], size: usize) -> f64 {
    let n = size;
    let mean = grey.iter().sum::<f64>() / (n * n) as f64;
    let hann: Vec<f64> = (0..n)
        .map(|i| 0.5 - 0.5 * (std::f64::consts::TAU * (i as f64 + 0.5) / n as f64).cos())
        .collect();
    let x: Vec<f64> = (0..n * n)
        .map(|p| (grey[p] - mean) * hann[p / n] * hann[p % n])
        .collect();
    let (cos, sin): (Vec<f64>, Vec<f64>) = (0..n)
        .map(|k| {
            (
                (std::f64::consts::TAU * k as f64 / n as f64).cos(),
                (std::f64::consts::TAU * k as f64 / n as f64).sin(),
            )
        })
        .unzip();
    // Rows first, then columns.
    let mut re = vec![0f64; n * n];
    let mut im = vec![0f64; n * n];
    for y in 0..n {
        for k in 0..n {
            let (mut a, mut b) = (0.0, 0.0);
            for xx in 0..n {
                let idx = (k * xx) % n;
                a += x[y * n + xx] * cos[idx];
                b -= x[y * n + xx] * sin[idx];
            }
            re[y * n + k] = a;
            im[y * n + k] = b;
        }
    }
    let mut power = vec![0f64; n * n];
    for kx in 0..n {
        for ky in 0..n {
            let (mut a, mut b) = (0.0, 0.0);
            for y in 0..n {
                let idx = (ky * y) % n;
                let (c, s) = (cos[idx], -sin[idx]);
                a += re[y * n + kx] * c - im[y * n + kx] * s;
                b += re[y * n + kx] * s + im[y * n + kx] * c;
            }
            power[ky * n + kx] = a * a + b * b;
        }
    }
    let mut sum = vec![0f64; n];
    let mut cnt = vec![0usize; n];
    for ky in 0..n {
        for kx in 0..n {
            let fx = if kx <= n / 2 { kx as f64 } else { kx as f64 - n as f64 };
            let fy = if ky <= n / 2 { ky as f64 } else { ky as f64 - n as f64 };
            let f = (fx * fx + fy * fy).sqrt().round() as usize;
            if f < n {
                sum[f] += power[ky * n + kx];
                cnt[f] += 1;
            }
        }
    }
    let pts: Vec<(f64, f64)> = (2..=n / 4)
        .map(|f| ((f as f64).ln(), (sum[f] / cnt[f] as f64).ln()))
        .collect();
    let (mx, my) = (
        pts.iter().map(|p| p.0).sum::<f64>() / pts.len() as f64,
        pts.iter().map(|p| p.1).sum::<f64>() / pts.len() as f64,
    );
    pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / pts.iter().map(|p| (p.0 - mx).powi(2)).sum::<f64>()
}

fn grey(rgb: &[f32]) -> Vec<f64> {
    rgb.chunks(3)
        .map(|p| 0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64)
        .collect()
}

#[test]
fn spectrum_slope_reference_images() {
    // The estimator itself, on images with known spectra: white noise (slope 0) and a 1/f² field built in the
    // frequency domain (slope −2).
    let n = 64;
    let mut rng = vox2pix_formats::rng::CounterRng::new(5);
    let white: Vec<f64> = (0..n * n).map(|_| rng.normal()).collect();
    let s0 = spectrum_slope(&white, n);
    assert!(s0.abs() < 0.3, "white noise slope {s0}");
    let mut field = vec![0f64; n * n];
    for fy in -(n as i64) / 2..(n as i64) / 2 {
        for fx in 0..(n as i64) / 2 {
            if fx == 0 && fy <= 0 {
                continue;
            }
            let f = ((fx * fx + fy * fy) as f64).sqrt();
            let (amp, ph) = (rng.normal() / f, rng.uniform() * std::f64::consts::TAU);
            for y in 0..n {
                for x in 0..n {
                    let a = std::f64::consts::TAU * (fx as f64 * x as f64 + fy as f64 * y as f64) / n as f64 + ph;
                    field[y * n + x] += amp * a.cos();
                }
            }
        }
    }
    let s2 = spectrum_slope(&field, n);
    assert!((s2 + 2.0).abs() < 0.25, "1/f² field slope {s2}");
}

#[test]
fn background_spectrum_slope_is_natural() {
    // §6 check 3: radially averaged power-spectrum slope of backgrounds ≈ −2 ± 0.3, at 64 and 112 px, averaged
    // over images.
    for (n, count) in [(64, 16u64), (112, 6)] {
        let slopes: Vec<f64> = (0..count)
            .map(|k| spectrum_slope(&grey(&render_background(k * 7919 + 1, n)), n))
            .collect();
        let mean = slopes.iter().sum::<f64>() / slopes.len() as f64;
        println!("{n} px background slopes {slopes:.2?} mean {mean:.3}");
        assert!(
            (mean + 2.0).abs() <= 0.3,
            "{n} px: mean background spectrum slope {mean}"
        );
    }
}

/// Tiny features: 8×8 box-downsampled RGB plus a 4×4×4 colour histogram (weighted to comparable scale).
fn tiny_features(r: &Rendered) -> Vec<f32> {
    let (s, g) = (r.size, 8);
    let cell = s / g;
    let mut f = vec![0f32; g * g * 3 + 64];
    for y in 0..g * cell {
        for x in 0..g * cell {
            let p = (y * s + x) * 3;
            for c in 0..3 {
                f[((y / cell) * g + x / cell) * 3 + c] += r.rgb[p + c] / (cell * cell) as f32;
            }
        }
    }
    let hist_weight = 8.0 / (s * s) as f32;
    for p in r.rgb.chunks(3) {
        let b = |v: f32| ((v * 4.0) as usize).min(3);
        f[g * g * 3 + b(p[0]) * 16 + b(p[1]) * 4 + b(p[2])] += hist_weight;
    }
    f
}

fn sq_dist(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

#[test]
fn classes_are_distinct_but_instances_vary() {
    // Nearest-class-mean on tiny features: N classes spread over all super-categories, class means from
    // exemplar images, tested on held-out test-role images. Chance is 1/N. At 32 px (tiny preset) and 64 px.
    let n_classes = 50;
    let (n_train, n_test) = (12u32, 4u32);
    let tax = Taxonomy::new(SEED, 1030);
    for size in [32, 64] {
        let mut means = Vec::new();
        let mut tests = Vec::new();
        let mut within = Vec::new();
        for class in 0..n_classes as u32 {
            let feats: Vec<Vec<f32>> = (0..n_train)
                .map(|i| tiny_features(&render(&tax, SEED, Role::Exemplar, class, i, size)))
                .collect();
            let mut m = vec![0f32; feats[0].len()];
            for f in &feats {
                for (a, b) in m.iter_mut().zip(f) {
                    *a += b / n_train as f32;
                }
            }
            within.push(sq_dist(&feats[0], &feats[1]).sqrt());
            means.push(m);
            for i in 0..n_test {
                tests.push((
                    class as usize,
                    tiny_features(&render(&tax, SEED, Role::Test, class, i, size)),
                ));
            }
        }
        let mut correct = 0;
        let mut super_correct = 0;
        for (label, f) in &tests {
            let pred = (0..n_classes)
                .min_by(|&a, &b| sq_dist(&means[a], f).total_cmp(&sq_dist(&means[b], f)))
                .unwrap();
            correct += (pred == *label) as usize;
            super_correct += (pred % N_SUPER == label % N_SUPER) as usize;
        }
        let acc = correct as f64 / tests.len() as f64;
        let super_acc = super_correct as f64 / tests.len() as f64;
        println!(
            "{size} px: {n_classes}-way nearest-class-mean accuracy {acc:.3} (super-category {super_acc:.3}), chance {:.3}",
            1.0 / n_classes as f64
        );
        assert!(
            acc >= 10.0 / n_classes as f64,
            "{size} px: accuracy {acc} is not far above chance"
        );
        // Not trivial: tiny features are far from perfect.
        assert!(acc < 0.95, "{size} px: accuracy {acc}: task looks trivial");
        // Instances are not copies: two exemplars of a class differ clearly in feature space.
        let min_within = within.iter().cloned().fold(f32::INFINITY, f32::min);
        assert!(
            min_within > 0.3,
            "{size} px: two instances of one class are nearly identical ({min_within})"
        );
    }
}

/// Shape and colour statistics of one image's figure: (mask coverage, IoU of the mask with its moment-matched
/// ellipse, elongation sqrt(λ1/λ2), mean saturation of figure pixels).
fn figure_stats(r: &Rendered) -> (f64, f64, f64, f64) {
    let s = r.size;
    let m: Vec<f64> = r.mask.iter().map(|&v| v as f64).collect();
    let area: f64 = m.iter().sum();
    if area < 1.0 {
        return (0.0, 0.0, 0.0, 0.0);
    }
    let (mut cx, mut cy) = (0.0, 0.0);
    for (p, &w) in m.iter().enumerate() {
        cx += w * ((p % s) as f64 + 0.5);
        cy += w * ((p / s) as f64 + 0.5);
    }
    cx /= area;
    cy /= area;
    let (mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0);
    for (p, &w) in m.iter().enumerate() {
        let (dx, dy) = ((p % s) as f64 + 0.5 - cx, (p / s) as f64 + 0.5 - cy);
        sxx += w * dx * dx;
        syy += w * dy * dy;
        sxy += w * dx * dy;
    }
    let (sxx, syy, sxy) = (sxx / area, syy / area, sxy / area);
    let det = sxx * syy - sxy * sxy;
    let tr = sxx + syy;
    let disc = (tr * tr / 4.0 - det).max(0.0).sqrt();
    let (l1, l2) = (tr / 2.0 + disc, (tr / 2.0 - disc).max(1e-9));
    // A filled ellipse with covariance Σ is {x : xᵀ Σ⁻¹ x ≤ 4}.
    let (mut inter, mut union) = (0.0, 0.0);
    let mut sat = 0.0;
    for (p, &w) in m.iter().enumerate() {
        let (dx, dy) = ((p % s) as f64 + 0.5 - cx, (p / s) as f64 + 0.5 - cy);
        let q = (syy * dx * dx - 2.0 * sxy * dx * dy + sxx * dy * dy) / det;
        let e = if q <= 4.0 { 1.0 } else { 0.0 };
        inter += w.min(e);
        union += w.max(e);
        let px = &r.rgb[p * 3..p * 3 + 3];
        let (mx, mn) = (
            px.iter().cloned().fold(0f32, f32::max),
            px.iter().cloned().fold(1f32, f32::min),
        );
        sat += w * if mx > 0.0 { ((mx - mn) / mx) as f64 } else { 0.0 };
    }
    (area / (s * s) as f64, inter / union, (l1 / l2).sqrt(), sat / area)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
fn super_categories_have_distinct_statistics() {
    let tax = Taxonomy::new(SEED, 1030);
    let n = 40;
    let mut stats = Vec::new();
    for s in 0..N_SUPER {
        let per: Vec<(f64, f64, f64, f64)> = (0..n)
            .map(|i| {
                figure_stats(&render(
                    &tax,
                    SEED,
                    Role::Unpaired,
                    (s + N_SUPER * (i % 20)) as u32,
                    i as u32,
                    112,
                ))
            })
            .collect();
        let med = |f: fn(&(f64, f64, f64, f64)) -> f64| median(per.iter().map(f).collect());
        let row = (med(|t| t.0), med(|t| t.1), med(|t| t.2), med(|t| t.3));
        println!(
            "{:>9}: coverage {:.3} ellipse IoU {:.3} elongation {:.2} saturation {:.3}",
            SuperCategory::from_index(s).name(),
            row.0,
            row.1,
            row.2,
            row.3
        );
        stats.push(row);
        if SuperCategory::from_index(s).has_figure() {
            assert!(
                per.iter().all(|t| t.0 > 0.01),
                "{s}: a figure image with an (almost) empty mask"
            );
        } else {
            assert!(
                per.iter().all(|t| t.0 == 0.0),
                "{s}: figure-less super-category has a mask"
            );
        }
    }
    let get = |c: SuperCategory| stats[c.index()];
    let figures: Vec<SuperCategory> = SuperCategory::all().into_iter().filter(|c| c.has_figure()).collect();
    // Face: an upright oval — close to its moment ellipse, more elongated than round food, rounder than the rest.
    let face = get(SuperCategory::Face);
    assert!(
        face.1 > 0.9 && (1.12..1.6).contains(&face.2),
        "face mask is not an oval: {face:?}"
    );
    for &c in &figures {
        if !matches!(c, SuperCategory::Face | SuperCategory::Food) {
            assert!(get(c).1 < face.1, "{} is as elliptical as faces", c.name());
        }
    }
    // Food: round.
    let food = get(SuperCategory::Food);
    assert!(food.1 > 0.9 && food.2 < 1.15, "food is not round: {food:?}");
    // Tools: the most elongated figures.
    let tool = get(SuperCategory::Tool);
    assert!(tool.2 > 3.0, "tools are not elongated: {tool:?}");
    assert!(figures.iter().all(|&c| c == SuperCategory::Tool || get(c).2 < tool.2));
    // Plants: sparse branching, far from a convex blob.
    assert!(
        get(SuperCategory::Plant).1 < 0.6,
        "plants look like blobs: {:?}",
        get(SuperCategory::Plant)
    );
    // Buildings: the least saturated figures (stone, plaster).
    let building = get(SuperCategory::Building);
    assert!(figures
        .iter()
        .all(|&c| c == SuperCategory::Building || get(c).3 > building.3));
}

#[test]
#[ignore = "prints a checksum of backgrounds (for refactoring checks)"]
fn background_checksum() {
    let mut h = 0u64;
    for k in 0..50u64 {
        for size in [32, 112, 224] {
            for v in render_background(k, size) {
                h = h.rotate_left(5) ^ v.to_bits() as u64;
            }
        }
    }
    println!("background checksum {h:016x}");
}

#[test]
fn contact_sheet_is_a_png_grid_and_bad_requests_are_errors() {
    let tax = Taxonomy::new(SEED, 20);
    let tiles: Vec<Rendered> = (0..5u32).map(|c| render(&tax, SEED, Role::Train, c, 0, 32)).collect();
    let dir = std::env::temp_dir().join(format!("vox2pix_sheet_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sheet.png");
    write_contact_sheet(&path, &tiles, 3).unwrap();
    let img = image::open(&path).unwrap().to_rgb8();
    // 3 columns × 2 rows of 32 px tiles with 2 px gutters.
    assert_eq!((img.width(), img.height()), (3 * 34 + 2, 2 * 34 + 2));
    // Tile 4 (row 1, column 1) holds image 4's bytes.
    let bytes = to_u8(&tiles[4].rgb);
    let (x0, y0) = (2 + 34, 2 + 34);
    for (x, y) in [(0usize, 0usize), (31, 5), (17, 31)] {
        let px = img.get_pixel((x0 + x) as u32, (y0 + y) as u32).0;
        assert_eq!(&px[..], &bytes[(y * 32 + x) * 3..(y * 32 + x) * 3 + 3]);
    }
    let err = write_contact_sheet(&path, &tiles, 0).unwrap_err().to_string();
    assert!(err.contains("columns") && err.contains("sheet.png"), "{err}");
    let mixed = vec![tiles[0].clone(), render(&tax, SEED, Role::Train, 1, 0, 64)];
    assert!(write_contact_sheet(&path, &mixed, 2).is_err());
    let missing = dir.join("no_such_dir").join("x.png");
    let err = format!("{:#}", write_contact_sheet(&missing, &tiles, 2).unwrap_err());
    assert!(err.contains("no_such_dir"), "{err}");
    assert!(!missing.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn all_classes_within_a_super_category_are_distinguishable() {
    // 103-way nearest-class-mean inside each super-category (the hardest split: same template, only θ_c differs).
    let tax = Taxonomy::new(SEED, 1030);
    let (n_train, n_test, size) = (8u32, 2u32, 64);
    let mut worst = (1.0f64, "");
    let mut total = 0.0;
    for s in 0..N_SUPER {
        let classes: Vec<u32> = (0..103).map(|k| (k * N_SUPER + s) as u32).collect();
        let means: Vec<Vec<f32>> = classes
            .iter()
            .map(|&c| {
                let mut m = vec![0f32; 8 * 8 * 3 + 64];
                for i in 0..n_train {
                    for (a, b) in m
                        .iter_mut()
                        .zip(tiny_features(&render(&tax, SEED, Role::Exemplar, c, i, size)))
                    {
                        *a += b / n_train as f32;
                    }
                }
                m
            })
            .collect();
        let mut correct = 0;
        for (label, &c) in classes.iter().enumerate() {
            for i in 0..n_test {
                let f = tiny_features(&render(&tax, SEED, Role::Test, c, i, size));
                let pred =
                    (0..classes.len()).min_by(|&a, &b| sq_dist(&means[a], &f).total_cmp(&sq_dist(&means[b], &f)));
                correct += (pred == Some(label)) as usize;
            }
        }
        let acc = correct as f64 / (classes.len() * n_test as usize) as f64;
        let name = SuperCategory::from_index(s).name();
        println!("{name:>9}: 103-way accuracy {acc:.3} (chance 0.010)");
        total += acc;
        if acc < worst.0 {
            worst = (acc, name);
        }
    }
    // Tiny features see thin figures (tools, plants) mostly as background, so the per-super-category bar is
    // 5× chance; the average must be far higher.
    assert!(
        worst.0 >= 0.05,
        "{}: 103-way accuracy {} is too close to chance",
        worst.1,
        worst.0
    );
    assert!(
        total / N_SUPER as f64 >= 0.3,
        "mean 103-way accuracy {}",
        total / N_SUPER as f64
    );
}
