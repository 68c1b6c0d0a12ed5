//! The few HDF5 operations BData needs, behind a small trait so that the backend can change without touching
//! the BData logic. The default backend is `hdf5-pure` (pure Rust: no system libhdf5, no cmake); the reasons
//! are in `docs/real-data.md`. A libhdf5 backend (hdf5-metno) would implement the same trait behind a feature.
use crate::error::{ErrorKind, FormatError};
use anyhow::{anyhow, Result};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// Read access to one HDF5 file: existence checks, 1-D string datasets and numeric datasets as f64.
pub trait Hdf5Source {
    /// The file this source reads (for error messages).
    fn path(&self) -> &Path;
    /// Whether `name` (an absolute path such as `/metadata/key`) resolves to a dataset.
    fn has_dataset(&self, name: &str) -> bool;
    /// Whether `name` resolves to a group.
    fn has_group(&self, name: &str) -> bool;
    /// Dimensions of a dataset.
    fn shape(&self, name: &str) -> Result<Vec<usize>>;
    /// A string dataset (variable-length or fixed-length, ASCII or UTF-8) as Rust strings, NUL padding removed.
    fn read_strings(&self, name: &str) -> Result<Vec<String>>;
    /// A numeric dataset of any stored type, converted to f64, in C order.
    fn read_f64(&self, name: &str) -> Result<Vec<f64>>;
    /// The names of the datasets in the root group (for error messages that say what a file does hold).
    fn dataset_names(&self) -> Vec<String>;
}

/// Opens `path` with the default backend.
pub fn open(path: &Path) -> Result<Box<dyn Hdf5Source>> {
    Ok(Box::new(PureHdf5::open(path)?))
}

/// Where the HDF5 signature is: at byte 0, or after a user block at 512, 1024, 2048, … (0 when not found,
/// which the backend has already refused).
fn signature_offset(path: &Path, len: u64) -> u64 {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return 0;
    };
    let mut at = 0u64;
    while at + 8 <= len {
        let mut sig = [0u8; 8];
        if f.seek(SeekFrom::Start(at)).is_err() || f.read_exact(&mut sig).is_err() {
            return 0;
        }
        if &sig == b"\x89HDF\r\n\x1a\n" {
            return at;
        }
        at = if at == 0 { 512 } else { at * 2 };
    }
    0
}

/// The `hdf5-pure` backend. The whole file is read into memory on open (GOD subjects are 100–300 MB).
pub struct PureHdf5 {
    path: PathBuf,
    file: hdf5_pure::File,
    /// File size in bytes: bounds what a dataset can decode to (see `check_size`).
    len: u64,
}

/// Deflate cannot expand data by more than ~1032:1, so no genuine dataset decodes to more than this many times
/// the file's size.
const MAX_EXPANSION: u64 = 1100;

impl PureHdf5 {
    /// Reads `path` into memory and checks it is a whole HDF5 file (its size reaches the superblock's end-of-file
    /// address). A missing path is [`ErrorKind::Missing`]; damaged or truncated bytes are [`ErrorKind::Corrupt`].
    pub fn open(path: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| {
            FormatError::io_context(format!("cannot open HDF5 file {}: check the path", path.display()), e)
        })?;
        if !meta.is_file() {
            return Err(FormatError::new(
                ErrorKind::Invalid,
                format!(
                    "{} is not a file; expected a BData HDF5 file such as Subject1.h5",
                    path.display()
                ),
            )
            .into());
        }
        let file = guarded(path, "open", || hdf5_pure::File::open(path))?.map_err(|e| {
            FormatError::new(
                ErrorKind::Corrupt,
                format!(
                    "{} is not a readable HDF5 file ({e}); it may be truncated or not HDF5 at all — \
                     re-download it and compare its size with the source",
                    path.display()
                ),
            )
        })?;
        // A cut-off file can still parse when the objects read lie in the surviving part; the superblock's
        // end-of-file address is how libhdf5 notices truncation, so check it the same way.
        // After a user block (MATLAB v7.3 files have 512 bytes), libhdf5 records the end-of-file address
        // counting the user block (measured: an h5py file with a 512-byte user block stores its exact length),
        // so the user block is not added again there.
        let sb = file.superblock();
        let expected = if signature_offset(path, meta.len()) > 0 {
            sb.eof_address
        } else {
            sb.base_address.get().saturating_add(sb.eof_address)
        };
        if meta.len() < expected {
            return Err(FormatError::new(
                ErrorKind::Corrupt,
                format!(
                    "{} is truncated: it has {} bytes but its HDF5 header says {expected}; re-download it",
                    path.display(),
                    meta.len()
                ),
            )
            .into());
        }
        Ok(PureHdf5 {
            path: path.to_path_buf(),
            file,
            len: meta.len(),
        })
    }

    /// Refuses a dataset whose declared shape could not have come from this file: a damaged header would
    /// otherwise make the backend allocate its claimed size (and abort the process when that fails).
    fn check_size(&self, name: &str, ds: &hdf5_pure::Dataset, elem_bytes: u64) -> Result<()> {
        let shape = guarded(&self.path, name, || ds.shape())?
            .map_err(|e| self.corrupt(format!("cannot read the shape of {name}: {e}")))?;
        let bytes = shape
            .iter()
            .try_fold(elem_bytes, |a, &d| a.checked_mul(d))
            .unwrap_or(u64::MAX);
        if bytes > self.len.saturating_mul(MAX_EXPANSION).saturating_add(1 << 26) {
            return Err(self
                .corrupt(format!(
                    "dataset {name} claims shape {shape:?}, far more than a {}-byte file can hold; the file is \
                     damaged — re-download it",
                    self.len
                ))
                .into());
        }
        Ok(())
    }

    /// Refuses a dataset whose storage the header places outside the file: contiguous data past the end, or a
    /// chunk whose bytes or logical offset cannot exist. The backend would otherwise allocate a buffer of the
    /// claimed size (gigabytes for a flipped bit) before noticing, or do index arithmetic that overflows.
    fn check_storage(&self, name: &str, ds: &hdf5_pure::Dataset) -> Result<()> {
        let damaged = |what: String| {
            anyhow::Error::from(self.corrupt(format!(
                "dataset {name} {what}; the file is damaged or truncated — re-download it"
            )))
        };
        let layout = guarded(&self.path, name, || ds.layout())?
            .map_err(|e| self.corrupt(format!("cannot read the storage layout of {name}: {e}")))?;
        match layout {
            hdf5_pure::Layout::Contiguous {
                address: Some(address),
                size,
            } if address.checked_add(size).is_none_or(|end| end > self.len) => Err(damaged(format!(
                "stores {size} bytes at offset {address}, past the end of the {}-byte file",
                self.len
            ))),
            hdf5_pure::Layout::Chunked { chunk_shape, .. } => {
                let shape = guarded(&self.path, name, || ds.shape())?
                    .map_err(|e| self.corrupt(format!("cannot read the shape of {name}: {e}")))?;
                // A B-tree v2 index has no enumerator in the backend; its reads stay guarded.
                let Ok(Ok(chunks)) = guarded(&self.path, name, || ds.chunks()) else {
                    return Ok(());
                };
                for c in chunks {
                    if c.address.checked_add(c.storage_size).is_none_or(|end| end > self.len) {
                        return Err(damaged(format!(
                            "has a chunk of {} bytes at offset {}, past the end of the {}-byte file",
                            c.storage_size, c.address, self.len
                        )));
                    }
                    // A chunk starts inside the dataset (an edge chunk may overhang it) and its end is representable.
                    let inside = c.offset.len() == shape.len()
                        && c.offset
                            .iter()
                            .zip(&shape)
                            .zip(&chunk_shape)
                            .all(|((&o, &d), &k)| o < d.max(1) && o.checked_add(k).is_some());
                    if !inside {
                        return Err(damaged(format!(
                            "has a chunk at element offset {:?} outside its shape {shape:?}",
                            c.offset
                        )));
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn dataset(&self, name: &str) -> Result<hdf5_pure::Dataset> {
        guarded(&self.path, name, || self.file.dataset(name.trim_start_matches('/')))?
            .map_err(|e| self.corrupt(format!("cannot open dataset {name}: {e}")).into())
    }

    /// A [`FormatError::Corrupt`] for this file: `{path}: {detail}`.
    fn corrupt(&self, detail: String) -> FormatError {
        FormatError::corrupt(&self.path, detail)
    }
}

impl Hdf5Source for PureHdf5 {
    fn path(&self) -> &Path {
        &self.path
    }

    fn has_dataset(&self, name: &str) -> bool {
        matches!(
            guarded(&self.path, name, || self.file.dataset(name.trim_start_matches('/'))),
            Ok(Ok(_))
        )
    }

    fn dataset_names(&self) -> Vec<String> {
        match guarded(&self.path, "/", || self.file.root().datasets()) {
            Ok(Ok(mut names)) => {
                names.sort();
                names
            }
            _ => Vec::new(),
        }
    }

    fn has_group(&self, name: &str) -> bool {
        matches!(
            guarded(&self.path, name, || self.file.group(name.trim_start_matches('/'))),
            Ok(Ok(_))
        )
    }

    fn shape(&self, name: &str) -> Result<Vec<usize>> {
        let ds = self.dataset(name)?;
        let shape = guarded(&self.path, name, || ds.shape())?
            .map_err(|e| self.corrupt(format!("cannot read the shape of {name}: {e}")))?;
        Ok(shape.into_iter().map(|d| d as usize).collect())
    }

    fn read_strings(&self, name: &str) -> Result<Vec<String>> {
        let ds = self.dataset(name)?;
        self.check_size(name, &ds, 1)?;
        self.check_storage(name, &ds)?;
        let strings = guarded(&self.path, name, || ds.read_string())?.map_err(|e| {
            FormatError::invalid(
                self.path.display().to_string(),
                format!("cannot read {name} as strings ({e}); BData stores metadata keys as strings"),
            )
        })?;
        // Fixed-length strings arrive NUL- or space-padded depending on the writer's padding mode.
        Ok(strings
            .into_iter()
            .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
            .collect())
    }

    fn read_f64(&self, name: &str) -> Result<Vec<f64>> {
        let ds = self.dataset(name)?;
        self.check_size(name, &ds, 8)?;
        self.check_storage(name, &ds)?;
        guarded(&self.path, name, || ds.read_f64())?.map_err(|e| {
            self.corrupt(format!(
                "cannot read {name} as numbers ({e}); the file may be truncated or use an unsupported filter"
            ))
            .into()
        })
    }
}

thread_local! {
    /// How many backend calls are running on this thread inside [`guarded`].
    static BACKEND_CALLS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// True while this thread runs a call into the HDF5 parser under [`guarded`]: a panic now will be caught and
/// reported as a damaged file. The fuzz target's panic hook uses it to tell such contained panics from ours.
pub fn in_backend_call() -> bool {
    BACKEND_CALLS.with(|c| c.get() > 0)
}

/// Keeps the panic hook quiet for panics that [`guarded`] contains (they become "file is damaged" errors), so a
/// damaged file prints one clear error and no panic text; every other panic still goes to the previous hook.
pub fn silence_contained_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !in_backend_call() {
                previous(info)
            }
        }));
    });
}

/// Runs a backend call, turning a panic inside the parser (malformed or truncated input, or an arithmetic
/// overflow on offsets read from the file: the release profile keeps overflow checks on for hdf5-pure) into an
/// error.
fn guarded<T>(path: &Path, what: &str, f: impl FnOnce() -> T) -> Result<T> {
    struct Depth;
    impl Drop for Depth {
        fn drop(&mut self) {
            BACKEND_CALLS.with(|c| c.set(c.get() - 1));
        }
    }
    BACKEND_CALLS.with(|c| c.set(c.get() + 1));
    let depth = Depth;
    let result = catch_unwind(AssertUnwindSafe(f));
    drop(depth);
    result.map_err(|_| {
        FormatError::corrupt(
            path,
            format!("the HDF5 parser failed on {what}; the file is damaged or truncated — re-download it"),
        )
        .into()
    })
}

/// Writes a BData file atomically: `/dataset` (`[n_samples, n_columns]`), `/metadata/key` and
/// `/metadata/description` (variable-length strings) and `/metadata/value` (`[n_keys, n_columns]`).
pub fn write_bdata_file(
    path: &Path,
    dataset: &ndarray::Array2<f64>,
    keys: &[String],
    descriptions: &[String],
    values: &ndarray::Array2<f64>,
) -> Result<()> {
    let std_layout = |a: &ndarray::Array2<f64>| a.as_standard_layout().iter().copied().collect::<Vec<f64>>();
    let shape = |a: &ndarray::Array2<f64>| [a.nrows() as u64, a.ncols() as u64];
    let mut b = hdf5_pure::FileBuilder::new();
    b.create_dataset("dataset")
        .with_f64_data(&std_layout(dataset))
        .with_shape(&shape(dataset));
    let mut meta = b.create_group("metadata");
    let keys: Vec<&str> = keys.iter().map(|s| s.as_str()).collect();
    let descriptions: Vec<&str> = descriptions.iter().map(|s| s.as_str()).collect();
    meta.create_dataset("key").with_vlen_strings(&keys);
    meta.create_dataset("description").with_vlen_strings(&descriptions);
    meta.create_dataset("value")
        .with_f64_data(&std_layout(values))
        .with_shape(&shape(values));
    b.add_group(meta.finish());
    let bytes = b
        .finish()
        .map_err(|e| anyhow!("cannot encode {} as HDF5: {e}", path.display()))?;
    crate::io::write_bytes_atomic(path, &bytes)
}

/// One large numeric dataset (NSD's betas, stimuli or MindEye2's arrays: gigabytes to tens of gigabytes) read a
/// window of rows (along the first axis) at a time: the file is opened for streaming, so only the storage a
/// window overlaps is read and memory stays bounded by the window. Damage found while reading is an error
/// naming the file, as for [`PureHdf5`].
pub struct Hdf5Rows {
    path: PathBuf,
    name: String,
    ds: hdf5_pure::Dataset,
    shape: Vec<usize>,
    /// Half-precision floats, which the backend stores but does not convert (decoded here).
    half: Option<bool>,
    _file: hdf5_pure::File,
}

impl Hdf5Rows {
    /// Opens dataset `name` of `path`; `what` says what the file should be (for the error when it is missing
    /// or the dataset is not there).
    pub fn open(path: &Path, name: &str, what: &str) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow::Error::from(FormatError::Missing {
                    path: path.to_path_buf(),
                    hint: format!("expected {what}"),
                })
            } else {
                FormatError::io(path, e).into()
            }
        })?;
        let file = guarded(path, "open", || hdf5_pure::File::open_streaming(path))?.map_err(|e| {
            FormatError::corrupt(
                path,
                format!("not a readable HDF5 file ({e}); it may be truncated or not HDF5 — expected {what}"),
            )
        })?;
        let sb = file.superblock();
        let expected = sb.base_address.get().saturating_add(sb.eof_address);
        if meta.len() < expected {
            return Err(FormatError::corrupt(
                path,
                format!(
                    "truncated: it has {} bytes but its HDF5 header says {expected}; re-download it",
                    meta.len()
                ),
            )
            .into());
        }
        let ds = match guarded(path, name, || file.dataset(name.trim_start_matches('/')))? {
            Ok(ds) => ds,
            Err(_) => {
                let names = match guarded(path, "/", || file.root().datasets()) {
                    Ok(Ok(n)) => n.join(", "),
                    _ => String::new(),
                };
                return Err(FormatError::invalid(
                    path.display().to_string(),
                    format!("has no dataset `{name}` (it holds: {names}); expected {what}"),
                )
                .into());
            }
        };
        let shape: Vec<usize> = guarded(path, name, || ds.shape())?
            .map_err(|e| FormatError::corrupt(path, format!("cannot read the shape of `{name}`: {e}")))?
            .into_iter()
            .map(|d| d as usize)
            .collect();
        let half = match guarded(path, name, || ds.datatype())? {
            Ok(hdf5_pure::Datatype::FloatingPoint {
                size: 2, byte_order, ..
            }) => Some(byte_order == hdf5_pure::DatatypeByteOrder::LittleEndian),
            _ => None,
        };
        let bytes = shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
            .unwrap_or(u64::MAX);
        if bytes > meta.len().saturating_mul(MAX_EXPANSION).saturating_add(1 << 26) {
            return Err(FormatError::corrupt(
                path,
                format!("dataset `{name}` claims shape {shape:?}, more than the file can hold; it is damaged"),
            )
            .into());
        }
        Ok(Self {
            path: path.to_path_buf(),
            name: name.to_string(),
            ds,
            shape,
            half,
            _file: file,
        })
    }

    /// The dataset's shape as h5py reports it.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Values per row (the product of the axes after the first).
    pub fn row_len(&self) -> usize {
        self.shape.iter().skip(1).product()
    }

    /// The dataset's element type, for messages (`f32`, `i16`, `f16`, …).
    pub fn dtype_name(&self) -> String {
        if self.half.is_some() {
            return "f16".into();
        }
        match self.ds.dtype() {
            Ok(t) => t.to_string(),
            Err(_) => "unknown".into(),
        }
    }

    fn check_window(&self, start: usize, n: usize) -> Result<()> {
        let rows = self.shape.first().copied().unwrap_or(0);
        if start.checked_add(n).is_none_or(|end| end > rows) {
            return Err(FormatError::invalid(
                self.path.display().to_string(),
                format!(
                    "rows {start}..{} of `{}` requested, but it has {rows}",
                    start + n,
                    self.name
                ),
            )
            .into());
        }
        Ok(())
    }

    fn read_failed(&self, e: impl std::fmt::Display) -> anyhow::Error {
        FormatError::corrupt(
            &self.path,
            format!(
                "cannot read `{}` ({e}); the file is damaged or truncated, or uses an unsupported filter — re-download it",
                self.name
            ),
        )
        .into()
    }

    /// Rows `start..start + n` as f32, in C order (any integer or float type, half precision included).
    pub fn read_f32(&self, start: usize, n: usize) -> Result<Vec<f32>> {
        self.check_window(start, n)?;
        let out = match self.half {
            Some(le) => {
                let raw = guarded(&self.path, &self.name, || self.ds.read_raw_rows(start as u64, n as u64))?
                    .map_err(|e| self.read_failed(e))?;
                raw.chunks_exact(2)
                    .map(|c| {
                        crate::npz::f16_to_f32(if le {
                            u16::from_le_bytes([c[0], c[1]])
                        } else {
                            u16::from_be_bytes([c[0], c[1]])
                        })
                    })
                    .collect()
            }
            None => guarded(&self.path, &self.name, || self.ds.read_f32_rows(start as u64, n as u64))?
                .map_err(|e| self.read_failed(e))?,
        };
        if out.len() != n * self.row_len() {
            return Err(self.read_failed(format!("{} values instead of {}", out.len(), n * self.row_len())));
        }
        Ok(out)
    }

    /// Rows `start..start + n` of an int16 dataset, in C order (half the memory of [`Hdf5Rows::read_f32`]).
    pub fn read_i16(&self, start: usize, n: usize) -> Result<Vec<i16>> {
        self.check_window(start, n)?;
        let out = guarded(&self.path, &self.name, || self.ds.read_i16_rows(start as u64, n as u64))?
            .map_err(|e| self.read_failed(e))?;
        if out.len() != n * self.row_len() {
            return Err(self.read_failed(format!("{} values instead of {}", out.len(), n * self.row_len())));
        }
        Ok(out)
    }

    /// Rows `start..start + n` of a uint8 dataset, in C order.
    pub fn read_u8(&self, start: usize, n: usize) -> Result<Vec<u8>> {
        self.check_window(start, n)?;
        let out = guarded(&self.path, &self.name, || self.ds.read_u8_rows(start as u64, n as u64))?
            .map_err(|e| self.read_failed(e))?;
        if out.len() != n * self.row_len() {
            return Err(self.read_failed(format!("{} values instead of {}", out.len(), n * self.row_len())));
        }
        Ok(out)
    }
}
