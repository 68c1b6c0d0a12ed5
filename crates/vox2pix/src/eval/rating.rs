//! The human-rating experiment's trials and key (which candidate is the original; `key.json`), and
//! `vox2pix rating analyze`: scores the CSV files raters download from a `rating export` page (module
//! `report::rating`) against its key. It reports accuracy per n, per rater and pooled, each with a 95 % Wilson
//! interval, against chance 1/n. Inter-rater agreement per n is Fleiss' κ on "correct / not correct" over the
//! trials every rater answered, plus the share of rater pairs that picked the same photograph.
use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use vox2pix_formats::rng::{mix_key, CounterRng};

/// One trial of the key: which reconstruction, which test images as candidates in display order, and the
/// position of the original.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyTrial {
    /// Trial number, as the page and the CSV count it (1-based).
    pub trial: usize,
    /// Test image whose reconstruction is shown.
    pub image: usize,
    /// Number of candidates.
    pub n: usize,
    /// Test images shown as candidates, in display order.
    pub candidates: Vec<usize>,
    /// Position (0-based) of `image` among `candidates`.
    pub answer: usize,
}

/// `key.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatingKey {
    /// The run the reconstructions came from.
    pub run: String,
    /// Seed of the draw.
    pub seed: u64,
    /// Candidate counts.
    pub ns: Vec<usize>,
    /// Identity of the page: a hash of the trial list, shown on the page and written in every CSV row, so
    /// answers are never scored with another page's key.
    pub page_id: String,
    /// Every trial in presentation order.
    pub trials: Vec<KeyTrial>,
}

/// Draws the trials: for each test image and each n, the original plus n − 1 distinct other test images in a
/// random order; then the whole list shuffled.
pub fn draw_trials(n_images: usize, ns: &[usize], seed: u64) -> Result<Vec<KeyTrial>> {
    ensure!(!ns.is_empty(), "--n: give at least one candidate count, e.g. 2,5,10");
    for &n in ns {
        ensure!(
            (2..=n_images).contains(&n),
            "--n {n}: each trial needs 2 to {n_images} candidates (the run has {n_images} test images)"
        );
    }
    let mut rng = CounterRng::new(mix_key(seed, &[0x5A71]));
    let mut trials = Vec::new();
    for image in 0..n_images {
        for &n in ns {
            let mut others: Vec<usize> = (0..n_images).filter(|&j| j != image).collect();
            rng.shuffle(&mut others);
            let mut candidates: Vec<usize> = std::iter::once(image).chain(others.into_iter().take(n - 1)).collect();
            rng.shuffle(&mut candidates);
            let answer = candidates.iter().position(|&c| c == image).unwrap_or(0);
            trials.push(KeyTrial {
                trial: 0,
                image,
                n,
                candidates,
                answer,
            });
        }
    }
    rng.shuffle(&mut trials);
    for (k, t) in trials.iter_mut().enumerate() {
        t.trial = k + 1;
    }
    Ok(trials)
}

/// Page id: a short hash of the trial list (FNV-1a, 64-bit, hex).
pub fn page_id(trials: &[KeyTrial]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for t in trials {
        for v in [t.image, t.n, t.answer].iter().chain(&t.candidates) {
            for b in (*v as u64).to_le_bytes() {
                h ^= b as u64;
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    format!("{h:016x}")
}

/// Reads a `key.json` written by `vox2pix rating export` (`report::rating::export_rating`).
pub fn read_key(path: &Path) -> Result<RatingKey> {
    serde_json::from_slice(&std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?)
        .with_context(|| {
            format!(
                "{}: not a rating key.json (written by `vox2pix rating export`)",
                path.display()
            )
        })
}

/// One answer row of a rater's CSV.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// The rater's name or code.
    pub rater: String,
    /// Trial number (1-based, as in the key).
    pub trial: usize,
    /// The chosen position (0-based).
    pub choice: usize,
    /// Response time in ms.
    pub rt_ms: f64,
}

/// Accuracy of one rater (or all pooled) at one n.
#[derive(Clone, Debug, PartialEq)]
pub struct AccuracyRow {
    /// Rater name, or `pooled`.
    pub rater: String,
    /// Number of candidates.
    pub n: usize,
    /// Trials answered.
    pub trials: usize,
    /// Correct answers.
    pub correct: usize,
    /// Wilson 95 % interval of the accuracy.
    pub ci: (f64, f64),
    /// Median response time, ms.
    pub median_rt_ms: f64,
}

impl AccuracyRow {
    /// correct / trials.
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.trials as f64
    }
}

/// Agreement between raters at one n, over the trials all of them answered.
#[derive(Clone, Debug, PartialEq)]
pub struct Agreement {
    /// Number of candidates.
    pub n: usize,
    /// Raters compared.
    pub raters: usize,
    /// Trials every rater answered.
    pub trials: usize,
    /// Fleiss' κ on correct / not correct (NaN when undefined, e.g. everyone always right).
    pub fleiss_kappa: f64,
    /// Share of rater pairs per trial that chose the same photograph.
    pub same_choice: f64,
}

/// The whole analysis.
#[derive(Clone, Debug, PartialEq)]
pub struct RatingAnalysis {
    /// Per rater then pooled, each for every n.
    pub rows: Vec<AccuracyRow>,
    /// Per n, when there are at least two raters.
    pub agreement: Vec<Agreement>,
}

/// The Wilson score interval for `k` successes of `n` at 95 %.
pub fn wilson(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let z = 1.959_963_984_540_054_f64;
    let (n, p) = (n as f64, k as f64 / n as f64);
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * ((p * (1.0 - p) + z * z / (4.0 * n)) / n).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Fleiss' κ for `counts[i][j]` = raters putting trial i in category j (the same number of raters per trial).
pub fn fleiss_kappa(counts: &[Vec<usize>]) -> f64 {
    let n_trials = counts.len();
    if n_trials == 0 {
        return f64::NAN;
    }
    let m: usize = counts[0].iter().sum();
    if m < 2 {
        return f64::NAN;
    }
    let k = counts[0].len();
    let mut p_j = vec![0.0; k];
    let mut p_bar = 0.0;
    for row in counts {
        for (j, &c) in row.iter().enumerate() {
            p_j[j] += c as f64;
        }
        let s: f64 = row.iter().map(|&c| (c * c) as f64).sum();
        p_bar += (s - m as f64) / (m as f64 * (m as f64 - 1.0));
    }
    p_bar /= n_trials as f64;
    let p_e: f64 = p_j.iter().map(|&p| (p / (n_trials * m) as f64).powi(2)).sum();
    if (1.0 - p_e).abs() < 1e-12 {
        return f64::NAN;
    }
    (p_bar - p_e) / (1.0 - p_e)
}

/// Reads one rater CSV (`page,rater,trial,n,choice,rt_ms`), checking every row against the key.
pub fn read_answers(path: &Path, key: &RatingKey) -> Result<Vec<Answer>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    match lines.next() {
        Some((_, h)) if h.trim() == "page,rater,trial,n,choice,rt_ms" => {}
        _ => bail!(
            "{}: not a vox2pix rating CSV (header page,rater,trial,n,choice,rt_ms)",
            path.display()
        ),
    }
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, line) in lines {
        let at = || format!("{}:{}", path.display(), i + 1);
        // The rater field is JSON-quoted; it may hold commas.
        let (page, rest) = line
            .split_once(',')
            .with_context(|| format!("{}: too few fields", at()))?;
        ensure!(
            page == key.page_id,
            "{}: answers to page {page}, but the key is for page {}; use the key.json exported with that page",
            at(),
            key.page_id
        );
        let end = rest
            .rfind("\",")
            .with_context(|| format!("{}: the rater field is not quoted", at()))?;
        let rater: String =
            serde_json::from_str(&rest[..=end]).with_context(|| format!("{}: bad rater field", at()))?;
        let f: Vec<&str> = rest[end + 2..].split(',').collect();
        ensure!(f.len() == 4, "{}: expected trial,n,choice,rt_ms after the rater", at());
        let num = |s: &str, what: &str| -> Result<f64> {
            s.trim()
                .parse::<f64>()
                .with_context(|| format!("{}: {what} `{s}` is not a number", at()))
        };
        let (trial, n, choice, rt) = (
            num(f[0], "trial")? as usize,
            num(f[1], "n")? as usize,
            num(f[2], "choice")? as usize,
            num(f[3], "rt_ms")?,
        );
        let Some(k) = key.trials.get(trial.wrapping_sub(1)) else {
            bail!(
                "{}: trial {trial} is not in the key ({} trials)",
                at(),
                key.trials.len()
            );
        };
        ensure!(
            k.n == n,
            "{}: trial {trial} has {} candidates in the key, {n} in the file",
            at(),
            k.n
        );
        ensure!(
            choice < n,
            "{}: choice {choice} is out of range for {n} candidates",
            at()
        );
        ensure!(
            seen.insert((rater.clone(), trial)),
            "{}: rater {rater:?} answered trial {trial} twice",
            at()
        );
        out.push(Answer {
            rater,
            trial,
            choice,
            rt_ms: rt,
        });
    }
    ensure!(!out.is_empty(), "{}: no answers", path.display());
    Ok(out)
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Scores `files` against `key`.
pub fn analyze(key: &RatingKey, files: &[PathBuf]) -> Result<RatingAnalysis> {
    ensure!(!files.is_empty(), "give at least one rater CSV");
    let mut answers = Vec::new();
    for f in files {
        answers.extend(read_answers(f, key)?);
    }
    let mut dup = BTreeSet::new();
    for a in &answers {
        ensure!(
            dup.insert((a.rater.clone(), a.trial)),
            "rater {:?} appears in two files for trial {}",
            a.rater,
            a.trial
        );
    }
    let raters: Vec<String> = answers
        .iter()
        .map(|a| a.rater.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut rows = Vec::new();
    let correct = |a: &Answer| a.choice == key.trials[a.trial - 1].answer;
    let n_of = |a: &Answer| key.trials[a.trial - 1].n;
    for who in raters.iter().map(|r| Some(r.as_str())).chain(std::iter::once(None)) {
        for &n in &key.ns {
            let sel: Vec<&Answer> = answers
                .iter()
                .filter(|a| n_of(a) == n && who.is_none_or(|w| a.rater == w))
                .collect();
            if sel.is_empty() {
                continue;
            }
            let k = sel.iter().filter(|a| correct(a)).count();
            rows.push(AccuracyRow {
                rater: who.unwrap_or("pooled").to_string(),
                n,
                trials: sel.len(),
                correct: k,
                ci: wilson(k, sel.len()),
                median_rt_ms: median(sel.iter().map(|a| a.rt_ms).collect()),
            });
        }
    }
    let mut agreement = Vec::new();
    if raters.len() >= 2 {
        let by: BTreeMap<(usize, &str), &Answer> = answers.iter().map(|a| ((a.trial, a.rater.as_str()), a)).collect();
        for &n in &key.ns {
            let mut counts = Vec::new();
            let (mut same, mut pairs) = (0usize, 0usize);
            for t in key.trials.iter().filter(|t| t.n == n) {
                let got: Vec<&Answer> = raters
                    .iter()
                    .filter_map(|r| by.get(&(t.trial, r.as_str())).copied())
                    .collect();
                if got.len() != raters.len() {
                    continue;
                }
                let c = got.iter().filter(|a| a.choice == t.answer).count();
                counts.push(vec![c, got.len() - c]);
                for i in 0..got.len() {
                    for j in i + 1..got.len() {
                        pairs += 1;
                        same += (got[i].choice == got[j].choice) as usize;
                    }
                }
            }
            if !counts.is_empty() {
                agreement.push(Agreement {
                    n,
                    raters: raters.len(),
                    trials: counts.len(),
                    fleiss_kappa: fleiss_kappa(&counts),
                    same_choice: same as f64 / pairs as f64,
                });
            }
        }
    }
    Ok(RatingAnalysis { rows, agreement })
}

impl RatingAnalysis {
    /// A markdown report: accuracy per rater and n with CIs and chance, then agreement.
    pub fn markdown(&self) -> String {
        let mut s = String::from(
            "| rater | n | trials | accuracy | 95 % CI (Wilson) | chance | median time |\n|---|---:|---:|---:|---|---:|---:|\n",
        );
        for r in &self.rows {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.1} % | [{:.1}, {:.1}] | {:.1} % | {:.0} ms |",
                r.rater,
                r.n,
                r.trials,
                100.0 * r.accuracy(),
                100.0 * r.ci.0,
                100.0 * r.ci.1,
                100.0 / r.n as f64,
                r.median_rt_ms
            );
        }
        if !self.agreement.is_empty() {
            s += "\n| n | raters | trials | Fleiss' κ (correct / not) | same choice |\n|---:|---:|---:|---:|---:|\n";
            for a in &self.agreement {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {:.3} | {:.1} % |",
                    a.n,
                    a.raters,
                    a.trials,
                    a.fleiss_kappa,
                    100.0 * a.same_choice
                );
            }
        }
        s
    }

    /// One CSV row per accuracy row.
    pub fn csv(&self) -> String {
        let mut s = String::from("rater,n,trials,correct,accuracy,ci_lo,ci_hi,median_rt_ms\n");
        for r in &self.rows {
            let _ = writeln!(
                s,
                "{},{},{},{},{:.6},{:.6},{:.6},{:.1}",
                serde_json::to_string(&r.rater).unwrap_or_default(),
                r.n,
                r.trials,
                r.correct,
                r.accuracy(),
                r.ci.0,
                r.ci.1,
                r.median_rt_ms
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_and_fleiss_by_hand() {
        // Wilson, k = 8 of n = 10: centre (0.8 + 1.92/10)/1.384, half 1.96·√(0.016 + 0.0096)/1.384.
        let (lo, hi) = wilson(8, 10);
        assert!((lo - 0.4902).abs() < 1e-3 && (hi - 0.9433).abs() < 1e-3, "{lo} {hi}");
        assert_eq!(wilson(0, 5).0, 0.0);
        // Fleiss (1971)-style toy: 3 raters, 2 categories; perfect agreement but both categories used → κ = 1.
        assert!((fleiss_kappa(&[vec![3, 0], vec![0, 3], vec![3, 0]]) - 1.0).abs() < 1e-12);
        // Chance-level split: P̄ = 1/3 per trial, p_e = 0.5 → κ = (1/3 − 1/2)/(1/2) = −1/3.
        assert!((fleiss_kappa(&[vec![2, 1], vec![1, 2]]) + 1.0 / 3.0).abs() < 1e-12);
        // One category only: undefined.
        assert!(fleiss_kappa(&[vec![3, 0], vec![3, 0]]).is_nan());
    }
}
