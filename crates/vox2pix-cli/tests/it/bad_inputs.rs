//! The bad-input table (issue #7): every case runs the real `vox2pix` binary on one broken input and must
//! exit 1 with a message naming the file/field and the problem, print no panic, and leave nothing behind
//! (the listing of the table's folder and of the shared fixture is unchanged, no temporary files).
//! Also: the NaN guard stops a run with an absurd learning rate and keeps the last good checkpoint loadable,
//! and an atomic write that fails mid-way (disk full) leaves neither a temporary file nor a damaged target.
//! Every command that must fail goes through one check, [`failure_problems`].
use crate::helpers::fixture;
use ndarray::ArrayD;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use vox2pix_formats::npz::{read_npz, write_npz, Compression, NpyArray};

const BIN: &str = env!("CARGO_BIN_EXE_vox2pix");

/// Runs the binary.
fn vox2pix(args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// Where a failing command's stderr must have its `error:` line.
#[derive(Clone, Copy)]
enum ErrorLine {
    /// Stderr starts with it (nothing is printed before).
    First,
    /// Some line starts with it (training prints progress first).
    AfterProgress,
}

/// What is wrong with the run of a command that had to fail: an exit code other than 1, no `error:` line
/// where `error` says, panic text, or a needle missing from stderr. Empty when nothing is.
fn failure_problems(out: &Output, needles: &[&str], error: ErrorLine) -> Vec<String> {
    let err = String::from_utf8_lossy(&out.stderr);
    let mut problems = vec![];
    if out.status.code() != Some(1) {
        problems.push(format!("exit {:?}, expected 1", out.status.code()));
    }
    match error {
        ErrorLine::First if !err.starts_with("error:") => problems.push("stderr does not start with 'error:'".into()),
        ErrorLine::AfterProgress if !err.lines().any(|l| l.starts_with("error:")) => {
            problems.push("no stderr line starts with 'error:'".into())
        }
        _ => {}
    }
    for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
        if err.contains(bad) {
            problems.push(format!("panic text '{bad}'"));
        }
    }
    for n in needles {
        if !err.contains(n) {
            problems.push(format!("message lacks '{n}'"));
        }
    }
    problems
}

/// Panics, naming `what`, unless `failure_problems` finds nothing; returns stderr.
fn assert_fails(what: &str, out: &Output, needles: &[&str], error: ErrorLine) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let problems = failure_problems(out, needles, error);
    assert!(
        problems.is_empty(),
        "{what}: {}\n  stderr: {}",
        problems.join("; "),
        err.trim()
    );
    err
}

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
    let out = vox2pix(args);
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

type Arrays = BTreeMap<String, NpyArray>;

/// Rewrites the npz at `path` after `edit` changed its arrays.
fn edit_npz(path: &Path, edit: impl FnOnce(&mut Arrays)) {
    let mut arrays = read_npz(path).unwrap();
    edit(&mut arrays);
    let refs: Vec<(&str, &NpyArray)> = arrays.iter().map(|(k, a)| (k.as_str(), a)).collect();
    write_npz(path, &refs, Compression::Stored).unwrap();
}

/// Replaces array `key` by `edit` applied to its values as f32 (as i64 for `edit_i64`); the dtype follows.
fn edit_f32(a: &mut Arrays, key: &str, edit: impl FnOnce(&mut ArrayD<f32>)) {
    let mut x = a[key].to_f32().unwrap();
    edit(&mut x);
    a.insert(key.into(), NpyArray::new(x.view()));
}

fn edit_i64(a: &mut Arrays, key: &str, edit: impl FnOnce(&mut ArrayD<i64>)) {
    let mut x = a[key].to_i64().unwrap();
    edit(&mut x);
    a.insert(key.into(), NpyArray::new(x.view()));
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

fn bdata() -> PathBuf {
    fixture("bdata", "god_bdpy.h5")
}

fn stimuli() -> PathBuf {
    fixture("bdata", "stimuli")
}

fn nsd_fx(name: &str) -> PathBuf {
    fixture("nsd", name)
}

/// A command line for the binary, and needles only the setup that built it knows (a dropped tensor's name).
struct Cmd {
    args: Vec<OsString>,
    needles: Vec<String>,
}

fn cmd(args: &[&dyn AsRef<OsStr>]) -> Cmd {
    Cmd {
        args: vec![],
        needles: vec![],
    }
    .with(args)
}

impl Cmd {
    /// Appends `args`.
    fn with(mut self, args: &[&dyn AsRef<OsStr>]) -> Cmd {
        self.args.extend(args.iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    fn needle(mut self, n: String) -> Cmd {
        self.needles.push(n);
        self
    }
}

/// What a case's setup works in: the shared fixture, and the case's own folder `<table>/<case>` (created, empty)
/// for its broken inputs and its output.
struct Ctx<'a> {
    f: &'a Fx,
    dir: PathBuf,
}

impl Ctx<'_> {
    /// `rel` in the case's folder (not created).
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Where the case's command writes (and must leave nothing).
    fn out(&self) -> PathBuf {
        self.path("out")
    }

    /// `rel` in the case's folder holding `bytes`.
    fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// A copy of the folder `from` as `rel` in the case's folder.
    fn copy(&self, from: &Path, rel: &str) -> PathBuf {
        let d = self.path(rel);
        copy_dir(from, &d);
        d
    }

    fn data_copy(&self) -> PathBuf {
        self.copy(&self.f.data, "data")
    }

    fn h5_copy(&self) -> PathBuf {
        let p = self.path("Subject2.h5");
        std::fs::copy(bdata(), &p).unwrap();
        p
    }

    /// Tests run as root, for whom permission bits do not block writes; a path below a regular file cannot be
    /// created by anyone, which is what a read-only location looks like to the program. Returns that file.
    fn a_file(&self) -> PathBuf {
        self.write("a-file", "x")
    }

    /// `train-encoder` with `config` (a preset or a file) on `data`, writing to `out`.
    fn train_encoder(&self, config: &dyn AsRef<OsStr>, data: &Path, out: &Path) -> Cmd {
        cmd(&[
            &"train-encoder",
            &"--config",
            config,
            &"--threads",
            &"1",
            &"--data",
            &data,
            &"--out",
            &out,
        ])
    }

    /// `train-encoder` with the tiny preset on `data`.
    fn enc(&self, data: &Path) -> Cmd {
        self.train_encoder(&"tiny", data, &self.out())
    }

    /// `enc` on a copy of the dataset whose npz `file` went through `edit`.
    fn enc_edited(&self, file: &str, edit: impl FnOnce(&mut Arrays)) -> Cmd {
        let d = self.data_copy();
        edit_npz(&d.join(file), edit);
        self.enc(&d)
    }

    /// Resumes the encoder run `run` (for one epoch) on `data`.
    fn enc_resume(&self, data: &Path, run: &Path) -> Cmd {
        self.train_encoder(&"tiny", data, run)
            .with(&[&"--resume", &"--set", &"encoder_training.epochs=1"])
    }

    /// `convert god` for subject 2, writing to `out`.
    fn convert_god(&self, bdata: &Path, stimuli: &Path, out: &Path) -> Cmd {
        cmd(&[
            &"convert",
            &"god",
            &"--subject",
            &"2",
            &"--bdata",
            &bdata,
            &"--stimuli",
            &stimuli,
            &"--out",
            &out,
        ])
    }

    /// `convert nsd` of the fixture release with every path given explicitly (`replace` swaps some), then `extra`.
    fn nsd(&self, replace: &[(&str, PathBuf)], extra: &[&str]) -> Cmd {
        let mut paths = vec![
            ("--expdesign", nsd_fx("nsd_expdesign.mat")),
            ("--betas-dir", nsd_fx("betas_h5")),
            ("--rois", nsd_fx("roi")),
            ("--stimuli", nsd_fx("nsd_stimuli.hdf5")),
        ];
        for (flag, p) in replace {
            paths
                .iter_mut()
                .filter(|(f, _)| f == flag)
                .for_each(|(_, q)| *q = p.clone());
        }
        let root = self.path("no-root");
        let out = self.out();
        let mut args: Vec<&dyn AsRef<OsStr>> = vec![
            &"convert",
            &"nsd",
            &"--root",
            &root,
            &"--subject",
            &"1",
            &"--size",
            &"16",
            &"--no-progress",
            &"--out",
            &out,
        ];
        for (flag, p) in &paths {
            args.push(flag);
            args.push(p);
        }
        for e in extra {
            args.push(e);
        }
        cmd(&args)
    }

    fn god(&self, bdata: &Path, stimuli: &Path) -> Cmd {
        self.convert_god(bdata, stimuli, &self.out())
    }

    fn recon(&self, run: &Path, data: &Path) -> Cmd {
        cmd(&[&"reconstruct", &"--threads", &"1", &"--run", &run, &"--data", &data])
    }

    /// `synth` of the tiny preset with the override `set`.
    fn synth(&self, set: &str) -> Cmd {
        cmd(&[
            &"synth",
            &"--preset",
            &"tiny",
            &"--quiet",
            &"--set",
            &set,
            &"--out",
            &self.out(),
        ])
    }
}

struct Case {
    name: &'static str,
    /// All must appear in stderr (with any the setup adds): the file or field, and words saying what is wrong.
    needles: &'static [&'static str],
    /// Builds the broken input in the case's folder; returns the command that must fail on it.
    setup: fn(&Ctx<'_>) -> Cmd,
}

const fn case(name: &'static str, needles: &'static [&'static str], setup: fn(&Ctx<'_>) -> Cmd) -> Case {
    Case { name, needles, setup }
}

#[rustfmt::skip]
const CASES: &[Case] = &[
    // --- datasets (npz) ---
    case("missing_dataset", &["missing/data", "no such"], |c| c.enc(&c.path("missing").join("data"))),
    case("empty_subject", &["sbj_1.npz", "not a readable .npz"], |c| {
        let d = c.data_copy();
        std::fs::write(d.join("sbj_1.npz"), b"").unwrap();
        c.enc(&d)
    }),
    case("truncated_npz", &["images_32.npz", "truncated"], |c| {
        let d = c.data_copy();
        truncate(&d.join("images_32.npz"), 0.6);
        c.enc(&d)
    }),
    case("npz_wrong_dtype_fmri", &["sbj_1.npz", "arr_0", "float32"], |c| {
        c.enc_edited("sbj_1.npz", |a| {
            let b = ArrayD::<bool>::from_elem(a["arr_0"].shape.clone(), true);
            a.insert("arr_0".into(), NpyArray::new(b.view()));
        })
    }),
    case("npz_wrong_dtype_labels", &["sbj_1.npz", "arr_3", "integer"], |c| {
        c.enc_edited("sbj_1.npz", |a| {
            let mut l = a["arr_3"].to_i64().unwrap().mapv(|v| v as f32);
            l[[0]] += 0.5;
            a.insert("arr_3".into(), NpyArray::new(l.view()));
        })
    }),
    case("mismatched_voxel_counts", &["sbj_1.npz", "arr_1", "159 voxels", "160"], |c| {
        c.enc_edited("sbj_1.npz", |a| {
            let y = a["arr_1"].to_f32().unwrap();
            let cut = y.slice(ndarray::s![.., ..-1]).to_owned().into_dyn();
            a.insert("arr_1".into(), NpyArray::new(cut.view()));
        })
    }),
    case("test_label_out_of_range", &["arr_4", "label 999", "out of range"], |c| {
        c.enc_edited("sbj_1.npz", |a| edit_i64(a, "arr_4", |l| l[[3]] = 999))
    }),
    case("train_label_out_of_range", &["arr_3", "label 5000", "out of range"], |c| {
        c.enc_edited("sbj_1.npz", |a| edit_i64(a, "arr_3", |l| l[[0]] = 5000))
    }),
    case("negative_label", &["arr_3", "label -1", "out of range"], |c| {
        c.enc_edited("sbj_1.npz", |a| edit_i64(a, "arr_3", |l| l[[1]] = -1))
    }),
    case("nan_voxels", &["sbj_1.npz", "arr_0", "NaN/Inf", "voxel 7"], |c| {
        c.enc_edited("sbj_1.npz", |a| edit_f32(a, "arr_0", |y| y[[2, 7]] = f32::NAN))
    }),
    case("inf_voxels", &["sbj_1.npz", "arr_2", "NaN/Inf", "voxel 3"], |c| {
        c.enc_edited("sbj_1.npz", |a| edit_f32(a, "arr_2", |y| y[[0, 3]] = f32::INFINITY))
    }),
    case("roi_with_zero_voxels", &["EMPTY", "no voxel"], |c| {
        c.enc_edited("sbj_1.npz", |a| {
            let m = ndarray::Array1::<bool>::from_elem(a["arr_5"].len(), false);
            a.insert("EMPTY".into(), NpyArray::new(m.view()));
        })
        .with(&[&"--set", &"roi=[\"EMPTY\"]"])
    }),
    case("unknown_roi", &["unknown ROI 'V9'", "V1"], |c| c.enc(&c.f.data).with(&[&"--set", &"roi=[\"V9\"]"])),
    case("roi_mask_not_bool", &["sbj_1.npz", "'V1'", "bool ROI mask"], |c| {
        c.enc_edited("sbj_1.npz", |a| {
            let m = ndarray::Array1::<u8>::from_elem(a["arr_5"].len(), 1);
            a.insert("V1".into(), NpyArray::new(m.view()));
        })
    }),
    case("non_square_images", &["images_32.npz", "square"], |c| {
        c.enc_edited("images_32.npz", |a| {
            for k in ["train_images", "test_images"] {
                let x = a[k].to_f32().unwrap();
                let cut = x.slice(ndarray::s![.., .., ..24, ..]).to_owned().into_dyn();
                a.insert(k.into(), NpyArray::new(cut.view()));
            }
        })
    }),
    case("image_values_out_of_range", &["images_32.npz", "test_images", "outside [0, 1]"], |c| {
        c.enc_edited("images_32.npz", |a| edit_f32(a, "test_images", |x| x[[0, 0, 0, 0]] = 2.0))
    }),

    // --- NSD conversion inputs (the release's files) ---
    case("nsd_missing_session", &["betas_session07.hdf5", "found sessions 1, 2, 3"], |c| {
        c.nsd(&[], &["--sessions", "1,2,7"])
    }),
    case("nsd_bad_session_range", &["--sessions 3-1", "range"], |c| c.nsd(&[], &["--sessions", "3-1"])),
    case("nsd_design_mismatch", &["nsd_expdesign_short.mat", "does not match these betas"], |c| {
        c.nsd(&[("--expdesign", nsd_fx("nsd_expdesign_short.mat"))], &[])
    }),
    case("nsd_truncated_betas", &["betas_session02.hdf5", "truncated"], |c| {
        let d = c.path("betas");
        std::fs::create_dir_all(&d).unwrap();
        for s in 1..=3 {
            let name = format!("betas_session{s:02}.hdf5");
            std::fs::copy(nsd_fx("betas_h5").join(&name), d.join(&name)).unwrap();
        }
        truncate(&d.join("betas_session02.hdf5"), 0.6);
        c.nsd(&[("--betas-dir", d)], &[])
    }),
    case("nsd_mask_of_another_size", &["roi_other/nsdgeneral.nii.gz", "same subject"], |c| {
        c.nsd(&[("--rois", nsd_fx("roi_other"))], &[])
    }),
    case("nsd_truncated_mask", &["nsdgeneral.nii.gz", "re-download"], |c| {
        let d = c.path("roi");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(nsd_fx("roi/nsdgeneral.nii.gz"), d.join("nsdgeneral.nii.gz")).unwrap();
        truncate(&d.join("nsdgeneral.nii.gz"), 0.5);
        c.nsd(&[("--rois", d)], &[])
    }),
    case("nsd_missing_stimuli", &["nsd_stimuli.hdf5", "no such file", "nsd_stimuli.hdf5 (dataset `imgBrick`)"], |c| {
        let p = c.path("nsd_stimuli.hdf5");
        c.nsd(&[("--stimuli", p)], &[])
    }),

    // --- GOD conversion inputs (BData HDF5 + stimulus images) ---
    case("truncated_hdf5", &["Subject2.h5", "truncated"], |c| {
        let h5 = c.h5_copy();
        truncate(&h5, 0.5);
        c.god(&h5, &stimuli())
    }),
    case("corrupt_hdf5", &["Subject2.h5", "/metadata/key is missing"], |c| {
        let h5 = c.h5_copy();
        let mut b = std::fs::read(&h5).unwrap();
        let n = b.len();
        // Overwrites object headers (the metadata tables); raw data has no checksum in HDF5, so damage there is
        // undetectable by any reader.
        b[n / 50..n / 5].fill(0xA5);
        std::fs::write(&h5, &b).unwrap();
        c.god(&h5, &stimuli())
    }),
    case("empty_hdf5", &["Subject2.h5", "not a readable HDF5"], |c| c.god(&c.write("Subject2.h5", b""), &stimuli())),
    case("missing_hdf5", &["Subject2.h5", "cannot open"], |c| c.god(&c.path("Subject2.h5"), &stimuli())),
    case("unreadable_image", &["n01443537_22563.png"], |c| {
        let stim = c.copy(&stimuli(), "stimuli");
        std::fs::write(stim.join("n01443537_22563.png"), b"\x89PNG but not really").unwrap();
        c.god(&bdata(), &stim)
    }),
    case("missing_image", &["n01443537_22563"], |c| {
        let stim = c.copy(&stimuli(), "stimuli");
        std::fs::remove_file(stim.join("n01443537_22563.png")).unwrap();
        c.god(&bdata(), &stim)
    }),
    case("unknown_roi_god", &["ROI_V9"], |c| c.god(&bdata(), &stimuli()).with(&[&"--roi", &"V9"])),

    // --- runs, checkpoints and weights ---
    case("corrupt_checkpoint", &["decoder.safetensors", "corrupt or truncated"], |c| {
        let r = c.copy(&c.f.dec, "run");
        truncate(&r.join("decoder.safetensors"), 0.5);
        c.recon(&r, &c.f.data)
    }),
    case("weights_missing_key", &["decoder.safetensors", "missing"], |c| {
        let r = c.copy(&c.f.dec, "run");
        let dropped = drop_tensor(&r.join("decoder.safetensors"), "");
        c.recon(&r, &c.f.data).needle(dropped)
    }),
    case("checkpoint_for_other_voxel_count", &["decoder.safetensors", "161 voxels", "wrong shape"], |c| {
        c.recon(&c.copy(&c.f.dec, "run"), &c.f.data41)
    }),
    case("nsd8_weights_missing", &["five weight files", "ViT-L-14.pt", "swav_800ep_pretrain.pth.tar", "https://"], |c| {
        let r = c.copy(&c.f.dec, "run");
        let w = c.path("weights");
        std::fs::create_dir_all(&w).unwrap();
        let (d, out) = (c.f.data.clone(), r.clone());
        cmd(&[&"evaluate", &"--threads", &"1", &"--run", &out, &"--data", &d, &"--suite", &"nsd8", &"--suite-weights", &w])
    }),
    case("unknown_suite", &["--suite nsd9", "nsd8"], |c| {
        let (r, d) = (c.f.dec.clone(), c.f.data.clone());
        cmd(&[&"evaluate", &"--run", &r, &"--data", &d, &"--suite", &"nsd9"])
    }),
    case("resume_other_voxel_count", &["trained for 160 voxels", "161"], |c| {
        c.enc_resume(&c.f.data41, &c.copy(&c.f.enc, "run"))
    }),
    case("corrupt_checkpoint_record", &["state.json", "corrupt checkpoint record"], |c| {
        let r = c.copy(&c.f.enc, "run");
        std::fs::write(r.join("state.json"), b"{\"epoch\": 1, \"fi").unwrap();
        c.enc_resume(&c.f.data, &r)
    }),
    case("backbone_weights_missing_key", &["missing"], |c| {
        let d = c.data_copy();
        let bb = std::fs::read_dir(d.join("backbone"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "safetensors"))
            .unwrap();
        let dropped = drop_tensor(&bb, "features");
        let bb_name = bb.file_name().unwrap().to_str().unwrap().to_string();
        c.enc(&d).needle(bb_name).needle(dropped)
    }),
    case("encoder_run_is_not_a_run", &["data", "not a trained run"], |c| {
        let d = &c.f.data;
        cmd(&[&"train-decoder", &"--config", &"tiny", &"--data", d, &"--encoder", d, &"--out", &c.out()])
    }),
    case("run_of_the_wrong_kind", &["'encoder' run", "'decoder'"], |c| c.recon(&c.f.enc, &c.f.data)),
    case("paired_images_over_the_datasets", &["paired_images = 100000", "at most"], |c| {
        let d = &c.f.data;
        cmd(&[&"train-encoder", &"--config", &"tiny", &"--data", d, &"--set", &"paired_images=100000", &"--out", &c.out()])
    }),
    case("decoder_paired_images_unlike_its_encoders", &["paired_images = 0", "asks for 24", "same paired_images"], |c| {
        let (d, e) = (&c.f.data, &c.f.enc);
        cmd(&[&"train-decoder", &"--config", &"tiny", &"--data", d, &"--encoder", e, &"--set", &"paired_images=24", &"--out", &c.out()])
    }),

    // --- configs ---
    case("config_unknown_key", &["my.toml", "epochz"], |c| {
        let cfg = c.write("my.toml", "seed = 1\n[encoder_training]\nepochz = 3\n");
        c.train_encoder(&cfg, &c.f.data, &c.out())
    }),
    case("config_not_toml", &["my.toml", "not valid TOML"], |c| {
        let cfg = c.write("my.toml", "[encoder_training\nepochs = 3\n");
        c.train_encoder(&cfg, &c.f.data, &c.out())
    }),
    case("config_missing_file", &["no-such-config.toml", "neither a preset"], |c| {
        c.train_encoder(&c.path("no-such-config.toml"), &c.f.data, &c.out())
    }),
    case("config_wrong_type", &["epochs", "invalid type"], |c| {
        c.enc(&c.f.data).with(&[&"--set", &"encoder_training.epochs=\"three\""])
    }),
    case("config_negative_size", &["batch_size", "-4"], |c| {
        c.enc(&c.f.data).with(&[&"--set", &"encoder_training.batch_size=-4"])
    }),
    case("config_negative_lr", &["decoder_training.lr", "positive"], |c| {
        c.enc(&c.f.data).with(&[&"--set", &"decoder_training.lr=-0.1"])
    }),
    case("synth_negative_size", &["image_size", "-32"], |c| c.synth("image_size=-32")),
    case("synth_wrong_type", &["classes", "many"], |c| c.synth("classes=\"many\"")),
    case("synth_zero_size", &["image_size = 0", "between 8 and 1024"], |c| c.synth("image_size=0")),
    case("synth_negative_voxels", &["cortex.areas.V1.voxels", "-1"], |c| c.synth("cortex.areas.V1.voxels=-1")),

    // --- output locations ---
    case("out_exists_not_a_run", &["out", "not a vox2pix run"], |c| {
        let taken = c.path("taken").join("out");
        std::fs::create_dir_all(&taken).unwrap();
        std::fs::write(taken.join("notes.txt"), "mine").unwrap();
        c.train_encoder(&"tiny", &c.f.data, &taken)
    }),
    case("out_not_writable", &["a-file/out", "cannot create"], |c| {
        c.train_encoder(&"tiny", &c.f.data, &c.a_file().join("out"))
    }),
    case("out_is_a_file", &["a-file", "not a directory"], |c| c.train_encoder(&"tiny", &c.f.data, &c.a_file())),
    case("synth_out_not_writable", &["a-file/out"], |c| {
        cmd(&[&"synth", &"--preset", &"tiny", &"--quiet", &"--out", &c.a_file().join("out")])
    }),
    case("to_god_out_not_writable", &["a-file/out"], |c| {
        cmd(&[&"convert", &"to-god", &"--dataset", &c.f.data, &"--out", &c.a_file().join("out")])
    }),
    case("god_out_not_writable", &["a-file/out"], |c| c.convert_god(&bdata(), &stimuli(), &c.a_file().join("out"))),
    // --- compare ---
    case("compare_odd_run_count", &["in pairs", "3 run folders"], |c| {
        cmd(&[&"compare", &c.path("a"), &c.path("b"), &c.path("c")])
    }),
    case("compare_pairs_without_out", &["2 pairs", "--out"], |c| {
        cmd(&[&"compare", &c.path("a"), &c.path("b"), &c.path("c"), &c.path("d")])
    }),
    case("compare_run_not_evaluated", &["metrics_per_image.csv", "vox2pix evaluate"], |c| {
        cmd(&[&"compare", &c.path("a"), &c.path("b"), &c.path("c"), &c.path("d"), &"--out", &c.out()])
    }),
];

/// Runs every case in order (setup, then the command) and reports all failing ones together, each by name:
/// a panicking setup, any of `failure_problems`, a changed file in the table's folder (the case's output
/// included) or in the shared fixture.
#[test]
fn bad_input_table() {
    let f = fx();
    let dir = scratch!("table");
    let mut names = BTreeSet::new();
    let dups: Vec<_> = CASES.iter().filter(|c| !names.insert(c.name)).map(|c| c.name).collect();
    assert!(
        dups.is_empty(),
        "case names must be unique (each names a folder): {dups:?}"
    );
    let mut failures = vec![];
    for case in CASES {
        let ctx = Ctx {
            f,
            dir: dir.join(case.name),
        };
        std::fs::create_dir_all(&ctx.dir).unwrap();
        let cmd = match catch_unwind(AssertUnwindSafe(|| (case.setup)(&ctx))) {
            Ok(cmd) => cmd,
            Err(e) => {
                let msg = (e.downcast_ref::<String>().map(String::as_str))
                    .or_else(|| e.downcast_ref::<&str>().copied())
                    .unwrap_or("");
                failures.push(format!("{}: setup panicked: {msg}", case.name));
                continue;
            }
        };
        let (before, before_fixture) = (listing(&dir), listing(&f.root));
        let out = vox2pix(&cmd.args);
        let err = String::from_utf8_lossy(&out.stderr);
        let needles: Vec<&str> = case
            .needles
            .iter()
            .copied()
            .chain(cmd.needles.iter().map(String::as_str))
            .collect();
        let mut problems = failure_problems(&out, &needles, ErrorLine::First);
        let after = listing(&dir);
        let added: Vec<_> = after.difference(&before).collect();
        let removed: Vec<_> = before.difference(&after).collect();
        if !added.is_empty() || !removed.is_empty() {
            problems.push(format!("files changed: added {added:?}, removed {removed:?}"));
        }
        if listing(&f.root) != before_fixture {
            problems.push("the shared fixture changed".into());
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n  args: {:?}\n  stderr: {}",
                case.name,
                problems.join("; "),
                cmd.args,
                err.trim()
            ));
        }
        eprintln!(
            "{:<36} {}",
            case.name,
            err.lines().next().unwrap_or("").chars().take(150).collect::<String>()
        );
    }
    assert!(CASES.len() >= 25, "{} cases", CASES.len());
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
    eprintln!("{} bad-input cases passed", CASES.len());
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
        vox2pix(&args)
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
    assert_fails(
        "diverging encoder",
        &o,
        &["encoder loss became", "epoch 3", "checkpoint after epoch 2"],
        ErrorLine::AfterProgress,
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
    assert_fails(
        "the same absurd config diverges again",
        &o,
        &[],
        ErrorLine::AfterProgress,
    );
    // The decoder: divergence within the first epoch leaves no checkpoint, and says so.
    let dec = scratch!("nan-dec");
    #[rustfmt::skip]
    let o = vox2pix(["train-decoder", "--data", d, "--encoder", f.enc.to_str().unwrap(), "--config", "tiny",
                     "--set", "decoder_training.lr=1e30", "--set", "decoder_training.steps_per_epoch=3",
                     "--threads", "1", "--out", dec.to_str().unwrap()]);
    assert_fails(
        "diverging decoder",
        &o,
        &["decoder loss became", "no epoch had completed"],
        ErrorLine::AfterProgress,
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
    let dir = temp_dir!("diskfull");
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
        vec![OsString::from("metrics.json")],
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
    let dir = temp_dir!("tmpfs");
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
    let runs = [
        (&synth_out, cmd(&[&"synth", &"--preset", &"tiny", &"--quiet", &"--out", &synth_out])),
        (&god_out, cmd(&[&"convert", &"god", &"--subject", &"2", &"--bdata", &bdata(), &"--stimuli", &stimuli(),
                         &"--out", &god_out])),
    ];
    for (out, Cmd { args, .. }) in runs {
        let what = format!("{args:?}");
        let err = assert_fails(&what, &vox2pix(&args), &["No space left on device"], ErrorLine::First);
        assert!(!err.contains("ZipWriter"), "{what}: {err}");
        let left = listing(out);
        assert!(left.is_empty(), "{what} left {left:?}");
    }
}

/// Inputs the fuzz targets found crashing a reader (tests/fixtures/fuzz/README.md) now give named errors.
#[test]
fn fuzz_findings_are_errors() {
    let dir = fixture("fuzz", "");
    let h5 = dir.join("bdata_huge_shape.h5");
    let Err(e) = vox2pix_formats::bdata::BData::open(&h5) else {
        panic!("{} must fail", h5.display())
    };
    let err = format!("{e:#}");
    assert!(err.contains("bdata_huge_shape.h5") && err.contains("damaged"), "{err}");
    let info = |p: &Path| vox2pix([OsStr::new("info"), p.as_os_str()]);
    assert_fails(
        "info bdata_huge_shape.h5",
        &info(&h5),
        &["claims shape"],
        ErrorLine::First,
    );
    for name in ["bdata_chunk_overflow.h5", "bdata_chunk_offset_oom.h5"] {
        assert_fails(
            &format!("info {name}"),
            &info(&dir.join(name)),
            &[name, "outside its shape"],
            ErrorLine::First,
        );
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
