//! Class hierarchy of the synthetic world (`synthetic-world.md` §2): 10 super-categories, each class a point θ_c
//! in its super-category's parameter space, plus GOD-style identifiers.
use serde::{Deserialize, Serialize};
use vox2pix_formats::rng::{mix_key, CounterRng};

/// Number of super-categories.
pub const N_SUPER: usize = 10;

/// Number of normalised class parameters (each in [0, 1]); their meaning per super-category is in `render`.
pub const THETA_DIM: usize = 12;

/// Indices into [`ClassSpec::theta`] shared by all super-categories.
pub mod dim {
    /// Hue of the figure's main colour (circular).
    pub const HUE: usize = 0;
    /// Saturation of the main colour.
    pub const SATURATION: usize = 1;
    /// Brightness (HSV value) of the main colour.
    pub const VALUE: usize = 2;
    /// Texture family (uniform, grating, checks, dots, radial, noise).
    pub const TEXTURE_FAMILY: usize = 3;
    /// Texture orientation.
    pub const TEXTURE_ORIENTATION: usize = 4;
    /// Texture spatial frequency.
    pub const TEXTURE_FREQUENCY: usize = 5;
    /// Super-category-specific shape parameters `SHAPE0 ..= SHAPE0 + 4`.
    pub const SHAPE0: usize = 6;
    /// Hue of the secondary colour (circular).
    pub const SECOND_HUE: usize = 11;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
/// The ten super-categories; each has its own figure template in `render`.
pub enum SuperCategory {
    /// Face-like figures.
    Face,
    /// Animal-like figures.
    Animal,
    /// Tool-like figures.
    Tool,
    /// Scenes: no figure (empty object mask).
    Scene,
    /// Food-like figures.
    Food,
    /// Vehicle-like figures.
    Vehicle,
    /// Plant-like figures.
    Plant,
    /// Building-like figures.
    Building,
    /// Symbol-like figures.
    Symbol,
    /// Full-frame patterns: no figure (empty object mask).
    Pattern,
}

const ALL_SUPER: [SuperCategory; N_SUPER] = [
    SuperCategory::Face,
    SuperCategory::Animal,
    SuperCategory::Tool,
    SuperCategory::Scene,
    SuperCategory::Food,
    SuperCategory::Vehicle,
    SuperCategory::Plant,
    SuperCategory::Building,
    SuperCategory::Symbol,
    SuperCategory::Pattern,
];

impl SuperCategory {
    /// Position in declaration order, 0..[`N_SUPER`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Panics on `i >= N_SUPER`: indices come from code, not from users.
    pub fn from_index(i: usize) -> Self {
        ALL_SUPER[i]
    }

    /// Every super-category, in index order.
    pub fn all() -> [SuperCategory; N_SUPER] {
        ALL_SUPER
    }

    /// Lower-case name, e.g. `face`.
    pub fn name(self) -> &'static str {
        match self {
            SuperCategory::Face => "face",
            SuperCategory::Animal => "animal",
            SuperCategory::Tool => "tool",
            SuperCategory::Scene => "scene",
            SuperCategory::Food => "food",
            SuperCategory::Vehicle => "vehicle",
            SuperCategory::Plant => "plant",
            SuperCategory::Building => "building",
            SuperCategory::Symbol => "symbol",
            SuperCategory::Pattern => "pattern",
        }
    }

    /// Whether images of this super-category contain a figure (and so a non-empty object mask).
    pub fn has_figure(self) -> bool {
        !matches!(self, SuperCategory::Scene | SuperCategory::Pattern)
    }
}

/// One class: its super-category and its centre θ_c in the normalised parameter space [0, 1]^THETA_DIM.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassSpec {
    /// Class index (0-based); also its position in [`Taxonomy::classes`].
    pub id: u32,
    /// Super-category (`id % 10`).
    pub super_category: SuperCategory,
    /// Class centre θ_c, each component in [0, 1] (see [`dim`]).
    pub theta: [f32; THETA_DIM],
}

/// All classes of one synthetic world. Class `c` belongs to super-category `c % 10`, so any class count is
/// spread as evenly as possible and a world with fewer classes is a prefix of a larger one (same seed).
#[derive(Clone, Debug)]
pub struct Taxonomy {
    /// The classes, indexed by class id.
    pub classes: Vec<ClassSpec>,
}

/// Candidates per class in best-candidate (Mitchell) sampling: a cheap, deterministic stand-in for
/// Poisson-disk sampling that keeps class centres far apart.
const CANDIDATES: usize = 64;

/// Distance between two class centres; the hue dimensions are circular.
pub fn theta_distance(a: &[f32; THETA_DIM], b: &[f32; THETA_DIM]) -> f32 {
    let mut s = 0.0f32;
    for i in 0..THETA_DIM {
        let mut d = (a[i] - b[i]).abs();
        if i == dim::HUE || i == dim::SECOND_HUE {
            d = d.min(1.0 - d);
        }
        s += d * d;
    }
    s.sqrt()
}

impl Taxonomy {
    /// Draws `n_classes` class centres for `seed` (best-candidate sampling within each super-category).
    pub fn new(seed: u64, n_classes: usize) -> Self {
        let mut per_super: Vec<Vec<[f32; THETA_DIM]>> = vec![Vec::new(); N_SUPER];
        let mut classes = Vec::with_capacity(n_classes);
        for c in 0..n_classes {
            let s = c % N_SUPER;
            let k = c / N_SUPER;
            // Candidates depend only on (seed, super, k), so the prefix property holds.
            let mut rng = CounterRng::new(mix_key(seed, &[0x7a78, s as u64, k as u64]));
            let mut best = [0f32; THETA_DIM];
            let mut best_d = -1.0f32;
            for _ in 0..CANDIDATES {
                let mut cand = [0f32; THETA_DIM];
                for v in cand.iter_mut() {
                    *v = rng.uniform() as f32;
                }
                let d = per_super[s]
                    .iter()
                    .map(|p| theta_distance(p, &cand))
                    .fold(f32::INFINITY, f32::min);
                if d > best_d {
                    best_d = d;
                    best = cand;
                }
            }
            per_super[s].push(best);
            classes.push(ClassSpec {
                id: c as u32,
                super_category: SuperCategory::from_index(s),
                theta: best,
            });
        }
        Taxonomy { classes }
    }

    /// Number of classes.
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    /// Whether there is no class.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// Panics if `class` is out of range (class ids come from the world, not from users).
    pub fn super_of(&self, class: u32) -> SuperCategory {
        self.classes[class as usize].super_category
    }

    /// Synthetic WordNet id: 90,000,000 + class (8 digits, never a real WordNet offset).
    pub fn wnid(class: u32) -> u32 {
        90_000_000 + class
    }

    /// GOD-style file name, e.g. `n90000123_17.png`.
    pub fn file_name(class: u32, instance: u32, ext: &str) -> String {
        format!("n{}_{}.{}", Self::wnid(class), instance, ext.trim_start_matches('.'))
    }

    /// GOD-style float stimulus id: wnid + instance × 1e-6 (instances < 1e6).
    pub fn stimulus_id(class: u32, instance: u32) -> f64 {
        Self::wnid(class) as f64 + instance as f64 * 1e-6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_follow_god_conventions() {
        assert_eq!(Taxonomy::wnid(123), 90_000_123);
        assert_eq!(Taxonomy::file_name(123, 17, "png"), "n90000123_17.png");
        assert_eq!(Taxonomy::file_name(5, 0, ".JPEG"), "n90000005_0.JPEG");
        let id = Taxonomy::stimulus_id(123, 17);
        assert!((id - 90_000_123.000_017).abs() < 1e-8);
        // The instance is recoverable from the float id, as GOD's loaders do.
        assert_eq!(((id - id.floor()) * 1e6).round() as u32, 17);
    }

    #[test]
    fn classes_spread_evenly_and_prefix_stable() {
        let t = Taxonomy::new(7, 64);
        let mut counts = [0usize; N_SUPER];
        for c in &t.classes {
            counts[c.super_category.index()] += 1;
        }
        assert_eq!(counts.iter().max().unwrap() - counts.iter().min().unwrap(), 1);
        let big = Taxonomy::new(7, 1030);
        assert_eq!(&big.classes[..64], &t.classes[..]);
        assert_ne!(Taxonomy::new(8, 64).classes, t.classes);
        for (i, s) in SuperCategory::all().into_iter().enumerate() {
            assert_eq!(SuperCategory::from_index(i), s);
            assert_eq!(s.index(), i);
        }
    }

    #[test]
    fn class_centres_keep_a_minimum_distance() {
        // 103 classes per super-category in [0,1]^12: independent uniform points have a minimum pairwise distance
        // of ≈ 0.45–0.6 (NumPy simulation), best-candidate sampling gives ≈ 1.0.
        let t = Taxonomy::new(1, 1030);
        for s in 0..N_SUPER {
            let pts: Vec<_> = t.classes.iter().filter(|c| c.super_category.index() == s).collect();
            assert_eq!(pts.len(), 103);
            let mut min_d = f32::INFINITY;
            for i in 0..pts.len() {
                for j in 0..i {
                    min_d = min_d.min(theta_distance(&pts[i].theta, &pts[j].theta));
                }
            }
            assert!(min_d > 0.85, "super {s}: min pairwise distance {min_d}");
        }
    }
}
