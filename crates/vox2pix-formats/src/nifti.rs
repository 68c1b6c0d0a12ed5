//! NIfTI-1 volumes (`.nii`, `.nii.gz`): the header fields a dataset needs and the voxel values, read whole (an
//! ROI mask) or one 3-D volume at a time from a 4-D file (NSD's single-trial betas, ~1 GB per session, never
//! held whole).
//!
//! Values come out in the file's own order, NIfTI's x-fastest (Fortran) order: offset = x + X·(y + Y·z) within a
//! volume, volumes one after another. That is also the C order of the same data saved by MATLAB to HDF5 (which
//! reverses the dimensions), so NSD's `.hdf5` and `.nii.gz` twins index alike. Like nibabel's `get_fdata`, a
//! set `scl_slope` (finite and non-zero) maps a stored value s to `s · scl_slope + scl_inter`.
//!
//! Every length is checked against the bytes that are there: a truncated or damaged file is an error naming the
//! file, never a panic or a short read taken for data.
use crate::error::{ErrorKind, FormatError};
use anyhow::Result;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Size of a NIfTI-1 header.
const HEADER_BYTES: usize = 348;

/// The stored type of the voxel values (NIfTI `datatype` codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NiftiType {
    /// 2: unsigned 8-bit.
    U8,
    /// 4: signed 16-bit.
    I16,
    /// 8: signed 32-bit.
    I32,
    /// 16: 32-bit float.
    F32,
    /// 64: 64-bit float.
    F64,
    /// 256: signed 8-bit.
    I8,
    /// 512: unsigned 16-bit.
    U16,
    /// 768: unsigned 32-bit.
    U32,
}

impl NiftiType {
    fn from_code(code: i16) -> Option<Self> {
        Some(match code {
            2 => Self::U8,
            4 => Self::I16,
            8 => Self::I32,
            16 => Self::F32,
            64 => Self::F64,
            256 => Self::I8,
            512 => Self::U16,
            768 => Self::U32,
            _ => return None,
        })
    }

    /// Bytes per value.
    pub fn bytes(self) -> usize {
        match self {
            Self::U8 | Self::I8 => 1,
            Self::I16 | Self::U16 => 2,
            Self::I32 | Self::U32 | Self::F32 => 4,
            Self::F64 => 8,
        }
    }
}

/// What a NIfTI-1 header says about the data.
#[derive(Clone, Debug, PartialEq)]
pub struct NiftiHeader {
    /// `dim[1..=dim[0]]`: the size of each axis (x, y, z, then volumes).
    pub dims: Vec<usize>,
    /// The stored type.
    pub datatype: NiftiType,
    /// Byte offset of the data in the (decompressed) file.
    pub vox_offset: usize,
    /// `(scl_slope, scl_inter)` when the header sets a scaling.
    pub scaling: Option<(f64, f64)>,
    /// Whether the file is little-endian.
    pub little_endian: bool,
}

impl NiftiHeader {
    /// The first three axes (x, y, z), 1 for an axis the file lacks.
    pub fn volume_dims(&self) -> [usize; 3] {
        let d = |i: usize| self.dims.get(i).copied().unwrap_or(1);
        [d(0), d(1), d(2)]
    }

    /// Values per 3-D volume.
    pub fn volume_len(&self) -> usize {
        self.volume_dims().iter().product()
    }

    /// Number of 3-D volumes (the product of axes 4 and up; 1 for a 3-D file).
    pub fn n_volumes(&self) -> usize {
        self.dims.iter().skip(3).product()
    }

    fn decode(&self, raw: &[u8], out: &mut Vec<f32>) {
        let b = self.datatype.bytes();
        out.clear();
        out.extend(raw.chunks_exact(b).map(|c| {
            let v = decode_value(self.datatype, c, self.little_endian);
            match self.scaling {
                Some((slope, inter)) => (v * slope + inter) as f32,
                None => v as f32,
            }
        }));
    }
}

fn decode_value(t: NiftiType, c: &[u8], le: bool) -> f64 {
    macro_rules! num {
        ($ty:ty, $n:literal) => {{
            let a: [u8; $n] = c.try_into().expect("chunk length is the type's size");
            (if le {
                <$ty>::from_le_bytes(a)
            } else {
                <$ty>::from_be_bytes(a)
            }) as f64
        }};
    }
    match t {
        NiftiType::U8 => c[0] as f64,
        NiftiType::I8 => c[0] as i8 as f64,
        NiftiType::I16 => num!(i16, 2),
        NiftiType::U16 => num!(u16, 2),
        NiftiType::I32 => num!(i32, 4),
        NiftiType::U32 => num!(u32, 4),
        NiftiType::F32 => num!(f32, 4),
        NiftiType::F64 => num!(f64, 8),
    }
}

fn corrupt(path: &Path, detail: impl Into<String>) -> anyhow::Error {
    FormatError::corrupt(path, detail).into()
}

/// Parses the 348-byte NIfTI-1 header of `path` (its bytes in `h`).
fn parse_header(path: &Path, h: &[u8]) -> Result<NiftiHeader> {
    if h.len() < HEADER_BYTES {
        return Err(corrupt(
            path,
            format!(
                "only {} bytes, shorter than a NIfTI-1 header (348); the file is truncated — re-download it",
                h.len()
            ),
        ));
    }
    let le =
        match (
            i32::from_le_bytes(h[0..4].try_into()?),
            i32::from_be_bytes(h[0..4].try_into()?),
        ) {
            (348, _) => true,
            (_, 348) => false,
            (540, _) | (_, 540) => {
                return Err(FormatError::unsupported(
                    path.display().to_string(),
                    "this is a NIfTI-2 file; vox2pix reads NIfTI-1 (NSD's format) — re-save it with nibabel as \
                 nib.Nifti1Image(img.get_fdata(), img.affine)",
                )
                .into())
            }
            _ => return Err(corrupt(
                path,
                "not a NIfTI-1 file (its first 4 bytes are not sizeof_hdr = 348); expected a .nii or .nii.gz volume",
            )),
        };
    let i16_at = |o: usize| {
        let a = [h[o], h[o + 1]];
        if le {
            i16::from_le_bytes(a)
        } else {
            i16::from_be_bytes(a)
        }
    };
    let f32_at = |o: usize| {
        let a = [h[o], h[o + 1], h[o + 2], h[o + 3]];
        if le {
            f32::from_le_bytes(a)
        } else {
            f32::from_be_bytes(a)
        }
    };
    let magic = &h[344..348];
    if magic != b"n+1\0" && magic != b"ni1\0" {
        return Err(corrupt(
            path,
            "the NIfTI-1 magic (\"n+1\" or \"ni1\" at byte 344) is missing; the file is damaged or not NIfTI",
        ));
    }
    if magic == b"ni1\0" {
        return Err(FormatError::unsupported(
            path.display().to_string(),
            "a two-file NIfTI pair (.hdr/.img); give a single-file .nii or .nii.gz",
        )
        .into());
    }
    let ndim = i16_at(40);
    if !(1..=7).contains(&ndim) {
        return Err(corrupt(
            path,
            format!("dim[0] = {ndim}, not 1–7; the header is damaged"),
        ));
    }
    let mut dims = Vec::with_capacity(ndim as usize);
    for i in 1..=ndim as usize {
        let d = i16_at(40 + 2 * i);
        if d < 1 {
            return Err(corrupt(
                path,
                format!("dim[{i}] = {d}; every axis must be ≥ 1 — the header is damaged"),
            ));
        }
        dims.push(d as usize);
    }
    let total = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if total.is_none_or(|t| t > 1 << 40) {
        return Err(corrupt(
            path,
            format!("dimensions {dims:?} are impossibly large; the header is damaged"),
        ));
    }
    let code = i16_at(70);
    let datatype = NiftiType::from_code(code).ok_or_else(|| {
        FormatError::unsupported(
            path.display().to_string(),
            format!(
                "NIfTI datatype {code} is not read (supported: uint8, int8, int16, uint16, int32, uint32, float32, \
                 float64); convert it with nibabel"
            ),
        )
    })?;
    let vox_offset = f32_at(108);
    if !(vox_offset.is_finite() && vox_offset >= HEADER_BYTES as f32 && vox_offset < (1u64 << 31) as f32) {
        return Err(corrupt(
            path,
            format!("vox_offset = {vox_offset}, not a valid data offset (≥ 352)"),
        ));
    }
    let (slope, inter) = (f32_at(112) as f64, f32_at(116) as f64);
    let scaling = (slope.is_finite() && slope != 0.0 && !(slope == 1.0 && inter == 0.0))
        .then_some((slope, if inter.is_finite() { inter } else { 0.0 }));
    Ok(NiftiHeader {
        dims,
        datatype,
        vox_offset: vox_offset as usize,
        scaling,
        little_endian: le,
    })
}

/// A NIfTI-1 file opened for reading its volumes in order.
pub struct NiftiReader {
    path: PathBuf,
    header: NiftiHeader,
    reader: Box<dyn Read>,
    next_volume: usize,
    raw: Vec<u8>,
}

impl NiftiReader {
    /// Opens `path` (`.nii`, or gzip-compressed: recognised by its bytes, not its name) and reads the header.
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow::Error::from(FormatError::Missing {
                    path: path.to_path_buf(),
                    hint: "expected a NIfTI volume (.nii or .nii.gz)".into(),
                })
            } else {
                FormatError::io(path, e).into()
            }
        })?;
        let mut buffered = std::io::BufReader::with_capacity(1 << 20, file);
        let gz = {
            use std::io::BufRead;
            let head = buffered.fill_buf().map_err(|e| FormatError::io(path, e))?;
            head.starts_with(&[0x1f, 0x8b])
        };
        let mut reader: Box<dyn Read> = if gz {
            Box::new(flate2::read::MultiGzDecoder::new(buffered))
        } else {
            Box::new(buffered)
        };
        let mut h = Vec::with_capacity(HEADER_BYTES);
        read_up_to(path, &mut reader, HEADER_BYTES, &mut h)?;
        let header = parse_header(path, &h)?;
        // Skip the extensions between the header and the data.
        let mut skip = Vec::new();
        read_up_to(path, &mut reader, header.vox_offset - HEADER_BYTES, &mut skip)?;
        if skip.len() < header.vox_offset - HEADER_BYTES {
            return Err(corrupt(
                path,
                "the file ends before its data starts; it is truncated — re-download it",
            ));
        }
        Ok(Self {
            path: path.to_path_buf(),
            header,
            reader,
            next_volume: 0,
            raw: Vec::new(),
        })
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The header.
    pub fn header(&self) -> &NiftiHeader {
        &self.header
    }

    /// Reads the next 3-D volume into `out` (x-fastest order, scaling applied); `false` after the last one.
    pub fn read_volume(&mut self, out: &mut Vec<f32>) -> Result<bool> {
        if self.next_volume >= self.header.n_volumes() {
            return Ok(false);
        }
        let want = self.header.volume_len() * self.header.datatype.bytes();
        self.raw.clear();
        read_up_to(&self.path, &mut self.reader, want, &mut self.raw)?;
        if self.raw.len() < want {
            return Err(corrupt(
                &self.path,
                format!(
                    "truncated: volume {} of {} has {} of its {want} bytes — re-download the file",
                    self.next_volume + 1,
                    self.header.n_volumes(),
                    self.raw.len()
                ),
            ));
        }
        self.header.decode(&self.raw, out);
        self.next_volume += 1;
        Ok(true)
    }
}

/// Reads up to `n` bytes (fewer only at the end of the stream) into `buf`; a damaged gzip stream is an error.
fn read_up_to(path: &Path, r: &mut dyn Read, n: usize, buf: &mut Vec<u8>) -> Result<()> {
    let start = buf.len();
    r.take(n as u64).read_to_end(buf).map_err(|e| {
        anyhow::Error::from(FormatError::new(
            ErrorKind::Corrupt,
            format!(
                "{}: cannot read the voxel data ({e}); the file is damaged or truncated — re-download it",
                path.display()
            ),
        ))
    })?;
    debug_assert!(buf.len() - start <= n);
    Ok(())
}

/// A whole NIfTI file: its header and every value (x-fastest order, scaling applied).
#[derive(Clone, Debug, PartialEq)]
pub struct NiftiVolume {
    /// The header.
    pub header: NiftiHeader,
    /// All values, volume after volume.
    pub data: Vec<f32>,
}

/// Reads a whole NIfTI file (an ROI mask or atlas: a few MB).
pub fn read_nifti(path: &Path) -> Result<NiftiVolume> {
    let mut r = NiftiReader::open(path)?;
    let n = r.header.n_volumes();
    let mut data = Vec::with_capacity(r.header.volume_len() * n);
    let mut vol = Vec::new();
    while r.read_volume(&mut vol)? {
        data.extend_from_slice(&vol);
    }
    Ok(NiftiVolume {
        header: r.header.clone(),
        data,
    })
}
