//! Run directories: resolved config, data manifest, per-epoch metrics (JSONL) and crash-safe checkpoints.
//!
//! Layout of a run `RUN/`:
//! - `run.json`            what kind of run this is (encoder / decoder / backbone), vox2pix version
//! - `config.toml`         the fully resolved training config
//! - `data.json`           the dataset summary and manifest the run was trained on
//! - `metrics.jsonl`       one JSON object per epoch
//! - `checkpoint-eNNNN.safetensors` + `state.json`: the latest checkpoint; `state.json` is written last and is
//!   the commit point, so a crash at any moment leaves the previous checkpoint loadable.
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::Tensor;
use vox2pix_formats::config::TrainConfig;
use vox2pix_formats::io::{write_atomic_path, write_bytes_atomic};

/// `run.json`: what kind of run a directory holds.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunInfo {
    /// `encoder`, `decoder` or `backbone`.
    pub kind: String,
    /// Version of vox2pix that created the run.
    pub vox2pix_version: String,
    /// CPU threads libtorch had when the run was created, and why (`--threads`; absent in older runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_threads: Option<CpuThreads>,
}

/// The thread count of a run and the limit that decided it (`nn::cpu_budget`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CpuThreads {
    /// Threads.
    pub threads: usize,
    /// Why, e.g. "cgroup CPU quota /sys/fs/cgroup/cpu.max grants 2 CPUs".
    pub reason: String,
}

/// The commit record of the latest checkpoint.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CheckpointState {
    /// Number of completed epochs.
    pub epoch: usize,
    /// File name of the tensors, relative to the run directory.
    pub file: String,
    /// Number of voxels the models were built for (checked on load).
    pub n_voxels: i64,
    /// Last training loss (for logging).
    pub last_loss: f64,
}

/// An opened run directory (see the module docs for its layout).
pub struct RunDir {
    /// The run directory.
    pub path: PathBuf,
}

impl RunDir {
    /// Opens `path` as a run of `kind`. A new run needs a missing or empty directory; with `resume` an existing
    /// run of the same kind is reopened. Anything else is refused, so results are never mixed.
    pub fn open(path: &Path, kind: &str, resume: bool) -> Result<Self> {
        let info_path = path.join("run.json");
        if path.exists() {
            if !path.is_dir() {
                bail!(
                    "{}: exists and is not a directory; choose another --out",
                    path.display()
                );
            }
            if info_path.exists() {
                let info: RunInfo = serde_json::from_slice(&std::fs::read(&info_path)?)
                    .with_context(|| format!("{}: corrupt run.json", info_path.display()))?;
                if info.kind != kind {
                    bail!(
                        "{} is a '{}' run, not a '{kind}' run; choose another --out",
                        path.display(),
                        info.kind
                    );
                }
                if !resume {
                    bail!(
                        "{} already holds a '{kind}' run; pass --resume to continue it or choose another --out",
                        path.display()
                    );
                }
                return Ok(Self {
                    path: path.to_path_buf(),
                });
            }
            let non_empty = std::fs::read_dir(path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .next()
                .is_some();
            if non_empty {
                bail!(
                    "{}: exists, is not empty and is not a vox2pix run; choose another --out",
                    path.display()
                );
            }
        }
        std::fs::create_dir_all(path).with_context(|| format!("cannot create run directory {}", path.display()))?;
        let info = RunInfo {
            kind: kind.to_string(),
            vox2pix_version: env!("CARGO_PKG_VERSION").to_string(),
            cpu_threads: crate::nn::device::chosen_threads().map(|b| CpuThreads {
                threads: b.threads,
                reason: b.reason,
            }),
        };
        write_bytes_atomic(&info_path, &serde_json::to_vec_pretty(&info)?)?;
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    /// Opens an existing run for reading (e.g. an encoder run used by the decoder trainer).
    pub fn existing(path: &Path, kind: &str) -> Result<Self> {
        let info_path = path.join("run.json");
        let bytes = std::fs::read(&info_path)
            .with_context(|| format!("{}: not a vox2pix run (no run.json)", path.display()))?;
        let info: RunInfo =
            serde_json::from_slice(&bytes).with_context(|| format!("{}: corrupt run.json", info_path.display()))?;
        if info.kind != kind {
            bail!("{} is a '{}' run, expected a '{kind}' run", path.display(), info.kind);
        }
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    /// Writes `text` as `RUN/name`, atomically.
    pub fn write_text(&self, name: &str, text: &str) -> Result<()> {
        write_bytes_atomic(&self.path.join(name), text.as_bytes())
    }

    /// Rewrites `metrics.jsonl` with `records` (one per epoch): small, and atomic, so it always matches the
    /// checkpoint it was written with.
    pub fn write_metrics(&self, records: &[serde_json::Value]) -> Result<()> {
        let mut text = String::new();
        for r in records {
            text.push_str(&serde_json::to_string(r)?);
            text.push('\n');
        }
        self.write_text("metrics.jsonl", &text)
    }

    /// Reads `metrics.jsonl`, one value per epoch; empty when there is no such file.
    pub fn read_metrics(&self) -> Result<Vec<serde_json::Value>> {
        let p = self.path.join("metrics.jsonl");
        if !p.exists() {
            return Ok(vec![]);
        }
        let text = std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str(l).with_context(|| format!("{}: line {} is not JSON", p.display(), i + 1))
            })
            .collect()
    }

    /// Saves `tensors` as the checkpoint after `state.epoch` epochs, then commits it through `state.json`,
    /// then removes the previous checkpoint file.
    pub fn save_checkpoint(&self, tensors: &[(String, Tensor)], mut state: CheckpointState) -> Result<()> {
        let previous = self.read_state()?.map(|s| s.file);
        state.file = format!("checkpoint-e{:04}.safetensors", state.epoch);
        let file = self.path.join(&state.file);
        let cpu: Vec<(String, Tensor)> = tensors
            .iter()
            .map(|(k, t)| (k.clone(), t.to_device(tch::Device::Cpu)))
            .collect();
        write_atomic_path(&file, |tmp| {
            Tensor::write_safetensors(&cpu, tmp).with_context(|| format!("cannot write {}", tmp.display()))
        })?;
        write_bytes_atomic(&self.path.join("state.json"), &serde_json::to_vec_pretty(&state)?)?;
        if let Some(prev) = previous.filter(|p| *p != state.file) {
            let _ = std::fs::remove_file(self.path.join(prev));
        }
        Ok(())
    }

    /// The trained model's variables (CPU, no optimiser state) as `RUN/name`, atomically.
    pub fn save_final(&self, vs: &tch::nn::VarStore, name: &str) -> Result<()> {
        let vars: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .map(|(k, v)| (k, v.to_device(tch::Device::Cpu)))
            .collect();
        write_atomic_path(&self.path.join(name), |tmp| {
            Tensor::write_safetensors(&vars, tmp).map_err(|e| anyhow::anyhow!("{e}"))
        })
    }

    /// Reads the latest checkpoint's record (`state.json`); None before the first checkpoint.
    pub fn read_state(&self) -> Result<Option<CheckpointState>> {
        let p = self.path.join("state.json");
        if !p.exists() {
            return Ok(None);
        }
        let s: CheckpointState = serde_json::from_slice(&std::fs::read(&p)?).with_context(|| {
            format!(
                "{}: corrupt checkpoint record; delete the run or restore state.json",
                p.display()
            )
        })?;
        Ok(Some(s))
    }

    /// Loads the latest checkpoint, checking that it was made for `n_voxels` voxels.
    pub fn load_checkpoint(&self, n_voxels: i64) -> Result<Option<(CheckpointState, HashMap<String, Tensor>)>> {
        let Some(state) = self.read_state()? else {
            return Ok(None);
        };
        if state.n_voxels != n_voxels {
            bail!(
                "{}: checkpoint was trained for {} voxels but the data has {}; use the matching dataset/ROI",
                self.path.display(),
                state.n_voxels,
                n_voxels
            );
        }
        let file = self.path.join(&state.file);
        let tensors = crate::model::weights::read_tensor_map(&file)?;
        Ok(Some((state, tensors)))
    }
}

/// The config of a finished run (`config.toml`).
pub fn run_config(run: &Path) -> Result<TrainConfig> {
    let p = run.join("config.toml");
    let text = std::fs::read_to_string(&p)
        .with_context(|| format!("{}: not a trained run (no config.toml)", run.display()))?;
    TrainConfig::from_toml(&text, &[]).with_context(|| format!("{}: invalid run config", p.display()))
}

/// The encoder run a decoder run was trained with.
pub fn encoder_of(decoder_run: &Path) -> Result<PathBuf> {
    path_entry(decoder_run, "encoder.json", "encoder_run")
}

/// The dataset folder a run was trained on (`data.json`'s `data`).
pub fn data_of(run: &Path) -> Result<PathBuf> {
    path_entry(run, "data.json", "data")
}

/// The path stored under `key` in the run's JSON file `file`.
fn path_entry(run: &Path, file: &str, key: &str) -> Result<PathBuf> {
    let p = run.join(file);
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&p).with_context(|| format!("{}: missing", p.display()))?)
            .with_context(|| format!("{}: corrupt", p.display()))?;
    Ok(PathBuf::from(
        v[key]
            .as_str()
            .with_context(|| format!("{}: no '{key}' entry", p.display()))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("vox2pix-run-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn refuses_foreign_and_existing_runs() {
        let d = tmpdir("refuse");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("notes.txt"), "x").unwrap();
        let err = RunDir::open(&d, "encoder", false).err().unwrap().to_string();
        assert!(err.contains("not a vox2pix run"), "{err}");
        let d2 = tmpdir("refuse2");
        RunDir::open(&d2, "encoder", false).unwrap();
        assert!(RunDir::open(&d2, "encoder", false)
            .err()
            .unwrap()
            .to_string()
            .contains("--resume"));
        assert!(RunDir::open(&d2, "decoder", true)
            .err()
            .unwrap()
            .to_string()
            .contains("'encoder' run"));
        assert!(RunDir::open(&d2, "encoder", true).is_ok());
    }

    #[test]
    fn checkpoint_round_trip_and_voxel_check() {
        let d = tmpdir("ckpt");
        let run = RunDir::open(&d, "encoder", false).unwrap();
        let t = Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
        let st = CheckpointState {
            epoch: 1,
            file: String::new(),
            n_voxels: 3,
            last_loss: 0.5,
        };
        run.save_checkpoint(&[("w".into(), t.shallow_clone())], st.clone())
            .unwrap();
        run.save_checkpoint(&[("w".into(), &t * 2.0)], CheckpointState { epoch: 2, ..st })
            .unwrap();
        let (s, m) = run.load_checkpoint(3).unwrap().unwrap();
        assert_eq!(s.epoch, 2);
        assert!(m["w"].allclose(&(&t * 2.0), 0.0, 0.0, false));
        assert!(
            !d.join("checkpoint-e0001.safetensors").exists(),
            "old checkpoint not removed"
        );
        let err = run.load_checkpoint(4).err().unwrap().to_string();
        assert!(err.contains("3 voxels") && err.contains("has 4"), "{err}");
        std::fs::write(d.join("checkpoint-e0002.safetensors"), b"garbage").unwrap();
        let err = format!("{:#}", run.load_checkpoint(3).err().unwrap());
        assert!(err.contains("corrupt or truncated"), "{err}");
    }
}
