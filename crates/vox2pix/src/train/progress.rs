//! Progress bars and the NaN guard shared by the trainers, and the hook through which an embedding program (the
//! Python package) watches long work and stops it: [`observe`] installs an observer that sees every bar's
//! progress instead of the terminal, and whose "stop" makes the next [`Progress::check_interrupt`] return
//! [`Interrupted`]. Trainers check between steps, so a stop leaves the run at its last committed epoch, resumable.
use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::cell::{Cell, RefCell};
use std::path::Path;
use std::rc::Rc;

/// What an observer is told whenever a bar moves or its text changes.
#[derive(Clone, Copy, Debug)]
pub struct ProgressEvent<'a> {
    /// The work, e.g. `train D`.
    pub stage: &'a str,
    /// Units done (epochs for the trainers).
    pub done: u64,
    /// Units in all.
    pub total: u64,
    /// The bar's text, e.g. the last loss.
    pub message: &'a str,
}

/// An observer returns whether the work should go on.
type Observer = dyn Fn(&ProgressEvent<'_>) -> bool;
// Per thread: the trainers report from the thread that runs them, and an observer installed by one caller (one
// Python call, one test) must neither see nor stop work running on another thread.
thread_local! {
    static OBSERVER: RefCell<Option<Rc<Observer>>> = const { RefCell::new(None) };
    static STOP_REQUESTED: Cell<bool> = const { Cell::new(false) };
}

/// Keeps an observer installed on this thread; dropping it removes the observer and forgets any stop request.
pub struct ObserverGuard(());

impl Drop for ObserverGuard {
    fn drop(&mut self) {
        OBSERVER.with(|o| *o.borrow_mut() = None);
        STOP_REQUESTED.with(|s| s.set(false));
    }
}

/// Sends the progress of every bar made on this thread to `observer` (their terminal display is hidden
/// meanwhile) until the guard drops. When the observer returns `false`, the work stops at its next
/// [`Progress::check_interrupt`].
pub fn observe(observer: impl Fn(&ProgressEvent<'_>) -> bool + 'static) -> ObserverGuard {
    STOP_REQUESTED.with(|s| s.set(false));
    OBSERVER.with(|o| *o.borrow_mut() = Some(Rc::new(observer)));
    ObserverGuard(())
}

fn observer() -> Option<Rc<Observer>> {
    OBSERVER.with(|o| o.borrow().clone())
}

/// The error of work stopped by its observer (Ctrl-C in Python). Find it with `err.downcast_ref::<Interrupted>()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interrupted {
    /// The work that stopped.
    pub stage: String,
    /// Units it had finished (committed epochs for the trainers).
    pub done: u64,
    /// Units in all.
    pub total: u64,
    /// Whether the work commits its units (epochs) and can resume from the last one.
    pub resumable: bool,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.resumable {
            write!(
                f,
                "{} interrupted at step {} of {}; it keeps no partial result, start it again",
                self.stage, self.done, self.total
            )
        } else if self.done == 0 {
            write!(
                f,
                "{} interrupted before its first epoch completed; nothing was kept, start the run again",
                self.stage
            )
        } else {
            write!(
                f,
                "{} interrupted after {} of {} epochs; the run keeps epoch {} and continues from there when \
                 resumed",
                self.stage, self.done, self.total, self.done
            )
        }
    }
}

impl std::error::Error for Interrupted {}

/// A progress bar with ETA on a terminal; on a log (stderr not a terminal) one plain line per tenth of the
/// work instead, so CI logs and `nohup` runs still show progress.
pub struct Progress {
    bar: ProgressBar,
    what: String,
    total: u64,
    plain: bool,
    last_line: std::cell::Cell<u64>,
    start: std::time::Instant,
    resumable: bool,
}

/// A bar counting `total` epochs of resumable work, `done` already finished.
pub fn epoch_bar(what: &str, total: usize, done: usize) -> Progress {
    Progress {
        resumable: true,
        ..bar(what, total, done)
    }
}

/// A bar counting `total` steps of work that keeps nothing until it ends (an interrupt loses it all).
pub fn step_bar(what: &str, total: usize) -> Progress {
    bar(what, total, 0)
}

fn bar(what: &str, total: usize, done: usize) -> Progress {
    use std::io::IsTerminal;
    let observed = observer().is_some();
    let plain = !observed && !std::io::stderr().is_terminal();
    let bar = if plain || observed {
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
        resumable: false,
    }
}

impl Progress {
    /// Advances by `n` units.
    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
        self.maybe_line();
        self.notify();
    }
    /// Moves to `pos` units done.
    pub fn set_position(&self, pos: u64) {
        self.bar.set_position(pos);
        self.maybe_line();
        self.notify();
    }
    /// Sets the text after the bar (repeated on plain log lines).
    pub fn set_message(&self, msg: String) {
        self.bar.set_message(msg);
        self.notify();
    }
    /// [`Interrupted`] when the observer asked to stop; trainers call it between steps.
    pub fn check_interrupt(&self) -> Result<()> {
        if STOP_REQUESTED.with(Cell::get) {
            return Err(Interrupted {
                stage: self.what.clone(),
                done: self.bar.position(),
                total: self.total,
                resumable: self.resumable,
            }
            .into());
        }
        Ok(())
    }
    fn notify(&self) {
        if let Some(f) = observer() {
            let message = self.bar.message();
            let event = ProgressEvent {
                stage: &self.what,
                done: self.bar.position(),
                total: self.total,
                message: &message,
            };
            if !f(&event) {
                STOP_REQUESTED.with(|s| s.set(true));
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_observer_sees_the_bar_and_its_stop_interrupts_at_the_next_check() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let log = seen.clone();
        let guard = observe(move |e| {
            log.borrow_mut()
                .push((e.stage.to_string(), e.done, e.total, e.message.to_string()));
            e.done < 2
        });
        let bar = epoch_bar("train D", 5, 0);
        bar.set_message("loss 1.0".into());
        bar.inc(1);
        bar.check_interrupt().unwrap();
        bar.inc(1);
        let err = bar.check_interrupt().unwrap_err();
        let stop = err.downcast_ref::<Interrupted>().expect("an Interrupted error");
        assert_eq!((stop.stage.as_str(), stop.done, stop.total), ("train D", 2, 5));
        assert!(err.to_string().contains("keeps epoch 2"), "{err}");
        assert_eq!(seen.borrow()[0], ("train D".to_string(), 0, 5, "loss 1.0".to_string()));
        assert_eq!(seen.borrow().last().unwrap().1, 2);
        // Another thread neither reports to this observer nor is stopped by it.
        std::thread::spawn(|| {
            let other = epoch_bar("train E", 3, 0);
            other.inc(1);
            other.check_interrupt().unwrap();
        })
        .join()
        .unwrap();
        assert_eq!(seen.borrow().len(), 3);
        drop(guard);
        // Without the observer, no stop request survives.
        bar.check_interrupt().unwrap();
    }
}
