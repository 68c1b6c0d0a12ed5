//! `vox2pix synth` end to end on the tiny preset: the files it writes reload through the real loaders to
//! exactly the in-memory dataset (§6 #13 for the npz layout), the manifest rebuilds the same world, the id
//! tables follow the GOD conventions, and bad input is refused with a clear error.
use std::path::Path;
use std::process::Command;
use vox2pix_formats::layout::load_dataset;
use vox2pix_formats::manifest::read_manifest;
use vox2pix_synth::export::{world_from_dir, SynthManifest};
use vox2pix_synth::taxonomy::Taxonomy;
use vox2pix_synth::world::World;

fn synth(out: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vox2pix"))
        .args(["synth", "--preset", "tiny", "--seed", "3", "--quiet", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .expect("the vox2pix binary runs")
}

#[test]
fn export_round_trips_through_the_loaders_and_the_manifest() {
    let dir = scratch!("roundtrip");
    let out = synth(&dir, &[]);
    assert!(
        out.status.success(),
        "synth failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "sbj_1.npz",
        "images_32.npz",
        "manifest.json",
        "imageID_training.csv",
        "imageID_test.csv",
        "contact_sheet.png",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }

    // The npz layout reloads to exactly the dataset the library builds in memory.
    let world = World::from_preset("tiny", 3).unwrap();
    let expected = world.experiment(&|_| {}).unwrap().dataset;
    let loaded = load_dataset(&dir, None).unwrap();
    assert_eq!(loaded.subject, expected.subject);
    assert_eq!(loaded.train_images, expected.train_images);
    assert_eq!(loaded.test_images, expected.test_images);

    // The manifest names the world and rebuilds it: same splits, same unpaired images.
    let m = read_manifest(&dir).unwrap().unwrap();
    assert_eq!(
        (m.source.as_str(), m.seed, m.n_voxels, m.image_size),
        ("synthetic", Some(3), 160, 32)
    );
    let sm: SynthManifest = serde_json::from_value(m.world.clone().unwrap()).unwrap();
    assert_eq!(
        (sm.preset.as_str(), sm.config.classes, sm.classes.len()),
        ("tiny", 64, 64)
    );
    assert_eq!(sm.classes.iter().filter(|c| c.split == "test").count(), 10);
    assert_eq!(sm.classes[7].super_category, world.taxonomy.super_of(7).name());
    let rebuilt = world_from_dir(&dir).unwrap();
    assert_eq!(rebuilt.splits, world.splits);
    assert_eq!(rebuilt.unpaired_image(17).rgb, world.unpaired_image(17).rgb);

    // GOD-style id tables: float id = wnid + instance·1e-6, file name n<wnid>_<instance>, in label order.
    let csv = std::fs::read_to_string(dir.join("imageID_training.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 96);
    for (i, line) in lines.iter().enumerate() {
        let r = world.train_image(i);
        let (id, file) = line.split_once(',').unwrap();
        let id: f64 = id.parse().unwrap();
        assert_eq!(id.trunc() as u32, Taxonomy::wnid(r.class));
        assert_eq!(((id - id.trunc()) * 1e6).round() as u32, r.instance);
        assert_eq!(file, format!("n{}_{}.png", 90_000_000 + r.class, r.instance));
        assert_eq!(expected.train_images.class_ids.as_ref().unwrap()[i], r.class as i64);
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("imageID_test.csv"))
            .unwrap()
            .lines()
            .count(),
        10
    );

    // A previous synth output may be replaced.
    let again = synth(&dir, &["--set", "image_size=16"]);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(dir.join("images_16.npz").is_file());
    assert_eq!(read_manifest(&dir).unwrap().unwrap().image_size, 16);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn refuses_foreign_folders_and_names_bad_settings() {
    let dir = scratch!("foreign");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let out = synth(&dir, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("not a previous `vox2pix synth` output"), "{err}");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "nothing may be written into a foreign folder"
    );

    let fresh = scratch!("badset");
    let out = synth(&fresh, &["--set", "cortex.areas.V1.voxel=3"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("unknown setting 'cortex.areas.V1.voxel'") && err.contains("voxels"),
        "{err}"
    );
    let out = synth(&fresh, &["--set", "test_repeats=7"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("test_repeats = 7 is not a multiple of test_runs = 6"),
        "{err}"
    );
    assert!(
        !fresh.exists() || std::fs::read_dir(&fresh).unwrap().next().is_none(),
        "no partial output on error"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    let _ = std::fs::remove_dir_all(&fresh);
}
