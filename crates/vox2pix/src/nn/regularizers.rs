//! Weight penalties of the [NI22] models (method.md §2.1, §3.1): plain L1, the encoder's space-map group lasso and
//! the decoder's voxel-weighted FC group lasso. Both group terms smooth each squared weight with the mean of its
//! four spatial neighbours, using symmetric (edge-repeating) padding as TF's `pad(..., "SYMMETRIC")` does.
use tch::Tensor;

/// Added under every square root: keeps the gradient finite where a whole group is exactly zero
/// (changes the penalty by far less than float precision at realistic weight sizes).
pub const SQRT_EPS: f64 = 1e-12;

/// Σ|w| over all elements of all tensors, times `weight`.
pub fn l1_sum(tensors: &[&Tensor], weight: f64) -> Tensor {
    let mut total: Option<Tensor> = None;
    for t in tensors {
        let s = t.abs().sum(t.kind());
        total = Some(match total {
            Some(acc) => acc + s,
            None => s,
        });
    }
    total.map(|t| t * weight).unwrap_or_else(|| Tensor::from(0.0f32))
}

/// Repeats the first and last slice along `dim` (padding 1 on both sides, symmetric = edge value).
fn pad_edge(x: &Tensor, dim: i64) -> Tensor {
    let n = x.size()[dim as usize];
    Tensor::cat(&[x.narrow(dim, 0, 1), x.shallow_clone(), x.narrow(dim, n - 1, 1)], dim)
}

/// Mean of the up/down/left/right neighbours of every cell over the spatial dims `dy` and `dx`
/// (the cell itself excluded), symmetric padding at the borders.
pub fn neighbour_mean4(x: &Tensor, dy: i64, dx: i64) -> Tensor {
    let (h, w) = (x.size()[dy as usize], x.size()[dx as usize]);
    let p = pad_edge(&pad_edge(x, dy), dx);
    let up = p.narrow(dy, 0, h).narrow(dx, 1, w);
    let down = p.narrow(dy, 2, h).narrow(dx, 1, w);
    let left = p.narrow(dy, 1, h).narrow(dx, 0, w);
    let right = p.narrow(dy, 1, h).narrow(dx, 2, w);
    (up + down + left + right) / 4.0
}

/// Encoder space map penalty (Keras `GroupLassoMap`): `l1·Σ|W| + group·Σ_{y,x,v} sqrt(avg4(W²))` for W [H, W, V].
pub fn space_map_group_lasso(w: &Tensor, l1: f64, group: f64) -> Tensor {
    let avg = neighbour_mean4(&w.square(), 0, 1);
    w.abs().sum(w.kind()) * l1 + (avg + SQRT_EPS).sqrt().sum(w.kind()) * group
}

/// SelfSuperReconst's spatial-compactness term (`train_encoder.py`, `calc_mom2` on the squared space map) for W
/// [H, W, V]: with P = W², each voxel's centroid (c_y, c_x) = Σ (y, x)·P / Σ P and second moment
/// m_v = Σ ((y − c_y)² + (x − c_x)²)·P, the term is Σ_v m_v / (2 · W_side · V). The moment is not divided by
/// Σ P, as in SSR, so it also shrinks the maps. Σ P is floored at 1e-12 so an all-zero map gives 0, not NaN.
pub fn space_map_mom2(w: &Tensor) -> Tensor {
    let (h, side, v) = (w.size()[0], w.size()[1], w.size()[2]);
    let p = w.square();
    let ys = Tensor::arange(h, (w.kind(), w.device())).view([h, 1, 1]);
    let xs = Tensor::arange(side, (w.kind(), w.device())).view([1, side, 1]);
    let dims: &[i64] = &[0, 1];
    let m00 = p.sum_dim_intlist(dims, true, w.kind()).clamp_min(1e-12);
    let cy = (&p * &ys).sum_dim_intlist(dims, true, w.kind()) / &m00;
    let cx = (&p * &xs).sum_dim_intlist(dims, true, w.kind()) / &m00;
    let moment = ((ys - cy).square() + (xs - cx).square()) * p;
    moment.sum(w.kind()) / (2 * side * v) as f64
}

/// Reflect padding by one cell along `dim` (PyTorch's `F.pad(mode="reflect")`: the border cell is not
/// repeated, index −1 reads index 1).
fn pad_reflect(x: &Tensor, dim: i64) -> Tensor {
    let n = x.size()[dim as usize];
    Tensor::cat(&[x.narrow(dim, 1, 1), x.shallow_clone(), x.narrow(dim, n - 2, 1)], dim)
}

/// Mean of the 8 surrounding cells (edges and corners) over the spatial dims `dy` and `dx`, reflect padding at
/// the borders: SelfSuperReconst's decoder group lasso (`train_decoder.py`, `group_reg('gl')`). Needs ≥ 2
/// cells along each.
pub fn neighbour_mean8_reflect(x: &Tensor, dy: i64, dx: i64) -> Tensor {
    let (h, w) = (x.size()[dy as usize], x.size()[dx as usize]);
    let p = pad_reflect(&pad_reflect(x, dy), dx);
    let mut sum: Option<Tensor> = None;
    for oy in 0..3 {
        for ox in 0..3 {
            if (oy, ox) == (1, 1) {
                continue;
            }
            let t = p.narrow(dy, oy, h).narrow(dx, ox, w);
            sum = Some(match sum {
                Some(s) => s + t,
                None => t,
            });
        }
    }
    sum.unwrap_or_default() / 8.0
}

/// Decoder FC penalty (Keras `GroupLasso` with a voxel weight), W viewed as [C, H, W, V]:
/// `l1·mean(|W|·voxel_weight[v]) + l2·mean_{y,x,v} sqrt(mean_c((W² + n·avgK(W²)) / (1 + n)))`, avgK the mean of
/// the 4 edge neighbours with edge-repeating padding (`neighbours` = 4, the Keras code) or of all 8 with reflect
/// padding (8, SelfSuperReconst).
pub fn fc_group_lasso(
    w: &Tensor,
    voxel_weight: &Tensor,
    l1: f64,
    l2: f64,
    neighbour: f64,
    neighbours: usize,
) -> Tensor {
    // The neighbour mean is linear and the group term averages over channels first, so the channel mean is
    // taken before smoothing: the same penalty on a tensor C times smaller. W is D's largest tensor (V × C·H·W)
    // and this runs every step, so the passes over it are what count: two here, two for the L1 term.
    let msq = w.square().mean_dim(&[0i64][..], false, w.kind()); // [H, W, V]
    let smoothed = if neighbour > 0.0 {
        let avg = if neighbours == 8 {
            neighbour_mean8_reflect(&msq, 0, 1)
        } else {
            neighbour_mean4(&msq, 0, 1)
        };
        (&msq + avg * neighbour) / (1.0 + neighbour)
    } else {
        msq
    };
    let group = (smoothed + SQRT_EPS).sqrt().mean(w.kind());
    // mean(|W|·voxel_weight) as the per-voxel sums of |W| against the voxel weights.
    let per_voxel = w.abs().sum_dim_intlist(&[0i64, 1, 2][..], false, w.kind());
    let vw = voxel_weight.to_kind(w.kind());
    per_voxel.dot(&vw) * (l1 / w.numel() as f64) + group * l2
}
