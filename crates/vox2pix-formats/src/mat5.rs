//! MATLAB MAT-files: the numeric variables of a Level 5 file (what `save` writes by default, v6/v7, zlib
//! compressed or not) and of a v7.3 file (HDF5 with a 512-byte user block, read through [`crate::hdf5`]).
//!
//! Both come out as a [`MatVariable`] in MATLAB's own terms: `dims` as MATLAB reports `size(x)`, values in
//! column-major order. That is also how a v7.3 file lays them out: HDF5 stores the dimensions reversed, so its
//! C-order data is MATLAB's column-major data, and [`read_variable`] reverses the HDF5 shape back. Callers
//! therefore index the same way whichever version wrote the file.
//!
//! Only what datasets need is read: real numeric arrays (double, single, the integer classes, logical). A
//! variable of another class (struct, cell, char, sparse, complex) is refused by name. Every length in the file
//! is checked against the bytes that are there, and decompression is bounded, so a damaged file is an error,
//! never a panic or an unbounded allocation.
use crate::error::{ErrorKind, FormatError};
use anyhow::Result;
use std::io::Read;
use std::path::Path;

/// One numeric MATLAB variable.
#[derive(Clone, Debug, PartialEq)]
pub struct MatVariable {
    /// Its name in the file.
    pub name: String,
    /// `size(x)` in MATLAB (at least two entries).
    pub dims: Vec<usize>,
    /// The values, converted to f64, in MATLAB's column-major order.
    pub data: Vec<f64>,
}

impl MatVariable {
    /// The value at a MATLAB subscript (0-based), column-major.
    pub fn at(&self, index: &[usize]) -> f64 {
        let mut offset = 0;
        let mut stride = 1;
        for (i, d) in index.iter().zip(&self.dims) {
            offset += i * stride;
            stride *= d;
        }
        self.data[offset]
    }

    /// The dimensions with trailing singleton dimensions removed (MATLAB keeps at least two).
    pub fn squeezed_dims(&self) -> Vec<usize> {
        let mut d = self.dims.clone();
        while d.len() > 2 && d.last() == Some(&1) {
            d.pop();
        }
        d
    }
}

/// Which writer made a MAT-file, from its 128-byte header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatVersion {
    /// Level 5 (v5, v6, v7): tagged data elements, zlib-compressed in v7.
    Level5,
    /// v7.3: an HDF5 file with a 512-byte user block.
    Hdf5,
}

/// Decompression cannot honestly expand data by more than deflate's ~1032:1, so no real variable inflates to
/// more than this many times the file's size.
const MAX_EXPANSION: u64 = 1100;

const MI_INT8: u32 = 1;
const MI_UINT8: u32 = 2;
const MI_INT16: u32 = 3;
const MI_UINT16: u32 = 4;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_SINGLE: u32 = 7;
const MI_DOUBLE: u32 = 9;
const MI_INT64: u32 = 12;
const MI_UINT64: u32 = 13;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;

/// MATLAB array classes (`mxClassID`) that hold real numbers; the rest are refused.
fn numeric_class_name(class: u8) -> Option<&'static str> {
    Some(match class {
        6 => "double",
        7 => "single",
        8 => "int8",
        9 => "uint8",
        10 => "int16",
        11 => "uint16",
        12 => "int32",
        13 => "uint32",
        14 => "int64",
        15 => "uint64",
        _ => return None,
    })
}

fn other_class_name(class: u8) -> &'static str {
    match class {
        1 => "cell",
        2 => "struct",
        3 => "object",
        4 => "char",
        5 => "sparse",
        _ => "unknown",
    }
}

fn corrupt(path: &Path, detail: impl std::fmt::Display) -> anyhow::Error {
    FormatError::new(
        ErrorKind::Corrupt,
        format!(
            "{}: {detail}; the MAT-file is damaged or truncated, re-download it",
            path.display()
        ),
    )
    .into()
}

/// Reads the 128-byte header: a Level 5 file ends it with version 0x0100 and the endian mark `IM`
/// (little-endian); v7.3 files say "MATLAB 7.3" in the text and are HDF5 underneath.
pub fn mat_version(path: &Path, bytes: &[u8]) -> Result<MatVersion> {
    if bytes.len() < 128 {
        return Err(corrupt(
            path,
            format!("{} bytes, shorter than the 128-byte MAT-file header", bytes.len()),
        ));
    }
    let text = String::from_utf8_lossy(&bytes[..116]);
    if !text.starts_with("MATLAB") {
        return Err(FormatError::new(
            ErrorKind::Invalid,
            format!(
                "{} is not a MATLAB MAT-file (its header does not start with \"MATLAB\")",
                path.display()
            ),
        )
        .into());
    }
    if text.contains("MATLAB 7.3") || bytes.get(512..520) == Some(b"\x89HDF\r\n\x1a\n".as_slice()) {
        return Ok(MatVersion::Hdf5);
    }
    match &bytes[126..128] {
        b"IM" => Ok(MatVersion::Level5),
        b"MI" => Err(FormatError::new(
            ErrorKind::Unsupported,
            format!(
                "{}: a big-endian MAT-file; re-save it on a little-endian machine (MATLAB `save -v7`)",
                path.display()
            ),
        )
        .into()),
        other => Err(corrupt(path, format!("endian mark {other:?}, expected \"IM\""))),
    }
}

/// Reads the numeric variable `name` from a MAT-file of either version. Errors name the file, the variable,
/// and (when it is missing) the variables the file does have.
pub fn read_variable(path: &Path, name: &str) -> Result<MatVariable> {
    let bytes = std::fs::read(path)
        .map_err(|e| FormatError::io_context(format!("cannot read {}: check the path", path.display()), e))?;
    match mat_version(path, &bytes)? {
        MatVersion::Hdf5 => {
            drop(bytes);
            read_hdf5_variable(path, name)
        }
        MatVersion::Level5 => {
            let r = Level5 {
                path,
                limit: (bytes.len() as u64).saturating_mul(MAX_EXPANSION),
            };
            match r.variables(&bytes[128..], Some(name))?.into_iter().next() {
                Some(v) => v,
                None => Err(missing_variable(path, name, &list_variables(path)?)),
            }
        }
    }
}

fn missing_variable(path: &Path, name: &str, names: &[String]) -> anyhow::Error {
    FormatError::new(
        ErrorKind::Invalid,
        format!(
            "{}: no variable `{name}` (the file has: {}); is this the right file?",
            path.display(),
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ),
    )
    .into()
}

/// The names of the variables in a MAT-file (any class).
pub fn list_variables(path: &Path) -> Result<Vec<String>> {
    let bytes = std::fs::read(path)
        .map_err(|e| FormatError::io_context(format!("cannot read {}: check the path", path.display()), e))?;
    match mat_version(path, &bytes)? {
        MatVersion::Hdf5 => {
            drop(bytes);
            let h5 = crate::hdf5::open(path)?;
            Ok(h5.dataset_names())
        }
        MatVersion::Level5 => {
            let r = Level5 {
                path,
                limit: (bytes.len() as u64).saturating_mul(MAX_EXPANSION),
            };
            let mut names = Vec::new();
            r.walk(&bytes[128..], &mut |name, _| {
                names.push(name.to_string());
                Ok(())
            })?;
            Ok(names)
        }
    }
}

fn read_hdf5_variable(path: &Path, name: &str) -> Result<MatVariable> {
    let h5 = crate::hdf5::open(path)?;
    let key = format!("/{name}");
    if !h5.has_dataset(&key) {
        return Err(missing_variable(path, name, &h5.dataset_names()));
    }
    let mut dims = h5.shape(&key)?;
    dims.reverse();
    while dims.len() < 2 {
        dims.push(1);
    }
    let data = h5.read_f64(&key)?;
    if data.len() != dims.iter().product::<usize>() {
        return Err(corrupt(
            path,
            format!(
                "`{name}` holds {} values but its shape {dims:?} says otherwise",
                data.len()
            ),
        ));
    }
    Ok(MatVariable {
        name: name.to_string(),
        dims,
        data,
    })
}

/// The Level 5 element walker.
struct Level5<'a> {
    path: &'a Path,
    /// Most bytes any decompressed element may have.
    limit: u64,
}

/// One data element: its type and payload.
struct Element<'b> {
    kind: u32,
    data: std::borrow::Cow<'b, [u8]>,
}

impl<'a> Level5<'a> {
    /// Splits `buf` into its top-level elements, decompressing `miCOMPRESSED` ones.
    fn elements<'b>(&self, buf: &'b [u8]) -> Result<Vec<Element<'b>>> {
        let mut out = Vec::new();
        let mut pos = 0usize;
        while pos < buf.len() {
            let (kind, data, next) = self.tag(buf, pos)?;
            if kind == MI_COMPRESSED {
                let mut inflated = Vec::new();
                flate2::read::ZlibDecoder::new(data)
                    .take(self.limit + 1)
                    .read_to_end(&mut inflated)
                    .map_err(|e| {
                        corrupt(
                            self.path,
                            format!("a compressed element at byte {} does not inflate ({e})", 128 + pos),
                        )
                    })?;
                if inflated.len() as u64 > self.limit {
                    return Err(corrupt(
                        self.path,
                        "a compressed element inflates beyond any real variable's size",
                    ));
                }
                let (k, d, _) = self.tag(&inflated, 0)?;
                let owned = d.to_vec();
                out.push(Element {
                    kind: k,
                    data: std::borrow::Cow::Owned(owned),
                });
                // Compressed elements are not padded: the next tag follows the zlib stream directly.
                pos = next;
            } else {
                out.push(Element {
                    kind,
                    data: std::borrow::Cow::Borrowed(data),
                });
                pos = next;
            }
        }
        Ok(out)
    }

    /// The element whose tag starts at `pos`: (type, payload, where the next element starts).
    fn tag<'b>(&self, buf: &'b [u8], pos: usize) -> Result<(u32, &'b [u8], usize)> {
        let word = |at: usize| -> Result<u32> {
            buf.get(at..at + 4)
                .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
                .ok_or_else(|| corrupt(self.path, format!("an element tag at byte {at} is cut off")))
        };
        let first = word(pos)?;
        if first >> 16 != 0 {
            // Small data element: type and size in one word, up to 4 bytes of data in the next.
            let (kind, n) = (first & 0xffff, (first >> 16) as usize);
            if n > 4 {
                return Err(corrupt(
                    self.path,
                    format!("a small element at byte {pos} claims {n} bytes"),
                ));
            }
            let data = buf
                .get(pos + 4..pos + 4 + n)
                .ok_or_else(|| corrupt(self.path, "a small element is cut off"))?;
            return Ok((kind, data, pos + 8));
        }
        let n = word(pos + 4)? as usize;
        let start = pos + 8;
        let data = buf.get(start..start.saturating_add(n)).ok_or_else(|| {
            corrupt(
                self.path,
                format!(
                    "an element at byte {pos} claims {n} bytes but only {} remain",
                    buf.len().saturating_sub(start)
                ),
            )
        })?;
        let next = if first == MI_COMPRESSED {
            start + n
        } else {
            start + n.div_ceil(8) * 8
        };
        Ok((first, data, next))
    }

    /// Calls `f(name, matrix payload)` for every top-level variable.
    fn walk(&self, buf: &[u8], f: &mut dyn FnMut(&str, &[u8]) -> Result<()>) -> Result<()> {
        for e in self.elements(buf)? {
            if e.kind != MI_MATRIX {
                continue;
            }
            let subs = self.sub_elements(&e.data)?;
            let name = subs
                .get(2)
                .map(|(_, d)| String::from_utf8_lossy(d).into_owned())
                .unwrap_or_default();
            f(&name, &e.data)?;
        }
        Ok(())
    }

    /// The sub-elements of a matrix: flags, dimensions, name, real part (, imaginary part).
    fn sub_elements<'b>(&self, m: &'b [u8]) -> Result<Vec<(u32, &'b [u8])>> {
        let mut subs = Vec::new();
        let mut pos = 0;
        while pos < m.len() {
            let (k, d, next) = self.tag(m, pos)?;
            subs.push((k, d));
            pos = next;
        }
        Ok(subs)
    }

    /// Every top-level variable, decoded when it is `wanted` (or all when None); variables of other names are
    /// skipped without decoding.
    fn variables(&self, buf: &[u8], wanted: Option<&str>) -> Result<Vec<Result<MatVariable>>> {
        let mut out = Vec::new();
        self.walk(buf, &mut |name, payload| {
            if wanted.is_none_or(|w| w == name) {
                out.push(self.matrix(name, payload));
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Decodes one matrix payload.
    fn matrix(&self, name: &str, payload: &[u8]) -> Result<MatVariable> {
        let subs = self.sub_elements(payload)?;
        let bad = |why: String| {
            FormatError::new(
                ErrorKind::Invalid,
                format!("{}: variable `{name}`: {why}", self.path.display()),
            )
        };
        let (flags_kind, flags) = subs
            .first()
            .copied()
            .ok_or_else(|| corrupt(self.path, format!("variable `{name}` has no array flags")))?;
        if flags_kind != MI_UINT32 || flags.len() < 4 {
            return Err(corrupt(
                self.path,
                format!("variable `{name}` has malformed array flags"),
            ));
        }
        let word = u32::from_le_bytes(flags[..4].try_into().unwrap());
        let class = (word & 0xff) as u8;
        let Some(class_name) = numeric_class_name(class) else {
            return Err(bad(format!(
                "a MATLAB {} array; only numeric arrays are read",
                other_class_name(class)
            ))
            .into());
        };
        if word & 0x0800 != 0 {
            return Err(bad(format!("a complex {class_name} array; only real arrays are read")).into());
        }
        let (dims_kind, dims_bytes) = subs
            .get(1)
            .copied()
            .ok_or_else(|| corrupt(self.path, format!("variable `{name}` has no dimensions")))?;
        if dims_kind != MI_INT32 || dims_bytes.len() % 4 != 0 || dims_bytes.len() < 8 {
            return Err(corrupt(
                self.path,
                format!("variable `{name}` has malformed dimensions"),
            ));
        }
        let dims: Vec<usize> = dims_bytes
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes(c.try_into().unwrap()).max(0) as usize)
            .collect();
        let n = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| {
            corrupt(
                self.path,
                format!("variable `{name}` has impossible dimensions {dims:?}"),
            )
        })?;
        let (real_kind, real) = subs.get(3).copied().unwrap_or((MI_DOUBLE, &[]));
        let width = match real_kind {
            MI_INT8 | MI_UINT8 => 1,
            MI_INT16 | MI_UINT16 => 2,
            MI_INT32 | MI_UINT32 | MI_SINGLE => 4,
            MI_DOUBLE | MI_INT64 | MI_UINT64 => 8,
            other => {
                return Err(corrupt(
                    self.path,
                    format!("variable `{name}` stores its values as data type {other}"),
                ))
            }
        };
        if real.len() != n * width {
            return Err(corrupt(
                self.path,
                format!(
                    "variable `{name}` of size {dims:?} holds {} bytes of values, expected {}",
                    real.len(),
                    n * width
                ),
            ));
        }
        // MATLAB may store a double array in a narrower type when its values fit; convert whatever is stored.
        let data: Vec<f64> = match real_kind {
            MI_INT8 => real.iter().map(|&b| b as i8 as f64).collect(),
            MI_UINT8 => real.iter().map(|&b| b as f64).collect(),
            MI_INT16 => real
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            MI_UINT16 => real
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            MI_INT32 => real
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            MI_UINT32 => real
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            MI_SINGLE => real
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            MI_DOUBLE => real
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
            MI_INT64 => real
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            _ => real
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
        };
        Ok(MatVariable {
            name: name.to_string(),
            dims,
            data,
        })
    }
}
