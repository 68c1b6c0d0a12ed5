//! Path-based readers get the fuzz input through a per-process file in memory-backed /dev/shm (falling back to
//! the temp dir), rewritten for every input.
use std::path::PathBuf;

pub fn file(name: &str, bytes: &[u8]) -> PathBuf {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("vox2pix-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("scratch file");
    p
}
