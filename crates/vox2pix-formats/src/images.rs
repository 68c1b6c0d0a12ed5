//! Real images: GOD stimuli looked up by file name in a user folder, the ImageNet-style class-folder tree
//! used as the unpaired pool (minus the test classes, k images per class), the reference preparation
//! (central square crop, bicubic resize to 112; `docs/method.md` §1.3) and the decoded pool cache.
use crate::npz::{read_npz, write_npz, Compression, NpyArray};
use anyhow::{bail, Context, Result};
use image::imageops::FilterType;
use ndarray::{Array1, Array4};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The only resolution the reference code supports.
pub const IMAGE_SIZE: usize = 112;

/// Extensions recognised as images (compared case-insensitively).
const IMAGE_EXTENSIONS: [&str; 3] = ["jpeg", "jpg", "png"];

/// Central square crop (side = min(H, W)), bicubic (Catmull-Rom) resize to `size`, grey/alpha → RGB.
pub fn prepare_image(img: &image::DynamicImage, size: usize) -> image::RgbImage {
    let rgb = img.to_rgb8();
    let (w, h) = rgb.dimensions();
    let side = w.min(h);
    let crop = image::imageops::crop_imm(&rgb, (w - side) / 2, (h - side) / 2, side, side).to_image();
    if side as usize == size {
        return crop;
    }
    image::imageops::resize(&crop, size as u32, size as u32, FilterType::CatmullRom)
}

/// Prepares `img` ([`prepare_image`], to the side of `out`) into row `i` of `out` (`[n, size, size, 3]`).
pub fn prepare_into(out: &mut Array4<u8>, i: usize, img: &image::DynamicImage) {
    let rgb = prepare_image(img, out.shape()[1]);
    for (x, y, p) in rgb.enumerate_pixels() {
        for c in 0..3 {
            out[[i, y as usize, x as usize, c]] = p[c];
        }
    }
}

/// Decodes and prepares one image file.
pub fn load_image(path: &Path, size: usize) -> Result<image::RgbImage> {
    let img = image::ImageReader::open(path)
        .with_context(|| format!("cannot open image {}", path.display()))?
        .with_guessed_format()
        .with_context(|| format!("cannot read image {}", path.display()))?
        .decode()
        .with_context(|| format!("cannot decode image {} (corrupt or not JPEG/PNG)", path.display()))?;
    Ok(prepare_image(&img, size))
}

/// Every image file under `dir` (recursively), by file stem (`n01443537_22563`). A stem found twice is an
/// error only when it is asked for (see [`load_stimuli`]).
fn index_images(dir: &Path) -> Result<BTreeMap<String, Vec<PathBuf>>> {
    let mut index: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).with_context(|| format!("cannot list image folder {}", d.display()))?;
        for e in entries {
            let p = e
                .with_context(|| format!("cannot list image folder {}", d.display()))?
                .path();
            if p.is_dir() {
                stack.push(p);
            } else if is_image(&p) {
                if let Some(stem) = p.file_stem().and_then(|s| s.to_str()) {
                    index.entry(stem.to_string()).or_default().push(p.clone());
                }
            }
        }
    }
    Ok(index)
}

/// Up to `cap` images found anywhere under `dir` (JPEG/PNG), the first by path in sorted order, prepared like the
/// stimuli (centre crop, bicubic resize to `size`): the external distractor pool of identification on real
/// data (e.g. ImageNet validation images). Returns their paths relative to `dir` and the pixels.
pub fn load_image_folder(dir: &Path, cap: usize, size: usize) -> Result<(Vec<String>, Array4<u8>)> {
    if !dir.is_dir() {
        bail!("image folder {} does not exist or is not a folder", dir.display());
    }
    let mut paths: Vec<PathBuf> = index_images(dir)?.into_values().flatten().collect();
    paths.sort();
    paths.truncate(cap);
    if paths.is_empty() {
        bail!("image folder {} holds no JPEG or PNG images", dir.display());
    }
    let names = paths
        .iter()
        .map(|p| p.strip_prefix(dir).unwrap_or(p).display().to_string())
        .collect();
    Ok((names, decode_all(&paths, size)?))
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// Loads the GOD stimuli named `file_names` (e.g. `n01443537_22563.JPEG`; matched by stem, any image
/// extension, anywhere under `dir`) as `[n, size, size, 3]` uint8, in the given order. All missing images are
/// reported at once: how many, and the first few names.
pub fn load_stimuli(dir: &Path, file_names: &[String], size: usize) -> Result<Array4<u8>> {
    if !dir.is_dir() {
        bail!(
            "stimulus image folder {} does not exist or is not a folder",
            dir.display()
        );
    }
    let index = index_images(dir)?;
    let mut paths = Vec::with_capacity(file_names.len());
    let mut missing = Vec::new();
    for name in file_names {
        let stem = Path::new(name).file_stem().and_then(|s| s.to_str()).unwrap_or(name);
        match index.get(stem).map(|v| v.as_slice()) {
            Some([p]) => paths.push(p.clone()),
            Some(many) => bail!(
                "stimulus {stem} is found {} times under {} ({}); keep one copy",
                many.len(),
                dir.display(),
                many.iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => missing.push(name.clone()),
        }
    }
    if !missing.is_empty() {
        let first: Vec<&str> = missing.iter().take(5).map(|s| s.as_str()).collect();
        bail!(
            "{} of {} stimulus images are missing under {} (first: {}{}); GOD images are not distributed — \
             obtain them from Kamitani Lab or ImageNet (fall 2011) and put them in that folder",
            missing.len(),
            file_names.len(),
            dir.display(),
            first.join(", "),
            if missing.len() > first.len() { ", …" } else { "" }
        );
    }
    decode_all(&paths, size)
}

/// Decodes in parallel batches straight into the output array, so peak memory stays one array plus one batch
/// (a 50k-image pool is 1.9 GB at 112 px).
fn decode_all(paths: &[PathBuf], size: usize) -> Result<Array4<u8>> {
    const BATCH: usize = 512;
    let mut out = Array4::<u8>::zeros((paths.len(), size, size, 3));
    for (b, chunk) in paths.chunks(BATCH).enumerate() {
        let images: Vec<image::RgbImage> = chunk.par_iter().map(|p| load_image(p, size)).collect::<Result<_>>()?;
        for (k, img) in images.iter().enumerate() {
            out.index_axis_mut(ndarray::Axis(0), b * BATCH + k)
                .as_slice_mut()
                .expect("freshly allocated arrays are contiguous")
                .copy_from_slice(img.as_raw());
        }
    }
    Ok(out)
}

/// How the unpaired pool is drawn from a class-folder tree (`docs/method.md` §1.4, [NI22] rule).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    /// Images per class (paper: 50); classes with fewer contribute all they have.
    pub per_class: usize,
    /// Seed of the per-class draw.
    pub seed: u64,
    /// WordNet offsets of the classes left out (the GOD test classes).
    pub exclude: BTreeSet<i64>,
    /// Side of the square images after decoding, in pixels.
    pub image_size: usize,
}

/// Decoded unpaired images with their class ids (WordNet offsets).
#[derive(Clone, Debug, PartialEq)]
pub struct UnpairedPool {
    /// Pixels, uint8 `[n, image_size, image_size, 3]`.
    pub pixels: Array4<u8>,
    /// WordNet offset of each image's class.
    pub class_ids: Vec<i64>,
    /// Path of each image relative to the tree root.
    pub files: Vec<String>,
    /// The draw that produced this pool (compared when a cached pool is reused).
    pub spec: PoolSpec,
}

/// WordNet offset of an ImageNet class folder name (`n01443537` → 1443537).
pub fn wnid_offset(name: &str) -> Option<i64> {
    let digits = name.strip_prefix('n')?;
    (digits.len() == 8 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The image files (JPEG/PNG) directly inside one class folder, by name, sorted.
pub fn class_image_files(dir: &Path) -> Result<Vec<String>> {
    let mut imgs: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_image(p))
        .filter_map(|p| p.file_name().and_then(|s| s.to_str()).map(String::from))
        .collect();
    imgs.sort();
    Ok(imgs)
}

/// A seeded uniform draw of `k` of `names` (all of them when there are fewer), keyed by (seed, class id): a
/// partial Fisher–Yates shuffle with a seeded xorshift, so the same folder, seed and class give the same draw.
pub fn draw_per_class(mut names: Vec<String>, k: usize, seed: u64, class_id: i64) -> Vec<String> {
    let mut rng = (seed ^ (class_id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1;
    let k = k.min(names.len());
    for i in 0..k {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let j = i + (rng % (names.len() - i) as u64) as usize;
        names.swap(i, j);
    }
    names.truncate(k);
    names
}

/// Builds the pool from `root/<wnid>/<image>`: classes in `spec.exclude` are skipped, `spec.per_class` images are
/// drawn per class (seeded), and everything is decoded once.
pub fn build_unpaired_pool(root: &Path, spec: &PoolSpec) -> Result<UnpairedPool> {
    let mut classes = Vec::new();
    for e in std::fs::read_dir(root).with_context(|| format!("cannot list pool folder {}", root.display()))? {
        let p = e
            .with_context(|| format!("cannot list pool folder {}", root.display()))?
            .path();
        if p.is_dir() {
            let name = p.file_name().and_then(|s| s.to_str()).unwrap_or_default().to_string();
            let id = wnid_offset(&name).with_context(|| {
                format!(
                    "pool folder {}: class folder '{name}' is not a WordNet id like n01443537; the test-class \
                     exclusion needs ImageNet class folders",
                    root.display()
                )
            })?;
            classes.push((name, id, p));
        }
    }
    classes.sort();
    if classes.is_empty() {
        bail!(
            "pool folder {} has no class folders; expected an ImageNet-style <wnid>/<image>.JPEG tree",
            root.display()
        );
    }
    let mut files = Vec::new();
    let mut class_ids = Vec::new();
    for (name, id, dir) in &classes {
        if spec.exclude.contains(id) {
            continue;
        }
        for f in draw_per_class(class_image_files(dir)?, spec.per_class, spec.seed, *id) {
            files.push(format!("{name}/{f}"));
            class_ids.push(*id);
        }
    }
    if files.is_empty() {
        bail!(
            "pool folder {}: no images left after excluding {} test classes",
            root.display(),
            spec.exclude.len()
        );
    }
    let paths: Vec<PathBuf> = files.iter().map(|f| root.join(f)).collect();
    let pixels = decode_all(&paths, spec.image_size)?;
    Ok(UnpairedPool {
        pixels,
        class_ids,
        files,
        spec: spec.clone(),
    })
}

/// Writes the decoded pool as one `.npz` (`images` uint8 [N, S, S, 3], `class_ids` int64 [N], `meta` = UTF-8
/// JSON of the spec and file list as uint8), atomically.
pub fn write_pool_cache(path: &Path, pool: &UnpairedPool) -> Result<()> {
    let meta = serde_json::to_vec(&PoolMeta {
        spec: pool.spec.clone(),
        files: pool.files.clone(),
    })?;
    let images = NpyArray::new(pool.pixels.view());
    let ids = NpyArray::new(Array1::from(pool.class_ids.clone()).view());
    let meta = NpyArray::new(Array1::from(meta).view());
    write_npz(
        path,
        &[("images", &images), ("class_ids", &ids), ("meta", &meta)],
        Compression::Stored,
    )
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolMeta {
    spec: PoolSpec,
    files: Vec<String>,
}

/// Reads a pool cache written by [`write_pool_cache`].
pub fn read_pool_cache(path: &Path) -> Result<UnpairedPool> {
    let arrays = read_npz(path)?;
    let get = |k: &str| {
        arrays
            .get(k)
            .with_context(|| format!("{}: pool cache lacks '{k}'; delete it to rebuild", path.display()))
    };
    let pixels = get("images")?
        .to_array::<u8>()
        .and_then(|a| a.into_dimensionality().ok())
        .with_context(|| format!("{}: 'images' is not uint8 [N, S, S, 3]", path.display()))?;
    let class_ids = get("class_ids")?
        .to_array::<i64>()
        .with_context(|| format!("{}: 'class_ids' is not int64", path.display()))?
        .iter()
        .copied()
        .collect::<Vec<_>>();
    let meta_bytes: Vec<u8> = get("meta")?
        .to_array::<u8>()
        .with_context(|| format!("{}: 'meta' is not uint8", path.display()))?
        .iter()
        .copied()
        .collect();
    let meta: PoolMeta = serde_json::from_slice(&meta_bytes)
        .with_context(|| format!("{}: unreadable 'meta'; delete the cache", path.display()))?;
    let pixels: Array4<u8> = pixels;
    if pixels.shape()[0] != class_ids.len() || meta.files.len() != class_ids.len() {
        bail!(
            "{}: images, class_ids and file list disagree in length; delete the cache to rebuild",
            path.display()
        );
    }
    Ok(UnpairedPool {
        pixels,
        class_ids,
        files: meta.files,
        spec: meta.spec,
    })
}

/// Loads the pool from `cache` when it was built with the same spec, otherwise builds it from `root` and writes
/// the cache, so training never re-decodes JPEGs.
pub fn cached_unpaired_pool(root: &Path, cache: &Path, spec: &PoolSpec) -> Result<UnpairedPool> {
    if cache.exists() {
        if let Ok(pool) = read_pool_cache(cache) {
            if &pool.spec == spec {
                return Ok(pool);
            }
        }
    }
    let pool = build_unpaired_pool(root, spec)?;
    write_pool_cache(cache, &pool)?;
    Ok(pool)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centre_crop_keeps_the_middle_square() {
        // 6×4 image: columns 0 and 5 red, the middle 4×4 green; the crop must drop exactly the red columns.
        let img = image::RgbImage::from_fn(6, 4, |x, _| {
            if x == 0 || x == 5 {
                image::Rgb([255, 0, 0])
            } else {
                image::Rgb([0, 255, 0])
            }
        });
        let out = prepare_image(&image::DynamicImage::ImageRgb8(img), 4);
        assert_eq!(out.dimensions(), (4, 4));
        assert!(out.pixels().all(|p| p.0 == [0, 255, 0]));
        // Grey input becomes three equal channels.
        let grey = image::GrayImage::from_pixel(10, 10, image::Luma([77]));
        let out = prepare_image(&image::DynamicImage::ImageLuma8(grey), 5);
        assert!(out.pixels().all(|p| p.0 == [77, 77, 77]));
    }

    #[test]
    fn wnid_offsets_parse_only_imagenet_names() {
        assert_eq!(wnid_offset("n01443537"), Some(1443537));
        assert_eq!(wnid_offset("n0144353"), None);
        assert_eq!(wnid_offset("cats"), None);
    }
}
