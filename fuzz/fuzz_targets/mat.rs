//! The MAT-file reader (Level 5 and v7.3) and the vim-1 summary on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vox2pix_formats::{hdf5, mat5, vim1};

#[path = "scratch.rs"]
mod scratch;

fuzz_target!(|data: &[u8]| {
    // v7.3 files go through the HDF5 backend, whose contained panics are reported as damaged files.
    hdf5::silence_contained_panics();
    let p = scratch::file("Stimuli.mat", data);
    if let Ok(names) = mat5::list_variables(&p) {
        for n in names.iter().take(8) {
            let _ = mat5::read_variable(&p, n);
        }
    }
    let _ = vim1::summarize(&p);
});
