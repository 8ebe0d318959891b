//! The warm path of `rekey synth`: the packaged Lambda asset is reused when
//! nothing that produced it changed, without starting cargo at all.
//!
//! The cache entry is named by a key over every input of the build (as the
//! CDK names its asset cache by the hash of the asset's sources, never by a
//! timestamp): the sources of the crates the `bootstrap` binary is compiled
//! from (`rekey-runtime` and its `rekey-*` path dependencies, found by reading
//! their `Cargo.toml`), the root `Cargo.toml` (profiles, dependency versions
//! and features) and `Cargo.lock`, the cargo profile, the target triple, the
//! toolchain, the zig tools, the environment variables that change what
//! cargo compiles, and the template overrides packed next to the binary. A
//! changed input gives another key, so the build runs again; an unchanged
//! one gives the very bytes the build gave last time, so synthesis stays
//! byte-identical.

use crate::asset::{self, AssetError, PackagedAsset};
use crate::build::{self, BuildError, BuildOptions};
use rekey_config::{Architecture, TemplateOverrides};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Bump when the key's layout or what a cache entry holds changes.
const KEY_VERSION: &[u8] = b"rekey-lambda-asset-cache-v1\0";

/// The crate the Lambda binary is built from; its `rekey-*` path
/// dependencies are followed from its `Cargo.toml`.
const LAMBDA_CRATE_DIR: &str = "runtime";

/// Top-level folders of a crate that never reach its binary.
const NOT_COMPILED: [&str; 5] = ["tests", "benches", "examples", "target", "fixtures"];

/// Environment variables that change what the nested cargo compiles.
const BUILD_ENV: [&str; 7] = ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "RUSTC", "CC", "CFLAGS", "CXX", "CXXFLAGS"];
/// Prefixes of environment variables that change it too.
const BUILD_ENV_PREFIXES: [&str; 3] = ["CARGO_PROFILE_", "CARGO_TARGET_", "CARGO_BUILD_"];

/// Where the asset came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provenance {
    /// The key matched: the stored zip, no cargo run.
    Reused,
    /// Built (cargo ran) and packaged.
    Built,
}

/// Why no asset could be produced.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The build failed.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// Packaging the built binary failed.
    #[error(transparent)]
    Asset(#[from] AssetError),
    /// Reading the build's inputs for the key failed.
    #[error("cannot read `{path}` to decide whether the Lambda asset must be rebuilt: {source}")]
    Key {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The packaged asset for `options` and `templates`: reused from
/// `<target_dir>/asset-cache` when the key matches, else built with `build`
/// (in production [`build::build_bootstrap`]) and stored for next time.
pub fn build_or_reuse(
    options: &BuildOptions,
    templates: &TemplateOverrides,
    build: impl FnOnce(&BuildOptions) -> Result<PathBuf, BuildError>,
) -> Result<(PackagedAsset, Provenance), CacheError> {
    let cache = options.target_dir.join("asset-cache");
    let key = asset_key(options, templates)?;
    if let Some(hit) = lookup(&cache, &key) {
        return Ok((hit, Provenance::Reused));
    }
    let binary = build(options)?;
    let packaged = asset::package_binary_cached(&binary, options.architecture, templates, Some(&cache))?;
    // An input edited while cargo ran may or may not be in the binary: store
    // the entry only when the inputs are still the ones the key was made of.
    if asset_key(options, templates)? == key {
        store(&cache, &key, &packaged);
    }
    Ok((packaged, Provenance::Built))
}

fn entry_paths(cache: &Path, key: &str) -> (PathBuf, PathBuf) {
    (cache.join(format!("built-{key}.zip")), cache.join(format!("built-{key}.sha256")))
}

/// The stored zip, when there is one whose bytes still hash to what was
/// recorded next to it (a damaged entry is a miss, never a wrong asset).
fn lookup(cache: &Path, key: &str) -> Option<PackagedAsset> {
    let (zip_path, sha_path) = entry_paths(cache, key);
    let recorded = std::fs::read_to_string(sha_path).ok()?;
    let packaged = PackagedAsset::from_zip_bytes(std::fs::read(zip_path).ok()?);
    (packaged.asset.sha256 == recorded.trim()).then_some(packaged)
}

/// Best effort: a cache that cannot be written only costs a build next time.
/// The zip goes first and the hash file last, each renamed into place, so a
/// reader never sees an entry whose hash file names a partial zip.
fn store(cache: &Path, key: &str, packaged: &PackagedAsset) {
    let (zip_path, sha_path) = entry_paths(cache, key);
    let write = |path: &Path, bytes: &[u8]| -> std::io::Result<()> {
        std::fs::create_dir_all(cache)?;
        let mut tmp = tempfile::NamedTempFile::new_in(cache)?;
        tmp.write_all(bytes)?;
        tmp.persist(path).map(drop).map_err(|e| e.error)
    };
    let _ = write(&zip_path, &packaged.zip).and_then(|()| write(&sha_path, packaged.asset.sha256.as_bytes()));
}

/// The cache key: hex SHA-256 over every input of the build (module doc).
pub fn asset_key(options: &BuildOptions, templates: &TemplateOverrides) -> Result<String, CacheError> {
    let mut key = Key(Sha256::new());
    key.part(KEY_VERSION);
    key.part(options.profile.as_bytes());
    key.part(options.feature_args().join(" ").as_bytes());
    key.part(options.zig_target().as_bytes());
    key.part(architecture_name(options.architecture).as_bytes());
    key.part(&toolchain_identity());
    key.part(zig_tools(&options.workspace).as_bytes());
    for (name, value) in build_env() {
        key.part(name.as_bytes());
        key.part(value.as_bytes());
    }
    for text in [&templates.html, &templates.text] {
        key.part(text.as_deref().unwrap_or("\0none").as_bytes());
    }
    let root = &options.workspace;
    for file in ["Cargo.toml", "Cargo.lock", ".cargo/config.toml", ".cargo/config", "rust-toolchain.toml"] {
        key.file(root, &root.join(file))?;
    }
    for dir in lambda_crate_dirs(root)? {
        for file in crate_files(&root.join(&dir))? {
            key.file(root, &file)?;
        }
    }
    Ok(hex::encode(key.0.finalize()))
}

/// A hasher fed length-prefixed parts, so no two input lists collide.
struct Key(Sha256);

impl Key {
    fn part(&mut self, bytes: &[u8]) {
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    /// A file's path relative to the workspace and its contents (an absent
    /// file counts too: creating `.cargo/config.toml` changes the build).
    fn file(&mut self, root: &Path, path: &Path) -> Result<(), CacheError> {
        let relative = path.strip_prefix(root).unwrap_or(path);
        self.part(relative.to_string_lossy().as_bytes());
        match std::fs::read(path) {
            Ok(bytes) => self.part(&bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.part(b"\0absent"),
            Err(source) => return Err(CacheError::Key { path: path.to_path_buf(), source }),
        }
        Ok(())
    }
}

fn architecture_name(architecture: Architecture) -> &'static str {
    architecture.rust_target()
}

/// The compiler the nested cargo uses, as `rustc -vV` describes it (version,
/// commit, host, LLVM): `$RUSTC`, else the `rustc` beside `$CARGO` (the
/// toolchain of an enclosing `cargo run`), else `rustc` on PATH (rustup's
/// proxy, which picks the same toolchain for this workspace). Asking, rather
/// than naming the file, gives one key whether `rekey` runs under `cargo run`
/// or straight from `target/`: the two see the compiler by different paths.
fn toolchain_identity() -> Vec<u8> {
    toolchain_identity_from(std::env::var_os("RUSTC"), std::env::var_os("CARGO"))
}

/// [`toolchain_identity`] for the given `RUSTC` and `CARGO` values.
fn toolchain_identity_from(rustc: Option<std::ffi::OsString>, cargo: Option<std::ffi::OsString>) -> Vec<u8> {
    let beside_cargo = cargo.map(PathBuf::from).and_then(|cargo| Some(cargo.parent()?.join("rustc")));
    let rustc = rustc
        .map(PathBuf::from)
        .or(beside_cargo)
        .filter(|p| p.is_absolute() && p.is_file())
        .unwrap_or_else(|| PathBuf::from("rustc"));
    std::process::Command::new(rustc).arg("-vV").output().map(|o| o.stdout).unwrap_or_default()
}

/// The installed zig and cargo-zigbuild versions (their wheel names), which
/// link the binary.
fn zig_tools(workspace: &Path) -> String {
    let lib = workspace.join(".tools").join("zig").join("lib");
    let mut names = BTreeSet::new();
    for python in std::fs::read_dir(lib).into_iter().flatten().flatten() {
        let site = python.path().join("site-packages");
        for entry in std::fs::read_dir(site).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".dist-info") && (name.starts_with("ziglang") || name.starts_with("cargo_zigbuild")) {
                names.insert(name);
            }
        }
    }
    names.into_iter().collect::<Vec<_>>().join(" ")
}

/// The build-relevant environment, sorted. `CARGO_BUILD_TARGET` and
/// `CARGO_TARGET_DIR` are removed from the nested build, so they do not count.
fn build_env() -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = std::env::vars()
        .filter(|(name, _)| {
            BUILD_ENV.contains(&name.as_str()) || BUILD_ENV_PREFIXES.iter().any(|p| name.starts_with(p))
        })
        .filter(|(name, _)| name != "CARGO_BUILD_TARGET" && name != "CARGO_TARGET_DIR")
        .collect();
    vars.sort();
    vars
}

/// The folders (relative to the workspace) of the crates the Lambda binary is
/// compiled from: `runtime` and, transitively, every `rekey-*` crate among the
/// normal and build dependencies of their `Cargo.toml` (dev-dependencies do
/// not reach the binary). Paths come from the root `[workspace.dependencies]`
/// or from the dependency's own `path`.
pub fn lambda_crate_dirs(workspace: &Path) -> Result<Vec<String>, CacheError> {
    let read =
        |path: PathBuf| std::fs::read_to_string(&path).map_err(|source| CacheError::Key { path: path.clone(), source });
    let root = read(workspace.join("Cargo.toml"))?;
    let workspace_paths = dependency_paths(&root, "", |section| section == "workspace.dependencies");
    let mut found = BTreeSet::new();
    let mut pending = vec![LAMBDA_CRATE_DIR.to_string()];
    while let Some(dir) = pending.pop() {
        if !found.insert(dir.clone()) {
            continue;
        }
        let manifest = read(workspace.join(&dir).join("Cargo.toml"))?;
        let compiled = |section: &str| {
            let last = section.rsplit('.').next().unwrap_or(section);
            last == "dependencies" || last == "build-dependencies"
        };
        for (name, path) in dependency_paths(&manifest, &dir, compiled) {
            let path = path.or_else(|| workspace_paths.iter().find(|(n, _)| *n == name).and_then(|(_, p)| p.clone()));
            if let Some(path) = path {
                pending.push(normalize(&path));
            }
        }
    }
    Ok(found.into_iter().collect())
}

/// `(name, path)` of each `rekey-*` dependency in the sections `wanted`
/// accepts, the path (when the line has one) relative to the workspace.
fn dependency_paths(manifest: &str, base: &str, wanted: impl Fn(&str) -> bool) -> Vec<(String, Option<String>)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_string();
            continue;
        }
        if !wanted(&section) || !line.starts_with("rekey-") {
            continue;
        }
        let name: String = line.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
        let path = line.split_once("path").and_then(|(_, rest)| rest.split('"').nth(1)).map(|p| {
            if base.is_empty() {
                p.to_string()
            } else {
                format!("{base}/{p}")
            }
        });
        out.push((name, path));
    }
    out
}

/// `runtime/../config` → `config`.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// Every file of a crate that can reach its binary, sorted: all of it but
/// hidden entries and the top-level folders in [`NOT_COMPILED`].
fn crate_files(dir: &Path) -> Result<Vec<PathBuf>, CacheError> {
    fn walk(dir: &Path, top: bool, out: &mut Vec<PathBuf>) -> Result<(), CacheError> {
        let entries = std::fs::read_dir(dir).map_err(|source| CacheError::Key { path: dir.to_path_buf(), source })?;
        for entry in entries {
            let entry = entry.map_err(|source| CacheError::Key { path: dir.to_path_buf(), source })?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.starts_with('.') || (top && NOT_COMPILED.contains(&name.as_str())) {
                continue;
            }
            if path.is_dir() {
                walk(&path, false, out)?;
            } else {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, true, &mut out)?;
    out.sort();
    Ok(out)
}

/// [`build_or_reuse`] with the real build.
pub fn build_or_reuse_bootstrap(
    options: &BuildOptions,
    templates: &TemplateOverrides,
) -> Result<(PackagedAsset, Provenance), CacheError> {
    build_or_reuse(options, templates, build::build_bootstrap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::fixture;
    use pretty_assertions::assert_eq;
    use std::cell::Cell;

    /// A workspace with the shape the key reads: root manifest and lock,
    /// `runtime` depending on `config` (workspace path) and on `extra` (own
    /// path), a dev-dependency on `stacks` that must not count.
    fn workspace() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let write = |path: &str, text: &str| {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(
            "Cargo.toml",
            "[workspace.dependencies]\nrekey-config = { path = \"config\", version = \"0.1.0\" }\n\
             rekey-stacks = { path = \"stacks\" }\n[profile.lambda]\nopt-level = \"s\"\n",
        );
        write("Cargo.lock", "# lock\n");
        write(
            "runtime/Cargo.toml",
            "[dependencies]\nrekey-config.workspace = true\nrekey-extra = { path = \"../extra\" }\n\
             [dev-dependencies]\nrekey-stacks.workspace = true\n",
        );
        write("runtime/src/lib.rs", "//! runtime\n");
        write("runtime/tests/it.rs", "// a test\n");
        write("config/Cargo.toml", "[dependencies]\nserde = \"1\"\n");
        write("config/src/lib.rs", "//! config\n");
        write("extra/Cargo.toml", "[package]\nname = \"rekey-extra\"\n");
        write("extra/src/lib.rs", "//! extra\n");
        write("stacks/Cargo.toml", "[dependencies]\n");
        write("stacks/src/lib.rs", "//! stacks\n");
        dir
    }

    fn options(dir: &Path) -> BuildOptions {
        BuildOptions {
            workspace: dir.to_path_buf(),
            architecture: Architecture::X86_64,
            profile: "lambda".into(),
            features: vec![],
            target_dir: dir.join("target"),
        }
    }

    /// A stand-in for cargo: writes a valid x86_64 ELF (different per call
    /// when `salt` changes) and counts the calls.
    fn fake_build<'a>(
        calls: &'a Cell<u32>,
        salt: &'a [u8],
    ) -> impl FnOnce(&BuildOptions) -> Result<PathBuf, BuildError> + 'a {
        move |options| {
            calls.set(calls.get() + 1);
            let path = options.target_dir.join("bootstrap");
            std::fs::create_dir_all(&options.target_dir).unwrap();
            let mut binary = fixture::x86_64_bootstrap();
            binary.extend_from_slice(salt);
            std::fs::write(&path, binary).unwrap();
            Ok(path)
        }
    }

    #[test]
    fn the_toolchain_is_the_same_under_cargo_run_and_run_directly() {
        // Under `cargo test` (as under `cargo run`) CARGO names the
        // toolchain's cargo; run from `target/`, rekey has no CARGO and finds
        // rustc on PATH. The key must not tell the two apart, or the cache
        // misses and cargo rebuilds for nothing.
        let under_cargo = toolchain_identity_from(None, std::env::var_os("CARGO"));
        let direct = toolchain_identity_from(None, None);
        assert!(String::from_utf8_lossy(&direct).starts_with("rustc "), "{}", String::from_utf8_lossy(&direct));
        assert_eq!(String::from_utf8_lossy(&under_cargo), String::from_utf8_lossy(&direct));
    }

    #[test]
    fn unchanged_inputs_reuse_the_asset_without_building_and_give_the_same_bytes() {
        let ws = workspace();
        let options = options(ws.path());
        let calls = Cell::new(0);
        let templates = TemplateOverrides::default();
        let (first, how) = build_or_reuse(&options, &templates, fake_build(&calls, b"v1")).unwrap();
        assert_eq!((how, calls.get()), (Provenance::Built, 1));
        let (second, how) = build_or_reuse(&options, &templates, fake_build(&calls, b"v1")).unwrap();
        assert_eq!((how, calls.get()), (Provenance::Reused, 1), "no cargo run on a warm synth");
        assert_eq!(second, first);
    }

    #[test]
    fn a_changed_source_rebuilds() {
        let ws = workspace();
        let options = options(ws.path());
        let calls = Cell::new(0);
        let templates = TemplateOverrides::default();
        let (first, _) = build_or_reuse(&options, &templates, fake_build(&calls, b"v1")).unwrap();
        // A source of a path dependency (config) changes: the build runs and its new binary is used.
        std::fs::write(ws.path().join("config/src/lib.rs"), "//! config, edited\n").unwrap();
        let (second, how) = build_or_reuse(&options, &templates, fake_build(&calls, b"v2")).unwrap();
        assert_eq!((how, calls.get()), (Provenance::Built, 2));
        assert_ne!(second.asset, first.asset);
        // And that state is warm in turn.
        let (third, how) = build_or_reuse(&options, &templates, fake_build(&calls, b"v3")).unwrap();
        assert_eq!((how, calls.get(), &third), (Provenance::Reused, 2, &second));
    }

    #[test]
    fn every_build_input_is_in_the_key_and_tests_are_not() {
        let ws = workspace();
        let base = options(ws.path());
        let templates = TemplateOverrides::default();
        let key = |o: &BuildOptions, t: &TemplateOverrides| asset_key(o, t).unwrap();
        let original = key(&base, &templates);
        assert_eq!(key(&base, &templates), original, "the key is stable");

        let mut changed = Vec::new();
        let mut edit = |path: &str, text: &str| {
            let file = ws.path().join(path);
            let before = std::fs::read_to_string(&file).ok();
            std::fs::write(&file, text).unwrap();
            changed.push((path.to_string(), key(&base, &templates) != original));
            match before {
                Some(before) => std::fs::write(&file, before).unwrap(),
                None => std::fs::remove_file(&file).unwrap(),
            }
        };
        edit("Cargo.toml", "[profile.lambda]\nopt-level = 3\n");
        edit("Cargo.lock", "# other lock\n");
        edit("runtime/src/lib.rs", "//! runtime 2\n");
        edit("runtime/src/new.rs", "//! new module\n");
        edit("extra/src/lib.rs", "//! extra 2\n");
        edit("runtime/tests/it.rs", "// another test\n");
        edit("stacks/src/lib.rs", "//! a dev-dependency\n");
        assert_eq!(
            changed,
            [
                ("Cargo.toml", true),
                ("Cargo.lock", true),
                ("runtime/src/lib.rs", true),
                ("runtime/src/new.rs", true),
                ("extra/src/lib.rs", true),
                ("runtime/tests/it.rs", false),
                ("stacks/src/lib.rs", false),
            ]
            .map(|(p, c)| (p.to_string(), c))
        );

        let other_profile = BuildOptions { profile: "lambda-test".into(), ..base.clone() };
        let other_arch = BuildOptions { architecture: Architecture::Arm64, ..base.clone() };
        let other_features = BuildOptions { features: vec![rekey_config::RuntimeFeature::EventBus], ..base.clone() };
        let overrides = TemplateOverrides { html: None, text: Some("{{ account_id }}".into()) };
        assert_ne!(key(&other_profile, &templates), original);
        assert_ne!(key(&other_arch, &templates), original);
        assert_ne!(key(&other_features, &templates), original);
        assert_ne!(key(&base, &overrides), original);
    }

    #[test]
    fn a_damaged_entry_is_a_miss() {
        let ws = workspace();
        let options = options(ws.path());
        let calls = Cell::new(0);
        let templates = TemplateOverrides::default();
        let (first, _) = build_or_reuse(&options, &templates, fake_build(&calls, b"v1")).unwrap();
        let key = asset_key(&options, &templates).unwrap();
        let (zip, _) = entry_paths(&options.target_dir.join("asset-cache"), &key);
        std::fs::write(&zip, b"truncated").unwrap();
        let (again, how) = build_or_reuse(&options, &templates, fake_build(&calls, b"v1")).unwrap();
        assert_eq!((how, calls.get(), &again), (Provenance::Built, 2, &first));
    }

    #[test]
    fn the_lambda_crates_are_the_runtime_and_its_path_dependencies() {
        let ws = workspace();
        assert_eq!(lambda_crate_dirs(ws.path()).unwrap(), ["config", "extra", "runtime"]);
    }

    /// The manifest reading agrees with cargo's own resolution on this
    /// checkout: every path package `rekey-runtime`'s binary is built from.
    #[test]
    fn the_lambda_crates_of_this_checkout_match_cargo_metadata() {
        let workspace = build::compiled_workspace();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let output = std::process::Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--offline"])
            .current_dir(&workspace)
            .output()
            .expect("cargo metadata runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let local: std::collections::BTreeMap<&str, String> = metadata["packages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["source"].is_null())
            .map(|p| {
                let manifest = PathBuf::from(p["manifest_path"].as_str().unwrap());
                let dir = manifest.parent().unwrap().strip_prefix(&workspace).unwrap().to_string_lossy().into_owned();
                (p["id"].as_str().unwrap(), dir)
            })
            .collect();
        let nodes = metadata["resolve"]["nodes"].as_array().unwrap();
        let runtime = local.iter().find(|(_, dir)| dir.as_str() == "runtime").map(|(id, _)| *id).unwrap();
        let mut seen = BTreeSet::new();
        let mut pending = vec![runtime];
        while let Some(id) = pending.pop() {
            if !seen.insert(id) {
                continue;
            }
            let node = nodes.iter().find(|n| n["id"] == id).unwrap();
            for dep in node["deps"].as_array().unwrap() {
                let compiled = dep["dep_kinds"].as_array().unwrap().iter().any(|k| k["kind"] != "dev");
                let dep_id = dep["pkg"].as_str().unwrap();
                if compiled && local.contains_key(dep_id) {
                    pending.push(dep_id);
                }
            }
        }
        let expected: BTreeSet<String> = seen.iter().map(|id| local[id].clone()).collect();
        let found: BTreeSet<String> = lambda_crate_dirs(&workspace).unwrap().into_iter().collect();
        assert_eq!(found, expected);
    }
}
