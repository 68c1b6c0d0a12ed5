//! `eval::prototypes` against `tests/fixtures/protos/` (`tools/make_prototype_fixtures.py`: an ImageNet-layout
//! folder and every image's AlexNet embedding computed by PyTorch): the prototypes equal the reference means of
//! the files the manifest says were chosen, the nearest-prototype decisions agree, the excluded test stimulus
//! never enters, and a build stopped by a bad image resumes.
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};
use vox2pix::eval::prototypes::{build_prototypes, read_prototypes, PrototypeBuild};
use vox2pix::nn::pearson::corr_matrix;

fn fx(p: &str) -> PathBuf {
    crate::helpers::fixture("protos", p)
}

fn opts(images: &Path, out: &Path) -> PrototypeBuild {
    PrototypeBuild {
        images: images.to_path_buf(),
        classes: None,
        weights: crate::helpers::fixture("nn", "alexnet_w0125.pth"),
        width: 0.125,
        per_class: 2,
        seed: 0,
        exclude: BTreeSet::from(["n00000002_1".to_string()]),
        size: 112,
        out: out.to_path_buf(),
        batch: 2,
        device: Device::Cpu,
    }
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

#[test]
fn prototypes_match_the_pytorch_reference_and_exclude_test_stimuli() {
    let _torch = crate::helpers::torch_lock();
    let e: Value = serde_json::from_str(&std::fs::read_to_string(fx("expected.json")).unwrap()).unwrap();
    let emb = |f: &str| -> Vec<f64> {
        e["embeddings"][f]
            .as_array()
            .unwrap_or_else(|| panic!("no reference for {f}"))
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let tmp = scratch!("build");
    std::fs::create_dir_all(&tmp).unwrap();
    let out = tmp.join("p.safetensors");
    let m = build_prototypes(&opts(&fx("imagenet"), &out)).unwrap();
    assert_eq!(m.wnids, ["n00000001", "n00000002", "n00000003"]);
    assert_eq!((m.counts.clone(), m.excluded, m.dim), (vec![2, 2, 2], 1, 32 * 6 * 6));
    let c2: BTreeSet<&str> = m.files[1].iter().map(|s| s.as_str()).collect();
    assert_eq!(
        c2,
        BTreeSet::from(["n00000002/n00000002_0.png", "n00000002/n00000002_2.png"])
    );
    let p = read_prototypes(&out).unwrap();
    assert_eq!(p.manifest, m);
    let rust: Vec<Vec<f64>> = (0..3)
        .map(|c| Vec::<f64>::try_from(p.matrix.get(c).to_kind(Kind::Double)).unwrap())
        .collect();
    let mut reference = Vec::new();
    for (c, files) in m.files.iter().enumerate() {
        let mut mean = vec![0.0; m.dim];
        for f in files {
            for (acc, x) in mean.iter_mut().zip(emb(f)) {
                *acc += x / files.len() as f64;
            }
        }
        for (k, (got, want)) in rust[c].iter().zip(&mean).enumerate() {
            assert!(
                (got - want).abs() <= 1e-5 * want.abs().max(1.0),
                "class {c} dim {k}: {got} vs {want}"
            );
        }
        reference.push(mean);
    }
    // Nearest prototype (1 − Pearson r) of every fixture image: the same class order from both.
    let names: Vec<String> = e["embeddings"].as_object().unwrap().keys().cloned().collect();
    let queries: Vec<Vec<f64>> = names.iter().map(|n| emb(n)).collect();
    let q = Tensor::from_slice(&queries.concat())
        .view([names.len() as i64, m.dim as i64])
        .to_kind(Kind::Float);
    let rust_rank: Vec<i64> =
        Vec::try_from(corr_matrix(&q, &p.matrix).unwrap().argsort(1, true).flatten(0, -1)).unwrap();
    for (i, qv) in queries.iter().enumerate() {
        let mut order: Vec<usize> = (0..3).collect();
        order.sort_by(|&a, &b| pearson(qv, &reference[b]).total_cmp(&pearson(qv, &reference[a])));
        let got: Vec<usize> = rust_rank[i * 3..i * 3 + 3].iter().map(|&r| r as usize).collect();
        assert_eq!(got, order, "{}", names[i]);
    }
    // The same seed gives the same files and bytes; the parts cache is gone after a finished build.
    let out2 = tmp.join("p2.safetensors");
    let m2 = build_prototypes(&opts(&fx("imagenet"), &out2)).unwrap();
    assert_eq!(m2, m);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&out2).unwrap());
    assert!(!tmp.join("p.safetensors.parts").exists());
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn prototype_builds_refuse_small_or_missing_classes_and_resume_after_a_bad_image() {
    let _torch = crate::helpers::torch_lock();
    let tmp = scratch!("resume");
    let images = tmp.join("imagenet");
    for w in ["n00000001", "n00000002", "n00000003"] {
        std::fs::create_dir_all(images.join(w)).unwrap();
        for k in 0..3 {
            let f = format!("{w}_{k}.png");
            std::fs::copy(fx("imagenet").join(w).join(&f), images.join(w).join(&f)).unwrap();
        }
    }
    let out = tmp.join("p.safetensors");
    // Too few images once the test stimulus is left out: named, before any embedding.
    let mut o = opts(&images, &out);
    o.per_class = 3;
    let err = format!("{:#}", build_prototypes(&o).unwrap_err());
    assert!(
        err.contains("class n00000002 has 2 usable images") && err.contains("1 test stimuli left out"),
        "{err}"
    );
    let mut o = opts(&images, &out);
    o.classes = Some(vec!["n00000001".into(), "n00000009".into()]);
    let err = format!("{:#}", build_prototypes(&o).unwrap_err());
    assert!(err.contains("n00000009") && err.contains("no folder"), "{err}");
    // A damaged image stops the build at its class; the classes before it are kept and reused.
    let good = std::fs::read(images.join("n00000003/n00000003_0.png")).unwrap();
    std::fs::write(images.join("n00000003/n00000003_0.png"), b"not a png").unwrap();
    let mut o = opts(&images, &out);
    o.exclude.clear();
    o.per_class = 3;
    let err = format!("{:#}", build_prototypes(&o).unwrap_err());
    assert!(err.contains("n00000003_0.png"), "{err}");
    let part = tmp.join("p.safetensors.parts/n00000001.safetensors");
    assert!(!out.exists(), "no prototype file from a failed build");
    // Mark the kept class mean, so the resumed build shows it read it instead of embedding again.
    let (name, mean) = Tensor::read_safetensors(&part).unwrap().remove(0);
    Tensor::write_safetensors(&[(name.as_str(), &mean.full_like(7.0))], &part).unwrap();
    std::fs::write(images.join("n00000003/n00000003_0.png"), good).unwrap();
    build_prototypes(&o).unwrap();
    let resumed = read_prototypes(&out).unwrap().matrix;
    let mut fresh = o.clone();
    fresh.out = tmp.join("fresh.safetensors");
    build_prototypes(&fresh).unwrap();
    let fresh = read_prototypes(&fresh.out).unwrap().matrix;
    assert!(
        resumed.get(0).eq(7.0).all().int64_value(&[]) == 1,
        "class 1 came from the parts cache"
    );
    assert!(fresh.get(0).ne(7.0).any().int64_value(&[]) == 1);
    assert!(resumed.narrow(0, 1, 2).equal(&fresh.narrow(0, 1, 2)));
    let _ = std::fs::remove_dir_all(&tmp);
}
