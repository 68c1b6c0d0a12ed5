//! Crash-safe training state: a trainer resumes from a run's last committed checkpoint (model variables and
//! optimiser state) and commits one after every epoch. The files and their commit protocol are
//! `model::run::RunDir`'s; this adds what only trainers have, the optimiser.
use crate::model::run::{CheckpointState, RunDir};
use crate::model::weights::{copy_into, KeyMatch};
use crate::train::optim::AmsGrad;
use anyhow::{Context, Result};
use tch::nn::VarStore;
use tch::Tensor;

/// Restores model variables and optimiser state from the last checkpoint, if any. Returns the number of
/// completed epochs and the metrics records up to that epoch (lines of a crashed, uncommitted epoch dropped).
pub fn resume(
    run: &RunDir,
    vs: &mut VarStore,
    opt: &mut AmsGrad,
    n_voxels: i64,
    what: &str,
) -> Result<(usize, Vec<serde_json::Value>)> {
    let mut records = run.read_metrics()?;
    let Some((state, saved)) = run.load_checkpoint(n_voxels)? else {
        return Ok((0, records));
    };
    let hint = format!("The model here has {n_voxels} voxels; was the checkpoint made for another dataset or ROI?");
    let keys = KeyMatch {
        prefix: "model.",
        hint: &hint,
        ..KeyMatch::default()
    };
    copy_into(vs, &saved, &run.path.display().to_string(), keys)?;
    opt.load_state(&saved, "opt.").context("checkpoint optimizer state")?;
    records.retain(|r| r["epoch"].as_u64().is_some_and(|e| (e as usize) <= state.epoch));
    eprintln!("resuming {what} run {} after epoch {}", run.path.display(), state.epoch);
    Ok((state.epoch, records))
}

/// End of an epoch: metrics first (a crash before the checkpoint commit leaves an extra line that resume
/// drops), then model variables (`model.*`) and optimiser state (`opt.*`) as the new checkpoint.
pub fn commit_epoch(
    run: &RunDir,
    vs: &VarStore,
    opt: &AmsGrad,
    records: &[serde_json::Value],
    epochs_done: usize,
    n_voxels: i64,
    last_loss: f64,
) -> Result<()> {
    let mut tensors: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(k, v)| (format!("model.{k}"), v))
        .collect();
    tensors.extend(opt.state_tensors("opt."));
    run.write_metrics(records)?;
    run.save_checkpoint(
        &tensors,
        CheckpointState {
            epoch: epochs_done,
            file: String::new(),
            n_voxels,
            last_loss,
        },
    )
}
