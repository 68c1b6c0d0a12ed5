//! `weights fetch` against a local HTTP server on 127.0.0.1 (no network): a good checksum is accepted and
//! the state dict converted to safetensors; a bad checksum or a failed download leaves nothing in the cache.
use crate::helpers::fixture;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use vox2pix_formats::error::kind_of;
use vox2pix_formats::weights::fetch::{fetch, Checksum, WeightsSource};
use vox2pix_formats::weights::pth::read_pth;
use vox2pix_formats::weights::{read_safetensors, DType};
use vox2pix_formats::ErrorKind;

/// Serves `body` at `/tiny.pth` (plain, or chunked at `/chunked.pth`), 404 elsewhere, for `n` connections.
fn serve(body: Vec<u8>, n: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(n) {
            let mut s = stream.unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut request = String::new();
            r.read_line(&mut request).unwrap();
            loop {
                let mut l = String::new();
                if r.read_line(&mut l).unwrap() == 0 || l == "\r\n" {
                    break;
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
            match path.as_str() {
                "/tiny.pth" => {
                    write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).unwrap();
                    s.write_all(&body).unwrap();
                }
                "/chunked.pth" => {
                    write!(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
                    for c in body.chunks(700) {
                        write!(s, "{:x}\r\n", c.len()).unwrap();
                        s.write_all(c).unwrap();
                        write!(s, "\r\n").unwrap();
                    }
                    write!(s, "0\r\n\r\n").unwrap();
                }
                "/moved" => write!(
                    s,
                    "HTTP/1.1 302 Found\r\nLocation: /tiny.pth\r\nContent-Length: 0\r\n\r\n"
                )
                .unwrap(),
                "/short.pth" => {
                    write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len() + 10).unwrap();
                    s.write_all(&body).unwrap();
                }
                _ => write!(s, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").unwrap(),
            }
        }
    });
    port
}

fn expected_sha256() -> String {
    sha256_of("tiny_weights.pth")
}

/// Written by the fixture script with Python's hashlib: an independent reference.
fn sha256_of(name: &str) -> String {
    std::fs::read_to_string(fixture("bdata", &format!("{name}.sha256")))
        .unwrap()
        .trim()
        .to_string()
}

fn source(port: u16, path: &str, checksum: Checksum) -> WeightsSource {
    WeightsSource {
        name: "tiny".into(),
        url: format!("http://127.0.0.1:{port}{path}"),
        checksum,
    }
}

/// The fixture state dict (tools/make_bdata_fixtures.py): a conv + batch-norm model plus a view sharing the
/// conv weight's storage at offset 4.
fn check_converted(file: &Path) {
    let tensors = read_safetensors(file).unwrap();
    let get = |name: &str| {
        tensors
            .iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let mut names: Vec<&str> = tensors.iter().map(|a| a.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "extra.view",
            "features.0.bias",
            "features.0.weight",
            "features.1.bias",
            "features.1.num_batches_tracked",
            "features.1.running_mean",
            "features.1.running_var",
            "features.1.weight"
        ]
    );
    let f32s = |name: &str| {
        let a = get(name);
        assert_eq!(a.dtype, DType::F32, "{name}");
        a.bytes
            .chunks(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect::<Vec<f32>>()
    };
    assert_eq!(get("features.0.weight").shape, [2, 3, 2, 2]);
    assert_eq!(
        f32s("features.0.weight"),
        (0..24).map(|i| i as f32 * 0.5).collect::<Vec<_>>()
    );
    assert_eq!(f32s("features.0.bias"), [1.0, -2.0]);
    assert_eq!(f32s("features.1.running_mean"), [0.25, -0.75]);
    assert_eq!(f32s("features.1.running_var"), [1.0, 1.0]);
    assert_eq!(f32s("extra.view"), (4..10).map(|i| i as f32 * 0.5).collect::<Vec<_>>());
    let nbt = get("features.1.num_batches_tracked");
    assert_eq!(
        (nbt.dtype, nbt.shape.len(), nbt.bytes.as_slice()),
        (DType::I64, 0, &7i64.to_le_bytes()[..])
    );
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn good_checksum_is_accepted_and_converted() {
    let body = std::fs::read(fixture("bdata", "tiny_weights.pth")).unwrap();
    let port = serve(body, 4); // direct, redirect (2 connections), chunked
    let sha = expected_sha256();
    let dir = scratch!("good");
    let f = fetch(&source(port, "/tiny.pth", Checksum::Full(sha.clone())), None, &dir).unwrap();
    assert_eq!(f.sha256, sha);
    assert_eq!(f.n_tensors, 8);
    check_converted(&f.safetensors);
    assert_eq!(files_in(&dir), ["tiny.safetensors", "tiny.sha256"]);
    // A redirect and a chunked body, checked by the 8-hex prefix as torch.hub does.
    for path in ["/moved", "/chunked.pth"] {
        let f = fetch(
            &source(port, path, Checksum::Prefix(sha[..8].to_uppercase())),
            None,
            &dir,
        )
        .unwrap();
        check_converted(&f.safetensors);
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_checksum_is_rejected_and_nothing_is_left() {
    let body = std::fs::read(fixture("bdata", "tiny_weights.pth")).unwrap();
    let port = serve(body, 4);
    let sha = expected_sha256();
    let bad = format!("{}{}", if sha.starts_with('0') { "1" } else { "0" }, &sha[1..]);
    let dir = scratch!("bad");
    for checksum in [Checksum::Full(bad.clone()), Checksum::Prefix(bad[..8].to_string())] {
        let e = format!(
            "{:#}",
            fetch(&source(port, "/tiny.pth", checksum), None, &dir).unwrap_err()
        );
        assert!(e.contains("checksum mismatch") && e.contains(&sha), "{e}");
        assert!(
            files_in(&dir).is_empty(),
            "cache must be empty, has {:?}",
            files_in(&dir)
        );
    }
    let e = format!(
        "{:#}",
        fetch(&source(port, "/missing.pth", Checksum::Full(sha.clone())), None, &dir).unwrap_err()
    );
    assert!(e.contains("404"), "{e}");
    let e = format!(
        "{:#}",
        fetch(&source(port, "/short.pth", Checksum::Full(sha.clone())), None, &dir).unwrap_err()
    );
    assert!(e.contains("connection closed after"), "{e}");
    assert!(
        files_in(&dir).is_empty(),
        "cache must be empty, has {:?}",
        files_in(&dir)
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn local_file_is_verified_and_converted() {
    let dir = scratch!("local");
    let sha = expected_sha256();
    let src = WeightsSource {
        name: "tiny".into(),
        url: "http://127.0.0.1:9/unused".into(),
        checksum: Checksum::Full(sha),
    };
    let f = fetch(&src, Some(&fixture("bdata", "tiny_weights.pth")), &dir).unwrap();
    check_converted(&f.safetensors);
    // The legacy (pre-zip) torch.save stream, as older torchvision files use.
    let legacy = WeightsSource {
        checksum: Checksum::Full(sha256_of("tiny_weights_legacy.pth")),
        ..src.clone()
    };
    let f = fetch(&legacy, Some(&fixture("bdata", "tiny_weights_legacy.pth")), &dir).unwrap();
    check_converted(&f.safetensors);
    // A truncated legacy file is an error, not a panic.
    let cut = dir.join("cut.pth");
    let bytes = std::fs::read(fixture("bdata", "tiny_weights_legacy.pth")).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() - 40]).unwrap();
    let e = format!("{:#}", vox2pix_formats::weights::pth::read_pth(&cut).unwrap_err());
    assert!(e.contains("truncated"), "{e}");
    // A file that is not a state dict fails after the checksum step and leaves nothing.
    let bogus = fixture("bdata", "stimulus_test.tsv");
    let src = WeightsSource {
        checksum: Checksum::Full(vox2pix_formats::weights::fetch::sha256_file(&bogus).unwrap()),
        ..src
    };
    let dir2 = scratch!("bogus");
    let e = format!("{:#}", fetch(&src, Some(&bogus), &dir2).unwrap_err());
    assert!(e.contains("not a readable torch.save state dict"), "{e}");
    assert!(files_in(&dir2).is_empty(), "{:?}", files_in(&dir2));
    let _ = (std::fs::remove_dir_all(dir), std::fs::remove_dir_all(dir2));
}

/// `.pth` and safetensors failures are typed: garbage and truncated files are [`ErrorKind::Corrupt`] (in both
/// torch.save formats), an absent file is `Missing`, and the kind survives `fetch`'s added context.
#[test]
fn bad_weight_files_have_typed_error_kinds() {
    let dir = temp_dir!("kinds");
    let pth = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        kind_of(&read_pth(&p).unwrap_err())
    };
    let corrupt = Some(ErrorKind::Corrupt);
    assert_eq!(pth("garbage.pth", b"this is not a torch file"), corrupt);
    assert_eq!(pth("zeros.pth", &[0u8; 256]), corrupt);
    assert_eq!(pth("zip_garbage.pth", b"PK\x03\x04 and then nothing of a zip"), corrupt);
    for name in ["tiny_weights.pth", "tiny_weights_legacy.pth"] {
        let bytes = std::fs::read(fixture("bdata", name)).unwrap();
        for cut in [40, bytes.len() / 2, bytes.len() - 10] {
            assert_eq!(
                pth(&format!("cut_{cut}_{name}"), &bytes[..cut]),
                corrupt,
                "{name} cut at {cut}"
            );
        }
    }
    assert_eq!(
        kind_of(&read_pth(&fixture("fuzz", "pth_storage_overflow.pth")).unwrap_err()),
        corrupt
    );
    assert_eq!(
        kind_of(&read_pth(&fixture("npz", "dtypes_savez.npz")).unwrap_err()),
        corrupt,
        "a zip, not a .pth"
    );
    assert_eq!(
        kind_of(&read_pth(&dir.join("nope.pth")).unwrap_err()),
        Some(ErrorKind::Missing)
    );

    let st = dir.join("garbage.safetensors");
    std::fs::write(&st, b"garbage garbage garbage").unwrap();
    assert_eq!(read_safetensors(&st).unwrap_err().kind(), ErrorKind::Corrupt);
    assert_eq!(
        read_safetensors(&dir.join("nope.safetensors")).unwrap_err().kind(),
        ErrorKind::Missing
    );

    // Through fetch's context ("converting …", "expected a torchvision .pth file") the kind is still found.
    let bogus = fixture("bdata", "stimulus_test.tsv");
    let src = WeightsSource {
        name: "tiny".into(),
        url: "http://127.0.0.1:9/unused".into(),
        checksum: Checksum::Full(vox2pix_formats::weights::fetch::sha256_file(&bogus).unwrap()),
    };
    let e = fetch(&src, Some(&bogus), &dir.join("cache")).unwrap_err();
    assert_eq!(kind_of(&e), corrupt, "{e:#}");
    let _ = std::fs::remove_dir_all(dir);
}

/// Cross-check with the neural-core fixtures (`tools/make_torch_fixtures.py`): torchvision-built VGG16 / AlexNet
/// state dicts saved by `torch.save`, and the same tensors written to safetensors by a separate Python writer.
/// Our `.pth` → safetensors conversion must give identical names, shapes, dtypes and values.
#[test]
fn converted_torchvision_state_dicts_equal_the_python_safetensors() {
    let nn = crate::helpers::fixture("nn", "");
    let dir = scratch!("nn");
    std::fs::create_dir_all(&dir).unwrap();
    for stem in ["vgg16_w0125", "alexnet_w0125"] {
        let out = dir.join(format!("{stem}.safetensors"));
        let n = vox2pix_formats::weights::fetch::pth_to_safetensors(&nn.join(format!("{stem}.pth")), &out).unwrap();
        let ours = read_safetensors(&out).unwrap();
        let theirs = read_safetensors(&nn.join(format!("{stem}.safetensors"))).unwrap();
        assert_eq!(n, theirs.len(), "{stem}");
        for (a, b) in ours.iter().zip(&theirs) {
            assert_eq!(a.name, b.name, "{stem}");
            assert_eq!((&a.shape, a.dtype), (&b.shape, b.dtype), "{stem} {}", a.name);
            assert!(a.bytes == b.bytes, "{stem} {}: values differ", a.name);
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}
