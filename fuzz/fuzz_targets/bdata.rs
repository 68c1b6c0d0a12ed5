//! The BData (bdpy HDF5) reader on arbitrary bytes: open, summarise, and select the GOD trials of an ROI.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vox2pix_formats::{bdata, hdf5};

#[path = "scratch.rs"]
mod scratch;

fuzz_target!(|data: &[u8]| {
    // A panic inside the HDF5 parser is contained by `vox2pix_formats::hdf5` and reported as a damaged file (the release
    // profile keeps overflow checks on for hdf5-pure for exactly this); libfuzzer's abort-on-panic hook stays in
    // force for every other panic, so one escaping from vox2pix's own code is still a crash.
    hdf5::silence_contained_panics();
    let p = scratch::file("Subject1.h5", data);
    if let Ok(b) = bdata::BData::open(&p) {
        let _ = b.roi_keys();
        let _ = bdata::GodTrials::from_bdata(&b, "VC");
    }
    let _ = bdata::summarize(&p);
});
