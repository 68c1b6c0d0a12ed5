//! The reference presets (`paper`, `ssr`, `ssrc`) against the authors' code, each schedule recomputed here from
//! the reference's own formula, and `METHOD@SCALE` composition.
use vox2pix_formats::config::{DecoderBlock, PerceptualTaps, TrainConfig};

/// SSReconstnClass `encdec_train.py` `step_decay` (0-based Keras epoch), quirk included.
fn keras_decoder_lr(epoch: usize) -> f64 {
    let k = (1 + epoch) / 30;
    let p = match k {
        3 => 2,
        4 => 3,
        5 => 4,
        k => k as i32,
    };
    0.001 * 0.2f64.powi(p)
}

/// SSReconstnClass `encoder_train.py` `step_decay` (0-based Keras epoch).
fn keras_encoder_lr(epoch: usize) -> f64 {
    match epoch {
        e if e > 50 => 1e-7,
        e if e > 35 => 1e-6,
        e if e > 30 => 1e-5,
        e if e > 20 => 1e-4,
        _ => 1e-3,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs().max(1e-300)
}

#[test]
fn ssrc_schedules_equal_the_keras_step_decay_functions() {
    let c = TrainConfig::load("ssrc", &[]).unwrap();
    for e in 0..c.decoder_training.epochs {
        let (got, want) = (c.decoder_training.lr_at(e), keras_decoder_lr(e));
        assert!(close(got, want), "decoder epoch {e}: {got} vs Keras {want}");
    }
    for e in 0..c.encoder_training.epochs {
        // vox2pix counts encoder epochs from 1, Keras from 0.
        let (got, want) = (c.encoder_training.lr_at(e + 1), keras_encoder_lr(e));
        assert!(close(got, want), "encoder epoch {e}: {got} vs Keras {want}");
    }
    // Keras averages one loss over the concatenated 16 + 16 rows: half of each stream's mean.
    let t = &c.decoder_training;
    assert_eq!((t.paired_batch, t.unpaired_batch, t.de_batch), (16, 16, 0));
    assert_eq!((t.weight_paired, t.weight_ed), (0.5, 0.5));
    // `paper` is the regular schedule: 5× below the Keras code's rate from (0-based) epoch 89 on, where the quirk
    // skips a drop; its encoder steps one epoch earlier.
    let paper = TrainConfig::load("paper", &[]).unwrap();
    let differ: Vec<usize> = (0..150)
        .filter(|&e| !close(paper.decoder_training.lr_at(e), keras_decoder_lr(e)))
        .collect();
    assert_eq!(differ, (89..150).collect::<Vec<_>>());
    let differ: Vec<usize> = (0..50)
        .filter(|&e| !close(paper.encoder_training.lr_at(e + 1), keras_encoder_lr(e)))
        .collect();
    assert_eq!(differ, vec![20, 30, 35]);
}

#[test]
fn ssr_preset_follows_the_pytorch_port_scripts() {
    let c = TrainConfig::load("ssr", &[]).unwrap();
    // train_enc_rgb.sh: StepLR(step 10, γ 0.2) from 1e-3 over 50 epochs, plain Adam.
    for e in 0..50 {
        let want = 1e-3 * 0.2f64.powi((e / 10) as i32);
        assert!(close(c.encoder_training.lr_at(e + 1), want), "encoder epoch {e}");
    }
    assert!(!c.encoder_training.amsgrad);
    assert_eq!(c.encoder.space_mom2, 10.0);
    assert_eq!(c.encoder.branch3_stride, 2);
    assert_eq!(c.backbone.encoder, "vgg19");
    assert_eq!(c.backbone.weights, "vgg16");
    // train_dec_rgb.sh: lr 5e-3, MultiStepLR [100, 140] γ 0.2, AMSGrad; 24 paired + 48 ED rows.
    for e in 0..150 {
        let want = 5e-3 * 0.2f64.powi(((e >= 100) as i32) + ((e >= 140) as i32));
        assert!(close(c.decoder_training.lr_at(e), want), "decoder epoch {e}");
    }
    assert!(c.decoder_training.amsgrad);
    assert_eq!(
        (c.decoder_training.paired_batch, c.decoder_training.unpaired_batch),
        (24, 48)
    );
    assert_eq!(c.decoder_training.steps_for(1200), 50);
    assert_eq!(c.decoder.block, DecoderBlock::Ssr);
    assert_eq!(
        (c.decoder.fc_l1, c.decoder.fc_group, c.decoder.fc_neighbours),
        (40.0, 400.0, 8)
    );
    assert_eq!(c.image_loss.taps, PerceptualTaps::Pool);
    assert_eq!(
        c.image_loss.layer_weights.map(|w| w * c.image_loss.percept_weight),
        [10.0, 10.0, 10.0, 10.0, 2.0]
    );
}

#[test]
fn method_at_scale_moves_the_method_and_keeps_the_size() {
    let demo = TrainConfig::load("demo", &[]).unwrap();
    // The paper's method at demo scale is the demo itself.
    assert_eq!(TrainConfig::load("paper@demo", &[]).unwrap(), demo);
    let c = TrainConfig::load("ssr@demo", &[]).unwrap();
    // Size, length and data stay the demo's (the world's own backbone for E too) ...
    assert_eq!(c.backbone, demo.backbone);
    assert_eq!(c.encoder.head_channels, demo.encoder.head_channels);
    assert_eq!(c.decoder.channels, demo.decoder.channels);
    assert_eq!(c.encoder_training.lr_steps, demo.encoder_training.lr_steps);
    assert_eq!(c.decoder_training.epochs, demo.decoder_training.epochs);
    assert_eq!(
        c.decoder_training.steps_per_epoch,
        demo.decoder_training.steps_per_epoch
    );
    assert!(c.decoder_training.lr_milestones.is_empty());
    // ... the method is SSR's, learning rate and shifts rescaled by SSR / paper.
    assert_eq!(c.decoder.block, DecoderBlock::Ssr);
    assert_eq!(c.image_loss, TrainConfig::load("ssr", &[]).unwrap().image_loss);
    assert_eq!(
        (c.decoder_training.paired_batch, c.decoder_training.unpaired_batch),
        (24, 48)
    );
    assert!(close(c.decoder_training.lr, demo.decoder_training.lr * 5.0));
    assert_eq!(c.encoder_training.shift_px, 2); // 3 px · 3/5
    assert_eq!(c.decoder_training.ed_shift_px, 0);
    assert_eq!((c.encoder.space_mom2, c.encoder.cos_weight), (10.0, 0.15));
    assert!(!c.encoder_training.amsgrad);
    // ssrc at demo scale: only the stream weights survive (its schedule quirks are schedule, hence scale).
    let k = TrainConfig::load("ssrc@demo", &[]).unwrap();
    let mut expect = demo.clone();
    expect.decoder_training.weight_paired = 0.5;
    expect.decoder_training.weight_ed = 0.5;
    assert_eq!(k, expect);
    // Overrides apply after composition; a bad side is named.
    let o = TrainConfig::load("ssr@demo", &["decoder_training.paired_batch=8".into()]).unwrap();
    assert_eq!(o.decoder_training.paired_batch, 8);
    let err = format!("{:#}", TrainConfig::load("ssr@nowhere", &[]).unwrap_err());
    assert!(
        err.contains("the scale side of 'ssr@nowhere'") && err.contains("nowhere"),
        "{err}"
    );
}
