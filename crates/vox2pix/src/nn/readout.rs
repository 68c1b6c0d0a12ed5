//! The separable readout of the [NI22] encoder (method.md §2.1), as plain tensor functions so that each piece
//! can be gradient-checked on its own: 3×3 patch unfolding, space map, per-voxel feature mix, branch mix.
use tch::Tensor;

/// k×k VALID patches with stride 1: [B, C, H, W] → [B, C·k·k, (H−k+1)·(W−k+1)].
/// Feature index f = c·k² + ky·k + kx (im2col order); positions in row-major (y, x) order.
pub fn unfold_patches(x: &Tensor, k: i64) -> Tensor {
    x.im2col([k, k], [1, 1], [0, 0], [1, 1])
}

/// Space map: out[b, v, f] = Σ_p map[p, v] · patches[b, f, p], returned as [B, F, V] (voxels last keeps the
/// matmul contiguous; the feature mix below reads that layout). `map` is [H', W', V] with H'·W' = P.
pub fn space_readout(patches: &Tensor, map: &Tensor) -> Tensor {
    let v = map.size()[2];
    patches.matmul(&map.reshape([-1, v]))
}

/// Per-voxel feature mix: out[b, v] = Σ_f x[b, f, v] · w[v, f] + bias[v], for x [B, F, V], w [V, F], bias [V].
pub fn feature_readout(x: &Tensor, w: &Tensor, bias: &Tensor) -> Tensor {
    (x * w.tr().unsqueeze(0)).sum_dim_intlist(&[1i64][..], false, x.kind()) + bias.unsqueeze(0)
}

/// Per-voxel branch mix: out[b, v] = Σ_k x[b, v, k] · max(w[v, k], 0) for x [B, V, K], w [V, K].
/// The clamp is the identity once the weights are projected (Keras `NonNeg`), see
/// `SeparableEncoder::apply_constraints`.
pub fn branch_readout(x: &Tensor, w: &Tensor) -> Tensor {
    (x * w.clamp_min(0.0).unsqueeze(0)).sum_dim_intlist(&[2i64][..], false, x.kind())
}
