//! Short functions (STYLE.md: no non-test function over 80 lines), checked across every crate's `src/` as an
//! ordinary test, in the spirit of rust-analyzer's `tidy`: the offenders are listed with file, line and length.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The longest a non-test function may be, signature to closing brace (STYLE.md: a longer one does several jobs).
const MAX_FUNCTION_LINES: usize = 80;

/// Files compiled only for tests: `tests.rs`, anything under a `tests/` folder, and modules declared with
/// `#[cfg(test)] mod name;`.
fn test_only_files(files: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut test_only: BTreeSet<PathBuf> = files
        .iter()
        .filter(|f| f.file_name().is_some_and(|n| n == "tests.rs") || f.components().any(|c| c.as_os_str() == "tests"))
        .cloned()
        .collect();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        // A module's children live beside `mod.rs`/`lib.rs`/`main.rs`, else in a folder named after the file.
        let stem = file.file_stem().unwrap().to_string_lossy().to_string();
        let dir = if ["mod", "lib", "main"].contains(&stem.as_str()) {
            file.parent().unwrap().to_path_buf()
        } else {
            file.parent().unwrap().join(&stem)
        };
        for pair in lines.windows(2) {
            let declared = pair[1].trim_start_matches("pub ").strip_prefix("mod ").and_then(|m| m.strip_suffix(';'));
            if let (true, Some(name)) = (pair[0] == "#[cfg(test)]", declared) {
                test_only.insert(dir.join(format!("{name}.rs")));
                test_only.insert(dir.join(name).join("mod.rs"));
            }
        }
    }
    test_only
}

/// `(name, first line, length)` of every function with a body outside `#[cfg(test)]` items and `#[test]`s.
/// Relies on rustfmt's layout: an item's closing brace is alone on a line at the item's indentation.
fn function_lengths(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let closing = |from: usize, depth: usize| {
        (from..lines.len()).find(|&j| lines[j].trim_end() == format!("{}}}", " ".repeat(depth))).unwrap_or(from)
    };
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        let attribute_is_test = line.starts_with("#[") && (line == "#[cfg(test)]" || line.contains("test]"));
        if attribute_is_test {
            // Skip the attributes, then the whole item.
            let mut j = i + 1;
            while j < lines.len() && lines[j].trim().starts_with("#[") {
                j += 1;
            }
            let item = lines.get(j).copied().unwrap_or_default();
            i = if item.trim_end().ends_with(';') { j + 1 } else { closing(j, indent(item)) + 1 };
            continue;
        }
        let mut rest = line;
        for prefix in ["pub(crate) ", "pub(super) ", "pub ", "const ", "async ", "unsafe ", "extern \"C\" "] {
            rest = rest.strip_prefix(prefix).unwrap_or(rest);
        }
        if let Some(signature) = rest.strip_prefix("fn ") {
            let name: String = signature.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            // A declaration without a body ends in `;` before any line opens a body.
            let opens = (i..lines.len()).find(|&j| {
                let l = lines[j].trim_end();
                l.ends_with('{') || l.ends_with(';') || l.ends_with('}')
            });
            let end = match opens {
                Some(open) if lines[open].trim_end().ends_with('{') => Some(closing(open, indent(lines[i]))),
                // A body on one line: `fn g() -> u8 { 0 }`.
                Some(open) if lines[open].trim_end().ends_with('}') => Some(open),
                _ => None,
            };
            if let Some(end) = end {
                found.push((name, i + 1, end + 1 - i));
            }
        }
        i += 1;
    }
    found
}

/// No non-test function over [`MAX_FUNCTION_LINES`] lines (STYLE.md), across every crate's `src/`.
#[test]
fn no_function_is_longer_than_eighty_lines() {
    let mut files = Vec::new();
    for dir in ["config", "sdk", "synth", "stacks", "runtime", "deploy", "cli", "tests"] {
        rust_files(&workspace_root().join(dir).join("src"), &mut files);
    }
    assert!(files.len() > 50, "the sources were found: {}", files.len());
    let test_only = test_only_files(&files);
    let mut offenders = Vec::new();
    for file in files.iter().filter(|f| !test_only.contains(*f)) {
        let name = file.strip_prefix(workspace_root()).unwrap().display().to_string();
        for (function, line, length) in function_lengths(&std::fs::read_to_string(file).unwrap()) {
            if length > MAX_FUNCTION_LINES {
                offenders.push(format!("{name}:{line}: `{function}` is {length} lines"));
            }
        }
    }
    assert!(offenders.is_empty(), "functions over {MAX_FUNCTION_LINES} lines: {offenders:#?}");
}

#[test]
fn the_function_length_check_measures_what_rustfmt_writes() {
    let text = "fn a() {\n    let x = 1;\n}\n\ntrait T {\n    fn b(&self);\n    fn c(&self) -> u8 {\n        1\n    }\n}\n\n\
                #[cfg(test)]\nmod tests {\n    fn d() {\n    }\n}\n\n#[test]\nfn e() {\n}\n\npub async fn f<T>(\n    t: T,\n) \
                -> u8\nwhere\n    T: Copy,\n{\n    0\n}\nfn g() -> u8 { 0 }\n";
    let found: Vec<(String, usize, usize)> = function_lengths(text);
    let expected = [("a", 1, 3), ("c", 7, 3), ("f", 22, 8), ("g", 30, 1)];
    assert_eq!(found, expected.map(|(n, l, c)| (n.to_string(), l, c)));
}
