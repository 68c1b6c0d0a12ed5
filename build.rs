//! Build glue for libtorch:
//! 1. A tiny C++ shim (`src/nn/ctx.cpp`) for the TF32 switches, which tch has no API for.
//! 2. `libtorch_cuda.so` forced into DT_NEEDED: torch-sys asks for `-ltorch_cuda`, but rustc links with
//!    `--as-needed` and nothing references a CUDA symbol directly, so without this `Device::Cuda` reports
//!    "no CUDA backend" even on a GPU machine.
//! 3. An rpath to libtorch's lib folder so `vox2pix` runs without `LD_LIBRARY_PATH`; on another machine
//!    (e.g. the GPU box) `LD_LIBRARY_PATH` still takes precedence.
use std::path::PathBuf;

fn main() {
    let lib = match std::env::var("DEP_TCH_LIBTORCH_LIB") {
        Ok(l) => PathBuf::from(l),
        Err(_) => panic!("torch-sys did not export the libtorch lib folder; run `make setup` (or set LIBTORCH)"),
    };
    let inc = lib.parent().map(|p| p.join("include")).unwrap_or_default();
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(&inc)
        .include(inc.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag("-D_GLIBCXX_USE_CXX11_ABI=1")
        .file("src/nn/ctx.cpp")
        .compile("vox2pix_ctx");
    println!("cargo:rerun-if-changed=src/nn/ctx.cpp");
    println!("cargo:rustc-link-search=native={}", lib.display());
    if cfg!(target_os = "linux") {
        if lib.join("libtorch_cuda.so").exists() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    }
}
