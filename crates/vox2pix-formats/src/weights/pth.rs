//! Reads PyTorch `torch.save` state dicts without Python, in both on-disk formats: the zip archive
//! (`<archive>/data.pkl` + `<archive>/data/<key>`, PyTorch ≥ 1.6) and the legacy stream (magic-number pickle,
//! protocol, sys-info, the object pickle, the storage-key list, then each storage as an i64 element count plus
//! raw bytes), which is what older torchvision files such as `vgg16-397923af.pth` use and what libtorch's own
//! loaders cannot read. Only what state dicts need is understood: dicts (incl. `OrderedDict`), tuples, lists,
//! scalars, strings, storages by persistent id and `torch._utils._rebuild_tensor(_v2)` /
//! `_rebuild_parameter`. Any other callable becomes an opaque value; it is an error only if it ends up where
//! a tensor is expected.
use super::{DType as Kind, NamedArray};
use crate::error::{ErrorKind, FormatError};
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

/// A [`FormatError`] of `kind` with the message `format!(...)`.
macro_rules! err {
    ($kind:ident, $($arg:tt)*) => {
        FormatError::new(ErrorKind::$kind, format!($($arg)*))
    };
}

/// `bail!` with a [`FormatError`]: `Corrupt` for damaged or foreign bytes, `Unsupported` for valid files this
/// reader does not handle, `Invalid` for a readable pickle that is not a state dict of tensors.
macro_rules! fail {
    ($kind:ident, $($arg:tt)*) => {
        return Err(err!($kind, $($arg)*).into())
    };
}

/// A zip or I/O error inside the file, as an [`ErrorKind::Corrupt`] error with the same text.
fn damaged(e: impl std::error::Error + 'static) -> FormatError {
    FormatError::wrap(ErrorKind::Corrupt, &e)
}

/// The legacy format's first pickle, `0x1950a86a20f9469cfc6c`.
const LEGACY_MAGIC: u128 = 0x1950a86a20f9469cfc6c;

// Some payloads are only read through `Debug` in error messages.
#[allow(dead_code)]
#[derive(Clone, Debug)]
enum Val {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Val>),
    List(Vec<Val>),
    Dict(Vec<(Val, Val)>),
    Global(String, String),
    Storage { key: String, kind: Kind, numel: usize },
    Tensor(TensorSpec),
    Opaque(String),
}

/// Storages met through persistent ids: key → (dtype, element count).
type StorageInfo = HashMap<String, (Kind, usize)>;

#[derive(Clone, Debug)]
struct TensorSpec {
    storage_key: String,
    kind: Kind,
    offset: i64,
    size: Vec<i64>,
    stride: Vec<i64>,
}

/// Named tensors of a `.pth` state dict (nested dicts flattened with `.`), in file order.
pub fn read_pth(path: &Path) -> Result<Vec<NamedArray>> {
    let bytes =
        std::fs::read(path).map_err(|e| FormatError::io_context(format!("cannot read {}", path.display()), e))?;
    let res = if bytes.starts_with(b"PK\x03\x04") {
        read_zip(&bytes)
    } else {
        read_legacy(&bytes)
    };
    res.with_context(|| format!("{} is not a readable torch.save state dict", path.display()))
}

fn read_zip(bytes: &[u8]) -> Result<Vec<NamedArray>> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| FormatError::caused_by(ErrorKind::Corrupt, "corrupt zip archive", e))?;
    let pkl = zip
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .find(|n| n.ends_with("/data.pkl") || n == "data.pkl")
        .ok_or_else(|| err!(Corrupt, "the archive has no data.pkl"))?;
    let prefix = pkl.trim_end_matches("data.pkl").to_string();
    let mut data = Vec::new();
    zip.by_name(&pkl)
        .map_err(damaged)?
        .read_to_end(&mut data)
        .map_err(damaged)?;
    let mut p = Unpickler::new(&data);
    let obj = p.load()?;
    if let Some(order) = zip.by_name(&format!("{prefix}byteorder")).ok().map(|mut f| {
        let mut s = String::new();
        let _ = f.read_to_string(&mut s);
        s
    }) {
        if order.trim() != "little" {
            fail!(
                Unsupported,
                "the archive stores {order} endian tensors; only little-endian files are supported"
            );
        }
    }
    let mut storages: HashMap<String, Vec<u8>> = HashMap::new();
    for key in p.storage_keys() {
        let mut buf = Vec::new();
        zip.by_name(&format!("{prefix}data/{key}"))
            .map_err(|e| {
                FormatError::caused_by(
                    ErrorKind::Corrupt,
                    format!("storage {key} is missing from the archive"),
                    e,
                )
            })?
            .read_to_end(&mut buf)
            .map_err(damaged)?;
        storages.insert(key, buf);
    }
    collect_tensors(obj, &p.storage_info, &storages)
}

fn read_legacy(bytes: &[u8]) -> Result<Vec<NamedArray>> {
    let mut pos = 0;
    let mut next = |what: &str| -> Result<(Val, StorageInfo)> {
        let mut p = Unpickler::new(&bytes[pos..]);
        let v = p
            .load()
            .with_context(|| format!("cannot parse the {what} pickle at byte {pos}"))?;
        pos += p.pos;
        Ok((v, p.storage_info))
    };
    match next("magic number")?.0 {
        Val::Int(_) => fail!(Corrupt, "not a PyTorch file (unexpected first pickle)"),
        Val::Bytes(b) if u128_from_le(&b) == Some(LEGACY_MAGIC) => {}
        _ => fail!(
            Corrupt,
            "not a PyTorch file (no legacy magic number, and not a zip archive)"
        ),
    }
    next("protocol version")?;
    let (sys_info, _) = next("sys info")?;
    if let Val::Dict(items) = &sys_info {
        for (k, v) in items {
            if matches!((k, v), (Val::Str(k), Val::Bool(false)) if k == "little_endian") {
                fail!(
                    Unsupported,
                    "the file was written on a big-endian machine; not supported"
                );
            }
        }
    }
    let (obj, info) = next("object")?;
    let (keys, _) = next("storage key list")?;
    let keys = match keys {
        Val::List(k) => k
            .into_iter()
            .map(|v| match v {
                Val::Str(s) => Ok(s),
                other => fail!(Corrupt, "storage key list holds {other:?}"),
            })
            .collect::<Result<Vec<_>>>()?,
        other => fail!(Corrupt, "expected the storage key list, found {other:?}"),
    };
    let mut storages = HashMap::new();
    for key in keys {
        let (kind, _) = *info
            .get(&key)
            .ok_or_else(|| err!(Corrupt, "storage {key} is not referenced by the object"))?;
        let numel = bytes
            .get(pos..pos + 8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
            .ok_or_else(|| err!(Corrupt, "file ends before a storage header (truncated)"))?;
        pos += 8;
        let n = usize::try_from(numel)
            .ok()
            .and_then(|n| n.checked_mul(kind.size()))
            .ok_or_else(|| {
                err!(
                    Corrupt,
                    "storage {key} has an impossible size ({numel} elements); the file is damaged"
                )
            })?;
        let data = pos
            .checked_add(n)
            .and_then(|end| bytes.get(pos..end))
            .ok_or_else(|| err!(Corrupt, "file ends inside storage {key} (truncated)"))?;
        storages.insert(key, data.to_vec());
        pos += n;
    }
    collect_tensors(obj, &info, &storages)
}

fn u128_from_le(b: &[u8]) -> Option<u128> {
    (b.len() <= 16).then(|| b.iter().rev().fold(0u128, |acc, &x| (acc << 8) | x as u128))
}

fn collect_tensors(obj: Val, info: &StorageInfo, storages: &HashMap<String, Vec<u8>>) -> Result<Vec<NamedArray>> {
    let mut out = Vec::new();
    flatten("", obj, &mut |name, v| {
        let spec = match v {
            Val::Tensor(t) => t,
            Val::Int(_) | Val::Float(_) | Val::Bool(_) | Val::None | Val::Str(_) => return Ok(()), // e.g. epoch counters
            other => fail!(Invalid, "entry '{name}' is {}, not a tensor", describe(&other)),
        };
        let kind = spec.kind;
        let (_, numel) = *info
            .get(&spec.storage_key)
            .ok_or_else(|| err!(Corrupt, "storage of '{name}' is unknown"))?;
        let data = storages
            .get(&spec.storage_key)
            .ok_or_else(|| err!(Corrupt, "storage of '{name}' is missing"))?;
        let esz = kind.size();
        let need = (numel as u128) * esz as u128;
        if (data.len() as u128) < need {
            fail!(
                Corrupt,
                "storage of '{name}' holds {} bytes, expected {need}",
                data.len()
            );
        }
        if spec.size.len() != spec.stride.len() || spec.size.iter().any(|&s| s < 0) || spec.offset < 0 {
            fail!(
                Corrupt,
                "tensor '{name}' has an invalid size {:?} / stride {:?} / offset {}",
                spec.size,
                spec.stride,
                spec.offset
            );
        }
        // i128: sizes, strides and offset come from the file and may be absurd; the product must not wrap.
        let last = spec.offset as i128
            + spec
                .size
                .iter()
                .zip(&spec.stride)
                .map(|(&s, &st)| (s as i128 - 1).max(0) * st as i128)
                .sum::<i128>();
        let n_out: i128 = spec.size.iter().map(|&s| s as i128).product();
        if n_out > 0 && (last >= numel as i128 || last < 0 || spec.stride.iter().any(|&s| s < 0)) {
            fail!(Corrupt, "tensor '{name}' reaches past the end of its storage");
        }
        if n_out > numel as i128 {
            // Only a broadcast (stride-0) view has more elements than its storage; state dicts hold none.
            fail!(
                Invalid,
                "tensor '{name}' has {n_out} elements but its storage only {numel} (a broadcast view is not a weight)"
            );
        }
        // Gather the strided view into row-major order, element by element.
        let shape: Vec<usize> = spec.size.iter().map(|&s| s as usize).collect();
        let mut bytes = Vec::with_capacity(n_out as usize * esz);
        let mut index = vec![0usize; shape.len()];
        for _ in 0..n_out {
            let at = spec.offset as usize
                + index
                    .iter()
                    .zip(&spec.stride)
                    .map(|(&i, &st)| i * st as usize)
                    .sum::<usize>();
            bytes.extend_from_slice(&data[at * esz..(at + 1) * esz]);
            for d in (0..shape.len()).rev() {
                index[d] += 1;
                if index[d] < shape[d] {
                    break;
                }
                index[d] = 0;
            }
        }
        out.push(NamedArray {
            name: name.to_string(),
            dtype: kind,
            shape,
            bytes,
        });
        Ok(())
    })?;
    if out.is_empty() {
        fail!(Invalid, "the file holds no tensors");
    }
    Ok(out)
}

fn flatten(prefix: &str, v: Val, f: &mut dyn FnMut(&str, Val) -> Result<()>) -> Result<()> {
    match v {
        Val::Dict(items) => {
            for (k, v) in items {
                let k = match k {
                    Val::Str(s) => s,
                    Val::Int(i) => i.to_string(),
                    other => fail!(Invalid, "dict key {other:?} is not a string"),
                };
                let name = if prefix.is_empty() { k } else { format!("{prefix}.{k}") };
                flatten(&name, v, f)?;
            }
            Ok(())
        }
        other if prefix.is_empty() => fail!(Invalid, "the file holds {}, not a dict of tensors", describe(&other)),
        other => f(prefix, other),
    }
}

fn describe(v: &Val) -> String {
    match v {
        Val::Opaque(what) => format!("an object built by {what}"),
        Val::List(_) => "a list".into(),
        Val::Tuple(_) => "a tuple".into(),
        other => format!("{other:?}").chars().take(60).collect(),
    }
}

fn storage_kind(name: &str) -> Result<Kind> {
    Ok(match name {
        "FloatStorage" => Kind::F32,
        "DoubleStorage" => Kind::F64,
        "HalfStorage" => Kind::F16,
        "BFloat16Storage" => Kind::BF16,
        "LongStorage" => Kind::I64,
        "IntStorage" => Kind::I32,
        "ShortStorage" => Kind::I16,
        "CharStorage" => Kind::I8,
        "ByteStorage" => Kind::U8,
        "BoolStorage" => Kind::Bool,
        other => fail!(Unsupported, "unsupported storage type torch.{other}"),
    })
}

/// A restricted pickle machine: it never imports or calls anything, it only recognises the few globals above.
struct Unpickler<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Val>,
    marks: Vec<usize>,
    memo: HashMap<u32, Val>,
    /// Storages met through persistent ids: key → (dtype, element count), in first-seen order below.
    storage_info: StorageInfo,
    storage_order: Vec<String>,
}

impl<'a> Unpickler<'a> {
    fn new(data: &'a [u8]) -> Self {
        Unpickler {
            data,
            pos: 0,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            storage_info: HashMap::new(),
            storage_order: Vec::new(),
        }
    }

    fn storage_keys(&self) -> Vec<String> {
        self.storage_order.clone()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let s = self
            .pos
            .checked_add(n)
            .and_then(|end| self.data.get(self.pos..end))
            .ok_or_else(|| err!(Corrupt, "pickle ends early (truncated file)"))?;
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    fn line(&mut self) -> Result<String> {
        let rest = &self.data[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| err!(Corrupt, "unterminated GLOBAL"))?;
        let s = String::from_utf8_lossy(&rest[..end]).into_owned();
        self.pos += end + 1;
        Ok(s)
    }

    fn pop(&mut self) -> Result<Val> {
        self.stack
            .pop()
            .ok_or_else(|| err!(Corrupt, "pickle stack underflow").into())
    }

    fn pop_mark(&mut self) -> Result<Vec<Val>> {
        let m = self.marks.pop().ok_or_else(|| err!(Corrupt, "pickle MARK missing"))?;
        if m > self.stack.len() {
            fail!(Corrupt, "corrupt pickle (mark beyond stack)");
        }
        Ok(self.stack.split_off(m))
    }

    fn str(&mut self, n: usize) -> Result<Val> {
        Ok(Val::Str(String::from_utf8(self.take(n)?.to_vec()).map_err(|e| {
            FormatError::caused_by(ErrorKind::Corrupt, "string is not UTF-8", e)
        })?))
    }

    fn load(&mut self) -> Result<Val> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    self.u8()?; // PROTO n
                }
                0x95 => {
                    self.take(8)?; // FRAME length
                }
                b'.' => return self.pop(),
                b'(' => self.marks.push(self.stack.len()),
                b'}' => self.stack.push(Val::Dict(Vec::new())),
                b']' => self.stack.push(Val::List(Vec::new())),
                b')' => self.stack.push(Val::Tuple(Vec::new())),
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Val::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        fail!(Corrupt, "pickle stack underflow");
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.stack.push(Val::Tuple(items));
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let s = self.str(n)?;
                    self.stack.push(s);
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let s = self.str(n)?;
                    self.stack.push(s);
                }
                // Python 2 `str` (files saved under Python 2, e.g. the lpips package's heads): SHORT_BINSTRING
                // and BINSTRING. Names and keys are ASCII, so they read as strings.
                b'U' => {
                    let n = self.u8()? as usize;
                    let s = self.str(n)?;
                    self.stack.push(s);
                }
                b'T' => {
                    let n = self.u32()? as usize;
                    let s = self.str(n)?;
                    self.stack.push(s);
                }
                0x8d => {
                    let n = u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")) as usize;
                    let s = self.str(n)?;
                    self.stack.push(s);
                }
                b'C' => {
                    let n = self.u8()? as usize;
                    let b = self.take(n)?.to_vec();
                    self.stack.push(Val::Bytes(b));
                }
                b'B' => {
                    let n = self.u32()? as usize;
                    let b = self.take(n)?.to_vec();
                    self.stack.push(Val::Bytes(b));
                }
                b'J' => {
                    let v = i32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes"));
                    self.stack.push(Val::Int(v as i64));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.stack.push(Val::Int(v as i64));
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes"));
                    self.stack.push(Val::Int(v as i64));
                }
                0x8a => {
                    // LONG1: little-endian two's complement; kept as bytes when wider than i64 (the magic number).
                    let n = self.u8()? as usize;
                    let b = self.take(n)?.to_vec();
                    if n <= 8 {
                        let neg = b.last().is_some_and(|&x| x & 0x80 != 0);
                        let mut buf = [if neg { 0xff } else { 0 }; 8];
                        buf[..n].copy_from_slice(&b);
                        self.stack.push(Val::Int(i64::from_le_bytes(buf)));
                    } else {
                        self.stack.push(Val::Bytes(b));
                    }
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes"));
                    self.stack.push(Val::Float(v));
                }
                b'N' => self.stack.push(Val::None),
                0x88 => self.stack.push(Val::Bool(true)),
                0x89 => self.stack.push(Val::Bool(false)),
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.stack.push(Val::Global(module, name));
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Val::Str(m), Val::Str(n)) => self.stack.push(Val::Global(m, n)),
                        _ => fail!(Corrupt, "STACK_GLOBAL needs two strings"),
                    }
                }
                b'q' => {
                    let k = self.u8()? as u32;
                    self.memoize(k)?;
                }
                b'r' => {
                    let k = self.u32()?;
                    self.memoize(k)?;
                }
                0x94 => {
                    let k = self.memo.len() as u32;
                    self.memoize(k)?;
                }
                b'h' => {
                    let k = self.u8()? as u32;
                    self.get(k)?;
                }
                b'j' => {
                    let k = self.u32()?;
                    self.get(k)?;
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let top = self
                        .stack
                        .last()
                        .cloned()
                        .ok_or_else(|| err!(Corrupt, "DUP on an empty stack"))?;
                    self.stack.push(top);
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = self.persistent_load(pid)?;
                    self.stack.push(v);
                }
                b'R' => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    let v = reduce(func, args)?;
                    self.stack.push(v);
                }
                0x81 => {
                    let _args = self.pop()?;
                    let cls = self.pop()?;
                    self.stack.push(Val::Opaque(format!("{cls:?}")));
                }
                b'b' => {
                    // BUILD: object state (e.g. an OrderedDict's `_metadata`) carries no tensors in a state dict.
                    self.pop()?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    match self.stack.last_mut() {
                        Some(Val::Dict(d)) => d.push((k, v)),
                        _ => fail!(Corrupt, "SETITEM on a non-dict"),
                    }
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    match self.stack.last_mut() {
                        Some(Val::Dict(d)) => {
                            let mut it = items.into_iter();
                            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                                d.push((k, v));
                            }
                        }
                        _ => fail!(Corrupt, "SETITEMS on a non-dict"),
                    }
                }
                b'a' => {
                    let v = self.pop()?;
                    match self.stack.last_mut() {
                        Some(Val::List(l)) => l.push(v),
                        _ => fail!(Corrupt, "APPEND on a non-list"),
                    }
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    match self.stack.last_mut() {
                        Some(Val::List(l)) => l.extend(items),
                        _ => fail!(Corrupt, "APPENDS on a non-list"),
                    }
                }
                // An opcode outside what torch.save writes: the bytes are not a state-dict pickle.
                other => fail!(
                    Corrupt,
                    "unsupported pickle opcode 0x{other:02x} at byte {}",
                    self.pos - 1
                ),
            }
        }
    }

    fn memoize(&mut self, k: u32) -> Result<()> {
        let top = self
            .stack
            .last()
            .cloned()
            .ok_or_else(|| err!(Corrupt, "memo PUT on an empty stack"))?;
        self.memo.insert(k, top);
        Ok(())
    }

    fn get(&mut self, k: u32) -> Result<()> {
        let v = self
            .memo
            .get(&k)
            .cloned()
            .ok_or_else(|| err!(Corrupt, "memo key {k} is undefined"))?;
        self.stack.push(v);
        Ok(())
    }

    /// `('storage', torch.XStorage, key, location, numel[, view_metadata])`.
    fn persistent_load(&mut self, pid: Val) -> Result<Val> {
        let items = match pid {
            Val::Tuple(items) => items,
            other => fail!(Unsupported, "unsupported persistent id {other:?}"),
        };
        match items.as_slice() {
            [Val::Str(tag), Val::Global(_, ty), Val::Str(key), _, Val::Int(numel), rest @ ..] if tag == "storage" => {
                if rest.iter().any(|v| !matches!(v, Val::None)) {
                    fail!(
                        Unsupported,
                        "storage views (very old PyTorch files) are not supported; re-save the file with torch.save"
                    );
                }
                let kind = storage_kind(ty)?;
                let numel = usize::try_from(*numel).map_err(|_| err!(Corrupt, "negative storage size"))?;
                if !self.storage_info.contains_key(key) {
                    self.storage_order.push(key.clone());
                }
                self.storage_info.insert(key.clone(), (kind, numel));
                Ok(Val::Storage {
                    key: key.clone(),
                    kind,
                    numel,
                })
            }
            _ => fail!(Unsupported, "unsupported persistent id {items:?}"),
        }
    }
}

fn ints(v: &Val, what: &str) -> Result<Vec<i64>> {
    match v {
        Val::Tuple(items) | Val::List(items) => items
            .iter()
            .map(|x| match x {
                Val::Int(i) => Ok(*i),
                other => fail!(Corrupt, "{what} holds {other:?}"),
            })
            .collect(),
        other => fail!(Corrupt, "{what} is {other:?}, not a tuple"),
    }
}

fn reduce(func: Val, args: Val) -> Result<Val> {
    let args = match args {
        Val::Tuple(a) => a,
        other => fail!(Corrupt, "REDUCE arguments are {other:?}"),
    };
    let Val::Global(module, name) = func else {
        return Ok(Val::Opaque("a non-global callable".into()));
    };
    Ok(match (module.as_str(), name.as_str()) {
        ("collections", "OrderedDict") if args.is_empty() => Val::Dict(Vec::new()),
        // Python 2 pickles an OrderedDict as OrderedDict([[key, value], …]).
        ("collections", "OrderedDict") => match args.as_slice() {
            [Val::List(pairs)] => {
                let mut d = Vec::with_capacity(pairs.len());
                for p in pairs {
                    match p {
                        Val::List(kv) | Val::Tuple(kv) if kv.len() == 2 => d.push((kv[0].clone(), kv[1].clone())),
                        other => fail!(Corrupt, "OrderedDict item {other:?} is not a (key, value) pair"),
                    }
                }
                Val::Dict(d)
            }
            _ => fail!(Corrupt, "collections.OrderedDict called with unexpected arguments"),
        },
        ("torch._utils", "_rebuild_tensor_v2") | ("torch._utils", "_rebuild_tensor") => {
            let [Val::Storage { key, kind, .. }, Val::Int(offset), size, stride, ..] = args.as_slice() else {
                fail!(Corrupt, "{module}.{name} called with unexpected arguments");
            };
            Val::Tensor(TensorSpec {
                storage_key: key.clone(),
                kind: *kind,
                offset: *offset,
                size: ints(size, "tensor size")?,
                stride: ints(stride, "tensor stride")?,
            })
        }
        ("torch._utils", "_rebuild_parameter") | ("torch._utils", "_rebuild_parameter_with_state") => args
            .into_iter()
            .next()
            .ok_or_else(|| err!(Corrupt, "_rebuild_parameter without data"))?,
        _ => Val::Opaque(format!("{module}.{name}")),
    })
}
