//! Image augmentation used by the trainers: random integer translations with nearest-edge fill
//! (Keras `ImageDataGenerator(width_shift_range, fill_mode='nearest')` as in SSRC).
use tch::Tensor;

/// Shifts each image of `x` [B, C, H, W] by its own `(dy, dx)` (positive = content moves down/right), filling
/// the uncovered border with the nearest edge pixel. `shifts.len()` must equal B.
pub fn shift_images(x: &Tensor, shifts: &[(i64, i64)]) -> Tensor {
    let max = shifts.iter().map(|(a, b)| a.abs().max(b.abs())).max().unwrap_or(0);
    if max == 0 {
        return x.shallow_clone();
    }
    let (_, _, h, w) = x.size4().expect("shift_images expects [B, C, H, W]");
    let padded = x.pad([max, max, max, max], "replicate", None);
    let rows: Vec<Tensor> = shifts
        .iter()
        .enumerate()
        .map(|(i, &(dy, dx))| {
            padded
                .narrow(0, i as i64, 1)
                .narrow(2, max - dy, h)
                .narrow(3, max - dx, w)
        })
        .collect();
    Tensor::cat(&rows, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    #[test]
    fn shift_moves_content_and_fills_with_edges() {
        // 1×1×4×4 image with values 0..15, row-major.
        let x = Tensor::arange(16, (Kind::Float, tch::Device::Cpu)).view([1, 1, 4, 4]);
        let y = shift_images(&x, &[(1, -1)]);
        let v: Vec<f32> = Vec::try_from(y.flatten(0, -1)).unwrap();
        // Content moves down by 1 (top row repeats the original top row) and left by 1 (right column repeats
        // the original right edge).
        let expect = [1., 2., 3., 3., 1., 2., 3., 3., 5., 6., 7., 7., 9., 10., 11., 11.];
        assert_eq!(v, expect);
        let z = shift_images(&x, &[(0, 0)]);
        assert!(z.equal(&x));
    }
}
