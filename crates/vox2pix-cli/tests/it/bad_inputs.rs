//! The bad-input table (issue #7): every case runs the real `vox2pix` binary on one broken input and must
//! exit 1 with a message naming the file/field and the problem, print no panic, and leave nothing behind
//! (the listing of the case's folder and of the shared fixture is unchanged, no temporary files).
//! Also: the NaN guard stops a run with an absurd learning rate and keeps the last good checkpoint loadable,
//! and an atomic write that fails mid-way (disk full) leaves neither a temporary file nor a damaged target.
use crate::helpers::fixture;
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use vox2pix_formats::npz::{read_npz, write_npz, Compression, NpyArray};

const BIN: &str = env!("CARGO_BIN_EXE_vox2pix");



/// Shared, read-only inputs: a tiny world with a briefly trained backbone, an encoder run, a decoder run, and
/// a second world whose V1 has one voxel more (for "trained on another voxel count").
struct Fx {
    data: PathBuf,
    enc: PathBuf,
    dec: PathBuf,
    data41: PathBuf,
    root: PathBuf,
}

fn ok(args: &[&str]) {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn fx() -> &'static Fx {
    static F: OnceLock<Fx> = OnceLock::new();
    F.get_or_init(|| {
        let root = scratch!("fixture");
        let s = |p: &Path| p.to_str().unwrap().to_string();
        let (data, enc, dec, data41) = (
            root.join("data"),
            root.join("enc"),
            root.join("dec"),
            root.join("data41"),
        );
        ok(&[
            "synth",
            "--preset",
            "tiny",
            "--seed",
            "5",
            "--quiet",
            "--out",
            &s(&data),
        ]);
        ok(&[
            "train-backbone",
            "--world",
            &s(&data),
            "--steps",
            "10",
            "--threads",
            "1",
        ]);
        #[rustfmt::skip]
        ok(&["train-encoder", "--data", &s(&data), "--config", "tiny", "--set", "encoder_training.epochs=1",
             "--out", &s(&enc), "--threads", "1"]);
        #[rustfmt::skip]
        ok(&["train-decoder", "--data", &s(&data), "--encoder", &s(&enc), "--config", "tiny",
             "--set", "decoder_training.epochs=1", "--set", "decoder_training.steps_per_epoch=1",
             "--out", &s(&dec), "--threads", "1"]);
        #[rustfmt::skip]
        ok(&["synth", "--preset", "tiny", "--seed", "5", "--quiet", "--set", "cortex.areas.V1.voxels=41",
             "--out", &s(&data41)]);
        copy_dir(&data.join("backbone"), &data41.join("backbone"));
        Fx {
            data,
            enc,
            dec,
            data41,
            root,
        }
    })
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dst = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dst);
        } else {
            std::fs::copy(&p, &dst).unwrap();
        }
    }
}

/// Every path under `root` (relative), folders included, with a hash of each file's bytes (so a rewritten
/// file counts as changed); empty when `root` does not exist.
fn listing(root: &Path) -> BTreeSet<(PathBuf, u64)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<(PathBuf, u64)>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd {
            let p = e.unwrap().path();
            let hash = std::fs::read(&p).map_or(0, |b| {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                b.hash(&mut h);
                h.finish()
            });
            out.insert((p.strip_prefix(root).unwrap().to_path_buf(), hash));
            if p.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
}

/// Rewrites the npz at `path` after `edit` changed its arrays.
fn edit_npz(path: &Path, edit: impl FnOnce(&mut std::collections::BTreeMap<String, NpyArray>)) {
    let mut arrays = read_npz(path).unwrap();
    edit(&mut arrays);
    let refs: Vec<(&str, &NpyArray)> = arrays.iter().map(|(k, a)| (k.as_str(), a)).collect();
    write_npz(path, &refs, Compression::Stored).unwrap();
}

fn f32_array(a: &NpyArray) -> ndarray::ArrayD<f32> {
    a.to_f32().unwrap()
}

/// Rewrites a safetensors file without the tensors whose name contains `drop`; returns one dropped name.
fn drop_tensor(path: &Path, drop: &str) -> String {
    let mut ts = tch::Tensor::read_safetensors(path).unwrap();
    let i = ts.iter().position(|(k, _)| k.contains(drop)).unwrap();
    let (name, _) = ts.remove(i);
    tch::Tensor::write_safetensors(&ts, path).unwrap();
    name
}

fn truncate(path: &Path, keep: f64) {
    let b = std::fs::read(path).unwrap();
    std::fs::write(path, &b[..(b.len() as f64 * keep) as usize]).unwrap();
}

struct Case {
    name: &'static str,
    args: Vec<OsString>,
    /// All must appear in stderr: the file or field, and words saying what is wrong.
    needles: Vec<String>,
}

fn case(name: &'static str, args: &[&dyn AsRef<std::ffi::OsStr>], needles: &[&str]) -> Case {
    Case {
        name,
        args: args.iter().map(|a| a.as_ref().to_os_string()).collect(),
        needles: needles.iter().map(|s| s.to_string()).collect(),
    }
}

/// Builds each case's inputs under `dir/<case>` and returns the table.
fn cases(f: &Fx, dir: &Path) -> Vec<Case> {
    let data_copy = |name: &str| -> PathBuf {
        let d = dir.join(name).join("data");
        copy_dir(&f.data, &d);
        d
    };
    let run_copy = |name: &str, run: &Path| -> PathBuf {
        let d = dir.join(name).join("run");
        copy_dir(run, &d);
        d
    };
    let out = |name: &str| dir.join(format!("out-{name}"));
    let enc = |data: &Path, name: &'static str, extra: &[&str], needles: &[&str]| -> Case {
        let mut args: Vec<OsString> = ["train-encoder", "--config", "tiny", "--threads", "1", "--data"]
            .iter()
            .map(OsString::from)
            .collect();
        args.push(data.into());
        args.push("--out".into());
        args.push(out(name).into());
        args.extend(extra.iter().map(OsString::from));
        Case {
            name,
            args,
            needles: needles.iter().map(|s| s.to_string()).collect(),
        }
    };
    let mut t = vec![];

    // --- datasets (npz) ---
    t.push(enc(
        &dir.join("missing").join("data"),
        "missing_dataset",
        &[],
        &["missing/data", "no such"],
    ));

    let d = data_copy("empty_subject");
    std::fs::write(d.join("sbj_1.npz"), b"").unwrap();
    t.push(enc(&d, "empty_subject", &[], &["sbj_1.npz", "not a readable .npz"]));

    let d = data_copy("truncated_npz");
    truncate(&d.join("images_32.npz"), 0.6);
    t.push(enc(&d, "truncated_npz", &[], &["images_32.npz", "truncated"]));

    let d = data_copy("bool_fmri");
    edit_npz(&d.join("sbj_1.npz"), |a| {
        let n = a["arr_0"].shape.clone();
        let b = ndarray::ArrayD::<bool>::from_elem(n, true);
        a.insert("arr_0".into(), NpyArray::new(b.view()));
    });
    t.push(enc(&d, "npz_wrong_dtype_fmri", &[], &["sbj_1.npz", "arr_0", "float32"]));

    let d = data_copy("fractional_labels");
    edit_npz(&d.join("sbj_1.npz"), |a| {
        let mut l = a["arr_3"].to_i64().unwrap().mapv(|v| v as f32);
        l[[0]] += 0.5;
        a.insert("arr_3".into(), NpyArray::new(l.view()));
    });
    t.push(enc(
        &d,
        "npz_wrong_dtype_labels",
        &[],
        &["sbj_1.npz", "arr_3", "integer"],
    ));

    let d = data_copy("voxels");
    edit_npz(&d.join("sbj_1.npz"), |a| {
        let y = f32_array(&a["arr_1"]);
        let cut = y.slice(ndarray::s![.., ..-1]).to_owned().into_dyn();
        a.insert("arr_1".into(), NpyArray::new(cut.view()));
    });
    t.push(enc(
        &d,
        "mismatched_voxel_counts",
        &[],
        &["sbj_1.npz", "arr_1", "159 voxels", "160"],
    ));

    let d = data_copy("test_label_range");
    edit_npz(&d.join("sbj_1.npz"), |a| {
        let mut l = a["arr_4"].to_i64().unwrap();
        l[[3]] = 999;
        a.insert("arr_4".into(), NpyArray::new(l.view()));
    });
    t.push(enc(
        &d,
        "test_label_out_of_range",
        &[],
        &["arr_4", "label 999", "out of range"],
    ));

    let d = data_copy("train_label_range");
    edit_npz(&d.join("sbj_1.npz"), |a| {
        let mut l = a["arr_3"].to_i64().unwrap();
        l[[0]] = 5000;
        a.insert("arr_3".into(), NpyArray::new(l.view()));
    });
    t.push(enc(
        &d,
        "train_label_out_of_range",
        &[],
        &["arr_3", "label 5000", "out of range"],
    ));

    let d = data_copy("negative_label");
    edit_npz(&d.join("sbj_1.npz"), |a| {
        let mut l = a["arr_3"].to_i64().unwrap();
        l[[1]] = -1;
        a.insert("arr_3".into(), NpyArray::new(l.view()));
    });
    t.push(enc(&d, "negative_label", &[], &["arr_3", "label -1", "out of range"]));

    let d = data_copy("nan");
    edit_npz(&d.join("sbj_1.npz"), |a| {
        let mut y = f32_array(&a["arr_0"]);
        y[[2, 7]] = f32::NAN;
        a.insert("arr_0".into(), NpyArray::new(y.view()));
    });
    t.push(enc(
        &d,
        "nan_voxels",
        &[],
        &["sbj_1.npz", "arr_0", "NaN/Inf", "voxel 7"],
    ));

    let d = data_copy("inf");
    edit_npz(&d.join("sbj_1.npz"), |a| {
        let mut y = f32_array(&a["arr_2"]);
        y[[0, 3]] = f32::INFINITY;
        a.insert("arr_2".into(), NpyArray::new(y.view()));
    });
    t.push(enc(
        &d,
        "inf_voxels",
        &[],
        &["sbj_1.npz", "arr_2", "NaN/Inf", "voxel 3"],
    ));

    let d = data_copy("empty_roi");
    edit_npz(&d.join("sbj_1.npz"), |a| {
        let v = a["arr_5"].len();
        let m = ndarray::Array1::<bool>::from_elem(v, false);
        a.insert("EMPTY".into(), NpyArray::new(m.view()));
    });
    t.push(enc(
        &d,
        "roi_with_zero_voxels",
        &["--set", "roi=[\"EMPTY\"]"],
        &["EMPTY", "no voxel"],
    ));

    t.push(enc(
        &f.data,
        "unknown_roi",
        &["--set", "roi=[\"V9\"]"],
        &["unknown ROI 'V9'", "V1"],
    ));

    let d = data_copy("roi_dtype");
    edit_npz(&d.join("sbj_1.npz"), |a| {
        let v = a["arr_5"].len();
        let m = ndarray::Array1::<u8>::from_elem(v, 1);
        a.insert("V1".into(), NpyArray::new(m.view()));
    });
    t.push(enc(
        &d,
        "roi_mask_not_bool",
        &[],
        &["sbj_1.npz", "'V1'", "bool ROI mask"],
    ));

    let d = data_copy("nonsquare");
    edit_npz(&d.join("images_32.npz"), |a| {
        for k in ["train_images", "test_images"] {
            let x = f32_array(&a[k]);
            let cut = x.slice(ndarray::s![.., .., ..24, ..]).to_owned().into_dyn();
            a.insert(k.into(), NpyArray::new(cut.view()));
        }
    });
    t.push(enc(&d, "non_square_images", &[], &["images_32.npz", "square"]));

    let d = data_copy("image_range");
    edit_npz(&d.join("images_32.npz"), |a| {
        let mut x = f32_array(&a["test_images"]);
        x[[0, 0, 0, 0]] = 2.0;
        a.insert("test_images".into(), NpyArray::new(x.view()));
    });
    t.push(enc(
        &d,
        "image_values_out_of_range",
        &[],
        &["images_32.npz", "test_images", "outside [0, 1]"],
    ));

    // --- GOD conversion inputs (BData HDF5 + stimulus images) ---
    let god = |name: &'static str, bdata: &Path, stimuli: &Path, extra: &[&str], needles: &[&str]| -> Case {
        let mut args: Vec<OsString> = vec!["convert".into(), "god".into(), "--subject".into(), "2".into()];
        args.extend(["--bdata".into(), bdata.into(), "--stimuli".into(), stimuli.into()]);
        args.extend(["--out".into(), out(name).into()]);
        args.extend(extra.iter().map(OsString::from));
        Case {
            name,
            args,
            needles: needles.iter().map(|s| s.to_string()).collect(),
        }
    };
    let h5_copy = |name: &str| -> PathBuf {
        let p = dir.join(name).join("Subject2.h5");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::copy(fixture("bdata", "god_bdpy.h5"), &p).unwrap();
        p
    };
    let h5 = h5_copy("truncated_h5");
    truncate(&h5, 0.5);
    t.push(god(
        "truncated_hdf5",
        &h5,
        &fixture("bdata", "stimuli"),
        &[],
        &["Subject2.h5", "truncated"],
    ));

    let h5 = h5_copy("corrupt_h5");
    let mut b = std::fs::read(&h5).unwrap();
    let n = b.len();
    // Overwrites object headers (the metadata tables); raw data has no checksum in HDF5, so damage there is
    // undetectable by any reader.
    for x in &mut b[n / 50..n / 5] {
        *x = 0xA5;
    }
    std::fs::write(&h5, &b).unwrap();
    t.push(god(
        "corrupt_hdf5",
        &h5,
        &fixture("bdata", "stimuli"),
        &[],
        &["Subject2.h5", "/metadata/key is missing"],
    ));

    let h5 = h5_copy("empty_h5");
    std::fs::write(&h5, b"").unwrap();
    t.push(god(
        "empty_hdf5",
        &h5,
        &fixture("bdata", "stimuli"),
        &[],
        &["Subject2.h5", "not a readable HDF5"],
    ));

    t.push(god(
        "missing_hdf5",
        &dir.join("missing_h5").join("Subject2.h5"),
        &fixture("bdata", "stimuli"),
        &[],
        &["Subject2.h5", "cannot open"],
    ));

    let stim = dir.join("bad_image").join("stimuli");
    copy_dir(&fixture("bdata", "stimuli"), &stim);
    std::fs::write(stim.join("n01443537_22563.png"), b"\x89PNG but not really").unwrap();
    t.push(god(
        "unreadable_image",
        &fixture("bdata", "god_bdpy.h5"),
        &stim,
        &[],
        &["n01443537_22563.png"],
    ));

    let stim = dir.join("missing_image").join("stimuli");
    copy_dir(&fixture("bdata", "stimuli"), &stim);
    std::fs::remove_file(stim.join("n01443537_22563.png")).unwrap();
    t.push(god(
        "missing_image",
        &fixture("bdata", "god_bdpy.h5"),
        &stim,
        &[],
        &["n01443537_22563"],
    ));

    t.push(god(
        "unknown_roi_god",
        &fixture("bdata", "god_bdpy.h5"),
        &fixture("bdata", "stimuli"),
        &["--roi", "V9"],
        &["ROI_V9"],
    ));

    // --- runs, checkpoints and weights ---
    let s = |p: &Path| p.as_os_str().to_os_string();
    let recon = |run: &Path, data: &Path| -> Vec<OsString> {
        vec![
            "reconstruct".into(),
            "--threads".into(),
            "1".into(),
            "--run".into(),
            s(run),
            "--data".into(),
            s(data),
        ]
    };
    let r = run_copy("corrupt_weights", &f.dec);
    truncate(&r.join("decoder.safetensors"), 0.5);
    t.push(Case {
        name: "corrupt_checkpoint",
        args: recon(&r, &f.data),
        needles: vec!["decoder.safetensors".into(), "corrupt or truncated".into()],
    });

    let r = run_copy("missing_key", &f.dec);
    let dropped = drop_tensor(&r.join("decoder.safetensors"), "");
    t.push(Case {
        name: "weights_missing_key",
        args: recon(&r, &f.data),
        needles: vec!["decoder.safetensors".into(), "missing".into(), dropped],
    });

    let r = run_copy("voxel_count", &f.dec);
    t.push(Case {
        name: "checkpoint_for_other_voxel_count",
        args: recon(&r, &f.data41),
        needles: vec!["decoder.safetensors".into(), "161 voxels".into(), "wrong shape".into()],
    });

    let r = run_copy("resume_voxels", &f.enc);
    t.push(enc(
        &f.data41,
        "resume_other_voxel_count",
        &[],
        &["trained for 160 voxels", "161"],
    ));
    let last = t.last_mut().unwrap();
    let i = last.args.iter().position(|a| a == "--out").unwrap();
    last.args[i + 1] = s(&r);
    last.args
        .extend(["--resume".into(), "--set".into(), "encoder_training.epochs=1".into()]);

    let r = run_copy("corrupt_state", &f.enc);
    std::fs::write(r.join("state.json"), b"{\"epoch\": 1, \"fi").unwrap();
    let mut c = enc(
        &f.data,
        "corrupt_checkpoint_record",
        &[],
        &["state.json", "corrupt checkpoint record"],
    );
    let i = c.args.iter().position(|a| a == "--out").unwrap();
    c.args[i + 1] = s(&r);
    c.args
        .extend(["--resume".into(), "--set".into(), "encoder_training.epochs=1".into()]);
    t.push(c);

    let d = data_copy("backbone_key");
    let bb = std::fs::read_dir(d.join("backbone"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .unwrap();
    let dropped = drop_tensor(&bb, "features");
    let bb_name = bb.file_name().unwrap().to_str().unwrap().to_string();
    t.push(enc(&d, "backbone_weights_missing_key", &[], &[]));
    t.last_mut().unwrap().needles = vec![bb_name, "missing".into(), dropped];

    t.push(Case {
        name: "encoder_run_is_not_a_run",
        args: vec![
            "train-decoder".into(),
            "--config".into(),
            "tiny".into(),
            "--data".into(),
            s(&f.data),
            "--encoder".into(),
            s(&f.data),
            "--out".into(),
            out("not_a_run").into(),
        ],
        needles: vec!["data".into(), "not a trained run".into()],
    });
    t.push(Case {
        name: "run_of_the_wrong_kind",
        args: recon(&f.enc, &f.data),
        needles: vec!["'encoder' run".into(), "'decoder'".into()],
    });

    // --- configs ---
    let cfg_file = |name: &str, text: &str| -> PathBuf {
        let p = dir.join(name).join("my.toml");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    };
    let with_config = |mut c: Case, cfg: &Path| -> Case {
        let i = c.args.iter().position(|a| a == "tiny").unwrap();
        c.args[i] = cfg.into();
        c
    };
    let p = cfg_file("cfg_unknown", "seed = 1\n[encoder_training]\nepochz = 3\n");
    t.push(with_config(
        enc(&f.data, "config_unknown_key", &[], &["my.toml", "epochz"]),
        &p,
    ));
    let p = cfg_file("cfg_not_toml", "[encoder_training\nepochs = 3\n");
    t.push(with_config(
        enc(&f.data, "config_not_toml", &[], &["my.toml", "not valid TOML"]),
        &p,
    ));
    t.push(enc(
        &f.data,
        "config_missing_file",
        &[],
        &["no-such-config.toml", "neither a preset"],
    ));
    let last = t.last_mut().unwrap();
    let i = last.args.iter().position(|a| a == "tiny").unwrap();
    last.args[i] = dir.join("no-such-config.toml").into();
    t.push(enc(
        &f.data,
        "config_wrong_type",
        &["--set", "encoder_training.epochs=\"three\""],
        &["epochs", "invalid type"],
    ));
    t.push(enc(
        &f.data,
        "config_negative_size",
        &["--set", "encoder_training.batch_size=-4"],
        &["batch_size", "-4"],
    ));
    t.push(enc(
        &f.data,
        "config_negative_lr",
        &["--set", "decoder_training.lr=-0.1"],
        &["decoder_training.lr", "positive"],
    ));
    let synth = |name: &'static str, set: &str, needles: &[&str]| -> Case {
        case(
            name,
            &[
                &"synth",
                &"--preset",
                &"tiny",
                &"--quiet",
                &"--set",
                &set,
                &"--out",
                &out(name),
            ],
            needles,
        )
    };
    t.push(synth("synth_negative_size", "image_size=-32", &["image_size", "-32"]));
    t.push(synth("synth_wrong_type", "classes=\"many\"", &["classes", "many"]));
    t.push(synth(
        "synth_zero_size",
        "image_size=0",
        &["image_size = 0", "between 8 and 1024"],
    ));
    t.push(synth(
        "synth_negative_voxels",
        "cortex.areas.V1.voxels=-1",
        &["cortex.areas.V1.voxels", "-1"],
    ));

    // --- output locations ---
    let taken = dir.join("taken").join("out");
    std::fs::create_dir_all(&taken).unwrap();
    std::fs::write(taken.join("notes.txt"), "mine").unwrap();
    let mut c = enc(&f.data, "out_exists_not_a_run", &[], &["out", "not a vox2pix run"]);
    let i = c.args.iter().position(|a| a == "--out").unwrap();
    c.args[i + 1] = s(&taken);
    t.push(c);

    // Tests run as root, for whom permission bits do not block writes; a path below a regular file cannot be
    // created by anyone, which is what a read-only location looks like to the program.
    let file = dir.join("blocked").join("a-file");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "x").unwrap();
    let below = file.join("out");
    let mut c = enc(&f.data, "out_not_writable", &[], &["a-file/out", "cannot create"]);
    let i = c.args.iter().position(|a| a == "--out").unwrap();
    c.args[i + 1] = s(&below);
    t.push(c);
    let mut c = enc(&f.data, "out_is_a_file", &[], &["a-file", "not a directory"]);
    let i = c.args.iter().position(|a| a == "--out").unwrap();
    c.args[i + 1] = s(&file);
    t.push(c);
    t.push(case(
        "synth_out_not_writable",
        &[&"synth", &"--preset", &"tiny", &"--quiet", &"--out", &below],
        &["a-file/out"],
    ));
    t.push(case(
        "to_god_out_not_writable",
        &[&"convert", &"to-god", &"--dataset", &f.data, &"--out", &below],
        &["a-file/out"],
    ));
    t.push(case(
        "god_out_not_writable",
        &[
            &"convert",
            &"god",
            &"--subject",
            &"2",
            &"--bdata",
            &fixture("bdata", "god_bdpy.h5"),
            &"--stimuli",
            &fixture("bdata", "stimuli"),
            &"--out",
            &below,
        ],
        &["a-file/out"],
    ));
    t
}

#[test]
fn bad_input_table() {
    let f = fx();
    let dir = scratch!("table");
    let table = cases(f, &dir);
    let before_fixture = listing(&f.root);
    let mut failures = vec![];
    for c in &table {
        let before = listing(&dir);
        let out = Command::new(BIN).args(&c.args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let mut problems = vec![];
        if out.status.code() != Some(1) {
            problems.push(format!("exit {:?}, expected 1", out.status.code()));
        }
        if !err.starts_with("error:") {
            problems.push("stderr does not start with 'error:'".into());
        }
        for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
            if err.contains(bad) {
                problems.push(format!("panic text '{bad}'"));
            }
        }
        for n in &c.needles {
            if !err.contains(n.as_str()) {
                problems.push(format!("message lacks '{n}'"));
            }
        }
        let after = listing(&dir);
        let added: Vec<_> = after.difference(&before).collect();
        let removed: Vec<_> = before.difference(&after).collect();
        if !added.is_empty() || !removed.is_empty() {
            problems.push(format!("files changed: added {added:?}, removed {removed:?}"));
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {}\n  stderr: {}", c.name, problems.join("; "), err.trim()));
        }
        eprintln!(
            "{:<36} {}",
            c.name,
            err.lines().next().unwrap_or("").chars().take(150).collect::<String>()
        );
    }
    let after_fixture = listing(&f.root);
    assert_eq!(before_fixture, after_fixture, "the shared fixture changed");
    assert!(table.len() >= 25, "{} cases", table.len());
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
    eprintln!("{} bad-input cases passed", table.len());
    let _ = std::fs::remove_dir_all(&dir);
}

fn state_epoch(run: &Path) -> (u64, String) {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("state.json")).unwrap()).unwrap();
    (v["epoch"].as_u64().unwrap(), v["file"].as_str().unwrap().to_string())
}

/// An absurd learning rate from epoch 3 on: the run stops with a message naming the stage, the epoch and the
/// intact checkpoint; that checkpoint is the one an uninterrupted 2-epoch run writes (byte for byte), finite,
/// and a `--resume` with a sane learning rate continues from it.
#[test]
fn nan_guard_stops_and_keeps_the_last_good_checkpoint() {
    let f = fx();
    let d = f.data.to_str().unwrap();
    let run = |out: &Path, extra: &[&str]| {
        let mut args = vec!["train-encoder", "--data", d, "--config", "tiny", "--threads", "1"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--out", out.to_str().unwrap()]);
        Command::new(BIN).args(&args).output().unwrap()
    };
    let blown = scratch!("nan-enc");
    let o = run(
        &blown,
        &[
            "--set",
            "encoder_training.epochs=4",
            "--set",
            "encoder_training.lr_steps=[[1, 1e-3], [3, 1e30]]",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("encoder loss became") && err.contains("epoch 3") && err.contains("checkpoint after epoch 2"),
        "{err}"
    );
    assert!(
        !blown.join("encoder.safetensors").exists(),
        "no final model from a diverged run"
    );
    let (epoch, file) = state_epoch(&blown);
    assert_eq!(epoch, 2, "the committed checkpoint is the last good epoch");
    let saved = vox2pix::model::weights::read_tensor_map(&blown.join(&file)).unwrap();
    assert!(!saved.is_empty());
    for (k, t) in &saved {
        let finite = t.isfinite().all().int64_value(&[]) == 1;
        assert!(finite, "{k} holds NaN/Inf");
    }
    let clean = scratch!("nan-clean");
    let o = run(&clean, &["--set", "encoder_training.epochs=2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (_, clean_file) = state_epoch(&clean);
    assert_eq!(
        std::fs::read(blown.join(&file)).unwrap(),
        std::fs::read(clean.join(clean_file)).unwrap(),
        "the kept checkpoint equals a clean run's epoch-2 checkpoint"
    );
    let o = run(
        &blown,
        &[
            "--set",
            "encoder_training.epochs=4",
            "--set",
            "encoder_training.lr_steps=[[1, 1e-3], [3, 1e30]]",
            "--resume",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "the same absurd config diverges again");
    // The decoder: divergence within the first epoch leaves no checkpoint, and says so.
    let dec = scratch!("nan-dec");
    #[rustfmt::skip]
    let o = Command::new(BIN)
        .args(["train-decoder", "--data", d, "--encoder", f.enc.to_str().unwrap(), "--config", "tiny",
               "--set", "decoder_training.lr=1e30", "--set", "decoder_training.steps_per_epoch=3", "--threads", "1",
               "--out", dec.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("decoder loss became") && err.contains("no epoch had completed"),
        "{err}"
    );
    assert!(!dec.join("state.json").exists() && !dec.join("decoder.safetensors").exists());
    for p in [blown, clean, dec] {
        let _ = std::fs::remove_dir_all(p);
    }
}

/// A disk that fills up mid-write: `write_atomic` reports the target, removes its temporary file and leaves a
/// previous version of the target untouched.
#[test]
fn failed_atomic_write_leaves_no_partial_output() {
    use std::io::Write;
    let dir = scratch!("diskfull");
    std::fs::create_dir_all(&dir).unwrap();
    let target = dir.join("metrics.json");
    std::fs::write(&target, b"old, complete").unwrap();
    let err = vox2pix_formats::io::write_atomic(&target, |f| {
        f.write_all(b"half of the new")?;
        Err(std::io::Error::new(std::io::ErrorKind::StorageFull, "No space left on device").into())
    })
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("metrics.json") && msg.contains("No space left"), "{msg}");
    assert_eq!(std::fs::read(&target).unwrap(), b"old, complete");
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("metrics.json")],
        "temporary file left behind"
    );
    // Same through the path-based variant used for safetensors.
    let err = vox2pix_formats::io::write_atomic_path(&target, |tmp| {
        std::fs::write(tmp, b"half")?;
        anyhow::bail!("No space left on device")
    })
    .unwrap_err();
    assert!(format!("{err:#}").contains("metrics.json"));
    assert_eq!(std::fs::read(&target).unwrap(), b"old, complete");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "temporary file left behind"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A real full disk (a 200 KiB tmpfs; needs root, else skipped with a note): `synth` and `convert god` fail
/// with the OS error and leave no dataset files (not one half of a dataset without the other).
#[test]
fn full_disk_leaves_no_half_written_dataset() {
    let dir = scratch!("tmpfs");
    std::fs::create_dir_all(&dir).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=200k", "tmpfs"])
        .arg(&dir)
        .output()
        .is_ok_and(|o| o.status.success());
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs at {} (needs root)", dir.display());
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _guard = Unmount(dir.clone());
    let synth_out = dir.join("synth");
    let god_out = dir.join("god");
    #[rustfmt::skip]
    let runs: [(&Path, Vec<OsString>); 2] = [
        (&synth_out, ["synth", "--preset", "tiny", "--quiet", "--out"].iter().map(OsString::from)
            .chain([synth_out.clone().into()]).collect()),
        (&god_out, vec!["convert".into(), "god".into(), "--subject".into(), "2".into(), "--bdata".into(),
            fixture("bdata", "god_bdpy.h5").into(), "--stimuli".into(), fixture("bdata", "stimuli").into(), "--out".into(),
            god_out.clone().into()]),
    ];
    for (out, args) in runs {
        let o = Command::new(BIN).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.starts_with("error:") && err.contains("No space left on device"),
            "{err}"
        );
        assert!(!err.contains("panicked") && !err.contains("ZipWriter"), "{err}");
        let left = listing(out);
        assert!(left.is_empty(), "{args:?} left {left:?}");
    }
}

/// Inputs the fuzz targets found crashing a reader (tests/fixtures/fuzz/README.md) now give named errors.
#[test]
fn fuzz_findings_are_errors() {
    let dir = crate::helpers::fixture("fuzz", "");
    let h5 = dir.join("bdata_huge_shape.h5");
    let Err(e) = vox2pix_formats::bdata::BData::open(&h5) else {
        panic!("{} must fail", h5.display())
    };
    let err = format!("{e:#}");
    assert!(err.contains("bdata_huge_shape.h5") && err.contains("damaged"), "{err}");
    let o = Command::new(BIN).arg("info").arg(&h5).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.code() == Some(1) && err.contains("claims shape"), "{err}");
    for name in ["bdata_chunk_overflow.h5", "bdata_chunk_offset_oom.h5"] {
        let o = Command::new(BIN).arg("info").arg(dir.join(name)).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            o.status.code() == Some(1)
                && err.starts_with("error:")
                && err.contains(name)
                && err.contains("outside its shape"),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    let npy = dir.join("npy_zero_dim_huge_strides.npy");
    let Err(e) = vox2pix_formats::npz::parse_npy(&std::fs::read(&npy).unwrap()) else {
        panic!("{} must fail", npy.display())
    };
    let err = format!("{e:#}");
    assert!(err.contains("too large to index"), "{err}");
    let pth = dir.join("pth_storage_overflow.pth");
    let Err(e) = vox2pix_formats::weights::pth::read_pth(&pth) else {
        panic!("{} must fail", pth.display())
    };
    let err = format!("{e:#}");
    assert!(err.contains("pth_storage_overflow.pth"), "{err}");
}
