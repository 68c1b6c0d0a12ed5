//! The BData (bdpy HDF5) reader on arbitrary bytes: open, summarise, and select the GOD trials of an ROI.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vox2pix::data::bdata;

#[path = "scratch.rs"]
mod scratch;

fuzz_target!(|data: &[u8]| {
    let p = scratch::file("Subject1.h5", data);
    if let Ok(b) = bdata::BData::open(&p) {
        let _ = b.roi_keys();
        let _ = bdata::GodTrials::from_bdata(&b, "VC");
    }
    let _ = bdata::summarize(&p);
});
