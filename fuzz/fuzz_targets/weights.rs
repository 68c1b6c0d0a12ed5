//! Weight files on arbitrary bytes: safetensors (`vox2pix_formats::weights::read_safetensors`, the reader behind
//! every model and checkpoint load), model cards (`weights::card::read_card`, the JSON beside a weights file),
//! backbone cards, and PyTorch `.pth` archives (`weights::pth`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use vox2pix_formats::weights::{card, pth, read_safetensors, write_safetensors};

#[path = "scratch.rs"]
mod scratch;

fuzz_target!(|data: &[u8]| {
    let st = scratch::file("w.safetensors", data);
    if let Ok(arrays) = read_safetensors(&st) {
        // What reads must write back and read again identically.
        let again = scratch::file("again.safetensors", b"");
        write_safetensors(&arrays, &again).expect("a read file is writable");
        assert_eq!(read_safetensors(&again).expect("rewritten file reads"), arrays);
    }
    // The card is looked up beside the weights; give it the same bytes.
    std::fs::write(card::model_card_path(&st), data).expect("scratch card");
    let _ = card::read_card(&st, "vgg16");
    let _ = serde_json::from_slice::<card::BackboneCard>(data);
    let p = scratch::file("w.pth", data);
    let _ = pth::read_pth(&p);
});
