//! Sanity checks of the metric protocols that fail when the logic breaks: perfect reconstructions are always
//! identified, shuffled ones score at chance, classification of embeddings equal to their class prototypes is
//! far above chance, bad input is a named error, and results survive a JSON round trip.
use tch::{Device, Kind, Tensor};
use vox2pix::eval::perceptual::{perceptual_distance_matrix, pixel_correlation_distance_matrix, PerceptualInput};
use vox2pix::eval::{
    bench_classification, DistractorPool, EvalMetrics, IdentificationSet, MeanWithCi, NWayIdentification,
    PrototypeAccumulator, SemanticClassification,
};

const CPU: (Kind, Device) = (Kind::Float, Device::Cpu);

/// Smooth random RGB images in [0, 1].
fn images(n: i64, seed: i64) -> Tensor {
    tch::manual_seed(seed);
    Tensor::rand([n, 3, 8, 8], CPU)
        .upsample_bilinear2d([24, 24], false, None, None)
        .clamp(0.0, 1.0)
}

/// A random two-stage conv backbone returning two taps.
fn random_backbone() -> impl FnMut(&Tensor) -> anyhow::Result<Vec<Tensor>> {
    tch::manual_seed(42);
    let w1 = Tensor::randn([8, 3, 3, 3], CPU) * 0.3;
    let w2 = Tensor::randn([16, 8, 3, 3], CPU) * 0.15;
    move |x: &Tensor| {
        let t1 = x.conv2d::<&Tensor>(&w1, None, [1, 1], [1, 1], [1, 1], 1).relu();
        let t2 = t1
            .max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false)
            .conv2d::<&Tensor>(&w2, None, [1, 1], [1, 1], [1, 1], 1)
            .relu();
        Ok(vec![t1, t2])
    }
}

fn gt_index(n: usize) -> Vec<usize> {
    (0..n).collect()
}

#[test]
fn perfect_reconstructions_are_always_identified() {
    let _torch = crate::helpers::torch_lock();
    let gt = images(50, 1);
    let cfg = NWayIdentification::default();
    let mut backbone = random_backbone();
    let perceptual = perceptual_distance_matrix(&gt, &gt, PerceptualInput::LpipsV01, 16, &mut backbone).unwrap();
    for dist in [pixel_correlation_distance_matrix(&gt, &gt).unwrap(), perceptual] {
        let res = cfg
            .evaluate(&dist, &gt_index(50), &DistractorPool::OtherColumns)
            .unwrap();
        assert_eq!(res.iter().map(|r| r.n).collect::<Vec<_>>(), vec![2, 5, 10, 50]);
        for r in &res {
            assert_eq!(r.accuracy, 1.0, "{}-way", r.n);
            assert_eq!(r.rank_score, 0.0, "{}-way", r.n);
            assert_eq!(r.expected_accuracy, 1.0);
            assert!(r.per_image_accuracy.iter().all(|&a| a == 1.0));
            assert_eq!(r.chance, 1.0 / r.n as f64);
        }
    }
    // External pool: candidates are the 50 GT images followed by 100 unpaired images; distractors only from those.
    let pool_images = images(100, 2);
    let candidates = Tensor::cat(&[&gt, &pool_images], 0);
    let dist = pixel_correlation_distance_matrix(&gt, &candidates).unwrap();
    let res = cfg
        .evaluate(&dist, &gt_index(50), &DistractorPool::Columns((50..150).collect()))
        .unwrap();
    assert!(res.iter().all(|r| r.accuracy == 1.0 && r.pool == "external"));
}

#[test]
fn shuffled_reconstructions_score_at_chance() {
    let _torch = crate::helpers::torch_lock();
    let gt = images(50, 3);
    // Reconstruction i shows ground truth i + 1: a derangement, so nothing links a reconstruction to its GT.
    let recon = gt.roll([1], [0]);
    let cfg = NWayIdentification::default();
    let mut backbone = random_backbone();
    let perceptual = perceptual_distance_matrix(&recon, &gt, PerceptualInput::LpipsV01, 50, &mut backbone).unwrap();
    for (name, dist) in [
        ("pixel", pixel_correlation_distance_matrix(&recon, &gt).unwrap()),
        ("perceptual", perceptual),
    ] {
        for r in cfg
            .evaluate(&dist, &gt_index(50), &DistractorPool::OtherColumns)
            .unwrap()
        {
            if r.n == 50 {
                // 49 of 49 distractors: every trial of an image is the same, so each image scores 0 or 1 and
                // the number of hits is Binomial(50, 1/50); P(≥ 5) ≈ 0.3 %.
                assert!(r.accuracy * 50.0 <= 4.0 + 1e-9, "{name} 50-way: {}", r.accuracy);
                continue;
            }
            assert!(
                r.accuracy_ci.lo <= r.chance && r.chance <= r.accuracy_ci.hi,
                "{name} {}-way: accuracy {} CI [{}, {}] should contain chance {}",
                r.n,
                r.accuracy,
                r.accuracy_ci.lo,
                r.accuracy_ci.hi,
                r.chance
            );
            assert!(
                r.rank_score_ci.lo <= 0.5 && 0.5 <= r.rank_score_ci.hi,
                "{name} {}-way rank {:?}",
                r.n,
                r.rank_score_ci
            );
        }
    }
    // With an external pool of 150 unpaired images the 50-way trials are random again: chance within the CI.
    let candidates = Tensor::cat(&[&gt, &images(150, 8)], 0);
    let dist = pixel_correlation_distance_matrix(&recon, &candidates).unwrap();
    for r in cfg
        .evaluate(&dist, &gt_index(50), &DistractorPool::Columns((50..200).collect()))
        .unwrap()
    {
        assert!(
            r.accuracy_ci.lo <= r.chance && r.chance <= r.accuracy_ci.hi,
            "external {}-way: {:?} vs {}",
            r.n,
            r.accuracy_ci,
            r.chance
        );
    }
    // Same data, unshuffled: far above chance at 50-way.
    let right = cfg
        .evaluate(
            &pixel_correlation_distance_matrix(&gt, &gt).unwrap(),
            &gt_index(50),
            &DistractorPool::OtherColumns,
        )
        .unwrap();
    assert!(right[3].accuracy_ci.lo > 0.5);
}

/// 1,030 classes × 20 exemplars streamed in batches of 500 through the accumulator.
fn prototypes(dim: i64) -> (Tensor, Tensor) {
    tch::manual_seed(7);
    let centres = Tensor::randn([1030, dim], CPU);
    let mut acc = PrototypeAccumulator::new(1030, dim as usize, Device::Cpu);
    let mut direct = Tensor::zeros([1030, dim], (Kind::Double, Device::Cpu));
    let labels: Vec<usize> = (0..1030 * 20).map(|i| (i * 7919) % 1030).collect();
    for chunk in labels.chunks(500) {
        let idx = Tensor::from_slice(&chunk.iter().map(|&c| c as i64).collect::<Vec<_>>());
        let batch = centres.index_select(0, &idx) + Tensor::randn([chunk.len() as i64, dim], CPU) * 2.0;
        acc.add(&batch, chunk).unwrap();
        let _ = direct.index_add_(0, &idx, &batch.to_kind(Kind::Double));
    }
    assert!(acc.counts().iter().all(|&c| c == 20));
    let protos = acc.finish().unwrap();
    let want = direct / 20.0;
    let err = (protos.to_kind(Kind::Double) - want).abs().max().double_value(&[]);
    assert!(err < 1e-5, "streamed prototypes differ from the direct mean by {err}");
    (centres, protos)
}

#[test]
fn classification_of_prototype_embeddings_is_far_above_chance() {
    let _torch = crate::helpers::torch_lock();
    let (centres, protos) = prototypes(128);
    let truth: Vec<usize> = (0..50).map(|i| i * 20).collect();
    let idx = Tensor::from_slice(&truth.iter().map(|&c| c as i64).collect::<Vec<_>>());
    let cfg = SemanticClassification::default();
    // Embeddings equal to their own prototypes: always the nearest.
    let res = cfg.evaluate(&protos.index_select(0, &idx), &protos, &truth).unwrap();
    assert_eq!(res.len(), 8);
    assert!(
        res.iter().all(|r| r.accuracy == 1.0),
        "{:?}",
        res.iter().map(|r| r.accuracy).collect::<Vec<_>>()
    );
    // Noisy embeddings of the true class: far above chance at every N, but no longer perfect.
    let noisy = centres.index_select(0, &idx) + Tensor::randn([50, 128], CPU) * 4.0;
    for r in cfg.evaluate(&noisy, &protos, &truth).unwrap() {
        if r.n == 1000 && r.top_k == 1 {
            assert!(
                r.accuracy < 0.9,
                "1000-way top-1 {}: noise should cost accuracy",
                r.accuracy
            );
        }
        assert!(
            r.accuracy_ci.lo > (10.0 * r.chance).min(0.5),
            "{}-way top-{}: {} vs chance {}",
            r.n,
            r.top_k,
            r.accuracy,
            r.chance
        );
        assert!(
            (r.accuracy - r.expected_accuracy).abs() < 0.02,
            "{}-way top-{}",
            r.n,
            r.top_k
        );
    }
    // Wrong labels: at chance.
    let wrong: Vec<usize> = truth.iter().map(|&c| c + 1).collect();
    for r in cfg.evaluate(&protos.index_select(0, &idx), &protos, &wrong).unwrap() {
        assert!(
            r.accuracy < 3.0 * r.chance + 0.01,
            "{}-way top-{}: {} vs chance {}",
            r.n,
            r.top_k,
            r.accuracy,
            r.chance
        );
    }
}

#[test]
fn bad_input_is_a_named_error() {
    let _torch = crate::helpers::torch_lock();
    let gt = images(10, 4);
    let dist = pixel_correlation_distance_matrix(&gt, &gt).unwrap();
    let cfg = NWayIdentification::default();
    let err = format!(
        "{:#}",
        cfg.evaluate(&dist, &gt_index(10), &DistractorPool::OtherColumns)
            .unwrap_err()
    );
    assert!(err.contains("50-way") && err.contains("pool holds only 9"), "{err}");
    let dup = DistractorPool::Columns(vec![1, 2, 2]);
    assert!(format!("{:#}", cfg.evaluate(&dist, &gt_index(10), &dup).unwrap_err()).contains("listed twice"));
    let err = format!(
        "{:#}",
        cfg.evaluate(&dist, &gt_index(9), &DistractorPool::OtherColumns)
            .unwrap_err()
    );
    assert!(err.contains("10 distance rows but 9"), "{err}");
    let protos = Tensor::randn([30, 16], CPU);
    let err = format!(
        "{:#}",
        SemanticClassification::default()
            .evaluate(&protos.narrow(0, 0, 2), &protos, &[0, 1])
            .unwrap_err()
    );
    assert!(err.contains("50-way needs at least 50 classes"), "{err}");
    let mut acc = PrototypeAccumulator::new(3, 16, Device::Cpu);
    acc.add(&protos.narrow(0, 0, 2), &[0, 2]).unwrap();
    assert!(format!("{:#}", acc.finish().unwrap_err()).contains("class 1"));
    assert!(acc.add(&protos.narrow(0, 0, 2), &[0, 3]).is_err());
    assert!(pixel_correlation_distance_matrix(&gt, &images(3, 5).narrow(2, 0, 12)).is_err());
}

#[test]
fn metrics_round_trip_through_json_and_csv() {
    let _torch = crate::helpers::torch_lock();
    let gt = images(20, 6);
    let dist = pixel_correlation_distance_matrix(&gt, &gt).unwrap();
    let cfg = NWayIdentification {
        ns: vec![2, 5],
        trials_per_image: 100,
        ..Default::default()
    };
    let results = cfg
        .evaluate(&dist, &gt_index(20), &DistractorPool::OtherColumns)
        .unwrap();
    let per_image = vox2pix::eval::ssim(&gt, &gt).unwrap();
    let metrics = EvalMetrics {
        n_test_images: 20,
        seed: 0,
        identification: vec![IdentificationSet {
            distance: "pixel_correlation".into(),
            input: None,
            pool: "test".into(),
            results,
        }],
        ssim: Some(MeanWithCi::of(Vec::<f64>::try_from(&per_image).unwrap(), 1000, 0.95, 0)),
        ..Default::default()
    };
    let dir = std::env::temp_dir().join(format!("vox2pix-eval-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    metrics.write_json(&dir.join("metrics.json")).unwrap();
    assert_eq!(EvalMetrics::read_json(&dir.join("metrics.json")).unwrap(), metrics);
    metrics.write_csv(&dir.join("metrics.csv")).unwrap();
    let csv = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "metric,setting,value,ci_lo,ci_hi,chance");
    assert!(
        lines[1].starts_with("identification_pixel_correlation,2-way;pool=test;trials=100;seed=0,1.000000,"),
        "{}",
        lines[1]
    );
    assert!(lines.iter().any(|l| l.starts_with("ssim,mean,1.000000")), "{csv}");
    assert_eq!(lines.len(), 1 + 4 + 1);
    metrics.write_per_image_csv(&dir.join("per_image.csv")).unwrap();
    let per_image_csv = std::fs::read_to_string(dir.join("per_image.csv")).unwrap();
    let rows: Vec<&str> = per_image_csv.lines().collect();
    assert_eq!(rows.len(), 21);
    assert_eq!(
        rows[0],
        "image,identification_pixel_correlation_test_2way,identification_pixel_correlation_test_2way_rank,\
         identification_pixel_correlation_test_5way,identification_pixel_correlation_test_5way_rank,ssim"
    );
    assert_eq!(rows[20], "19,1.000000,0.000000,1.000000,0.000000,1.000000");
    std::fs::write(dir.join("bad.json"), "{\"n_test_images\": 1, \"seed\": 0, \"typo\": 1}").unwrap();
    assert!(format!("{:#}", EvalMetrics::read_json(&dir.join("bad.json")).unwrap_err()).contains("typo"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn classification_benchmark_runs() {
    let _torch = crate::helpers::torch_lock();
    let b = bench_classification(Device::Cpu).unwrap();
    println!(
        "classification 50 images x 1000 trials x 1030 prototypes (N = 50/100/500/1000, top-1/5): {:.3} s \
         (distances {:.3} s, trials + CIs {:.3} s, {})",
        b.total_s, b.distances_s, b.trials_s, b.device
    );
    assert!(b.total_s > 0.0 && (b.total_s - b.distances_s - b.trials_s).abs() < 1e-9);
}
