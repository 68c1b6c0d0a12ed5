//! The core crate's modules form a one-way stack (`docs/architecture.md`): each may import only the modules
//! before it, `data → nn → model → train → eval → report → app`. Cargo enforces the order between crates; this
//! test enforces it between the modules of this crate by reading every source file's `crate::` paths.
use std::path::Path;

const ORDER: [&str; 7] = ["data", "nn", "model", "train", "eval", "report", "app"];

fn rank(module: &str) -> Option<usize> {
    ORDER.iter().position(|m| *m == module)
}

/// Every `crate::<module>` path in `text` (comments included: a doc link to a higher layer is a wrong arrow too).
fn crate_paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let preceded_by_ident = rest[..i]
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if !preceded_by_ident && !name.is_empty() {
            out.push(name);
        }
        rest = after;
    }
    out
}

fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, files);
        } else if p.extension().is_some_and(|x| x == "rs") {
            files.push(p);
        }
    }
}

#[test]
fn modules_import_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut checked = 0;
    let mut wrong = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let Some(own) = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .and_then(rank)
        else {
            continue; // lib.rs: the crate root lists every module
        };
        checked += 1;
        for target in crate_paths(&std::fs::read_to_string(f).unwrap()) {
            if let Some(r) = rank(&target) {
                if r > own {
                    wrong.push(format!("{} imports crate::{target}", rel.display()));
                }
            }
        }
    }
    assert!(
        checked > 40,
        "only {checked} source files found under {}",
        src.display()
    );
    assert!(wrong.is_empty(), "imports from a higher layer:\n{}", wrong.join("\n"));
}

#[test]
fn the_checker_sees_a_wrong_arrow() {
    // The scanner itself: it must find paths in use lines and in expressions, and skip look-alikes.
    let found = crate_paths("use crate::app::jobs;\nlet x = crate::eval::pixcorr(a);\nmy_crate::train::x();");
    assert_eq!(found, ["app", "eval"]);
}
