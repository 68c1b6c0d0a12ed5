//! Image grids as PNG: ground truth above its reconstruction, in test-image order (fixed, not cherry-picked).
use anyhow::{bail, Context, Result};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Writes a grid of `columns` pairs per row band: each band is a row of ground-truth images over a row of
/// reconstructions, separated by a 2 px gap. `gt`, `recon`: [N, 3, S, S] in [0, 1].
pub fn write_pair_grid(path: &Path, gt: &Tensor, recon: &Tensor, columns: usize) -> Result<()> {
    if gt.size() != recon.size() || gt.dim() != 4 {
        bail!(
            "grid: ground truth {:?} and reconstructions {:?} must both be [N, 3, S, S]",
            gt.size(),
            recon.size()
        );
    }
    let n = gt.size()[0] as usize;
    let s = gt.size()[2] as usize;
    let cols = columns.max(1).min(n.max(1));
    let bands = n.div_ceil(cols);
    let gap = 2;
    let (w, h) = (cols * (s + gap) + gap, bands * (2 * s + 3 * gap) + gap);
    let mut img = image::RgbImage::from_pixel(w as u32, h as u32, image::Rgb([255, 255, 255]));
    let to_u8 = |t: &Tensor| -> Result<Vec<u8>> {
        let t = (t.to_device(Device::Cpu).to_kind(Kind::Float).clamp(0.0, 1.0) * 255.0)
            .round()
            .to_kind(Kind::Uint8);
        Ok(Vec::try_from(t.permute([0, 2, 3, 1]).contiguous().flatten(0, -1))?)
    };
    let (g, r) = (to_u8(gt)?, to_u8(recon)?);
    for i in 0..n {
        let (band, col) = (i / cols, i % cols);
        let x0 = gap + col * (s + gap);
        let y0 = gap + band * (2 * s + 3 * gap);
        for (src, dy) in [(&g, 0), (&r, s + gap)] {
            for y in 0..s {
                for x in 0..s {
                    let o = ((i * s + y) * s + x) * 3;
                    img.put_pixel(
                        (x0 + x) as u32,
                        (y0 + dy + y) as u32,
                        image::Rgb([src[o], src[o + 1], src[o + 2]]),
                    );
                }
            }
        }
    }
    vox2pix_formats::io::write_atomic(path, |f| {
        img.write_to(&mut std::io::BufWriter::new(f), image::ImageFormat::Png)
            .with_context(|| format!("cannot encode {}", path.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_places_gt_above_reconstruction() {
        let gt = Tensor::ones([3, 3, 4, 4], (Kind::Float, Device::Cpu));
        let recon = Tensor::zeros([3, 3, 4, 4], (Kind::Float, Device::Cpu));
        let p = std::env::temp_dir().join(format!("vox2pix-grid-{}.png", std::process::id()));
        write_pair_grid(&p, &gt, &recon, 2).unwrap();
        let img = image::open(&p).unwrap().to_rgb8();
        assert_eq!((img.width(), img.height()), (2 * 6 + 2, 2 * (8 + 6) + 2));
        assert_eq!(img.get_pixel(2, 2).0, [255, 255, 255], "GT pixel (white)");
        assert_eq!(
            img.get_pixel(2, 2 + 4 + 2).0,
            [0, 0, 0],
            "reconstruction pixel below it (black)"
        );
        assert!(write_pair_grid(&p, &gt, &recon.narrow(0, 0, 2), 2).is_err());
    }
}
