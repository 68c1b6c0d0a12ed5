//! What the test modules of every crate share (each crate's `tests/it/main.rs` includes this file): the committed
//! fixtures (`tests/fixtures/`, made by the scripts in `tools/`), per-test scratch folders under the system temp
//! dir, and the lock for tests that use libtorch's process-wide state.
#![allow(dead_code, unused_macros)]
use std::path::{Path, PathBuf};

/// `tests/fixtures/<group>/<name>` at the repository root.
pub fn fixture(group: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(group)
        .join(name)
}

/// A scratch path unique to this process, test module and tag; whatever an earlier run left there is removed.
pub fn scratch_path(module: &str, tag: &str) -> PathBuf {
    let module = module.rsplit("::").next().unwrap_or(module);
    let d = std::env::temp_dir().join(format!("vox2pix-test-{}-{module}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// `scratch!(tag)`: a fresh path (not created) for this test module and tag.
macro_rules! scratch {
    ($tag:expr) => {
        $crate::helpers::scratch_path(module_path!(), &$tag)
    };
}

/// `temp_dir!(tag)`: like `scratch!`, but the folder exists (empty).
macro_rules! temp_dir {
    ($tag:expr) => {{
        let d = $crate::helpers::scratch_path(module_path!(), &$tag);
        std::fs::create_dir_all(&d).unwrap();
        d
    }};
}

/// Serialises the tests that use libtorch's process-wide state (the global random generator behind
/// `tch::manual_seed` and every fresh VarStore's initialisation, thread counts, autocast): in one test binary
/// they would otherwise run in parallel threads and draw from each other's random streams.
pub fn torch_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Waits until `ready()` holds (polled every 20 ms, at most 300 s) or the child exits by itself, then SIGKILLs
/// and reaps it: the crash in crash-safety tests.
pub fn kill_when(child: &mut std::process::Child, ready: impl Fn() -> bool) {
    let t0 = std::time::Instant::now();
    while !ready() && t0.elapsed().as_secs() < 300 {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}
