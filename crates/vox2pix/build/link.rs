// Link arguments for every executable that loads libtorch: the library's own test binaries (through
// `build/main.rs`) and the `vox2pix` binary (`crates/vox2pix-cli/build.rs` includes this file), because Cargo applies
// a build script's link arguments to its own package alone.
// 1. `libtorch_cuda.so` forced into DT_NEEDED: torch-sys asks for `-ltorch_cuda`, but rustc links with
//    `--as-needed` and nothing references a CUDA symbol directly, so without this `Device::Cuda` reports
//    "no CUDA backend" even on a GPU machine.
// 2. An rpath to libtorch's lib folder so `vox2pix` runs without `LD_LIBRARY_PATH`; on another machine
//    (e.g. the GPU box) `LD_LIBRARY_PATH` still takes precedence.

/// libtorch's lib folder, as torch-sys exports it to the packages that depend on it directly.
fn libtorch_lib() -> std::path::PathBuf {
    match std::env::var("DEP_TCH_LIBTORCH_LIB") {
        Ok(l) => std::path::PathBuf::from(l),
        Err(_) => panic!("torch-sys did not export the libtorch lib folder; run `make setup` (or set LIBTORCH)"),
    }
}

fn link_libtorch(lib: &std::path::Path) {
    println!("cargo:rustc-link-search=native={}", lib.display());
    if cfg!(target_os = "linux") {
        if lib.join("libtorch_cuda.so").exists() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    }
}
