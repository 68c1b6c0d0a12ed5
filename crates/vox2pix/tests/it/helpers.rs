//! What the test modules share: the committed fixtures (`tests/fixtures/` at the repository root, made by the
//! scripts in `tools/`) and per-test scratch folders under the system temp dir.
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
