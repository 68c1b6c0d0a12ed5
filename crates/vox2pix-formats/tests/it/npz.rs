//! npy/npz codec against NumPy: files written by `np.savez` / `np.savez_compressed`
//! (`tools/make_npz_fixtures.py`) read to the values NumPy reports, our files round-trip exactly, and NumPy
//! loads our files (when a Python with NumPy is available).
use crate::helpers::fixture;
use ndarray::{array, Array2, ArrayD, IxDyn};
use vox2pix_formats::error::kind_of;
use vox2pix_formats::npz::{
    parse_npy, read_npz, write_npy, write_npz, Compression, Dtype, NpyArray, NpyData, NpzReader,
};
use vox2pix_formats::{ErrorKind, FormatError};

fn dtype_of(descr: &str) -> Dtype {
    match &descr[1..] {
        "b1" => Dtype::Bool,
        "u1" => Dtype::U8,
        "i4" => Dtype::I32,
        "i8" => Dtype::I64,
        "f2" => Dtype::F16,
        "f4" => Dtype::F32,
        "f8" => Dtype::F64,
        other => panic!("sidecar dtype {other} not covered"),
    }
}

/// The array's values as f64 in C order, whatever the element type.
fn values_f64(a: &NpyArray) -> Vec<f64> {
    match &a.data {
        NpyData::Bool(v) => v.iter().map(|&b| b as u8 as f64).collect(),
        NpyData::U8(v) => v.iter().map(|&x| x as f64).collect(),
        NpyData::I32(v) => v.iter().map(|&x| x as f64).collect(),
        NpyData::I64(v) => v.iter().map(|&x| x as f64).collect(),
        NpyData::F32(v) => v.iter().map(|&x| x as f64).collect(),
        NpyData::F64(v) => v.clone(),
    }
}

#[test]
fn numpy_savez_and_savez_compressed_match_sidecar() {
    let sidecar: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("npz", "dtypes.json")).unwrap()).unwrap();
    let expected = sidecar.as_object().unwrap();
    for file in ["dtypes_savez.npz", "dtypes_savez_compressed.npz"] {
        let arrays = read_npz(&fixture("npz", file)).unwrap();
        assert_eq!(arrays.len(), expected.len(), "{file}: array count");
        let mut saw_fortran = 0;
        for (name, e) in expected {
            let a = arrays.get(name).unwrap_or_else(|| panic!("{file}: {name} missing"));
            assert_eq!(a.dtype, dtype_of(e["dtype"].as_str().unwrap()), "{file}:{name} dtype");
            let shape: Vec<usize> = e["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(a.shape, shape, "{file}:{name} shape");
            let want: Vec<f64> = e["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().or_else(|| v.as_bool().map(|b| b as u8 as f64)).unwrap())
                .collect();
            assert_eq!(values_f64(a), want, "{file}:{name} values (C order)");
            saw_fortran += e["fortran_order"].as_bool().unwrap() as usize;
        }
        assert_eq!(saw_fortran, 3, "fixture must exercise Fortran-order arrays");
    }
    // Large int64 and f16 values are exact, big-endian i4 decoded.
    let arrays = read_npz(&fixture("npz", "dtypes_savez.npz")).unwrap();
    assert_eq!(arrays["i8"].to_i64().unwrap()[3], 1i64 << 40);
    assert_eq!(
        arrays["i4_big"].to_i64().unwrap().iter().copied().collect::<Vec<_>>(),
        vec![1, -2, 300000]
    );
    assert_eq!(arrays["f2"].to_f32().unwrap()[2], 65504.0);
    // Fortran 3-D int array: element [i, j, k] is 12 i + 4 j + k in NumPy.
    let f3 = arrays["i8_fortran3"].to_array::<i64>().unwrap();
    assert_eq!(f3[[1, 2, 3]], 12 + 8 + 3);
    assert_eq!(f3[[0, 1, 2]], 6);
}

fn sample_arrays() -> Vec<(&'static str, NpyArray)> {
    vec![
        (
            "f32",
            NpyArray::new(Array2::from_shape_fn((3, 5), |(i, j)| i as f32 * 0.5 - j as f32 * 7.5).view()),
        ),
        (
            "f64",
            NpyArray::new(array![[1e-300f64, -0.0], [f64::MAX, 1.0 / 3.0]].view()),
        ),
        ("i64", NpyArray::new(array![i64::MIN, -1, 0, i64::MAX].view())),
        ("i32", NpyArray::new(array![i32::MIN, 5, i32::MAX].view())),
        ("bool", NpyArray::new(array![true, false, true, true].view())),
        (
            "u8",
            NpyArray::new(ArrayD::from_shape_fn(IxDyn(&[2, 2, 2, 3]), |i| (i[0] * 100 + i[3] * 7) as u8).view()),
        ),
        ("scalar", NpyArray::new(ndarray::arr0(2.5f64).view())),
        ("empty", NpyArray::new(Array2::<f32>::zeros((0, 4)).view())),
        (
            "nan_inf",
            NpyArray::new(array![f32::NAN, f32::INFINITY, f32::NEG_INFINITY].view()),
        ),
    ]
}

#[test]
fn round_trip_every_written_dtype_stored_and_deflated() {
    let dir = temp_dir!("npz_rt");
    let arrays = sample_arrays();
    let refs: Vec<(&str, &NpyArray)> = arrays.iter().map(|(k, a)| (*k, a)).collect();
    for (file, c) in [
        ("stored.npz", Compression::Stored),
        ("deflated.npz", Compression::Deflated),
    ] {
        let path = dir.join(file);
        write_npz(&path, &refs, c).unwrap();
        let back = read_npz(&path).unwrap();
        let r = NpzReader::open(&path).unwrap();
        assert_eq!(
            r.names(),
            arrays.iter().map(|(k, _)| k.to_string()).collect::<Vec<_>>(),
            "order kept"
        );
        for (name, a) in &arrays {
            let b = &back[*name];
            assert_eq!((b.dtype, &b.shape), (a.dtype, &a.shape), "{file}:{name}");
            // Bit-level comparison so that NaN payloads and -0.0 count too.
            let bits = |x: &NpyArray| -> Vec<u64> {
                match &x.data {
                    NpyData::F32(v) => v.iter().map(|f| f.to_bits() as u64).collect(),
                    NpyData::F64(v) => v.iter().map(|f| f.to_bits()).collect(),
                    _ => values_f64(x).iter().map(|f| f.to_bits()).collect(),
                }
            };
            assert_eq!(bits(b), bits(a), "{file}:{name}");
        }
    }
    let stored = std::fs::metadata(dir.join("stored.npz")).unwrap().len();
    let deflated = std::fs::metadata(dir.join("deflated.npz")).unwrap().len();
    assert!(
        deflated < stored,
        "deflate must actually compress ({deflated} vs {stored} bytes)"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_files_give_named_errors() {
    let dir = temp_dir!("npz_bad");
    let missing = dir.join("nope.npz");
    let e = format!("{:#}", NpzReader::open(&missing).err().unwrap());
    assert!(e.contains("nope.npz"), "{e}");

    let not_zip = dir.join("text.npz");
    std::fs::write(&not_zip, b"this is not a zip archive at all").unwrap();
    let e = format!("{:#}", NpzReader::open(&not_zip).err().unwrap());
    assert!(e.contains("text.npz") && e.contains("not a readable .npz"), "{e}");

    let bytes = std::fs::read(fixture("npz", "dtypes_savez.npz")).unwrap();
    let cut = dir.join("cut.npz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = format!("{:#}", read_npz(&cut).unwrap_err());
    assert!(e.contains("cut.npz"), "{e}");

    let mut r = NpzReader::open(&fixture("npz", "dtypes_savez.npz")).unwrap();
    let e = format!("{:#}", r.read("arr_2").unwrap_err());
    assert!(e.contains("missing key 'arr_2'") && e.contains("f4_c"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every npy/npz failure is a [`FormatError`] of the kind that matches the problem, whatever context is added.
#[test]
fn bad_files_have_typed_error_kinds() {
    let dir = temp_dir!("npz_kinds");
    let kind = |r: anyhow::Result<_>| kind_of(&r.map(|_: ()| ()).unwrap_err());

    assert_eq!(
        kind(NpzReader::open(&dir.join("nope.npz")).map(|_| ())),
        Some(ErrorKind::Missing)
    );
    let not_zip = dir.join("text.npz");
    std::fs::write(&not_zip, b"this is not a zip archive at all").unwrap();
    assert_eq!(kind(NpzReader::open(&not_zip).map(|_| ())), Some(ErrorKind::Corrupt));
    let bytes = std::fs::read(fixture("npz", "dtypes_savez.npz")).unwrap();
    let cut = dir.join("cut.npz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = read_npz(&cut).unwrap_err();
    assert_eq!(kind_of(&err), Some(ErrorKind::Corrupt));
    // The typed error is the root object under any context, so a plain downcast finds it too.
    let e = err.context("loading the dataset");
    assert_eq!(
        e.downcast_ref::<FormatError>().map(FormatError::kind),
        Some(ErrorKind::Corrupt)
    );

    let mut r = NpzReader::open(&fixture("npz", "dtypes_savez.npz")).unwrap();
    assert_eq!(
        kind(r.read("arr_2").map(|_| ())),
        Some(ErrorKind::Invalid),
        "missing key"
    );

    // A member whose bytes fail the zip checksum.
    let a = NpyArray::new(ndarray::Array1::from_elem(64, 1.0f64).view());
    let crc = dir.join("crc.npz");
    write_npz(&crc, &[("a", &a)], Compression::Stored).unwrap();
    let mut b = std::fs::read(&crc).unwrap();
    let at = b.windows(8).position(|w| w == 1.0f64.to_le_bytes()).unwrap() + 3;
    b[at] ^= 0x55;
    std::fs::write(&crc, &b).unwrap();
    assert_eq!(kind(read_npz(&crc).map(|_| ())), Some(ErrorKind::Corrupt), "checksum");

    // Bare .npy streams: truncated data or header, damaged bytes, and valid dtypes this codec does not read.
    let mut npy = Vec::new();
    write_npy(&mut npy, &NpyArray::new(array![1i64, 2, 3].view())).unwrap();
    let parse = |b: &[u8]| kind_of(&parse_npy(b).map(|_| ()).unwrap_err());
    assert_eq!(parse(&npy[..npy.len() - 4]), Some(ErrorKind::Corrupt), "truncated data");
    assert_eq!(parse(&npy[..12]), Some(ErrorKind::Corrupt), "truncated header");
    assert_eq!(parse(b"hello world"), Some(ErrorKind::Corrupt), "no magic");
    let header = |descr: &str| {
        let h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (2,), }}");
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(h.len() as u16).to_le_bytes());
        b.extend_from_slice(h.as_bytes());
        b
    };
    let mut bools = header("|b1");
    bools.extend_from_slice(&[1, 7]);
    assert_eq!(parse(&bools), Some(ErrorKind::Corrupt), "bool byte 7");
    let mut complex = header("<c8");
    complex.extend_from_slice(&[0; 16]);
    assert_eq!(parse(&complex), Some(ErrorKind::Unsupported), "complex dtype");
    let mut v7 = npy.clone();
    v7[6] = 7;
    assert_eq!(parse(&v7), Some(ErrorKind::Unsupported), "format version 7");
    let huge = std::fs::read(fixture("fuzz", "npy_zero_dim_huge_strides.npy")).unwrap();
    assert_eq!(parse(&huge), Some(ErrorKind::Corrupt), "fuzz finding");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `python3` with `PYTHONPATH` at the torch install of `make setup` (which carries NumPy).
fn python() -> std::process::Command {
    let mut cmd = std::process::Command::new("python3");
    if let Ok(torch) = std::env::var("VOX2PIX_TORCH_DIR") {
        cmd.env("PYTHONPATH", torch);
    }
    cmd
}

fn python_with_numpy() -> Option<std::process::Command> {
    let ok = python()
        .args(["-c", "import numpy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    ok.then(python)
}

#[test]
fn numpy_loads_vox2pix_npz() {
    let Some(mut py) = python_with_numpy() else {
        println!("skipped: no python3 with numpy (set VOX2PIX_TORCH_DIR or install numpy)");
        return;
    };
    let dir = temp_dir!("npz_py");
    let arrays = sample_arrays();
    let refs: Vec<(&str, &NpyArray)> = arrays.iter().map(|(k, a)| (*k, a)).collect();
    let path = dir.join("ours.npz");
    write_npz(&path, &refs, Compression::Deflated).unwrap();
    let script = r#"
import sys, numpy as np
d = np.load(sys.argv[1])
f = d["f32"]; i, j = np.indices((3, 5))
assert f.dtype == np.float32 and f.shape == (3, 5) and np.array_equal(f, i * 0.5 - j * 7.5)
assert d["f64"].dtype == np.float64 and d["f64"][1, 0] == np.finfo(np.float64).max and d["f64"][1, 1] == 1 / 3
assert d["i64"].tolist() == [-2**63, -1, 0, 2**63 - 1]
assert d["i32"].dtype == np.int32 and d["i32"].tolist() == [-2**31, 5, 2**31 - 1]
assert d["bool"].dtype == np.bool_ and d["bool"].tolist() == [True, False, True, True]
u = d["u8"]; assert u.dtype == np.uint8 and u.shape == (2, 2, 2, 3) and u[1, 0, 1, 2] == 114
assert d["scalar"].shape == () and d["scalar"] == 2.5
assert d["empty"].shape == (0, 4)
n = d["nan_inf"]; assert np.isnan(n[0]) and n[1] == np.inf and n[2] == -np.inf
print("numpy ok")
"#;
    let out = py.args(["-c", script]).arg(&path).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.contains("numpy ok"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}
