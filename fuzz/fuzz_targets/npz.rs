//! The npy/npz codec and the SelfSuperReconst layout on arbitrary bytes: every input must give an array or an
//! error, never a panic, abort or runaway allocation.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vox2pix_formats::{layout, npz};

#[path = "scratch.rs"]
mod scratch;

fuzz_target!(|data: &[u8]| {
    // A bare .npy image.
    if let Ok(a) = npz::parse_npy(data) {
        // What parses must round-trip through the writer.
        let mut out = Vec::new();
        npz::write_npy(&mut out, &a).expect("a parsed array is writable");
        let b = npz::parse_npy(&out).expect("written array re-parses");
        assert_eq!(a.shape, b.shape);
    }
    // The same bytes as an .npz archive, read member by member, then as a subject file and an images file.
    let p = scratch::file("sbj_1.npz", data);
    if let Ok(mut r) = npz::NpzReader::open(&p) {
        for name in r.names() {
            let _ = r.read(&name);
        }
    }
    let _ = layout::load_subject(&p);
    let _ = layout::load_images(&p);
});
