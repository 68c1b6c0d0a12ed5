//! The `vox2pix` binary gets the same libtorch link arguments as the library's tests (see `link.rs`).
include!("../vox2pix/build/link.rs");

fn main() {
    println!("cargo:rerun-if-changed=../vox2pix/build/link.rs");
    link_libtorch(&libtorch_lib());
}
