//! Weight files on arbitrary bytes: safetensors checkpoints (`train::run::load_safetensors`), model cards
//! (`nn::weights::read_card`, the JSON beside a weights file) and PyTorch `.pth` archives (`data::pth`).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "scratch.rs"]
mod scratch;

fuzz_target!(|data: &[u8]| {
    let st = scratch::file("w.safetensors", data);
    let _ = vox2pix::train::run::load_safetensors(&st);
    let _ = vox2pix::nn::weights::read_named_tensors(&st);
    // The card is looked up beside the weights; give it the same bytes.
    let card = vox2pix::nn::weights::card_path(&st);
    std::fs::write(&card, data).expect("scratch card");
    let _ = vox2pix::nn::weights::read_card(&st, "vgg16");
    let pth = scratch::file("w.pth", data);
    let _ = vox2pix::data::pth::read_pth(&pth);
});
