//! Weight files, read without libtorch: PyTorch `torch.save` state dicts ([`pth`], zip and legacy formats),
//! safetensors ([`read_safetensors`], [`write_safetensors`]), the JSON cards stored beside vox2pix's own models
//! and backbones ([`card`]), and the download of pretrained torchvision weights with its checksum ([`fetch`]).
//! Every reader returns [`NamedArray`]s (name, dtype, shape, contiguous little-endian bytes); `vox2pix::model`
//! turns them into tensors and loads them into a model by name.
pub mod card;
pub mod fetch;
pub mod pth;

use crate::error::{ErrorKind, FormatError};
use std::borrow::Cow;
use std::path::Path;

/// Element type of a stored tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    /// 32-bit float.
    F32,
    /// 64-bit float.
    F64,
    /// 16-bit IEEE half float.
    F16,
    /// 16-bit bfloat16.
    BF16,
    /// Signed 64-bit integer (e.g. BatchNorm's `num_batches_tracked`).
    I64,
    /// Signed 32-bit integer.
    I32,
    /// Signed 16-bit integer.
    I16,
    /// Signed 8-bit integer.
    I8,
    /// Unsigned 8-bit integer.
    U8,
    /// Bool, one byte.
    Bool,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 | DType::I16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }

    fn from_safetensors(d: safetensors::Dtype) -> Option<DType> {
        use safetensors::Dtype as S;
        Some(match d {
            S::F32 => DType::F32,
            S::F64 => DType::F64,
            S::F16 => DType::F16,
            S::BF16 => DType::BF16,
            S::I64 => DType::I64,
            S::I32 => DType::I32,
            S::I16 => DType::I16,
            S::I8 => DType::I8,
            S::U8 => DType::U8,
            S::BOOL => DType::Bool,
            _ => return None,
        })
    }

    fn to_safetensors(self) -> safetensors::Dtype {
        use safetensors::Dtype as S;
        match self {
            DType::F32 => S::F32,
            DType::F64 => S::F64,
            DType::F16 => S::F16,
            DType::BF16 => S::BF16,
            DType::I64 => S::I64,
            DType::I32 => S::I32,
            DType::I16 => S::I16,
            DType::I8 => S::I8,
            DType::U8 => S::U8,
            DType::Bool => S::BOOL,
        }
    }
}

/// One stored tensor: row-major (C-order), contiguous, little-endian.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedArray {
    /// State-dict key, e.g. `features.0.weight` (nested dicts joined with `.`).
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Dimensions (empty for a scalar).
    pub shape: Vec<usize>,
    /// The elements, row-major little-endian: `numel() × dtype.size()` bytes.
    pub bytes: Vec<u8>,
}

impl NamedArray {
    /// Number of elements (the product of the shape; 1 for a scalar).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

impl safetensors::View for &NamedArray {
    fn dtype(&self) -> safetensors::Dtype {
        self.dtype.to_safetensors()
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// Every tensor of a safetensors file, in the file's order (sorted by name, as the format stores them).
pub fn read_safetensors(path: &Path) -> Result<Vec<NamedArray>, FormatError> {
    let bytes = std::fs::read(path).map_err(|e| FormatError::io(path, e))?;
    let corrupt = |detail: String| FormatError::Corrupt {
        path: path.to_path_buf(),
        detail: format!("corrupt or truncated safetensors file ({detail})"),
    };
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| corrupt(format!("{e:?}")))?;
    let mut out = Vec::new();
    for (name, view) in st.tensors() {
        // A valid file with a dtype this reader does not map: Unsupported, under the reader's usual wording.
        let dtype = DType::from_safetensors(view.dtype()).ok_or_else(|| {
            FormatError::new(
                ErrorKind::Unsupported,
                corrupt(format!("tensor '{name}' has unsupported dtype {:?}", view.dtype())).to_string(),
            )
        })?;
        out.push(NamedArray {
            name,
            dtype,
            shape: view.shape().to_vec(),
            bytes: view.data().to_vec(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Writes `arrays` as one safetensors file, atomically.
pub fn write_safetensors(arrays: &[NamedArray], path: &Path) -> Result<(), FormatError> {
    for a in arrays {
        if a.bytes.len() != a.numel() * a.dtype.size() {
            return Err(FormatError::Invalid {
                what: format!("tensor '{}'", a.name),
                detail: format!("{} bytes for shape {:?} of {:?}", a.bytes.len(), a.shape, a.dtype),
            });
        }
    }
    let bytes = safetensors::serialize(arrays.iter().map(|a| (a.name.clone(), a)), &None).map_err(|e| {
        FormatError::Invalid {
            what: path.display().to_string(),
            detail: format!("cannot serialise safetensors: {e:?}"),
        }
    })?;
    crate::io::write_bytes_atomic(path, &bytes).map_err(|e| FormatError::Write {
        path: path.to_path_buf(),
        detail: format!("{e:#}"),
    })
}
