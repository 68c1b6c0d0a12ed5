//! Progress bars and the NaN guard shared by the trainers.
use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;

/// A per-epoch progress bar with ETA; hidden when stderr is not a terminal (logs, CI).
pub fn epoch_bar(what: &str, epochs: usize, done: usize) -> ProgressBar {
    let bar = ProgressBar::new(epochs as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] epoch {pos}/{len} ({elapsed} < {eta}) {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(what.to_string());
    bar.set_position(done as u64);
    bar
}

/// Stops a run whose loss is NaN/Inf, naming where it happened and what survives.
pub fn ensure_finite(
    loss: f64,
    stage: &str,
    epoch: usize,
    step: usize,
    lr: f64,
    run: &Path,
    good_epochs: usize,
) -> Result<()> {
    if loss.is_finite() {
        return Ok(());
    }
    let kept = if good_epochs > 0 {
        format!(
            "the checkpoint after epoch {good_epochs} is intact in {}",
            run.display()
        )
    } else {
        format!("no epoch had completed, so {} holds no checkpoint", run.display())
    };
    bail!(
        "{stage} loss became {loss} at epoch {}, step {step} (lr {lr:e}); training stopped and {kept}. \
         Lower the learning rate or check the data for extreme values, then rerun with --resume",
        epoch + 1
    )
}
