//! Pearson correlation on tensors: per row, between all rows of two matrices, and per column (voxel).
//!
//! A zero-variance row or column has no defined correlation; it is reported as r = 0 (not NaN) so that one
//! constant reconstruction cannot poison a whole distance matrix. Half-precision inputs are computed in f32;
//! f32 and f64 inputs keep their precision.
use anyhow::{bail, Result};
use tch::{Kind, Tensor};

/// Smallest norm a centred vector may have before it counts as constant.
const MIN_NORM: f64 = 1e-12;

fn work_kind(t: &Tensor) -> Kind {
    match t.kind() {
        Kind::Double => Kind::Double,
        _ => Kind::Float,
    }
}

fn check_2d(what: &str, t: &Tensor) -> Result<(i64, i64)> {
    match t.size().as_slice() {
        [n, d] => Ok((*n, *d)),
        s => bail!("{what}: expected a 2-D tensor [rows, features], got shape {s:?}; flatten each item first"),
    }
}

/// Rows centred to mean 0 and scaled to unit L2 norm (constant rows become 0), so that dot products of
/// standardised rows are correlations.
pub fn standardize_rows(x: &Tensor) -> Tensor {
    let x = x.to_kind(work_kind(x));
    let centred = &x - x.mean_dim(&[1i64][..], true, x.kind());
    let norm = centred.square().sum_dim_intlist(&[1i64][..], true, x.kind()).sqrt();
    centred / norm.clamp_min(MIN_NORM)
}

/// Pearson r between row i of `a` and row i of `b`, for every i: `a`, `b` [n, D] → [n].
pub fn row_corr(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (na, da) = check_2d("row_corr: first argument", a)?;
    let (nb, db) = check_2d("row_corr: second argument", b)?;
    if na != nb || da != db {
        bail!(
            "row_corr: shapes differ ([{na}, {da}] vs [{nb}, {db}]); pair every row of one with one row of the other"
        );
    }
    let kind = work_kind(a).max_precision(work_kind(b));
    let (za, zb) = (standardize_rows(&a.to_kind(kind)), standardize_rows(&b.to_kind(kind)));
    Ok((za * zb).sum_dim_intlist(&[1i64][..], false, kind))
}

/// Correlation matrix between every row of `a` [n, D] and every row of `b` [m, D] → [n, m].
pub fn corr_matrix(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (_, da) = check_2d("corr_matrix: first argument", a)?;
    let (_, db) = check_2d("corr_matrix: second argument", b)?;
    if da != db {
        bail!("corr_matrix: feature counts differ ({da} vs {db}); both sides must be embedded the same way");
    }
    let kind = work_kind(a).max_precision(work_kind(b));
    Ok(standardize_rows(&a.to_kind(kind)).matmul(&standardize_rows(&b.to_kind(kind)).tr()))
}

/// Pearson r per column (e.g. per voxel over test images): `a`, `b` [n, V] → [V].
pub fn column_corr(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (na, va) = check_2d("column_corr: first argument", a)?;
    let (nb, vb) = check_2d("column_corr: second argument", b)?;
    if na != nb || va != vb {
        bail!("column_corr: shapes differ ([{na}, {va}] vs [{nb}, {vb}]); predictions and measurements must cover the same samples and voxels");
    }
    if na < 2 {
        bail!("column_corr: need at least 2 samples per column, got {na}");
    }
    row_corr(&a.tr(), &b.tr())
}

trait MaxPrecision {
    fn max_precision(self, other: Kind) -> Kind;
}

impl MaxPrecision for Kind {
    fn max_precision(self, other: Kind) -> Kind {
        if self == Kind::Double || other == Kind::Double {
            Kind::Double
        } else {
            Kind::Float
        }
    }
}

/// Tensor → `Vec<f64>` (any shape, flattened), for small result tensors.
pub(crate) fn to_vec_f64(t: &Tensor) -> Result<Vec<f64>> {
    let flat = t
        .to_kind(Kind::Double)
        .to_device(tch::Device::Cpu)
        .contiguous()
        .view([-1]);
    Ok(Vec::<f64>::try_from(&flat)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_r(x: &[f64], y: &[f64]) -> f64 {
        let n = x.len() as f64;
        let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
        let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
        let sxx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
        let syy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
        sxy / (sxx * syy).sqrt()
    }

    #[test]
    fn matches_textbook_formula_and_handles_constant_rows() {
        tch::manual_seed(3);
        let a = Tensor::randn([4, 7], (Kind::Double, tch::Device::Cpu));
        let b = Tensor::randn([5, 7], (Kind::Double, tch::Device::Cpu)) + a.get(0).unsqueeze(0) * 0.5;
        let m = corr_matrix(&a, &b).unwrap();
        let av = to_vec_f64(&a).unwrap();
        let bv = to_vec_f64(&b).unwrap();
        let mv = to_vec_f64(&m).unwrap();
        for i in 0..4 {
            for j in 0..5 {
                let want = naive_r(&av[i * 7..i * 7 + 7], &bv[j * 7..j * 7 + 7]);
                assert!(
                    (mv[i * 5 + j] - want).abs() < 1e-12,
                    "r[{i},{j}] {} vs {want}",
                    mv[i * 5 + j]
                );
            }
        }
        let c = column_corr(&a.tr(), &b.narrow(0, 0, 4).tr()).unwrap();
        let diag = to_vec_f64(&m.narrow(1, 0, 4).diagonal(0, 0, 1)).unwrap();
        for (x, y) in to_vec_f64(&c).unwrap().iter().zip(&diag) {
            assert!((x - y).abs() < 1e-12);
        }
        let constant = Tensor::ones([1, 7], (Kind::Double, tch::Device::Cpu));
        let r = to_vec_f64(&row_corr(&constant, &a.narrow(0, 0, 1)).unwrap()).unwrap();
        assert_eq!(r, vec![0.0]);
        assert!(corr_matrix(&a, &b.narrow(1, 0, 6)).is_err());
    }
}
