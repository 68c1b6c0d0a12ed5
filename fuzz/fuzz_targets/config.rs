//! Config text: a training config (`TrainConfig::from_toml`) and `--set` overrides for both the training
//! config and the synthetic-world config (`WorldConfig::resolve`). The first line of the input is the TOML
//! text's split point: lines after a line `---` are overrides.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vox2pix_formats::config::TrainConfig;
use vox2pix_synth::world::WorldConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (toml, sets) = text.split_once("\n---\n").unwrap_or((text, ""));
    let sets: Vec<String> = sets.lines().take(8).map(str::to_string).collect();
    if let Ok(c) = TrainConfig::from_toml(toml, &sets) {
        // A config that loads must survive its own serialisation (run directories store it that way).
        let text = c.to_toml().expect("serialisable");
        let again = TrainConfig::from_toml(&text, &[]).expect("a stored config reloads");
        assert_eq!(text, again.to_toml().expect("serialisable"));
    }
    let _ = TrainConfig::from_toml("", &sets);
    if let Ok(w) = WorldConfig::resolve("tiny", &sets) {
        let _ = w.validate();
    }
});
