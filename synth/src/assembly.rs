//! The cloud assembly (`cdk.out/`): the directory format the AWS CDK toolkit
//! reads, so `cdk ls`/`cdk deploy --app cdk.out` and `rekey deploy` work from
//! the same files.
//!
//! Layout (for a prefix `rekey`):
//! ```text
//! cdk.out/
//!   cdk.out                        {"version": ...}
//!   manifest.json                  artifacts: one per stack, one asset manifest per stack with assets
//!   rekey-main.template.json       what CloudFormation deploys
//!   rekey-main.template.yaml       the same template, for people
//!   rekey-main.assets.json         the Lambda zip (and the template) -> bucket/key
//!   asset.<sha256>.zip             the staged Lambda asset
//!   rekey.config.json              the validated config the stacks came from (what `rekey deploy --app` reads)
//!   ...                            the other stacks' templates
//! ```
//! [`read`] is the way back: it loads an assembly written here for `rekey deploy/diff/destroy --app`, checking
//! every published file against the SHA-256 it is named by, so what deploys is exactly what was synthesized.
//! The directory is written into a temporary sibling and swapped in at the
//! end, so a failed synth leaves the previous assembly as it was. Nothing in
//! it depends on the clock or the machine: the same inputs give the same bytes.

pub mod manifest;

use crate::asset::{sha256_hex, PackagedAsset};
use indexmap::IndexMap;
use manifest::*;
use rekey_config::{Config, ConfigFile, StackId};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Cloud assembly schema version written. The CDK CLI accepts any assembly
/// whose version is at most its own (aws-cdk 2.1148.1 reads up to 55.0.0);
/// an older version keeps older CLIs working, and every field written here
/// exists since well before it.
pub const SCHEMA_VERSION: &str = "36.0.0";

/// The CDK bootstrap stack version whose roles and bucket the asset path uses
/// (version 6 introduced the file-publishing role layout used here).
pub const BOOTSTRAP_VERSION: u32 = 6;

/// The file holding the validated config (JSON) inside the assembly.
pub const CONFIG_FILE: &str = "rekey.config.json";

/// The manifest metadata entry type that points every stack artifact at [`CONFIG_FILE`]. The CDK toolkit ignores
/// metadata types it does not know, so `cdk ls`/`cdk deploy --app` still read the assembly.
pub const CONFIG_METADATA_TYPE: &str = "rekey:config";

/// The construct path the metadata entry is filed under (CDK keys metadata by construct path).
const CONFIG_METADATA_PATH: &str = "/rekey";

/// Where a stack is deployed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    /// 12-digit account, or `None` for "the account of the credentials".
    pub account: Option<String>,
    /// Region name.
    pub region: String,
}

impl Environment {
    /// The `aws://ACCOUNT/REGION` form of the manifest.
    pub fn uri(&self) -> String {
        format!("aws://{}/{}", self.account.as_deref().unwrap_or("unknown-account"), self.region)
    }
}

/// One stack as the assembly needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssemblyStack {
    /// CloudFormation stack name; also the artifact id and file name stem.
    pub name: String,
    /// Where it goes.
    pub environment: Environment,
    /// The template as JSON text.
    pub template_json: String,
    /// The template as YAML text (a copy for readers).
    pub template_yaml: String,
    /// Names of stacks (in this assembly) that must be deployed first.
    pub dependencies: Vec<String>,
    /// Whether the template references the Lambda asset.
    pub uses_lambda_asset: bool,
}

/// Where assets are published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Publishing {
    /// The CDK bootstrap bucket and roles of `qualifier` (`cdk bootstrap`).
    Bootstrap {
        /// `deployment.bootstrap_qualifier`.
        qualifier: String,
    },
    /// A bucket of the user's own (`deployment.asset_bucket`), written with
    /// the deploying credentials; no bootstrap roles.
    Bucket(String),
}

/// Everything written into one assembly.
#[derive(Clone, Debug)]
pub struct Assembly {
    /// Stacks in deployment order.
    pub stacks: Vec<AssemblyStack>,
    /// The Lambda asset, when any stack uses it.
    pub lambda_asset: Option<PackagedAsset>,
    /// Where assets go.
    pub publishing: Publishing,
    /// Stack tags (`deployment.tags`).
    pub tags: BTreeMap<String, String>,
    /// The config the stacks were synthesized from, as JSON text ([`config_json`]); written as [`CONFIG_FILE`] and
    /// named in the manifest so `rekey deploy --app` needs no second source of truth.
    pub config_json: Option<String>,
}

/// The JSON text of `config` written into an assembly: the validated file, pretty-printed, deterministic (the
/// config holds no hash-ordered maps).
pub fn config_json(config: &Config) -> String {
    serde_json::to_string_pretty(config.file()).expect("config serializes") + "\n"
}

/// Why the assembly could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AssemblyError {
    /// A file or directory operation failed.
    #[error("cannot write the cloud assembly at `{path}`: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The output path exists and is not a directory.
    #[error("`{0}` exists and is not a directory; choose another `--out`")]
    NotADirectory(PathBuf),
    /// A stack uses the Lambda asset but none was given.
    #[error("stack `{0}` uses the Lambda asset but no asset was packaged")]
    MissingAsset(String),
}

/// What was written, for the CLI's report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// The assembly directory.
    pub out: PathBuf,
    /// Every file, relative to `out`, sorted.
    pub files: Vec<String>,
}

/// The files of an assembly, as `(relative path, bytes)` in writing order.
/// Pure: [`write`] puts exactly these on disk.
pub fn render(assembly: &Assembly) -> Result<Vec<(String, Vec<u8>)>, AssemblyError> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut artifacts = IndexMap::new();
    let config = assembly.config_json.as_ref().map(|text| text.clone().into_bytes());
    let config_metadata = config.as_ref().map(|bytes| {
        let data = ConfigRef { file: CONFIG_FILE.into(), sha256: sha256_hex(bytes) };
        let entry = MetadataEntry {
            kind: CONFIG_METADATA_TYPE.into(),
            data: serde_json::to_value(data).expect("a config reference serializes"),
        };
        IndexMap::from([(CONFIG_METADATA_PATH.to_string(), vec![entry])])
    });
    for stack in &assembly.stacks {
        let template_file = format!("{}.template.json", stack.name);
        let template_json = with_newline(&stack.template_json);
        let template_hash = sha256_hex(&template_json);
        let mut artifact = StackArtifact {
            environment: stack.environment.uri(),
            properties: StackProperties {
                template_file: Some(template_file.clone()),
                stack_name: Some(stack.name.clone()),
                tags: assembly.tags.clone(),
                ..StackProperties::default()
            },
            metadata: config_metadata.clone().unwrap_or_default(),
            dependencies: stack.dependencies.clone(),
            display_name: Some(stack.name.clone()),
        };
        if stack.uses_lambda_asset {
            let packaged =
                assembly.lambda_asset.as_ref().ok_or_else(|| AssemblyError::MissingAsset(stack.name.clone()))?;
            let (assets_id, assets) = asset_artifact(&assembly.publishing, &stack.name);
            let template = (&template_file, &template_hash);
            let uses_bootstrap = matches!(assembly.publishing, Publishing::Bootstrap { .. });
            let manifest = asset_manifest(&assembly.publishing, packaged, uses_bootstrap.then_some(template));
            files.push((format!("{assets_id}.json"), pretty(&manifest)));
            artifacts.insert(assets_id.clone(), Artifact::AssetManifest(assets));
            artifact.dependencies.insert(0, assets_id.clone());
            if let Publishing::Bootstrap { qualifier } = &assembly.publishing {
                bootstrap_roles(&mut artifact.properties, qualifier, &template_hash);
            }
            artifact.properties.additional_dependencies = vec![assets_id];
        }
        artifacts.insert(stack.name.clone(), Artifact::Stack(Box::new(artifact)));
        files.push((template_file, template_json));
        files.push((format!("{}.template.yaml", stack.name), with_newline(&stack.template_yaml)));
    }
    if let Some(packaged) = &assembly.lambda_asset {
        files.push((packaged.asset.staged_file_name(), packaged.zip.clone()));
    }
    if let Some(bytes) = config {
        files.push((CONFIG_FILE.into(), bytes));
    }
    let manifest = Manifest { version: SCHEMA_VERSION.into(), artifacts: Some(artifacts) };
    files.push(("manifest.json".into(), pretty(&manifest)));
    files.push(("cdk.out".into(), pretty(&VersionFile { version: SCHEMA_VERSION.into() })));
    Ok(files)
}

fn with_newline(text: &str) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    if !bytes.ends_with(b"\n") {
        bytes.push(b'\n');
    }
    bytes
}

/// The id and artifact of the asset manifest of `stack`.
fn asset_artifact(publishing: &Publishing, stack: &str) -> (String, AssetManifestArtifact) {
    let id = format!("{stack}.assets");
    let mut properties = AssetManifestProperties { file: Some(format!("{id}.json")), ..Default::default() };
    if let Publishing::Bootstrap { qualifier } = publishing {
        properties.requires_bootstrap_stack_version = Some(BOOTSTRAP_VERSION);
        properties.bootstrap_stack_version_ssm_parameter = Some(ssm_parameter(qualifier));
    }
    (id, AssetManifestArtifact { properties })
}

/// The CDK bootstrap roles a stack with assets is deployed with, and where its template is published.
fn bootstrap_roles(properties: &mut StackProperties, qualifier: &str, template_hash: &str) {
    let role = |name: &str| {
        format!("arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/cdk-{qualifier}-{name}-${{AWS::AccountId}}-${{AWS::Region}}")
    };
    properties.assume_role_arn = Some(role("deploy-role"));
    properties.cloud_formation_execution_role_arn = Some(role("cfn-exec-role"));
    properties.stack_template_asset_object_url =
        Some(format!("s3://{}/{template_hash}.json", bootstrap_bucket(qualifier)));
    properties.requires_bootstrap_stack_version = Some(BOOTSTRAP_VERSION);
    properties.bootstrap_stack_version_ssm_parameter = Some(ssm_parameter(qualifier));
}

fn asset_manifest(
    publishing: &Publishing,
    packaged: &PackagedAsset,
    template: Option<(&String, &String)>,
) -> AssetManifest {
    let file = |path: &str, object_key: String| {
        let destination = match publishing {
            Publishing::Bootstrap { qualifier } => Destination {
                bucket_name: bootstrap_bucket(qualifier),
                object_key,
                assume_role_arn: Some(format!("arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/cdk-{qualifier}-file-publishing-role-${{AWS::AccountId}}-${{AWS::Region}}")),
            },
            Publishing::Bucket(bucket) => Destination { bucket_name: bucket.clone(), object_key, assume_role_arn: None },
        };
        FileAsset {
            source: FileSource { path: Some(path.to_string()), packaging: Some("file".into()) },
            destinations: IndexMap::from([("current_account-current_region".to_string(), destination)]),
        }
    };
    let asset = &packaged.asset;
    let mut files = IndexMap::from([(asset.sha256.clone(), file(&asset.staged_file_name(), asset.object_key()))]);
    if let Some((template_file, hash)) = template {
        files.insert(hash.clone(), file(template_file, format!("{hash}.json")));
    }
    AssetManifest { version: SCHEMA_VERSION.into(), files, docker_images: IndexMap::new() }
}

fn bootstrap_bucket(qualifier: &str) -> String {
    format!("cdk-{qualifier}-assets-${{AWS::AccountId}}-${{AWS::Region}}")
}

fn ssm_parameter(qualifier: &str) -> String {
    format!("/cdk-bootstrap/{qualifier}/version")
}

/// Writes the assembly to `out` atomically: into a temporary sibling
/// directory first, then swapped in, so `out` is either the previous
/// assembly or the complete new one.
pub fn write(out: &Path, assembly: &Assembly) -> Result<Written, AssemblyError> {
    let files = render(assembly)?;
    write_files(out, &files)
}

/// Writes rendered files to `out` atomically (see [`write`]).
pub fn write_files(out: &Path, files: &[(String, Vec<u8>)]) -> Result<Written, AssemblyError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| AssemblyError::Io { path, source }
    };
    if out.exists() && !out.is_dir() {
        return Err(AssemblyError::NotADirectory(out.to_path_buf()));
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(io(&parent))?;
    let stem = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "cdk.out".into());
    let staging = tempfile::Builder::new().prefix(&format!(".{stem}.new-")).tempdir_in(&parent).map_err(io(&parent))?;
    for (name, bytes) in files {
        let path = staging.path().join(name);
        std::fs::write(&path, bytes).map_err(io(&path))?;
    }
    if out.exists() {
        // rename(2) cannot replace a non-empty directory: move the old one
        // aside, move the new one in, then delete the old one.
        let old = tempfile::Builder::new().prefix(&format!(".{stem}.old-")).tempdir_in(&parent).map_err(io(&parent))?;
        let old_path = old.path().join("assembly");
        std::fs::rename(out, &old_path).map_err(io(out))?;
        if let Err(source) = std::fs::rename(staging.path(), out) {
            // Put the previous assembly back before reporting.
            let _ = std::fs::rename(&old_path, out);
            return Err(AssemblyError::Io { path: out.to_path_buf(), source });
        }
        drop(old);
    } else {
        std::fs::rename(staging.path(), out).map_err(io(out))?;
    }
    // The staging directory is now `out`; stop its guard from deleting it.
    let _ = staging.keep();
    let mut names: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    names.sort();
    Ok(Written { out: out.to_path_buf(), files: names })
}

/// One stack read back from an assembly.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadStack {
    /// Which of rekey's stacks (matched by name against the recorded config's [`rekey_config::Names`]).
    pub id: StackId,
    /// Stack name.
    pub name: String,
    /// The template (from `<name>.template.json`).
    pub template: Value,
}

/// An assembly written by `rekey synth`, read back for `rekey deploy/diff/destroy --app`.
#[derive(Clone, Debug)]
pub struct ReadAssembly {
    /// The assembly directory.
    pub dir: PathBuf,
    /// The config the stacks were synthesized from ([`CONFIG_FILE`]).
    pub config: Config,
    /// The stacks, in manifest order.
    pub stacks: Vec<ReadStack>,
    /// The Lambda asset (its bytes match its content-hashed name), when a stack uses it.
    pub lambda_asset: Option<PackagedAsset>,
}

/// Why an assembly could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The directory is not there.
    #[error("`{0}` does not exist or is not a directory; write it with `rekey synth --out {0}`")]
    NoDirectory(PathBuf),
    /// No `manifest.json`, or one that is not a cloud assembly manifest.
    #[error("`{dir}` is not a cloud assembly: {reason}; write one with `rekey synth --out {dir}`")]
    NotAnAssembly {
        /// The directory.
        dir: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A cloud assembly, but not one `rekey synth` wrote (no recorded config).
    #[error(
        "`{0}` is a cloud assembly but not one written by `rekey synth` (its manifest.json names no `{CONFIG_METADATA_TYPE}` file); \
         synthesize it with `rekey synth --out {0}`, or deploy it with `cdk deploy --app {0}`"
    )]
    NotRekey(PathBuf),
    /// A file the manifest names is missing or unreadable.
    #[error("cannot read `{path}` (named in `{named_in}`): {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The manifest that names it.
        named_in: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not the JSON it should be.
    #[error("`{path}` is not valid: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A file's bytes do not hash to the SHA-256 the manifest (or its name) says.
    #[error(
        "`{path}` was modified after `rekey synth`: {named_in} says sha256 {expected}, its content hashes to {actual}; \
         run `rekey synth` again"
    )]
    Tampered {
        /// The file.
        path: PathBuf,
        /// Where the expected hash comes from.
        named_in: String,
        /// The recorded SHA-256.
        expected: String,
        /// The SHA-256 of the bytes on disk.
        actual: String,
    },
    /// The recorded config does not validate (e.g. written by another rekey version).
    #[error("`{path}`: {source}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// Why it is invalid.
        source: rekey_config::ConfigError,
    },
    /// A stack the recorded config does not produce.
    #[error("`{dir}`: stack `{stack}` is not one of the stacks its config produces ({known})")]
    UnknownStack {
        /// The directory.
        dir: PathBuf,
        /// The stack name.
        stack: String,
        /// The names the config gives its stacks.
        known: String,
    },
}

/// Reads the assembly at `dir` written by [`write`]: the manifest, the recorded config, every stack template and
/// the Lambda asset. Every file an asset manifest publishes must hash to its asset id (and the Lambda zip must be
/// named `asset.<sha256>.zip`), and the config must hash to what the manifest records, so a file edited after
/// `rekey synth` is refused, naming it.
pub fn read(dir: &Path) -> Result<ReadAssembly, ReadError> {
    if !dir.is_dir() {
        return Err(ReadError::NoDirectory(dir.to_path_buf()));
    }
    let manifest_path = dir.join("manifest.json");
    if !manifest_path.is_file() {
        return Err(ReadError::NotAnAssembly { dir: dir.to_path_buf(), reason: "it has no manifest.json".into() });
    }
    let manifest: Manifest = read_json(&manifest_path, "the assembly")?;
    let Some(artifacts) = manifest.artifacts else {
        return Err(ReadError::NotAnAssembly {
            dir: dir.to_path_buf(),
            reason: "manifest.json has no `artifacts`".into(),
        });
    };
    let Some(recorded) = recorded_config(&manifest_path, &artifacts)? else {
        return Err(ReadError::NotRekey(dir.to_path_buf()));
    };
    let config = read_config(dir, &manifest_path, &recorded)?;
    let names = config.names();
    let mut stacks = Vec::new();
    let mut lambda_asset: Option<PackagedAsset> = None;
    for (artifact_id, artifact) in &artifacts {
        match artifact {
            Artifact::Stack(stack) => {
                let name = stack.properties.stack_name.clone().unwrap_or_else(|| artifact_id.clone());
                let Some(id) = StackId::ALL.into_iter().find(|id| names.stack(*id) == name) else {
                    let known: Vec<String> = StackId::ALL.into_iter().map(|id| names.stack(id)).collect();
                    return Err(ReadError::UnknownStack {
                        dir: dir.to_path_buf(),
                        stack: name,
                        known: known.join(", "),
                    });
                };
                let Some(template_file) = &stack.properties.template_file else {
                    return Err(invalid(&manifest_path, format!("stack `{name}` has no `templateFile`")));
                };
                let template = read_json(&dir.join(safe_name(&manifest_path, template_file)?), "manifest.json")?;
                stacks.push(ReadStack { id, name, template });
            }
            Artifact::AssetManifest(assets) => {
                let Some(file) = &assets.properties.file else {
                    return Err(invalid(&manifest_path, format!("asset manifest `{artifact_id}` has no `file`")));
                };
                let asset = read_assets(dir, &manifest_path, file)?;
                lambda_asset = lambda_asset.or(asset);
            }
            Artifact::Other => {}
        }
    }
    Ok(ReadAssembly { dir: dir.to_path_buf(), config, stacks, lambda_asset })
}

/// The config file every stack artifact names (the same file and hash for all), or `None` when none names one.
fn recorded_config(
    manifest_path: &Path,
    artifacts: &IndexMap<String, Artifact>,
) -> Result<Option<ConfigRef>, ReadError> {
    let mut recorded: Option<ConfigRef> = None;
    let stacks = artifacts.values().filter_map(|a| if let Artifact::Stack(stack) = a { Some(stack) } else { None });
    let entries = stacks.flat_map(|stack| stack.metadata.values().flatten());
    for entry in entries.filter(|e| e.kind == CONFIG_METADATA_TYPE) {
        let Ok(named) = serde_json::from_value::<ConfigRef>(entry.data.clone()) else {
            return Err(invalid(manifest_path, format!("a `{CONFIG_METADATA_TYPE}` entry lacks `file` or `sha256`")));
        };
        if recorded.as_ref().is_some_and(|seen| seen != &named) {
            return Err(invalid(manifest_path, format!("the stacks name different `{CONFIG_METADATA_TYPE}` files")));
        }
        recorded = Some(named);
    }
    Ok(recorded)
}

/// The recorded config, checked against its hash and validated.
fn read_config(dir: &Path, manifest_path: &Path, recorded: &ConfigRef) -> Result<Config, ReadError> {
    let path = dir.join(safe_name(manifest_path, &recorded.file)?);
    let bytes = read_file(&path, "manifest.json")?;
    check_hash(&path, "manifest.json", &recorded.sha256, &bytes)?;
    let file: ConfigFile = serde_json::from_slice(&bytes).map_err(|e| invalid(&path, e.to_string()))?;
    Config::validate(file).map_err(|source| ReadError::Config { path: path.clone(), source })
}

/// Checks every file the asset manifest `file` publishes against its hash; returns the Lambda asset among them.
fn read_assets(dir: &Path, manifest_path: &Path, file: &str) -> Result<Option<PackagedAsset>, ReadError> {
    let assets_path = dir.join(safe_name(manifest_path, file)?);
    let assets: AssetManifest = read_json(&assets_path, "manifest.json")?;
    let mut lambda_asset = None;
    for (hash, entry) in &assets.files {
        let Some(source) = &entry.source.path else {
            return Err(invalid(&assets_path, format!("asset `{hash}` has no `source.path`")));
        };
        let path = dir.join(safe_name(&assets_path, source)?);
        let bytes = read_file(&path, file)?;
        check_hash(&path, file, hash, &bytes)?;
        if source.starts_with("asset.") && source.ends_with(".zip") {
            // The content-hashed name must agree with the content too.
            let named = source.trim_start_matches("asset.").trim_end_matches(".zip");
            check_hash(&path, "its file name", named, &bytes)?;
            lambda_asset = lambda_asset.or_else(|| Some(PackagedAsset::from_zip_bytes(bytes)));
        }
    }
    Ok(lambda_asset)
}

fn invalid(path: &Path, message: String) -> ReadError {
    ReadError::Invalid { path: path.to_path_buf(), message }
}

/// A file name from a manifest, refused when it would leave the assembly directory.
fn safe_name<'a>(manifest: &Path, name: &'a str) -> Result<&'a str, ReadError> {
    let plain = Path::new(name).components().all(|c| matches!(c, std::path::Component::Normal(_)));
    if plain && !name.is_empty() {
        Ok(name)
    } else {
        Err(invalid(manifest, format!("`{name}` is not a file name inside the assembly")))
    }
}

fn read_file(path: &Path, named_in: &str) -> Result<Vec<u8>, ReadError> {
    std::fs::read(path).map_err(|source| ReadError::File {
        path: path.to_path_buf(),
        named_in: named_in.to_string(),
        source,
    })
}

/// A JSON file of the assembly, as `T`: a template (`Value`), the manifest or an asset manifest.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path, named_in: &str) -> Result<T, ReadError> {
    let bytes = read_file(path, named_in)?;
    serde_json::from_slice(&bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => invalid(path, format!("not a cloud assembly file: {e}")),
        _ => invalid(path, format!("not JSON: {e}")),
    })
}

fn check_hash(path: &Path, named_in: &str, expected: &str, bytes: &[u8]) -> Result<(), ReadError> {
    let actual = sha256_hex(bytes);
    if actual.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(ReadError::Tampered {
            path: path.to_path_buf(),
            named_in: named_in.to_string(),
            expected: expected.to_string(),
            actual,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asset::{asset_files, pack};
    use crate::elf::fixture;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    fn assembly(publishing: Publishing) -> Assembly {
        let stack = |name: &str, deps: &[&str], asset: bool| AssemblyStack {
            name: name.into(),
            environment: Environment { account: None, region: "us-east-1".into() },
            template_json: format!("{{\"Description\": \"{name}\"}}"),
            template_yaml: format!("Description: {name}"),
            dependencies: deps.iter().map(|d| d.to_string()).collect(),
            uses_lambda_asset: asset,
        };
        Assembly {
            stacks: vec![
                stack("rekey-inventory-role", &[], false),
                stack("rekey-main", &["rekey-inventory-role"], true),
            ],
            lambda_asset: Some(pack(&asset_files(fixture::x86_64_bootstrap(), &Default::default())).unwrap()),
            publishing,
            tags: BTreeMap::from([("team".to_string(), "security".to_string())]),
            config_json: Some(config_json(&Config::builtin_default())),
        }
    }

    fn file(files: &[(String, Vec<u8>)], name: &str) -> Value {
        let bytes = &files.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no {name}")).1;
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn the_manifest_types_read_back_exactly_what_they_wrote() {
        for publishing in [Publishing::Bootstrap { qualifier: "hnb659fds".into() }, Publishing::Bucket("b-b-b".into())]
        {
            let files = render(&assembly(publishing)).unwrap();
            let bytes = |name: &str| files.iter().find(|(n, _)| n == name).unwrap().1.clone();
            let manifest: Manifest = serde_json::from_slice(&bytes("manifest.json")).unwrap();
            assert_eq!(
                String::from_utf8(pretty(&manifest)).unwrap(),
                String::from_utf8(bytes("manifest.json")).unwrap()
            );
            let assets: AssetManifest = serde_json::from_slice(&bytes("rekey-main.assets.json")).unwrap();
            assert_eq!(pretty(&assets), bytes("rekey-main.assets.json"));
            let version: VersionFile = serde_json::from_slice(&bytes("cdk.out")).unwrap();
            assert_eq!(pretty(&version), bytes("cdk.out"));
        }
    }

    #[test]
    fn a_cdk_app_assembly_is_read_as_not_rekey_whatever_its_other_artifacts() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = json!({
            "version": "36.0.0",
            "artifacts": {
                "Tree": {"type": "cdk:tree", "properties": {"file": "tree.json"}},
                "App": {
                    "type": "aws:cloudformation:stack",
                    "environment": "aws://unknown-account/unknown-region",
                    "properties": {"templateFile": "App.template.json", "notificationArns": []},
                    "metadata": {"/App/Bucket/Resource": [{"type": "aws:cdk:logicalId", "data": "Bucket83908E77", "trace": ["x"]}]},
                    "displayName": "App"
                }
            }
        });
        std::fs::write(dir.path().join("manifest.json"), manifest.to_string()).unwrap();
        let err = read(dir.path()).unwrap_err();
        assert!(matches!(err, ReadError::NotRekey(_)), "{err}");
    }

    #[test]
    fn bootstrap_publishing_follows_the_cdk_default_synthesizer() {
        let a = assembly(Publishing::Bootstrap { qualifier: "hnb659fds".into() });
        let files = render(&a).unwrap();
        let sha = &a.lambda_asset.as_ref().unwrap().asset.sha256;
        let manifest = file(&files, "manifest.json");
        assert_eq!(manifest["version"], SCHEMA_VERSION);
        let main = &manifest["artifacts"]["rekey-main"];
        assert_eq!(main["type"], "aws:cloudformation:stack");
        assert_eq!(main["environment"], "aws://unknown-account/us-east-1");
        assert_eq!(main["dependencies"], json!(["rekey-main.assets", "rekey-inventory-role"]));
        assert_eq!(main["properties"]["templateFile"], "rekey-main.template.json");
        assert_eq!(main["properties"]["tags"], json!({"team": "security"}));
        assert_eq!(
            main["properties"]["assumeRoleArn"],
            "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/cdk-hnb659fds-deploy-role-${AWS::AccountId}-${AWS::Region}"
        );
        let role_stack = &manifest["artifacts"]["rekey-inventory-role"];
        assert!(role_stack["properties"].get("assumeRoleArn").is_none(), "no bootstrap needed without assets");
        assert_eq!(manifest["artifacts"]["rekey-main.assets"]["type"], "cdk:asset-manifest");

        let assets = file(&files, "rekey-main.assets.json");
        let lambda = &assets["files"][sha.as_str()];
        assert_eq!(lambda["source"], json!({"path": format!("asset.{sha}.zip"), "packaging": "file"}));
        let dest = &lambda["destinations"]["current_account-current_region"];
        assert_eq!(dest["bucketName"], "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}");
        assert_eq!(dest["objectKey"], format!("{sha}.zip"));
        assert_eq!(assets["files"].as_object().unwrap().len(), 2, "the template is published as an asset too");
        assert!(files.iter().any(|(n, _)| n == &format!("asset.{sha}.zip")));
    }

    #[test]
    fn own_bucket_needs_no_bootstrap_roles() {
        let files = render(&assembly(Publishing::Bucket("my-assets".into()))).unwrap();
        let manifest = file(&files, "manifest.json");
        let props = &manifest["artifacts"]["rekey-main"]["properties"];
        assert!(props.get("assumeRoleArn").is_none());
        assert!(props.get("stackTemplateAssetObjectUrl").is_none());
        let assets = file(&files, "rekey-main.assets.json");
        let only = assets["files"].as_object().unwrap().values().next().unwrap().clone();
        assert_eq!(
            only["destinations"]["current_account-current_region"],
            json!({"bucketName": "my-assets", "objectKey": format!("{}.zip", files_sha(&files))})
        );
    }

    fn files_sha(files: &[(String, Vec<u8>)]) -> String {
        let name = files.iter().map(|(n, _)| n).find(|n| n.starts_with("asset.")).unwrap();
        name.trim_start_matches("asset.").trim_end_matches(".zip").to_string()
    }

    #[test]
    fn write_replaces_the_previous_assembly_and_is_repeatable() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("cdk.out");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("stale.template.json"), "{}").unwrap();
        let a = assembly(Publishing::Bootstrap { qualifier: "hnb659fds".into() });
        let written = write(&out, &a).unwrap();
        assert!(!out.join("stale.template.json").exists());
        let mut on_disk: Vec<String> =
            std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        on_disk.sort();
        assert_eq!(on_disk, written.files);
        let first = std::fs::read(out.join("manifest.json")).unwrap();
        write(&out, &a).unwrap();
        assert_eq!(std::fs::read(out.join("manifest.json")).unwrap(), first);
        // No staging or old directories are left beside it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_file_in_the_way_is_an_error_and_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("cdk.out");
        std::fs::write(&out, "keep me").unwrap();
        let err = write(&out, &assembly(Publishing::Bucket("b-b-b".into()))).unwrap_err();
        assert!(matches!(err, AssemblyError::NotADirectory(_)), "{err}");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me");
    }

    #[test]
    fn missing_asset_is_reported_before_anything_is_written() {
        let mut a = assembly(Publishing::Bucket("b-b-b".into()));
        a.lambda_asset = None;
        let dir = tempfile::tempdir().unwrap();
        let err = write(&dir.path().join("cdk.out"), &a).unwrap_err();
        assert_eq!(err.to_string(), "stack `rekey-main` uses the Lambda asset but no asset was packaged");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    fn written(publishing: Publishing) -> (tempfile::TempDir, PathBuf, Assembly) {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("cdk.out");
        let a = assembly(publishing);
        write(&out, &a).unwrap();
        (dir, out, a)
    }

    #[test]
    fn the_config_is_recorded_once_and_named_by_every_stack() {
        let files = render(&assembly(Publishing::Bucket("b-b-b".into()))).unwrap();
        let text = &files.iter().find(|(n, _)| n == CONFIG_FILE).expect("config file").1;
        let manifest = file(&files, "manifest.json");
        for stack in ["rekey-main", "rekey-inventory-role"] {
            assert_eq!(
                manifest["artifacts"][stack]["metadata"]["/rekey"],
                json!([{"type": CONFIG_METADATA_TYPE, "data": {"file": CONFIG_FILE, "sha256": sha256_hex(text)}}])
            );
        }
        assert!(manifest["artifacts"]["rekey-main.assets"].get("metadata").is_none());
    }

    #[test]
    fn read_returns_what_write_wrote() {
        for publishing in [Publishing::Bootstrap { qualifier: "hnb659fds".into() }, Publishing::Bucket("b-b-b".into())]
        {
            let (_dir, out, a) = written(publishing);
            let read = read(&out).unwrap();
            assert_eq!(read.dir, out);
            assert_eq!(read.config, Config::builtin_default());
            let stacks: Vec<(StackId, &str, Value)> =
                read.stacks.iter().map(|s| (s.id, s.name.as_str(), s.template.clone())).collect();
            assert_eq!(
                stacks,
                [
                    (StackId::InventoryRole, "rekey-inventory-role", json!({"Description": "rekey-inventory-role"})),
                    (StackId::Main, "rekey-main", json!({"Description": "rekey-main"})),
                ]
            );
            assert_eq!(read.lambda_asset.as_ref(), a.lambda_asset.as_ref());
        }
    }

    #[test]
    fn a_tampered_asset_is_refused_naming_the_file() {
        let (_dir, out, a) = written(Publishing::Bucket("b-b-b".into()));
        let staged = a.lambda_asset.as_ref().unwrap().asset.staged_file_name();
        let mut bytes = std::fs::read(out.join(&staged)).unwrap();
        bytes.push(0);
        std::fs::write(out.join(&staged), &bytes).unwrap();
        let err = read(&out).unwrap_err();
        assert!(matches!(err, ReadError::Tampered { .. }), "{err}");
        let message = err.to_string();
        assert!(
            message.contains(&format!("{}` was modified after `rekey synth`", out.join(&staged).display())),
            "{message}"
        );
        assert!(message.contains("rekey-main.assets.json says sha256"), "{message}");
        assert!(message.contains(&sha256_hex(&bytes)), "{message}");
    }

    #[test]
    fn an_asset_renamed_to_another_hash_is_refused() {
        // The asset manifest and the zip agree, but the zip's name claims another hash.
        let (_dir, out, a) = written(Publishing::Bucket("b-b-b".into()));
        let sha = &a.lambda_asset.as_ref().unwrap().asset.sha256;
        let fake = "0".repeat(64);
        std::fs::rename(out.join(format!("asset.{sha}.zip")), out.join(format!("asset.{fake}.zip"))).unwrap();
        let assets = std::fs::read_to_string(out.join("rekey-main.assets.json")).unwrap();
        std::fs::write(
            out.join("rekey-main.assets.json"),
            assets.replace(&format!("asset.{sha}.zip"), &format!("asset.{fake}.zip")),
        )
        .unwrap();
        let err = read(&out).unwrap_err();
        assert!(err.to_string().contains("its file name says sha256 0000"), "{err}");
    }

    #[test]
    fn an_edited_config_or_template_is_noticed() {
        let (_dir, out, _) = written(Publishing::Bucket("b-b-b".into()));
        let text = std::fs::read_to_string(out.join(CONFIG_FILE)).unwrap();
        std::fs::write(out.join(CONFIG_FILE), text.replace("\"rekey\"", "\"other\"")).unwrap();
        let err = read(&out).unwrap_err();
        assert!(
            err.to_string().contains("rekey.config.json` was modified after `rekey synth`: manifest.json says"),
            "{err}"
        );
    }

    #[test]
    fn missing_files_are_named() {
        let (_dir, out, a) = written(Publishing::Bucket("b-b-b".into()));
        std::fs::remove_file(out.join(a.lambda_asset.as_ref().unwrap().asset.staged_file_name())).unwrap();
        let err = read(&out).unwrap_err();
        assert!(matches!(&err, ReadError::File { named_in, .. } if named_in == "rekey-main.assets.json"), "{err}");
        assert!(err.to_string().starts_with(&format!("cannot read `{}", out.join("asset.").display())), "{err}");

        let (_dir, out, _) = written(Publishing::Bucket("b-b-b".into()));
        std::fs::remove_file(out.join("rekey-main.template.json")).unwrap();
        let err = read(&out).unwrap_err();
        assert!(err.to_string().contains("rekey-main.template.json` (named in `manifest.json`)"), "{err}");
    }

    #[test]
    fn folders_that_are_not_rekey_assemblies_are_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        assert_eq!(
            read(&missing).unwrap_err().to_string(),
            format!(
                "`{0}` does not exist or is not a directory; write it with `rekey synth --out {0}`",
                missing.display()
            )
        );
        let err = read(dir.path()).unwrap_err();
        assert!(err.to_string().contains("is not a cloud assembly: it has no manifest.json"), "{err}");

        // A CDK app's assembly: a manifest, but no recorded rekey config.
        let mut a = assembly(Publishing::Bucket("b-b-b".into()));
        a.config_json = None;
        let out = dir.path().join("cdk.out");
        write(&out, &a).unwrap();
        let err = read(&out).unwrap_err();
        assert!(matches!(err, ReadError::NotRekey(_)), "{err}");
        assert!(err.to_string().contains("is a cloud assembly but not one written by `rekey synth`"), "{err}");

        // A manifest that escapes the directory is refused, not followed.
        let (_d, out, _) = written(Publishing::Bucket("b-b-b".into()));
        let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
        std::fs::write(out.join("manifest.json"), manifest.replace("\"rekey-main.template.json\"", "\"../x.json\""))
            .unwrap();
        let err = read(&out).unwrap_err();
        assert!(err.to_string().contains("`../x.json` is not a file name inside the assembly"), "{err}");
    }
}
