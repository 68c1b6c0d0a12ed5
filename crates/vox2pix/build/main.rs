//! Build glue for libtorch:
//! 1. A tiny C++ shim (`src/nn/ctx.cpp`) for the TF32 and per-device autocast switches, which tch has no API for.
//! 2. The link arguments of `link.rs` (CUDA in DT_NEEDED, rpath) for this package's test binaries.
include!("link.rs");

fn main() {
    let lib = libtorch_lib();
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
    println!("cargo:rerun-if-changed=build/link.rs");
    link_libtorch(&lib);
}
