//! The Lambda asset: one deterministic zip (`bootstrap` at the root, plus
//! email template overrides) named by the SHA-256 of its bytes.
//!
//! Determinism is what makes the hash meaningful: every entry has the DOS
//! epoch as its timestamp (1980-01-01 00:00), a fixed mode and a fixed place
//! in the archive, and no extra fields, so the same binary and templates give
//! the same bytes, the same hash, and no needless Lambda code update.

use crate::elf::{check_bootstrap, BootstrapError};
use rekey_config::{Architecture, Config, TemplateOverrides, ASSET_HTML_TEMPLATE, ASSET_TEXT_TEMPLATE};
use sha2::{Digest, Sha256};
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

/// Name of the executable Lambda's `provided` runtimes start.
pub const BOOTSTRAP: &str = "bootstrap";

/// A packaged Lambda asset, as the templates and the assembly refer to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LambdaAsset {
    /// Hex SHA-256 of the zip's bytes; also the asset id.
    pub sha256: String,
}

impl LambdaAsset {
    /// The S3 object key of the zip (`<sha256>.zip`, as the CDK names file assets).
    pub fn object_key(&self) -> String {
        format!("{}.zip", self.sha256)
    }

    /// The file name the zip is staged under in the cloud assembly (`asset.<sha256>.zip`).
    pub fn staged_file_name(&self) -> String {
        format!("asset.{}.zip", self.sha256)
    }
}

/// The bucket the asset is published to: `deployment.asset_bucket`, or the
/// CDK bootstrap bucket, whose name contains `${AWS::AccountId}` and
/// `${AWS::Region}` placeholders (resolved with `Fn::Sub` in templates and by
/// the CDK toolkit in asset manifests).
pub fn asset_bucket_name(config: &Config) -> String {
    match &config.deployment.asset_bucket {
        Some(bucket) => bucket.clone(),
        None => format!("cdk-{}-assets-${{AWS::AccountId}}-${{AWS::Region}}", config.deployment.bootstrap_qualifier),
    }
}

/// Why an asset could not be packaged.
#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    /// Reading a prebuilt zip failed.
    #[error("cannot read lambda zip `{path}`: {source}")]
    Read {
        /// The zip.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The prebuilt file is not a zip archive.
    #[error("`{path}` is not a readable zip archive: {source}")]
    NotZip {
        /// The zip.
        path: PathBuf,
        /// What the zip reader said.
        source: zip::result::ZipError,
    },
    /// The prebuilt zip has no `bootstrap` at its root.
    #[error("lambda zip `{path}` has no `bootstrap` entry at its root; build it with `cargo lambda build --output-format zip` or leave out `--lambda-zip` to let rekey build it")]
    MissingBootstrap {
        /// The zip.
        path: PathBuf,
    },
    /// The `bootstrap` cannot run on the configured architecture.
    #[error("lambda zip `{path}`: {source}")]
    Bootstrap {
        /// The zip (or built binary).
        path: PathBuf,
        /// What is wrong with it.
        source: BootstrapError,
    },
    /// Writing the zip failed (should not happen: it is written to memory).
    #[error("cannot write the asset zip: {0}")]
    Write(#[from] zip::result::ZipError),
}

/// One file inside the asset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetFile {
    /// Path inside the zip, `/`-separated.
    pub name: String,
    /// Unix permission bits (0o755 for `bootstrap`, 0o644 otherwise).
    pub mode: u32,
    /// Contents.
    pub data: Vec<u8>,
}

/// A packaged asset: its identity and its bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct PackagedAsset {
    /// Hash-derived identity, as the templates refer to it.
    pub asset: LambdaAsset,
    /// The zip bytes whose SHA-256 is `asset.sha256`.
    pub zip: Vec<u8>,
}

impl std::fmt::Debug for PackagedAsset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackagedAsset").field("asset", &self.asset).field("zip_len", &self.zip.len()).finish()
    }
}

impl PackagedAsset {
    /// Wraps existing zip bytes, hashing them.
    pub fn from_zip_bytes(zip: Vec<u8>) -> PackagedAsset {
        PackagedAsset { asset: LambdaAsset { sha256: sha256_hex(&zip) }, zip }
    }
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Writes `files` into a zip, in the given order, deterministically.
pub fn pack(files: &[AssetFile]) -> Result<PackagedAsset, AssetError> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    for file in files {
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .compression_level(Some(9))
            .last_modified_time(DateTime::default())
            .unix_permissions(file.mode);
        writer.start_file(file.name.as_str(), options)?;
        writer.write_all(&file.data).map_err(zip::result::ZipError::Io)?;
    }
    Ok(PackagedAsset::from_zip_bytes(writer.finish()?.into_inner()))
}

/// The files of the asset for a `bootstrap` binary: the binary first, then
/// each configured template override at the path the runtime reads it from.
pub fn asset_files(bootstrap: Vec<u8>, templates: &TemplateOverrides) -> Vec<AssetFile> {
    let mut files = vec![AssetFile { name: BOOTSTRAP.into(), mode: 0o755, data: bootstrap }];
    files.extend(template_files(templates));
    files
}

fn template_files(templates: &TemplateOverrides) -> Vec<AssetFile> {
    [(ASSET_HTML_TEMPLATE, &templates.html), (ASSET_TEXT_TEMPLATE, &templates.text)]
        .into_iter()
        .filter_map(|(name, text)| {
            text.as_ref().map(|t| AssetFile { name: name.into(), mode: 0o644, data: t.clone().into_bytes() })
        })
        .collect()
}

/// Packages a freshly built `bootstrap` (read from `path`) with the config's
/// template overrides, after checking it runs on `architecture`.
pub fn package_binary(
    path: &Path,
    architecture: Architecture,
    templates: &TemplateOverrides,
) -> Result<PackagedAsset, AssetError> {
    package_binary_cached(path, architecture, templates, None)
}

/// [`package_binary`] with a cache: with `cache`, the zip is kept in that
/// directory under a key derived from its inputs, so a synth with an unchanged binary skips the compression
/// (seconds for a 25 MB binary) and is bound only by cargo's no-op check.
/// The zip is a pure function of its inputs, so a hit gives the same bytes.
pub fn package_binary_cached(
    path: &Path,
    architecture: Architecture,
    templates: &TemplateOverrides,
    cache: Option<&Path>,
) -> Result<PackagedAsset, AssetError> {
    let bytes = std::fs::read(path).map_err(|source| AssetError::Read { path: path.to_path_buf(), source })?;
    check_bootstrap(&bytes, architecture)
        .map_err(|source| AssetError::Bootstrap { path: path.to_path_buf(), source })?;
    let files = asset_files(bytes, templates);
    let Some(cache) = cache else {
        return pack(&files);
    };
    let cached = cache.join(format!("{}.zip", cache_key(&files)));
    if let Ok(zip) = std::fs::read(&cached) {
        return Ok(PackagedAsset::from_zip_bytes(zip));
    }
    let packaged = pack(&files)?;
    // Best effort: a cache that cannot be written only costs time next run.
    let _ = std::fs::create_dir_all(cache).and_then(|()| {
        let mut tmp = tempfile::NamedTempFile::new_in(cache)?;
        tmp.write_all(&packaged.zip)?;
        tmp.persist(&cached).map(drop).map_err(|e| e.error)
    });
    Ok(packaged)
}

/// Hash of everything the zip is made of (names, modes, contents, and the
/// packing format), naming its cache entry.
fn cache_key(files: &[AssetFile]) -> String {
    let mut hasher = Sha256::new();
    // Bump when `pack` changes how it writes (compression level, metadata).
    hasher.update(b"rekey-asset-v1 deflate-9 epoch-1980\0");
    for file in files {
        hasher.update((file.name.len() as u64).to_le_bytes());
        hasher.update(file.name.as_bytes());
        hasher.update(file.mode.to_le_bytes());
        hasher.update((file.data.len() as u64).to_le_bytes());
        hasher.update(&file.data);
    }
    hex::encode(hasher.finalize())
}

/// Uses a prebuilt zip (`--lambda-zip`). It must hold a `bootstrap` at its
/// root; when that is an ELF it must suit `architecture`. Without template
/// overrides the zip's bytes are used as they are; with overrides it is
/// repacked deterministically (its files in their order, then the overrides,
/// which replace files of the same name), so the runtime finds them.
pub fn package_prebuilt(
    path: &Path,
    architecture: Architecture,
    templates: &TemplateOverrides,
) -> Result<PackagedAsset, AssetError> {
    let bytes = std::fs::read(path).map_err(|source| AssetError::Read { path: path.to_path_buf(), source })?;
    let files = read_files(&bytes).map_err(|source| AssetError::NotZip { path: path.to_path_buf(), source })?;
    let bootstrap =
        files.iter().find(|f| f.name == BOOTSTRAP).ok_or_else(|| AssetError::MissingBootstrap { path: path.into() })?;
    if bootstrap.data.starts_with(b"\x7fELF") {
        check_bootstrap(&bootstrap.data, architecture)
            .map_err(|source| AssetError::Bootstrap { path: path.to_path_buf(), source })?;
    }
    let overrides = template_files(templates);
    if overrides.is_empty() {
        return Ok(PackagedAsset::from_zip_bytes(bytes));
    }
    let mut files: Vec<AssetFile> = files.into_iter().filter(|f| !overrides.iter().any(|o| o.name == f.name)).collect();
    files.extend(overrides);
    pack(&files)
}

/// Every regular file of a zip, in archive order (directories skipped).
pub fn read_files(bytes: &[u8]) -> Result<Vec<AssetFile>, zip::result::ZipError> {
    let mut archive = ZipArchive::new(Cursor::new(bytes))?;
    let mut files = Vec::with_capacity(archive.len());
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index)?;
        if entry.is_dir() {
            continue;
        }
        let mut data = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut data)?;
        files.push(AssetFile {
            name: entry.name().to_string(),
            mode: entry.unix_mode().map(|m| m & 0o7777).unwrap_or(0o644),
            data,
        });
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::fixture;
    use pretty_assertions::assert_eq;

    fn overrides() -> TemplateOverrides {
        TemplateOverrides { html: Some("<p>{{ account_id }}</p>".into()), text: Some("{{ account_id }}".into()) }
    }

    #[test]
    fn same_inputs_give_the_same_bytes_and_hash() {
        let a = pack(&asset_files(fixture::x86_64_bootstrap(), &overrides())).unwrap();
        let b = pack(&asset_files(fixture::x86_64_bootstrap(), &overrides())).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.asset.sha256, sha256_hex(&a.zip));
        assert_eq!(a.asset.sha256.len(), 64);
        let c = pack(&asset_files(fixture::x86_64_bootstrap(), &TemplateOverrides::default())).unwrap();
        assert_ne!(a.asset, c.asset);
    }

    #[test]
    fn packed_bytes_are_pinned() {
        // The asset's hash is its S3 key: a zip or deflate change that moves
        // these bytes (a dependency's feature, backend or version) re-uploads
        // every deployed function. Change the pin only on purpose.
        let mut data = Vec::with_capacity(64 * 1024);
        let mut x: u32 = 1;
        while data.len() < 64 * 1024 {
            // A small LCG: half compressible text, half noise.
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = x.to_le_bytes();
            data.extend_from_slice(if x.is_multiple_of(2) { b"rekey " } else { &noise[..3] });
        }
        let packed = pack(&asset_files(data, &overrides())).unwrap();
        assert_eq!(packed.asset.sha256, "8de84362e504e64382e42112902d4ad79878fb2bd2483916b015468840afceee");
    }

    #[test]
    fn entries_have_fixed_order_mode_and_epoch_timestamp() {
        let packed = pack(&asset_files(b"binary".to_vec(), &overrides())).unwrap();
        let mut archive = ZipArchive::new(Cursor::new(packed.zip.as_slice())).unwrap();
        let mut seen = Vec::new();
        for i in 0..archive.len() {
            let entry = archive.by_index(i).unwrap();
            let time = entry.last_modified().unwrap();
            assert_eq!((time.year(), time.month(), time.day(), time.hour(), time.minute()), (1980, 1, 1, 0, 0));
            seen.push((entry.name().to_string(), entry.unix_mode().unwrap() & 0o777));
        }
        assert_eq!(
            seen,
            vec![
                (BOOTSTRAP.to_string(), 0o755),
                (ASSET_HTML_TEMPLATE.to_string(), 0o644),
                (ASSET_TEXT_TEMPLATE.to_string(), 0o644),
            ]
        );
        assert_eq!(read_files(&packed.zip).unwrap()[0].data, b"binary");
    }

    #[test]
    fn cached_packaging_gives_the_same_bytes_and_follows_the_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("bootstrap");
        std::fs::write(&binary, fixture::x86_64_bootstrap()).unwrap();
        let cache = dir.path().join("cache");
        let fresh = package_binary(&binary, Architecture::X86_64, &overrides()).unwrap();
        let first = package_binary_cached(&binary, Architecture::X86_64, &overrides(), Some(&cache)).unwrap();
        assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);
        let hit = package_binary_cached(&binary, Architecture::X86_64, &overrides(), Some(&cache)).unwrap();
        assert_eq!((&first, &hit), (&fresh, &fresh));
        // Other templates: another entry, another hash.
        let other = package_binary_cached(&binary, Architecture::X86_64, &Default::default(), Some(&cache)).unwrap();
        assert_ne!(other.asset, first.asset);
        assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 2);
        // The architecture check runs even on a cache hit.
        assert!(package_binary_cached(&binary, Architecture::Arm64, &overrides(), Some(&cache)).is_err());
    }

    #[test]
    fn names_follow_the_cdk_convention() {
        let asset = LambdaAsset { sha256: "ab".repeat(32) };
        assert_eq!(asset.object_key(), format!("{}.zip", "ab".repeat(32)));
        assert_eq!(asset.staged_file_name(), format!("asset.{}.zip", "ab".repeat(32)));
    }

    #[test]
    fn prebuilt_zip_is_used_as_is_without_overrides_and_repacked_with_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lambda.zip");
        let original = pack(&asset_files(fixture::x86_64_bootstrap(), &TemplateOverrides::default())).unwrap();
        std::fs::write(&path, &original.zip).unwrap();

        let used = package_prebuilt(&path, Architecture::X86_64, &TemplateOverrides::default()).unwrap();
        assert_eq!(used, original);

        let repacked = package_prebuilt(&path, Architecture::X86_64, &overrides()).unwrap();
        let names: Vec<String> = read_files(&repacked.zip).unwrap().into_iter().map(|f| f.name).collect();
        assert_eq!(names, vec![BOOTSTRAP, ASSET_HTML_TEMPLATE, ASSET_TEXT_TEMPLATE]);
        assert_eq!(repacked, package_prebuilt(&path, Architecture::X86_64, &overrides()).unwrap());
    }

    #[test]
    fn prebuilt_zip_errors_name_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lambda.zip");
        let no_bootstrap =
            pack(&[AssetFile { name: "main".into(), mode: 0o755, data: fixture::x86_64_bootstrap() }]).unwrap();
        std::fs::write(&path, &no_bootstrap.zip).unwrap();
        let err = package_prebuilt(&path, Architecture::X86_64, &TemplateOverrides::default()).unwrap_err();
        assert!(err.to_string().contains("has no `bootstrap` entry"), "{err}");

        let arm = pack(&asset_files(fixture::aarch64_bootstrap(), &TemplateOverrides::default())).unwrap();
        std::fs::write(&path, &arm.zip).unwrap();
        let err = package_prebuilt(&path, Architecture::X86_64, &TemplateOverrides::default()).unwrap_err();
        assert!(err.to_string().contains("lambda.architecture `x86_64`"), "{err}");

        std::fs::write(&path, b"not a zip").unwrap();
        let err = package_prebuilt(&path, Architecture::X86_64, &TemplateOverrides::default()).unwrap_err();
        assert!(err.to_string().contains("is not a readable zip archive"), "{err}");

        let err =
            package_prebuilt(&dir.path().join("missing.zip"), Architecture::X86_64, &TemplateOverrides::default())
                .unwrap_err();
        assert!(err.to_string().starts_with("cannot read lambda zip"), "{err}");
    }
}
