//! `vox2pix rating export|analyze`: a whole rating session answered in headless Chromium through ChromeDriver
//! (`tests/browser/rating_session.py`), the CSV it downloads scored by `rating analyze`, checked against the
//! accuracy computed here from `key.json` and the answers given. Without Chromium the browser step is skipped,
//! saying why; the analysis is still checked on answers written here.
use std::path::{Path, PathBuf};
use std::process::Command;
use vox2pix_formats::npz::{write_npz, Compression, NpyArray};

const BIN: &str = env!("CARGO_BIN_EXE_vox2pix");

fn fake_run(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let s = 16;
    let img = |seed: usize| -> Vec<f32> {
        (0..n * s * s * 3)
            .map(|k| (((k * 7919 + seed * 104_729) % 997) as f32) / 997.0)
            .collect()
    };
    let shape = [n, s, s, 3];
    let recon = ndarray::Array4::from_shape_vec(shape, img(1)).unwrap();
    let gt = ndarray::Array4::from_shape_vec(shape, img(2)).unwrap();
    write_npz(
        &dir.join("reconstructions.npz"),
        &[
            ("recon", &NpyArray::new(recon.view())),
            ("gt", &NpyArray::new(gt.view())),
        ],
        Compression::Deflated,
    )
    .unwrap();
}

fn run(args: &[&str]) -> (bool, String, String) {
    let o = Command::new(BIN).args(args).output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `| pooled | n | trials | accuracy % |` → (trials, accuracy %).
fn pooled(stdout: &str, n: usize) -> (usize, f64) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("| pooled | {n} |")))
        .unwrap_or_else(|| panic!("no pooled row for n = {n}: {stdout}"));
    let f: Vec<&str> = line.split('|').map(str::trim).collect();
    (f[3].parse().unwrap(), f[4].trim_end_matches(" %").parse().unwrap())
}

fn browser() -> Option<String> {
    let has = |b: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {b}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !has("chromedriver") {
        return Some("chromedriver not found (Debian: apt-get install chromium chromium-driver; `make test` installs them where it can)".into());
    }
    if !has("chromium") && !has("chromium-browser") && !has("google-chrome") {
        return Some("no Chromium or Chrome binary found".into());
    }
    None
}

#[test]
fn a_rating_session_in_a_real_browser_is_scored_by_rating_analyze() {
    let root = scratch!("session");
    let run_dir = root.join("run");
    fake_run(&run_dir, 6);
    let out = root.join("rating");
    let (ok, stdout, stderr) = run(&[
        "rating",
        "export",
        "--run",
        run_dir.to_str().unwrap(),
        "--n",
        "2,5",
        "--seed",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("12 trials"), "{stdout}");
    let key: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("key.json")).unwrap()).unwrap();
    let trials = key["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 12);
    let page = std::fs::read_to_string(out.join("rating.html")).unwrap();
    assert!(
        !page.contains("\"answer\"") && !page.contains("\"image\""),
        "the page must not carry the key"
    );
    let page_id = key["page_id"].as_str().unwrap().to_string();

    // Rater 1: the browser session (or, without a browser, the same choices written here).
    let csv1 = root.join("alice.csv");
    let choices: Vec<usize> = match browser() {
        None => {
            let o = Command::new("python3")
                .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser/rating_session.py"))
                .arg(out.join("rating.html"))
                .arg(&csv1)
                .output()
                .unwrap();
            let so = String::from_utf8_lossy(&o.stdout);
            assert!(
                o.status.success(),
                "browser session failed: {so}{}",
                String::from_utf8_lossy(&o.stderr)
            );
            let r: serde_json::Value = serde_json::from_str(so.lines().last().unwrap()).unwrap();
            assert_eq!(r["trials"], 12);
            assert_eq!(r["download"], true, "the Download button must save the CSV");
            r["choices"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_u64().unwrap() as usize)
                .collect()
        }
        Some(why) => {
            eprintln!("skipped the browser part: {why}");
            let choices: Vec<usize> = (0..12).map(|k| k % trials[k]["n"].as_u64().unwrap() as usize).collect();
            let mut s = String::from("page,rater,trial,n,choice,rt_ms\n");
            for (k, c) in choices.iter().enumerate() {
                s += &format!("{page_id},\"alice\",{},{},{c},900\n", k + 1, trials[k]["n"]);
            }
            std::fs::write(&csv1, s).unwrap();
            choices
        }
    };
    // Rater 2, written here: always right.
    let csv2 = root.join("bob.csv");
    let mut s = String::from("page,rater,trial,n,choice,rt_ms\n");
    for (k, t) in trials.iter().enumerate() {
        s += &format!(
            "{page_id},\"bob, the second\",{},{},{},700\n",
            k + 1,
            t["n"],
            t["answer"]
        );
    }
    std::fs::write(&csv2, s).unwrap();

    let (ok, stdout, stderr) = run(&[
        "rating",
        "analyze",
        "--key",
        out.join("key.json").to_str().unwrap(),
        csv1.to_str().unwrap(),
        csv2.to_str().unwrap(),
        "--out",
        root.join("analysis.csv").to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    for n in [2usize, 5] {
        let (mut right, mut total) = (0, 0);
        for (k, t) in trials.iter().enumerate() {
            if t["n"].as_u64().unwrap() as usize == n {
                total += 1;
                right += (choices[k] == t["answer"].as_u64().unwrap() as usize) as usize;
            }
        }
        let want = 100.0 * (right + total) as f64 / (2 * total) as f64;
        let (got_trials, got) = pooled(&stdout, n);
        assert_eq!(got_trials, 2 * total);
        assert!(
            (got - want).abs() < 0.051,
            "n = {n}: analyze says {got} %, expected {want} %\n{stdout}"
        );
        assert!(
            stdout.contains(&format!("| bob, the second | {n} | {total} | 100.0 % |")),
            "{stdout}"
        );
    }
    assert!(stdout.contains("Fleiss"), "{stdout}");

    // Answers to another page, or a choice out of range: refused, naming the file and line.
    let bad = root.join("bad.csv");
    std::fs::write(
        &bad,
        "page,rater,trial,n,choice,rt_ms\n0000000000000000,\"x\",1,2,0,5\n",
    )
    .unwrap();
    let (ok, _, stderr) = run(&[
        "rating",
        "analyze",
        "--key",
        out.join("key.json").to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert!(
        !ok && stderr.starts_with("error:") && stderr.contains("bad.csv:2") && stderr.contains("key is for page"),
        "{stderr}"
    );
    let (ok, _, stderr) = run(&[
        "rating",
        "export",
        "--run",
        root.join("nope").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!ok && stderr.contains("vox2pix reconstruct"), "{stderr}");
    let (ok, _, stderr) = run(&[
        "rating",
        "export",
        "--run",
        run_dir.to_str().unwrap(),
        "--n",
        "7",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!ok && stderr.contains("--n 7"), "{stderr}");
    let _ = std::fs::remove_dir_all(&root);
}
