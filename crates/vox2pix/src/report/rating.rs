//! `vox2pix rating export`: the paper's human evaluation as a self-contained web page. A rater sees one
//! reconstruction and n candidate originals (the true image and n − 1 other test images, in random order),
//! and picks the one it was made from, by click or number key. The page has an intro/consent screen,
//! instructions, a progress line, and at the end offers the answers as a CSV download (also shown as text to
//! copy).
//!
//! The page holds no ground truth: each trial lists its candidates by opaque position only, and the key (which
//! candidate is the original) is written beside it as `key.json`, which `vox2pix rating analyze` reads. So
//! inspecting the page tells a rater nothing. Images are inlined as base64 PNG, so the file works offline and
//! can be mailed to raters.
use crate::eval::rating::{draw_trials, page_id, RatingKey};
use crate::report::html::base64;
use anyhow::{bail, ensure, Context, Result};
use std::fmt::Write as _;
use std::path::PathBuf;
use vox2pix_formats::io::write_bytes_atomic;
use vox2pix_formats::npz::NpzReader;
use vox2pix_formats::rng::{mix_key, CounterRng};

/// What to export.
#[derive(Clone, Debug)]
pub struct RatingExport {
    /// A decoder run with `reconstructions.npz` (`vox2pix reconstruct`).
    pub run: PathBuf,
    /// Candidate counts, e.g. 2, 5, 10.
    pub ns: Vec<usize>,
    /// Seed of the candidate draw and the trial order.
    pub seed: u64,
    /// Output folder for `rating.html` and `key.json`.
    pub out: PathBuf,
    /// Shown on the intro screen.
    pub title: String,
}

fn png_of(pixels: &[f32], size: usize) -> Result<Vec<u8>> {
    let bytes: Vec<u8> = pixels
        .iter()
        .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect();
    let img = image::RgbImage::from_raw(size as u32, size as u32, bytes).context("image buffer size")?;
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)?;
    Ok(out.into_inner())
}

/// Writes `out/rating.html` and `out/key.json`; returns the key.
pub fn export_rating(o: &RatingExport) -> Result<RatingKey> {
    let npz = o.run.join("reconstructions.npz");
    if !npz.exists() {
        bail!(
            "{}: missing; run `vox2pix reconstruct --run {}` first",
            npz.display(),
            o.run.display()
        );
    }
    let mut r = NpzReader::open(&npz)?;
    let read = |r: &mut NpzReader, key: &str| -> Result<(Vec<f32>, Vec<usize>)> {
        let a = r.read(key)?;
        let shape = a.shape.clone();
        let v = a
            .to_f32()
            .with_context(|| format!("{}: `{key}` is not a float array", npz.display()))?;
        Ok((v.iter().copied().collect(), shape))
    };
    let (recon, rs) = read(&mut r, "recon")?;
    let (gt, gs) = read(&mut r, "gt")?;
    ensure!(
        rs == gs && rs.len() == 4 && rs[3] == 3 && rs[1] == rs[2],
        "{}: recon {rs:?} and gt {gs:?} must both be [N, S, S, 3]",
        npz.display()
    );
    let (n_images, size) = (rs[0], rs[1]);
    let trials = draw_trials(n_images, &o.ns, o.seed)?;
    let id = page_id(&trials);
    let per = size * size * 3;
    let uri = |v: &[f32], i: usize| -> Result<String> {
        Ok(format!(
            "data:image/png;base64,{}",
            base64(&png_of(&v[i * per..(i + 1) * per], size)?)
        ))
    };
    let recon_uris: Vec<String> = (0..n_images).map(|i| uri(&recon, i)).collect::<Result<_>>()?;
    let gt_uris: Vec<String> = (0..n_images).map(|i| uri(&gt, i)).collect::<Result<_>>()?;
    // The page gets, per trial, the reconstruction's and the candidates' picture indices into two arrays whose
    // order is shuffled by a second permutation, so the index of the shown reconstruction does not reveal the
    // index of its original.
    let mut rng = CounterRng::new(mix_key(o.seed, &[0x5A72]));
    let mut gt_perm: Vec<usize> = (0..n_images).collect();
    rng.shuffle(&mut gt_perm);
    let mut gt_slot = vec![0usize; n_images];
    for (slot, &img) in gt_perm.iter().enumerate() {
        gt_slot[img] = slot;
    }
    let page_trials: Vec<serde_json::Value> = trials
        .iter()
        .map(|t| {
            serde_json::json!({
                "r": t.image,
                "c": t.candidates.iter().map(|&c| gt_slot[c]).collect::<Vec<_>>(),
            })
        })
        .collect();
    let data = serde_json::json!({
        "page": id,
        "title": o.title,
        "recon": recon_uris,
        "cand": gt_perm.iter().map(|&i| gt_uris[i].clone()).collect::<Vec<_>>(),
        "trials": page_trials,
    });
    let html = page_html(&o.title, &serde_json::to_string(&data)?);
    std::fs::create_dir_all(&o.out).with_context(|| format!("cannot create {}", o.out.display()))?;
    let key = RatingKey {
        run: o.run.display().to_string(),
        seed: o.seed,
        ns: o.ns.clone(),
        page_id: id,
        trials,
    };
    write_bytes_atomic(&o.out.join("key.json"), &serde_json::to_vec_pretty(&key)?)?;
    write_bytes_atomic(&o.out.join("rating.html"), html.as_bytes())?;
    Ok(key)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page_html(title: &str, data_json: &str) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{t}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}}
.screen{{display:none}} .screen.on{{display:block}}
#recon img{{width:12rem;height:12rem;image-rendering:pixelated;border:3px solid #444}}
#cands{{display:flex;flex-wrap:wrap;gap:1rem;margin-top:1rem}}
#cands button{{border:3px solid #bbb;background:#fff;padding:.3rem;cursor:pointer;font-size:1rem}}
#cands button:hover,#cands button:focus{{border-color:#06c}}
#cands img{{width:9rem;height:9rem;image-rendering:pixelated;display:block}}
#progress{{color:#555}} textarea{{width:100%;height:10rem}}
</style></head><body>
<div id="intro" class="screen on"><h1>{t}</h1>
<p>In each trial you see one image <b>reconstructed from brain activity</b>, and below it several original
photographs. Pick the photograph the reconstruction was made from. Go with your first impression; there is no
time limit. Click a photograph, or press its number key (1, 2, …).</p>
<p>Your answers (the choice and the time it took) are saved only in a file you download at the end and send
back yourself. Nothing is sent anywhere from this page.</p>
<p><label>Your rater name or code: <input id="rater" autocomplete="off"></label></p>
<p><label><input type="checkbox" id="consent"> I agree to take part and to share my answers.</label></p>
<p><button id="start" disabled>Start</button> <span id="page-id"></span></p></div>
<div id="trial" class="screen"><p id="progress"></p><div id="recon"></div><div id="cands"></div></div>
<div id="done" class="screen"><h2>Thank you</h2><p>Download your answers and send the file back.</p>
<p><button id="download">Download answers (CSV)</button></p>
<p>If the download does not work, copy the text below into a file:</p><textarea id="csv" readonly></textarea></div>
<script id="data" type="application/json">{d}</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const $ = id => document.getElementById(id);
let k = 0, t0 = 0, rater = "";
const rows = ["page,rater,trial,n,choice,rt_ms"];
$("page-id").textContent = "(page " + D.page + ", " + D.trials.length + " trials)";
const ready = () => {{ $("start").disabled = !($("consent").checked && $("rater").value.trim() !== ""); }};
$("consent").addEventListener("change", ready);
$("rater").addEventListener("input", ready);
function show(id) {{ for (const s of document.querySelectorAll(".screen")) s.classList.toggle("on", s.id === id); }}
function trial() {{
  const t = D.trials[k];
  $("progress").textContent = "Trial " + (k + 1) + " of " + D.trials.length + " (" + t.c.length + " photographs)";
  $("recon").innerHTML = "";
  const r = new Image(); r.src = D.recon[t.r]; r.alt = "reconstruction"; $("recon").appendChild(r);
  $("cands").innerHTML = "";
  t.c.forEach((slot, i) => {{
    const b = document.createElement("button");
    b.className = "cand"; b.dataset.pos = i; b.title = "press " + (i + 1);
    const im = new Image(); im.src = D.cand[slot]; im.alt = "photograph " + (i + 1);
    b.appendChild(im); b.appendChild(document.createTextNode(String(i + 1)));
    b.addEventListener("click", () => answer(i));
    $("cands").appendChild(b);
  }});
  t0 = performance.now();
}}
function answer(i) {{
  const t = D.trials[k];
  if (i < 0 || i >= t.c.length) return;
  rows.push([D.page, JSON.stringify(rater), k + 1, t.c.length, i, Math.round(performance.now() - t0)].join(","));
  k += 1;
  if (k < D.trials.length) {{ trial(); }} else {{ finish(); }}
}}
function finish() {{ $("csv").value = rows.join("\n") + "\n"; show("done"); }}
document.addEventListener("keydown", e => {{
  if (!$("trial").classList.contains("on")) return;
  const n = parseInt(e.key, 10);
  if (n >= 1 && n <= 9) answer(n - 1);
  if (e.key === "0") answer(9);
}});
$("start").addEventListener("click", () => {{ rater = $("rater").value.trim(); show("trial"); trial(); }});
$("download").addEventListener("click", () => {{
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([$("csv").value], {{type: "text/csv"}}));
  a.download = "rating-" + rater.replace(/[^A-Za-z0-9_-]/g, "_") + "-" + D.page + ".csv";
  document.body.appendChild(a); a.click(); a.remove();
}});
</script></body></html>
"#,
        t = escape(title),
        d = data_json.replace("</", "<\\/")
    );
    h
}
