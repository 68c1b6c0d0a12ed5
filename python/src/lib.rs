//! `vox2pix._native`: the Rust side of the Python package. Thin: every function calls the same `vox2pix::app`
//! job, model or evaluator the command-line binary calls, so a run made from Python is the run the CLI makes.
//! What this file owns is the crossing itself:
//! - tensors in and out through DLPack ([`tensor_in`], [`tensor_out`]): NumPy arrays and torch tensors are read
//!   where they lie, and results come back as torch tensors over vox2pix's memory;
//! - errors as the `vox2pix.errors` classes ([`to_py_err`]), never a panic across the boundary;
//! - long work with the GIL released, its progress reported to a Python callback and Ctrl-C turned into a stop at
//!   the next step (`vox2pix::train::progress::observe`), which leaves the run resumable.
//!
//! The Python layer (`python/vox2pix/`) adds the documented API, argument conversion and tqdm.
use anyhow::Result;
use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyType};
use std::cell::RefCell;
use std::ffi::{c_void, CStr};
use std::path::PathBuf;
use std::rc::Rc;
use tch::{Device, Kind, Tensor};
use vox2pix::app::jobs;
use vox2pix::data::TrainingData;
use vox2pix::eval::run_eval::{evaluate_run, EvaluateOptions};
use vox2pix::model::run::{data_of, encoder_of, run_config, RunDir, RunInfo};
use vox2pix::model::{DecoderModel, EncoderModel};
use vox2pix::nn::device::{apply_threads, parse_device, ThreadSetting};
use vox2pix::nn::dlpack::{data_address, dlpack_delete, tensor_from_dlpack, tensor_to_dlpack};
use vox2pix::train::progress::{observe, Interrupted};
use vox2pix_formats::bdata::BData;
use vox2pix_formats::config::TrainConfig;
use vox2pix_formats::error::{kind_of, ErrorKind};

/// The libtorch version this module links (torch-sys checks it at build time).
const LIBTORCH_VERSION: &str = "2.11.0";
const DLTENSOR: &CStr = c"dltensor";
const USED_DLTENSOR: &CStr = c"used_dltensor";

// ---- errors ----

/// A `vox2pix.errors.<class>` exception with `msg`.
fn py_error(class: &str, msg: String) -> PyErr {
    Python::with_gil(|py| {
        let cls = py
            .import("vox2pix.errors")
            .and_then(|m| m.getattr(class))
            .and_then(|c| c.downcast_into::<PyType>().map_err(PyErr::from));
        match cls {
            Ok(cls) => PyErr::from_type(cls, msg),
            Err(e) => e,
        }
    })
}

/// An error of the Rust side as the Python exception its cause calls for: a stop requested from Python is a
/// `KeyboardInterrupt`; a file the formats crate could not find or read is `DataNotFoundError` / `DataError`;
/// anything else is `fallback` (the class of the stage that failed). The message is the CLI's, causes included.
fn to_py_err(err: anyhow::Error, fallback: &str) -> PyErr {
    let msg = format!("{err:#}");
    if err.chain().any(|e| e.downcast_ref::<Interrupted>().is_some()) {
        return PyKeyboardInterrupt::new_err(msg);
    }
    match kind_of(&err) {
        Some(ErrorKind::Missing) => py_error("DataNotFoundError", msg),
        Some(_) => py_error("DataError", msg),
        None => py_error(fallback, msg),
    }
}

fn input_error(msg: String) -> PyErr {
    py_error("InputError", msg)
}

trait OrPy<T> {
    fn or_py(self, class: &str) -> PyResult<T>;
}

impl<T> OrPy<T> for Result<T> {
    fn or_py(self, class: &str) -> PyResult<T> {
        self.map_err(|e| to_py_err(e, class))
    }
}

// ---- tensors ----

/// The array `obj` (anything with `__dlpack__`: a NumPy array, a torch tensor) as a tensor over the same memory.
fn tensor_in(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Tensor> {
    let capsule = obj.call_method0("__dlpack__").map_err(|e| {
        input_error(format!(
            "{what}: expected a NumPy array or a torch.Tensor, got {} ({e})",
            obj.get_type()
        ))
    })?;
    let p = capsule.as_ptr();
    // SAFETY: `p` is a live object; the capsule API checks its type and name before handing out the pointer.
    unsafe {
        if ffi::PyCapsule_IsValid(p, DLTENSOR.as_ptr()) != 1 {
            return Err(input_error(format!(
                "{what}: __dlpack__ did not return a DLPack tensor"
            )));
        }
        let managed = ffi::PyCapsule_GetPointer(p, DLTENSOR.as_ptr());
        let t = tensor_from_dlpack(managed).map_err(|e| input_error(format!("{what}: {e:#}")))?;
        // The tensor owns the DLPack tensor now; renaming the capsule tells its destructor so (the protocol).
        ffi::PyCapsule_SetName(p, USED_DLTENSOR.as_ptr());
        Ok(t)
    }
}

unsafe extern "C" fn drop_unconsumed_capsule(capsule: *mut ffi::PyObject) {
    // A consumer renames the capsule to "used_dltensor"; one nobody consumed still owns its tensor.
    if ffi::PyCapsule_IsValid(capsule, DLTENSOR.as_ptr()) == 1 {
        let managed = ffi::PyCapsule_GetPointer(capsule, DLTENSOR.as_ptr());
        dlpack_delete(managed);
    }
}

/// `t` as a torch tensor over the same memory (`torch.from_dlpack` of a capsule vox2pix made).
fn tensor_out(py: Python<'_>, t: &Tensor) -> PyResult<PyObject> {
    let managed: *mut c_void = tensor_to_dlpack(t).or_py("Vox2pixError")?;
    // SAFETY: `managed` is a fresh DLPack tensor; the capsule owns it until a consumer renames it.
    let capsule = unsafe {
        let c = ffi::PyCapsule_New(managed, DLTENSOR.as_ptr(), Some(drop_unconsumed_capsule));
        if c.is_null() {
            dlpack_delete(managed);
            return Err(PyErr::fetch(py));
        }
        Bound::from_owned_ptr(py, c)
    };
    Ok(py.import("torch")?.getattr("from_dlpack")?.call1((capsule,))?.unbind())
}

/// A float32 [N, …] tensor from the user, with its shape and values checked; float64 is converted (a copy).
fn float_input(t: Tensor, what: &str, trailing: &[i64], expect: &str) -> PyResult<Tensor> {
    let t = match t.kind() {
        Kind::Float => t,
        Kind::Double | Kind::Half | Kind::BFloat16 => t.to_kind(Kind::Float),
        k => {
            return Err(input_error(format!(
                "{what}: dtype {k:?}; give float32 (float64/float16 are converted)"
            )))
        }
    };
    let size = t.size();
    if size.len() != trailing.len() + 1 || size[1..] != *trailing {
        return Err(input_error(format!(
            "{what}: shape {size:?}; expected [N, {}] ({expect})",
            join(trailing)
        )));
    }
    if size[0] > 0 && !bool::try_from(t.isfinite().all()).unwrap_or(false) {
        let bad = t.isfinite().logical_not().nonzero();
        let first: Vec<i64> = Vec::try_from(bad.get(0)).unwrap_or_default();
        return Err(input_error(format!(
            "{what}: {} values are NaN or infinite (the first at index {first:?}); remove or impute them first",
            bad.size()[0]
        )));
    }
    Ok(t)
}

fn join(dims: &[i64]) -> String {
    dims.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
}

fn device_of(name: &str) -> PyResult<Device> {
    parse_device(name).map_err(|e| input_error(format!("device: {e:#}")))
}

fn set_threads(threads: Option<&str>) -> PyResult<()> {
    if let Some(t) = threads {
        let s: ThreadSetting = t.parse().map_err(|e: String| input_error(format!("threads: {e}")))?;
        apply_threads(s);
    }
    Ok(())
}

fn load_config(config: &str, overrides: &[String]) -> PyResult<TrainConfig> {
    TrainConfig::load(config, overrides).or_py("ConfigError")
}

fn existing_path(p: &str, what: &str, class: &str) -> PyResult<PathBuf> {
    let path = PathBuf::from(p);
    if !path.exists() {
        return Err(py_error(
            class,
            format!("{what} {}: no such file or folder", path.display()),
        ));
    }
    Ok(path)
}

/// Runs `job` with the GIL released and its progress sent to `callback(stage, done, total, message)`; Ctrl-C or a
/// callback returning `False` stops it at the next step. An exception raised by the callback is re-raised.
fn run_observed<T: Send>(
    py: Python<'_>,
    callback: Option<PyObject>,
    job: impl FnOnce() -> Result<T> + Send,
) -> PyResult<Result<T>> {
    let (out, pending) = py.allow_threads(move || {
        let pending: Rc<RefCell<Option<PyErr>>> = Rc::new(RefCell::new(None));
        let seen = pending.clone();
        let _guard = observe(move |e| {
            Python::with_gil(|py| {
                if let Err(err) = py.check_signals() {
                    *seen.borrow_mut() = Some(err);
                    return false;
                }
                match &callback {
                    Some(cb) => match cb.call1(py, (e.stage, e.done, e.total, e.message)) {
                        // Only an explicit False stops; None (a callback that returns nothing) goes on.
                        Ok(v) => !v.bind(py).is(&*pyo3::types::PyBool::new(py, false)),
                        Err(err) => {
                            *seen.borrow_mut() = Some(err);
                            false
                        }
                    },
                    None => true,
                }
            })
        });
        let out = job();
        let pending = pending.borrow_mut().take();
        (out, pending)
    });
    match (out, pending) {
        // A KeyboardInterrupt keeps vox2pix's message (what was kept, how to resume); other callback errors as raised.
        (Err(e), Some(p)) if !Python::with_gil(|py| p.is_instance_of::<PyKeyboardInterrupt>(py)) => {
            drop(e);
            Err(p)
        }
        (out, _) => Ok(out),
    }
}

fn json_to_py(py: Python<'_>, v: &serde_json::Value) -> PyResult<PyObject> {
    let text = serde_json::to_string(v).map_err(|e| py_error("Vox2pixError", e.to_string()))?;
    Ok(py.import("json")?.getattr("loads")?.call1((text,))?.unbind())
}

// ---- datasets ----

/// A dataset loaded for training and evaluation (folder in the SelfSuperReconst layout, or one `sbj_N.npz`),
/// its voxels restricted to an ROI union.
#[pyclass(unsendable, module = "vox2pix._native")]
struct Dataset {
    data: TrainingData,
    device: String,
}

#[pymethods]
impl Dataset {
    #[new]
    #[pyo3(signature = (path, roi, device = "cpu"))]
    fn new(path: &str, roi: Vec<String>, device: &str) -> PyResult<Self> {
        let dev = device_of(device)?;
        let p = existing_path(path, "dataset", "DataNotFoundError")?;
        let data = TrainingData::load(&p, &roi, dev).or_py("DataError")?;
        Ok(Self {
            data,
            device: device.to_string(),
        })
    }
    #[getter]
    fn path(&self) -> String {
        self.data.dir.display().to_string()
    }
    #[getter]
    fn roi(&self) -> Vec<String> {
        self.data.roi.clone()
    }
    #[getter]
    fn device(&self) -> String {
        self.device.clone()
    }
    #[getter]
    fn n_voxels(&self) -> i64 {
        self.data.n_voxels
    }
    #[getter]
    fn image_size(&self) -> i64 {
        self.data.image_size
    }
    #[getter]
    fn n_trials(&self) -> i64 {
        self.data.n_trials()
    }
    #[getter]
    fn n_test_images(&self) -> i64 {
        self.data.test_images.size()[0]
    }
    #[getter]
    fn grayscale(&self) -> bool {
        self.data.grayscale
    }
    #[getter]
    fn test_classes(&self) -> Vec<i64> {
        self.data.test_classes.clone()
    }
    #[getter]
    fn train_classes(&self) -> Vec<i64> {
        self.data.train_classes.clone()
    }
    /// The ROI masks over the selected voxels, by name (`bool` lists).
    #[getter]
    fn rois(&self) -> Vec<(String, Vec<bool>)> {
        self.data.rois().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
    /// The tensor `name` (one of `y_train`, `train_labels`, `train_images`, `y_test_avg`, `test_images`, `snr`)
    /// as a torch tensor over vox2pix's memory.
    fn tensor(&self, py: Python<'_>, name: &str) -> PyResult<PyObject> {
        tensor_out(py, self.field(name)?)
    }
    /// The address vox2pix holds the tensor `name` at (a zero-copy view has the same `data_ptr()`).
    fn address(&self, name: &str) -> PyResult<usize> {
        Ok(data_address(self.field(name)?))
    }
}

impl Dataset {
    fn field(&self, name: &str) -> PyResult<&Tensor> {
        let d = &self.data;
        Ok(match name {
            "y_train" => &d.y_train,
            "train_labels" => &d.train_labels,
            "train_images" => &d.train_images,
            "y_test_avg" => &d.y_test_avg,
            "test_images" => &d.test_images,
            "snr" => &d.snr_n,
            _ => {
                return Err(input_error(format!(
                    "no dataset tensor '{name}'; use y_train, train_labels, train_images, y_test_avg, test_images, snr"
                )))
            }
        })
    }
}

/// A bdpy BData file as stored: the float table and its metadata rows.
#[pyclass(unsendable, module = "vox2pix._native")]
struct BDataFile {
    inner: BData,
    table: Tensor,
}

#[pymethods]
impl BDataFile {
    #[new]
    fn new(path: &str) -> PyResult<Self> {
        let p = existing_path(path, "BData file", "DataNotFoundError")?;
        let inner = BData::open(&p).or_py("DataError")?;
        let (rows, cols) = inner.dataset.dim();
        let flat: Vec<f64> = inner.dataset.iter().copied().collect();
        let table = Tensor::from_slice(&flat).view([rows as i64, cols as i64]);
        Ok(Self { inner, table })
    }
    #[getter]
    fn path(&self) -> String {
        self.inner.path.display().to_string()
    }
    /// `/dataset`, [samples, columns] float64, as a torch tensor.
    fn dataset(&self, py: Python<'_>) -> PyResult<PyObject> {
        tensor_out(py, &self.table)
    }
    #[getter]
    fn keys(&self) -> Vec<String> {
        self.inner.keys.clone()
    }
    #[getter]
    fn descriptions(&self) -> Vec<String> {
        self.inner.descriptions.clone()
    }
    #[getter]
    fn n_samples(&self) -> usize {
        self.inner.n_samples()
    }
    /// Column indices of the metadata key `key` (e.g. an ROI `ROI_V1 = 1`, or `VoxelData`).
    fn select(&self, key: &str) -> PyResult<Vec<usize>> {
        self.inner.select(key).or_py("DataError")
    }
    /// The values of the label column `key` (e.g. `stimulus_name`, `Run`), one per sample.
    fn label(&self, key: &str) -> PyResult<Vec<f64>> {
        self.inner.label(key).or_py("DataError")
    }
    /// The metadata keys that are ROI masks.
    fn roi_keys(&self) -> Vec<String> {
        self.inner.roi_keys().into_iter().map(String::from).collect()
    }
}

/// Writes a synthetic world (`vox2pix synth`) to `out`; returns what `synth` prints, as a dict.
#[pyfunction]
#[pyo3(signature = (preset, seed, out, overrides = Vec::new(), progress = false))]
fn synth(
    py: Python<'_>,
    preset: &str,
    seed: u64,
    out: &str,
    overrides: Vec<String>,
    progress: bool,
) -> PyResult<PyObject> {
    use vox2pix_synth::world::{World, WorldConfig};
    let config = WorldConfig::resolve(preset, &overrides).or_py("ConfigError")?;
    let out = PathBuf::from(out);
    let summary = py
        .allow_threads(|| -> Result<_> {
            vox2pix_synth::export::prepare_output_dir(&out)?;
            let world = World::new(config, seed)?;
            let s = vox2pix_synth::export::export(&world, &out, progress)?;
            Ok((world.config.preset.clone(), s))
        })
        .or_py("DataError")?;
    let (preset, s) = summary;
    let d = PyDict::new(py);
    d.set_item("path", out.display().to_string())?;
    d.set_item("preset", preset)?;
    d.set_item("seed", seed)?;
    d.set_item("n_voxels", s.n_voxels)?;
    d.set_item("n_train_trials", s.n_train)?;
    d.set_item("n_test_trials", s.n_test_trials)?;
    d.set_item("files", s.files)?;
    Ok(d.into_any().unbind())
}

// ---- training ----

/// `vox2pix train-backbone`: trains a synthetic world's own backbone; returns its model card's summary.
#[pyfunction]
#[pyo3(signature = (world, steps, width, seed, device = "cpu", threads = None, callback = None))]
#[allow(clippy::too_many_arguments)]
fn train_backbone(
    py: Python<'_>,
    world: &str,
    steps: usize,
    width: f64,
    seed: u64,
    device: &str,
    threads: Option<&str>,
    callback: Option<PyObject>,
) -> PyResult<PyObject> {
    use vox2pix::train::backbone::{train_world_backbone, BackboneTraining};
    let dev = device_of(device)?;
    set_threads(threads)?;
    let world = existing_path(world, "world", "DataNotFoundError")?;
    let opts = BackboneTraining {
        steps,
        width,
        seed,
        ..Default::default()
    };
    let card = run_observed(py, callback, || train_world_backbone(&world, &opts, dev))?.or_py("TrainingError")?;
    let d = PyDict::new(py);
    d.set_item(
        "path",
        vox2pix::model::backbone::world_backbone_path(&world)
            .display()
            .to_string(),
    )?;
    d.set_item("classes", card.trained_classes.len())?;
    d.set_item("held_out_accuracy", card.held_out_accuracy)?;
    Ok(d.into_any().unbind())
}

/// `vox2pix train-encoder`: returns the summary the CLI prints, as a dict.
#[pyfunction]
#[pyo3(signature = (data, config, overrides, out, device = "cpu", resume = false, threads = None, callback = None))]
#[allow(clippy::too_many_arguments)]
fn train_encoder(
    py: Python<'_>,
    data: &str,
    config: &str,
    overrides: Vec<String>,
    out: &str,
    device: &str,
    resume: bool,
    threads: Option<&str>,
    callback: Option<PyObject>,
) -> PyResult<PyObject> {
    let dev = device_of(device)?;
    set_threads(threads)?;
    let cfg = load_config(config, &overrides)?;
    let data = existing_path(data, "dataset", "DataNotFoundError")?;
    let out = PathBuf::from(out);
    let o = run_observed(py, callback, || jobs::encoder_job(&data, &cfg, &out, dev, resume))?.or_py("TrainingError")?;
    let d = PyDict::new(py);
    d.set_item("run", out.display().to_string())?;
    d.set_item("epochs", o.epochs)?;
    d.set_item("last_loss", o.last_loss)?;
    d.set_item("val_median_r", o.val_median_r.into_iter().collect::<Vec<_>>())?;
    Ok(d.into_any().unbind())
}

/// `vox2pix train-decoder`: returns the summary the CLI prints, as a dict.
#[pyfunction]
#[pyo3(signature = (data, encoder, config, overrides, out, device = "cpu", resume = false, unpaired = None, threads = None, callback = None))]
#[allow(clippy::too_many_arguments)]
fn train_decoder(
    py: Python<'_>,
    data: &str,
    encoder: &str,
    config: &str,
    overrides: Vec<String>,
    out: &str,
    device: &str,
    resume: bool,
    unpaired: Option<&str>,
    threads: Option<&str>,
    callback: Option<PyObject>,
) -> PyResult<PyObject> {
    let dev = device_of(device)?;
    set_threads(threads)?;
    let cfg = load_config(config, &overrides)?;
    let data = existing_path(data, "dataset", "DataNotFoundError")?;
    let encoder = existing_path(encoder, "encoder run", "RunNotFoundError")?;
    let unpaired = unpaired
        .map(|u| existing_path(u, "unpaired image folder", "DataNotFoundError"))
        .transpose()?;
    let out = PathBuf::from(out);
    let o = run_observed(py, callback, || {
        jobs::decoder_job(&data, &encoder, &cfg, &out, dev, resume, unpaired.as_deref())
    })?
    .or_py("TrainingError")?;
    let d = PyDict::new(py);
    d.set_item("run", out.display().to_string())?;
    d.set_item("epochs", o.epochs)?;
    d.set_item("last_loss", o.last_loss)?;
    d.set_item("cache_seconds", o.cache_seconds)?;
    d.set_item("step_seconds", o.step_seconds)?;
    Ok(d.into_any().unbind())
}

// ---- runs and models ----

enum Model {
    Encoder(Box<EncoderModel>),
    Decoder(Box<DecoderModel>),
}

/// A trained run (encoder or decoder) with its model loaded, frozen, on a device.
#[pyclass(unsendable, module = "vox2pix._native")]
struct Run {
    path: PathBuf,
    kind: String,
    data: TrainingData,
    cfg: TrainConfig,
    model: Model,
    device: String,
}

/// The dataset folder a run was trained on (`RUN/data.json`).
#[pymethods]
impl Run {
    #[new]
    #[pyo3(signature = (path, data = None, device = "cpu"))]
    fn new(path: &str, data: Option<&str>, device: &str) -> PyResult<Self> {
        let dev = device_of(device)?;
        let path = existing_path(path, "run", "RunNotFoundError")?;
        let info_path = path.join("run.json");
        let bytes = std::fs::read(&info_path).map_err(|_| {
            py_error(
                "RunNotFoundError",
                format!("{}: not a vox2pix run (no run.json)", path.display()),
            )
        })?;
        let info: RunInfo = serde_json::from_slice(&bytes)
            .map_err(|e| py_error("RunError", format!("{}: corrupt run.json ({e})", info_path.display())))?;
        let cfg = run_config(&path).or_py("RunError")?;
        let data_dir = match data {
            Some(d) => existing_path(d, "dataset", "DataNotFoundError")?,
            None => data_of(&path).or_py("RunError")?,
        };
        let data = TrainingData::load(&data_dir, &cfg.roi, dev).or_py("DataError")?;
        let model = match info.kind.as_str() {
            "encoder" => Model::Encoder(Box::new(
                EncoderModel::load_run(&path, &cfg, &data, dev).or_py("RunError")?,
            )),
            "decoder" => Model::Decoder(Box::new(
                DecoderModel::load_run(&path, &cfg, &data, dev).or_py("RunError")?,
            )),
            k => {
                return Err(py_error(
                    "RunError",
                    format!(
                        "{}: a '{k}' run has no model to load; open an encoder or decoder run",
                        path.display()
                    ),
                ))
            }
        };
        RunDir::existing(&path, &info.kind).or_py("RunError")?;
        Ok(Self {
            path,
            kind: info.kind,
            data,
            cfg,
            model,
            device: device.to_string(),
        })
    }
    #[getter]
    fn path(&self) -> String {
        self.path.display().to_string()
    }
    #[getter]
    fn kind(&self) -> String {
        self.kind.clone()
    }
    #[getter]
    fn device(&self) -> String {
        self.device.clone()
    }
    #[getter]
    fn data_path(&self) -> String {
        self.data.dir.display().to_string()
    }
    #[getter]
    fn n_voxels(&self) -> i64 {
        self.data.n_voxels
    }
    #[getter]
    fn image_size(&self) -> i64 {
        self.data.image_size
    }
    #[getter]
    fn roi(&self) -> Vec<String> {
        self.cfg.roi.clone()
    }
    /// The run's config as TOML text.
    fn config_toml(&self) -> PyResult<String> {
        self.cfg.to_toml().or_py("RunError")
    }
    /// The per-epoch records of `metrics.jsonl`.
    fn history(&self, py: Python<'_>) -> PyResult<PyObject> {
        let records = RunDir {
            path: self.path.clone(),
        }
        .read_metrics()
        .or_py("RunError")?;
        json_to_py(py, &serde_json::Value::Array(records))
    }
    /// The encoder run of a decoder run.
    fn encoder_run(&self) -> PyResult<String> {
        encoder_of(&self.path)
            .map(|p| p.display().to_string())
            .or_py("RunError")
    }
    /// D(fmri): [N, V] responses → [N, 3, S, S] images in [0, 1], on the run's device, without gradients.
    #[pyo3(signature = (fmri, batch = 64))]
    fn decode(&self, py: Python<'_>, fmri: &Bound<'_, PyAny>, batch: i64) -> PyResult<PyObject> {
        let Model::Decoder(d) = &self.model else {
            return Err(input_error(format!(
                "{}: decode needs a decoder run, this is an encoder run",
                self.path.display()
            )));
        };
        let y = self.fmri_input(fmri)?;
        tensor_out(py, &d.reconstruct(&y, batch.max(1)))
    }
    /// E(images): [N, 3, S, S] in [0, 1] → [N, V] predicted responses, without gradients.
    #[pyo3(signature = (images, batch = 64))]
    fn encode(&self, py: Python<'_>, images: &Bound<'_, PyAny>, batch: i64) -> PyResult<PyObject> {
        let Model::Encoder(e) = &self.model else {
            return Err(input_error(format!(
                "{}: encode needs an encoder run, this is a decoder run",
                self.path.display()
            )));
        };
        let s = self.data.image_size;
        let x = float_input(tensor_in(images, "images")?, "images", &[3, s, s], "RGB in [0, 1]")?;
        tensor_out(
            py,
            &e.predict(&x.to_device(self.data.train_images.device()), batch.max(1)),
        )
    }
    /// Seconds per `decode` call of `fmri`, timed inside Rust over `repeats` calls (the overhead reference).
    #[pyo3(signature = (fmri, repeats, batch = 64))]
    fn time_decode(&self, fmri: &Bound<'_, PyAny>, repeats: usize, batch: i64) -> PyResult<f64> {
        let Model::Decoder(d) = &self.model else {
            return Err(input_error("time_decode needs a decoder run".into()));
        };
        let y = self.fmri_input(fmri)?;
        let t0 = std::time::Instant::now();
        for _ in 0..repeats.max(1) {
            let _ = d.reconstruct(&y, batch.max(1));
        }
        Ok(t0.elapsed().as_secs_f64() / repeats.max(1) as f64)
    }
}

impl Run {
    fn fmri_input(&self, fmri: &Bound<'_, PyAny>) -> PyResult<Tensor> {
        let v = self.data.n_voxels;
        let expect = format!(
            "{v} voxels of ROI {} in {}",
            self.cfg.roi.join("+"),
            self.data.dir.display()
        );
        let y = float_input(tensor_in(fmri, "fmri")?, "fmri", &[v], &expect)?;
        Ok(y.to_device(self.data.train_images.device()))
    }
}

/// `vox2pix evaluate RUN --data DATA`: writes the metrics files into the run and returns `metrics.json`'s content.
#[pyfunction]
#[pyo3(signature = (run, data, device = "cpu", trials = 1000, bootstrap = 10000, seed = 0, external_cap = 1000, recon_from_gt = false, nsd8_weights = None))]
#[allow(clippy::too_many_arguments)]
fn evaluate(
    py: Python<'_>,
    run: &str,
    data: &str,
    device: &str,
    trials: usize,
    bootstrap: usize,
    seed: u64,
    external_cap: usize,
    recon_from_gt: bool,
    nsd8_weights: Option<&str>,
) -> PyResult<PyObject> {
    let dev = device_of(device)?;
    let run = existing_path(run, "run", "RunNotFoundError")?;
    let data = existing_path(data, "dataset", "DataNotFoundError")?;
    let o = EvaluateOptions {
        trials,
        bootstrap,
        seed,
        external_cap,
        recon_from_gt,
        nsd8_weights: nsd8_weights.map(std::path::PathBuf::from),
        ..Default::default()
    };
    let m = run_observed(py, None, || evaluate_run(&run, &data, dev, &o))?.or_py("RunError")?;
    let v = serde_json::to_value(&m).map_err(|e| py_error("Vox2pixError", e.to_string()))?;
    json_to_py(py, &v)
}

/// `vox2pix reconstruct`: writes `RUN/reconstructions.npz` and `.png`; returns the npz path.
#[pyfunction]
#[pyo3(signature = (run, data, device = "cpu"))]
fn reconstruct(run: &str, data: &str, device: &str) -> PyResult<String> {
    let dev = device_of(device)?;
    let run = existing_path(run, "run", "RunNotFoundError")?;
    let data = existing_path(data, "dataset", "DataNotFoundError")?;
    jobs::reconstruct_job(&run, &data, dev)
        .map(|p| p.display().to_string())
        .or_py("RunError")
}

/// `vox2pix report RUN`: writes the run's HTML report; returns its path.
#[pyfunction]
fn report(run: &str) -> PyResult<String> {
    let run = existing_path(run, "run", "RunNotFoundError")?;
    vox2pix::report::html::write_report(&run)
        .map(|p| p.display().to_string())
        .or_py("RunError")
}

/// The address vox2pix reads `array` at when it is passed in (equal to the array's own when no copy is made).
#[pyfunction]
fn native_address(array: &Bound<'_, PyAny>) -> PyResult<usize> {
    Ok(data_address(&tensor_in(array, "array")?))
}

/// Whether libtorch sees a CUDA device.
#[pyfunction]
fn cuda_is_available() -> bool {
    tch::Cuda::is_available()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("LIBTORCH_VERSION", LIBTORCH_VERSION)?;
    m.add_class::<Dataset>()?;
    m.add_class::<BDataFile>()?;
    m.add_class::<Run>()?;
    m.add_function(wrap_pyfunction!(synth, m)?)?;
    m.add_function(wrap_pyfunction!(train_backbone, m)?)?;
    m.add_function(wrap_pyfunction!(train_encoder, m)?)?;
    m.add_function(wrap_pyfunction!(train_decoder, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(reconstruct, m)?)?;
    m.add_function(wrap_pyfunction!(report, m)?)?;
    m.add_function(wrap_pyfunction!(native_address, m)?)?;
    m.add_function(wrap_pyfunction!(cuda_is_available, m)?)?;
    Ok(())
}
