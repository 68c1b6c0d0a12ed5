//! Progress bars and the NaN guard shared by the trainers.
use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;

/// A progress bar with ETA on a terminal; on a log (stderr not a terminal) one plain line per tenth of the
/// work instead, so CI logs and `nohup` runs still show progress.
pub struct Progress {
    bar: ProgressBar,
    what: String,
    total: u64,
    plain: bool,
    last_line: std::cell::Cell<u64>,
    start: std::time::Instant,
}

/// A bar counting `total` units (epochs or steps), `done` already finished.
pub fn epoch_bar(what: &str, total: usize, done: usize) -> Progress {
    use std::io::IsTerminal;
    let plain = !std::io::stderr().is_terminal();
    let bar = if plain {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(total as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} ({elapsed} < {eta}) {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(what.to_string());
    bar.set_position(done as u64);
    Progress {
        bar,
        what: what.to_string(),
        total: total as u64,
        plain,
        last_line: std::cell::Cell::new(done as u64),
        start: std::time::Instant::now(),
    }
}

impl Progress {
    /// Advances by `n` units.
    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
        self.maybe_line();
    }
    /// Moves to `pos` units done.
    pub fn set_position(&self, pos: u64) {
        self.bar.set_position(pos);
        self.maybe_line();
    }
    /// Sets the text after the bar (repeated on plain log lines).
    pub fn set_message(&self, msg: String) {
        self.bar.set_message(msg);
    }
    /// Marks the bar finished.
    pub fn finish(&self) {
        self.bar.finish();
    }
    fn maybe_line(&self) {
        let pos = self.bar.position();
        let step = (self.total / 10).max(1);
        if self.plain && pos >= self.last_line.get() + step {
            self.last_line.set(pos);
            eprintln!(
                "{}: {pos}/{} ({:.0} s) {}",
                self.what,
                self.total,
                self.start.elapsed().as_secs_f64(),
                self.bar.message()
            );
        }
    }
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
