//! NumPy `.npy` and `.npz` codec (format spec: numpy `lib/format.py`, versions 1.0–3.0).
//!
//! Reads `|b1 |u1 <i4 <i8 <f2 <f4 <f8` (and the big-endian forms), C or Fortran order, from stored or deflated
//! zip members; writes little-endian C-order `|b1 |u1 <i4 <i8 <f4 <f8`. Arrays are held in C order whatever
//! the file's order. Our own codec rather than a crate so that every failure names the file, key and problem.
use crate::error::{ErrorKind, FormatError};
use anyhow::{bail, Context, Result};
use ndarray::{ArrayD, ArrayView, Dimension, IxDyn, ShapeBuilder};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// Element type as stored in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    /// `|b1`: bool, one byte (0 or 1).
    Bool,
    /// `|u1`: unsigned 8-bit integer.
    U8,
    /// `<i4`: signed 32-bit integer.
    I32,
    /// `<i8`: signed 64-bit integer.
    I64,
    /// Half floats are decoded to f32 on read (their data is held as [`NpyData::F32`]).
    F16,
    /// `<f4`: 32-bit float.
    F32,
    /// `<f8`: 64-bit float.
    F64,
}

impl Dtype {
    /// Little-endian NumPy descriptor, e.g. `<f4`.
    pub fn descr(self) -> &'static str {
        match self {
            Dtype::Bool => "|b1",
            Dtype::U8 => "|u1",
            Dtype::I32 => "<i4",
            Dtype::I64 => "<i8",
            Dtype::F16 => "<f2",
            Dtype::F32 => "<f4",
            Dtype::F64 => "<f8",
        }
    }

    fn size(self) -> usize {
        match self {
            Dtype::Bool | Dtype::U8 => 1,
            Dtype::F16 => 2,
            Dtype::I32 | Dtype::F32 => 4,
            Dtype::I64 | Dtype::F64 => 8,
        }
    }

    /// Whether this is a floating-point type (f16, f32, f64).
    pub fn is_float(self) -> bool {
        matches!(self, Dtype::F16 | Dtype::F32 | Dtype::F64)
    }

    /// Whether this is an integer type (u8, i32, i64; bool is not).
    pub fn is_integer(self) -> bool {
        matches!(self, Dtype::U8 | Dtype::I32 | Dtype::I64)
    }
}

/// Element storage, always C (row-major) order.
#[derive(Clone, Debug, PartialEq)]
pub enum NpyData {
    /// `|b1` elements.
    Bool(Vec<bool>),
    /// `|u1` elements.
    U8(Vec<u8>),
    /// `<i4` elements.
    I32(Vec<i32>),
    /// `<i8` elements.
    I64(Vec<i64>),
    /// `<f4` elements, and `<f2` ones decoded to f32.
    F32(Vec<f32>),
    /// `<f8` elements.
    F64(Vec<f64>),
}

/// One array: its on-disk dtype, shape and C-order data.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    /// Element type as stored in the file ([`Dtype::F16`] data is held as f32).
    pub dtype: Dtype,
    /// Dimensions (empty for a scalar).
    pub shape: Vec<usize>,
    /// The elements in C order; their count is the product of `shape`.
    pub data: NpyData,
}

/// Rust element types that map onto a NumPy dtype one to one.
pub trait NpyElement: Clone + Sized {
    /// The NumPy dtype of this element type.
    const DTYPE: Dtype;
    /// Wraps elements in the matching [`NpyData`] variant.
    fn wrap(v: Vec<Self>) -> NpyData;
    /// The elements of `d` when it holds exactly this type, else `None`.
    fn slice(d: &NpyData) -> Option<&[Self]>;
}

macro_rules! npy_element {
    ($t:ty, $dt:ident, $var:ident) => {
        impl NpyElement for $t {
            const DTYPE: Dtype = Dtype::$dt;
            fn wrap(v: Vec<Self>) -> NpyData {
                NpyData::$var(v)
            }
            fn slice(d: &NpyData) -> Option<&[Self]> {
                match d {
                    NpyData::$var(v) => Some(v),
                    _ => None,
                }
            }
        }
    };
}
npy_element!(bool, Bool, Bool);
npy_element!(u8, U8, U8);
npy_element!(i32, I32, I32);
npy_element!(i64, I64, I64);
npy_element!(f32, F32, F32);
npy_element!(f64, F64, F64);

impl NpyArray {
    /// Copies an ndarray (any layout) into a C-order `NpyArray`.
    pub fn new<T: NpyElement, D: Dimension>(a: ArrayView<'_, T, D>) -> Self {
        NpyArray {
            dtype: T::DTYPE,
            shape: a.shape().to_vec(),
            data: T::wrap(a.iter().cloned().collect()),
        }
    }

    /// Number of elements (the product of the shape; 1 for a scalar).
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the array has no element (some dimension is 0).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The array with exactly element type `T` (no conversion), or `None` when the stored type differs.
    pub fn to_array<T: NpyElement>(&self) -> Option<ArrayD<T>> {
        let v = T::slice(&self.data)?;
        ArrayD::from_shape_vec(IxDyn(&self.shape), v.to_vec()).ok()
    }

    /// Float data as f32 (f16/f32 exact, f64 rounded); `None` for non-float arrays.
    pub fn to_f32(&self) -> Option<ArrayD<f32>> {
        let v: Vec<f32> = match &self.data {
            NpyData::F32(v) => v.clone(),
            NpyData::F64(v) => v.iter().map(|&x| x as f32).collect(),
            _ => return None,
        };
        ArrayD::from_shape_vec(IxDyn(&self.shape), v).ok()
    }

    /// Integer data as i64 (u8/i32/i64); `None` for float or bool arrays.
    pub fn to_i64(&self) -> Option<ArrayD<i64>> {
        let v: Vec<i64> = match &self.data {
            NpyData::U8(v) => v.iter().map(|&x| x as i64).collect(),
            NpyData::I32(v) => v.iter().map(|&x| x as i64).collect(),
            NpyData::I64(v) => v.clone(),
            _ => return None,
        };
        ArrayD::from_shape_vec(IxDyn(&self.shape), v).ok()
    }
}

/// Parses a whole `.npy` file image.
pub fn parse_npy(bytes: &[u8]) -> Result<NpyArray> {
    read_npy(&mut &bytes[..])
}

/// Reads one `.npy` stream, decoding the data in chunks so that peak memory is the array itself (not the
/// array plus its encoded bytes). Stops after the array's last byte.
pub fn read_npy(r: &mut impl Read) -> Result<NpyArray> {
    let mut pre = [0u8; 8];
    r.read_exact(&mut pre)
        .map_err(|_| corrupt("not a .npy array (shorter than its 8-byte preamble)"))?;
    if &pre[..6] != b"\x93NUMPY" {
        return Err(corrupt("not a .npy array (missing the \\x93NUMPY magic)").into());
    }
    let truncated_header = |e| FormatError::caused_by(ErrorKind::Corrupt, "truncated .npy header", e);
    let header_len = match pre[6] {
        1 => {
            let mut l = [0u8; 2];
            r.read_exact(&mut l).map_err(truncated_header)?;
            u16::from_le_bytes(l) as usize
        }
        2 | 3 => {
            let mut l = [0u8; 4];
            r.read_exact(&mut l).map_err(truncated_header)?;
            u32::from_le_bytes(l) as usize
        }
        v => {
            return Err(FormatError::new(
                ErrorKind::Unsupported,
                format!(".npy format version {v} is not supported (1, 2 and 3 are)"),
            )
            .into())
        }
    };
    if header_len > 1 << 20 {
        return Err(corrupt(format!(".npy header claims {header_len} bytes; the file is corrupt")).into());
    }
    let mut header = vec![0u8; header_len];
    r.read_exact(&mut header).map_err(truncated_header)?;
    let header = std::str::from_utf8(&header)
        .map_err(|e| FormatError::caused_by(ErrorKind::Corrupt, ".npy header is not text", e))?;
    let (descr, fortran, shape) = parse_header(header)?;
    let (dtype, big_endian) = parse_descr(&descr)?;
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| corrupt(".npy shape overflows"))?;
    let need = n
        .checked_mul(dtype.size())
        .ok_or_else(|| corrupt(".npy shape overflows"))?;
    // A zero dimension makes the element count 0 whatever the others are, but strides over the other dimensions
    // must still be representable (NumPy refuses such shapes as "too big" as well).
    let strided = shape
        .iter()
        .filter(|&&d| d != 0)
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&p| p <= isize::MAX as usize);
    if strided.is_none() {
        return Err(corrupt(format!(
            ".npy shape {shape:?} is too large to index (its non-zero dimensions overflow); the file is corrupt"
        ))
        .into());
    }
    // Exact reservation avoids doubling growth (a 45M-element f64 image array would otherwise peak at 1.5×);
    // `try_reserve_exact` turns an absurd shape from a corrupt header into an error instead of an abort.
    macro_rules! reserved {
        ($var:ident) => {{
            let mut v = Vec::new();
            v.try_reserve_exact(n)
                .map_err(|_| corrupt(format!("cannot allocate {n} elements for shape {shape:?} ({descr})")))?;
            NpyData::$var(v)
        }};
    }
    let mut data = match dtype {
        Dtype::Bool => reserved!(Bool),
        Dtype::U8 => reserved!(U8),
        Dtype::I32 => reserved!(I32),
        Dtype::I64 => reserved!(I64),
        Dtype::F16 | Dtype::F32 => reserved!(F32),
        Dtype::F64 => reserved!(F64),
    };
    let chunk = (1 << 20) / 8 * 8;
    let mut buf = vec![0u8; chunk.min(need)];
    let mut done = 0usize;
    while done < need {
        let len = chunk.min(need - done);
        read_full(r, &mut buf[..len]).map_err(|got| {
            corrupt(format!(
                "truncated .npy data: shape {shape:?} of {descr} needs {need} bytes, found {}",
                done + got
            ))
        })?;
        decode_into(dtype, big_endian, &buf[..len], &mut data)?;
        done += len;
    }
    let data = if fortran && shape.len() > 1 {
        fortran_to_c(data, &shape)?
    } else {
        data
    };
    Ok(NpyArray { dtype, shape, data })
}

/// `read_exact` that reports how many bytes it got before the end of the stream.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::result::Result<(), usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => return Err(got),
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Err(got),
        }
    }
    Ok(())
}

/// Serialises one array as a `.npy` file image (version 1.0, or 2.0 for huge headers).
pub fn write_npy(w: &mut impl Write, a: &NpyArray) -> Result<()> {
    let dtype = match (&a.data, a.dtype) {
        (NpyData::F32(_), Dtype::F16) => Dtype::F32, // f16 arrays are held as f32 and written as such
        (_, d) => d,
    };
    if a.len() != data_len(&a.data) {
        bail!(
            "array shape {:?} does not match its {} elements",
            a.shape,
            data_len(&a.data)
        );
    }
    write_npy_header(w, dtype, &a.shape)?;
    write_npy_data(w, &a.data)
}

/// Writes uint8 `bytes` of `shape` as a float32 `.npy` of `byte / 255` (images in [0, 1]), converting a chunk at a
/// time: the float copy, four times the bytes' size, is never held.
pub fn write_npy_unit_f32(w: &mut impl Write, shape: &[usize], bytes: &[u8]) -> Result<()> {
    if shape.iter().product::<usize>() != bytes.len() {
        bail!("array shape {shape:?} does not match its {} elements", bytes.len());
    }
    write_npy_header(w, Dtype::F32, shape)?;
    let mut buf = Vec::with_capacity((1 << 16) * 4);
    for chunk in bytes.chunks(1 << 16) {
        buf.clear();
        for &b in chunk {
            buf.extend_from_slice(&(b as f32 / 255.0).to_le_bytes());
        }
        w.write_all(&buf)?;
    }
    Ok(())
}

/// Writes borrowed float32 `values` of `shape` (C order) as a `.npy`, a chunk at a time.
pub fn write_npy_f32(w: &mut impl Write, shape: &[usize], values: &[f32]) -> Result<()> {
    if shape.iter().product::<usize>() != values.len() {
        bail!("array shape {shape:?} does not match its {} elements", values.len());
    }
    write_npy_header(w, Dtype::F32, shape)?;
    let mut buf = Vec::with_capacity((1 << 16) * 4);
    for chunk in values.chunks(1 << 16) {
        buf.clear();
        for &x in chunk {
            buf.extend_from_slice(&x.to_le_bytes());
        }
        w.write_all(&buf)?;
    }
    Ok(())
}

fn write_npy_header(w: &mut impl Write, dtype: Dtype, shape: &[usize]) -> Result<()> {
    let shape = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")
        ),
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
        dtype.descr()
    );
    // Pad with spaces so the data starts on a 64-byte boundary, and end with a newline.
    let (prefix, version) = if header.len() + 11 < 65536 {
        (10, 1u8)
    } else {
        (12, 2u8)
    };
    let total = (prefix + header.len() + 1).div_ceil(64) * 64;
    header.extend(std::iter::repeat_n(' ', total - prefix - header.len() - 1));
    header.push('\n');
    w.write_all(b"\x93NUMPY")?;
    w.write_all(&[version, 0])?;
    if version == 1 {
        w.write_all(&(header.len() as u16).to_le_bytes())?;
    } else {
        w.write_all(&(header.len() as u32).to_le_bytes())?;
    }
    w.write_all(header.as_bytes())?;
    Ok(())
}

fn write_npy_data(w: &mut impl Write, data: &NpyData) -> Result<()> {
    // Chunked little-endian encoding keeps the temporary buffer small for multi-GB arrays.
    const CHUNK: usize = 1 << 16;
    let mut buf = Vec::with_capacity(CHUNK * 8);
    macro_rules! emit {
        ($v:expr, $enc:expr) => {
            for chunk in $v.chunks(CHUNK) {
                buf.clear();
                for x in chunk {
                    buf.extend_from_slice(&$enc(x));
                }
                w.write_all(&buf)?;
            }
        };
    }
    match data {
        NpyData::Bool(v) => emit!(v, |x: &bool| [*x as u8]),
        NpyData::U8(v) => w.write_all(v)?,
        NpyData::I32(v) => emit!(v, |x: &i32| x.to_le_bytes()),
        NpyData::I64(v) => emit!(v, |x: &i64| x.to_le_bytes()),
        NpyData::F32(v) => emit!(v, |x: &f32| x.to_le_bytes()),
        NpyData::F64(v) => emit!(v, |x: &f64| x.to_le_bytes()),
    }
    Ok(())
}

fn data_len(d: &NpyData) -> usize {
    match d {
        NpyData::Bool(v) => v.len(),
        NpyData::U8(v) => v.len(),
        NpyData::I32(v) => v.len(),
        NpyData::I64(v) => v.len(),
        NpyData::F32(v) => v.len(),
        NpyData::F64(v) => v.len(),
    }
}

/// Extracts `descr`, `fortran_order` and `shape` from the header's Python dict literal.
fn parse_header(h: &str) -> Result<(String, bool, Vec<usize>), FormatError> {
    let value_after = |key: &str| -> Result<&str, FormatError> {
        let k = format!("'{key}':");
        let i = h
            .find(&k)
            .ok_or_else(|| corrupt(format!(".npy header has no '{key}': {}", h.trim())))?;
        Ok(h[i + k.len()..].trim_start())
    };
    let d = value_after("descr")?;
    let descr = match d.chars().next() {
        Some(q @ ('\'' | '"')) => {
            let end = d[1..]
                .find(q)
                .ok_or_else(|| corrupt(".npy header: unterminated descr"))?;
            d[1..1 + end].to_string()
        }
        _ => {
            return Err(FormatError::new(
                ErrorKind::Unsupported,
                format!(".npy dtype {d} is a structured dtype; only plain numeric and bool arrays are supported"),
            ))
        }
    };
    let f = value_after("fortran_order")?;
    let fortran = if f.starts_with("True") {
        true
    } else if f.starts_with("False") {
        false
    } else {
        return Err(corrupt(".npy header: fortran_order is neither True nor False"));
    };
    let s = value_after("shape")?;
    let inner = s
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| corrupt(".npy header: shape is not a tuple"))?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| t.trim_end_matches('L').parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| FormatError::caused_by(ErrorKind::Corrupt, format!(".npy header: bad shape ({inner})"), e))?;
    Ok((descr, fortran, shape))
}

/// A damaged `.npy` stream; the stream has no file name, which the npz reader adds as context.
fn corrupt(message: impl Into<String>) -> FormatError {
    FormatError::new(ErrorKind::Corrupt, message)
}

fn parse_descr(descr: &str) -> Result<(Dtype, bool), FormatError> {
    let (order, code) = match descr.chars().next() {
        Some(c @ ('<' | '>' | '|' | '=')) => (c, &descr[1..]),
        _ => ('=', descr),
    };
    let dtype = match code {
        "b1" | "?" => Dtype::Bool,
        "u1" | "B" => Dtype::U8,
        "i4" => Dtype::I32,
        "i8" => Dtype::I64,
        "f2" | "e" => Dtype::F16,
        "f4" | "f" => Dtype::F32,
        "f8" | "d" => Dtype::F64,
        _ => {
            return Err(FormatError::new(
                ErrorKind::Unsupported,
                format!(
                    "dtype '{descr}' is not supported (supported: |b1 |u1 <i4 <i8 <f2 <f4 <f8); convert it in \
                     NumPy, e.g. a.astype(np.float32)"
                ),
            ))
        }
    };
    Ok((dtype, order == '>'))
}

/// Decodes `b` (a whole number of elements) and appends to `out`, whose variant matches `dtype`.
fn decode_into(dtype: Dtype, big: bool, b: &[u8], out: &mut NpyData) -> Result<(), FormatError> {
    macro_rules! num {
        ($t:ty, $n:expr) => {
            b.chunks_exact($n).map(|c| {
                let a: [u8; $n] = c.try_into().expect("chunks_exact yields whole elements");
                if big {
                    <$t>::from_be_bytes(a)
                } else {
                    <$t>::from_le_bytes(a)
                }
            })
        };
    }
    match (dtype, out) {
        (Dtype::Bool, NpyData::Bool(v)) => {
            if let Some(bad) = b.iter().find(|&&x| x > 1) {
                return Err(corrupt(format!(
                    "bool array holds the byte {bad}, which is neither 0 nor 1"
                )));
            }
            v.extend(b.iter().map(|&x| x == 1));
        }
        (Dtype::U8, NpyData::U8(v)) => v.extend_from_slice(b),
        (Dtype::I32, NpyData::I32(v)) => v.extend(num!(i32, 4)),
        (Dtype::I64, NpyData::I64(v)) => v.extend(num!(i64, 8)),
        (Dtype::F32, NpyData::F32(v)) => v.extend(num!(f32, 4)),
        (Dtype::F64, NpyData::F64(v)) => v.extend(num!(f64, 8)),
        (Dtype::F16, NpyData::F32(v)) => v.extend(num!(u16, 2).map(f16_to_f32)),
        _ => unreachable!("the output buffer is created from the dtype"),
    }
    Ok(())
}

/// IEEE 754 binary16 → binary32 (exact).
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0f32 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let frac = (h & 0x3ff) as f32;
    sign * match exp {
        0 => frac * 2f32.powi(-24),
        31 if frac == 0.0 => f32::INFINITY,
        31 => f32::NAN,
        e => (1.0 + frac / 1024.0) * 2f32.powi(e - 15),
    }
}

fn fortran_to_c(data: NpyData, shape: &[usize]) -> Result<NpyData, FormatError> {
    fn reorder<T: Clone>(v: Vec<T>, shape: &[usize]) -> Result<Vec<T>, FormatError> {
        let a = ArrayD::from_shape_vec(IxDyn(shape).f(), v).map_err(|e| {
            corrupt(format!(
                ".npy shape {shape:?} does not fit its data ({e}); the file is corrupt"
            ))
        })?;
        Ok(a.as_standard_layout().iter().cloned().collect())
    }
    Ok(match data {
        NpyData::Bool(v) => NpyData::Bool(reorder(v, shape)?),
        NpyData::U8(v) => NpyData::U8(reorder(v, shape)?),
        NpyData::I32(v) => NpyData::I32(reorder(v, shape)?),
        NpyData::I64(v) => NpyData::I64(reorder(v, shape)?),
        NpyData::F32(v) => NpyData::F32(reorder(v, shape)?),
        NpyData::F64(v) => NpyData::F64(reorder(v, shape)?),
    })
}

/// An open `.npz` archive; members are decoded on demand.
pub struct NpzReader {
    path: PathBuf,
    archive: zip::ZipArchive<BufReader<File>>,
}

impl NpzReader {
    /// Opens `path` as a zip archive (members are read later). Errors: [`ErrorKind::Missing`] /
    /// [`ErrorKind::Unreadable`] when the file cannot be opened, [`ErrorKind::Corrupt`] when it is not a zip.
    pub fn open(path: &Path) -> Result<Self> {
        let file =
            File::open(path).map_err(|e| FormatError::io_context(format!("cannot open {}", path.display()), e))?;
        let archive = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| {
            FormatError::corrupt(
                path,
                format!("not a readable .npz (zip) archive: {e}; the file is truncated or not written by numpy.savez"),
            )
        })?;
        Ok(NpzReader {
            path: path.to_path_buf(),
            archive,
        })
    }

    /// The archive's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Array names as NumPy shows them (member names without `.npy`), in archive order.
    pub fn names(&self) -> Vec<String> {
        self.archive
            .file_names()
            .filter_map(|n| n.ok())
            .map(|n| n.strip_suffix(".npy").unwrap_or(&n).to_string())
            .collect()
    }

    /// Whether the archive holds array `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.names().iter().any(|n| n == name)
    }

    /// Decodes array `name`; the error names the file, the key and the problem.
    pub fn read(&mut self, name: &str) -> Result<NpyArray> {
        if !self.contains(name) {
            return Err(FormatError::invalid(
                self.path.display().to_string(),
                format!("missing key '{name}' (keys present: {})", self.names().join(", ")),
            )
            .into());
        }
        let member = format!("{name}.npy");
        let res = (|| -> Result<NpyArray> {
            // NumPy names members `<key>.npy`; hand-made archives may omit the suffix.
            let member = if self.archive.index_for_name(&member).is_some() {
                member
            } else {
                name.to_string()
            };
            let mut f = self
                .archive
                .by_name(&member)
                .map_err(|e| FormatError::wrap(ErrorKind::Corrupt, &e))?;
            let a = read_npy(&mut f)?;
            // Reading to the end makes the zip reader verify the member's CRC.
            std::io::copy(&mut f, &mut std::io::sink()).map_err(|e| {
                FormatError::caused_by(
                    ErrorKind::Corrupt,
                    "the member fails its checksum (truncated or corrupt archive)",
                    e,
                )
            })?;
            Ok(a)
        })();
        res.with_context(|| format!("{}: key '{name}'", self.path.display()))
    }
}

/// Reads every array of an `.npz` file.
pub fn read_npz(path: &Path) -> Result<BTreeMap<String, NpyArray>> {
    let mut r = NpzReader::open(path)?;
    let mut out = BTreeMap::new();
    for name in r.names() {
        let a = r.read(&name)?;
        out.insert(name, a);
    }
    Ok(out)
}

/// Zip member compression: `Stored` = `np.savez`, `Deflated` = `np.savez_compressed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Uncompressed members (`np.savez`).
    Stored,
    /// Deflate-compressed members (`np.savez_compressed`).
    Deflated,
}

/// One member of an `.npz` being written.
#[derive(Clone, Copy, Debug)]
pub enum NpzMember<'a> {
    /// An array as it is.
    Array(&'a NpyArray),
    /// uint8 bytes of a shape, written as float32 `byte / 255` ([`write_npy_unit_f32`]).
    UnitF32(&'a [usize], &'a [u8]),
    /// Borrowed float32 values of a shape (C order), written without a copy.
    F32(&'a [usize], &'a [f32]),
}

/// Writes `arrays` (in the given order) to `path` atomically.
pub fn write_npz(path: &Path, arrays: &[(&str, &NpyArray)], compression: Compression) -> Result<()> {
    let members: Vec<(&str, NpzMember)> = arrays.iter().map(|(k, a)| (*k, NpzMember::Array(a))).collect();
    write_npz_members(path, &members, compression)
}

/// Writes `members` (in the given order) to `path` atomically.
pub fn write_npz_members(path: &Path, arrays: &[(&str, NpzMember)], compression: Compression) -> Result<()> {
    let method = match compression {
        Compression::Stored => zip::CompressionMethod::Stored,
        Compression::Deflated => zip::CompressionMethod::Deflated,
    };
    crate::io::write_atomic(path, |file| {
        let mut zw = zip::ZipWriter::new(std::io::BufWriter::new(file));
        let members = (|| -> Result<()> {
            for (name, a) in arrays {
                let len = match a {
                    NpzMember::Array(a) => a.len(),
                    NpzMember::UnitF32(shape, _) | NpzMember::F32(shape, _) => shape.iter().product(),
                };
                let big = len * 8 + 1024 >= u32::MAX as usize;
                let opts = zip::write::SimpleFileOptions::default()
                    .compression_method(method)
                    .large_file(big);
                zw.start_file(format!("{name}.npy"), opts)
                    .with_context(|| format!("cannot add '{name}'"))?;
                match a {
                    NpzMember::Array(a) => write_npy(&mut zw, a),
                    NpzMember::UnitF32(shape, bytes) => write_npy_unit_f32(&mut zw, shape, bytes),
                    NpzMember::F32(shape, values) => write_npy_f32(&mut zw, shape, values),
                }
                .with_context(|| format!("cannot write '{name}'"))?;
            }
            Ok(())
        })();
        if let Err(e) = members {
            // The temporary file is discarded anyway; dropping the writer would try to finish the archive on
            // the failing file (e.g. a full disk) and print a second, confusing error.
            std::mem::forget(zw);
            return Err(e);
        }
        let mut inner = zw.finish().context("cannot finish the zip archive")?;
        inner.flush()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    #[test]
    fn npy_header_is_64_aligned_and_parses_back() {
        let a = NpyArray::new(array![[1.5f32, -2.0], [3.0, 4.25]].view());
        let mut bytes = Vec::new();
        write_npy(&mut bytes, &a).unwrap();
        let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        assert_eq!(bytes[10 + hlen - 1], b'\n');
        assert_eq!(bytes.len(), 10 + hlen + 16);
        assert_eq!(parse_npy(&bytes).unwrap(), a);
    }

    #[test]
    fn fortran_and_big_endian_and_f16_decode() {
        // Fortran-order 2x3 of f4 big-endian holding [[0,1,2],[3,4,5]] → column-major bytes 0,3,1,4,2,5.
        let mut b = Vec::new();
        let header = "{'descr': '>f4', 'fortran_order': True, 'shape': (2, 3), }";
        b.extend_from_slice(b"\x93NUMPY\x01\x00");
        b.extend_from_slice(&(header.len() as u16).to_le_bytes());
        b.extend_from_slice(header.as_bytes());
        for x in [0f32, 3.0, 1.0, 4.0, 2.0, 5.0] {
            b.extend_from_slice(&x.to_be_bytes());
        }
        let a = parse_npy(&b).unwrap();
        assert_eq!(
            a.to_f32().unwrap(),
            Array2::from_shape_fn((2, 3), |(i, j)| (3 * i + j) as f32).into_dyn()
        );
        // f16: 1.0 = 0x3C00, -2.5 = 0xC100, 65504 = 0x7BFF, smallest subnormal 0x0001.
        assert_eq!(f16_to_f32(0x3C00), 1.0);
        assert_eq!(f16_to_f32(0xC100), -2.5);
        assert_eq!(f16_to_f32(0x7BFF), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert!(f16_to_f32(0x7C00).is_infinite());
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(parse_npy(b"hello world").unwrap_err().to_string().contains("magic"));
        let a = NpyArray::new(array![1i64, 2, 3].view());
        let mut bytes = Vec::new();
        write_npy(&mut bytes, &a).unwrap();
        bytes.truncate(bytes.len() - 4);
        assert!(parse_npy(&bytes).unwrap_err().to_string().contains("truncated"));
        let header = "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }";
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(header.len() as u16).to_le_bytes());
        b.extend_from_slice(header.as_bytes());
        b.extend_from_slice(&[0; 8]);
        assert!(parse_npy(&b).unwrap_err().to_string().contains("<c8"));
    }
}
