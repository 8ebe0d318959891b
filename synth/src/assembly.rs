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
//!   ...                            the other stacks' templates
//! ```
//! The directory is written into a temporary sibling and swapped in at the
//! end, so a failed synth leaves the previous assembly as it was. Nothing in
//! it depends on the clock or the machine: the same inputs give the same bytes.

use crate::asset::{sha256_hex, PackagedAsset};
use serde_json::{json, Map, Value};
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
    let mut artifacts = Map::new();
    for stack in &assembly.stacks {
        let template_file = format!("{}.template.json", stack.name);
        let mut template_json = stack.template_json.clone().into_bytes();
        if !template_json.ends_with(b"\n") {
            template_json.push(b'\n');
        }
        let template_hash = sha256_hex(&template_json);
        let uses_bootstrap = stack.uses_lambda_asset && matches!(assembly.publishing, Publishing::Bootstrap { .. });

        let mut properties = Map::new();
        properties.insert("templateFile".into(), json!(template_file));
        properties.insert("stackName".into(), json!(stack.name));
        if !assembly.tags.is_empty() {
            properties.insert("tags".into(), json!(assembly.tags));
        }
        properties.insert("terminationProtection".into(), json!(false));
        properties.insert("validateOnSynth".into(), json!(false));
        let mut dependencies: Vec<String> = stack.dependencies.clone();

        if stack.uses_lambda_asset {
            let packaged =
                assembly.lambda_asset.as_ref().ok_or_else(|| AssemblyError::MissingAsset(stack.name.clone()))?;
            let assets_id = format!("{}.assets", stack.name);
            let assets_file = format!("{assets_id}.json");
            let manifest = asset_manifest(
                &assembly.publishing,
                packaged,
                uses_bootstrap.then_some((&template_file, &template_hash)),
            );
            files.push((assets_file.clone(), pretty(&manifest)));
            let mut asset_props = Map::new();
            asset_props.insert("file".into(), json!(assets_file));
            if let Publishing::Bootstrap { qualifier } = &assembly.publishing {
                asset_props.insert("requiresBootstrapStackVersion".into(), json!(BOOTSTRAP_VERSION));
                asset_props.insert("bootstrapStackVersionSsmParameter".into(), json!(ssm_parameter(qualifier)));
            }
            artifacts.insert(assets_id.clone(), json!({ "type": "cdk:asset-manifest", "properties": asset_props }));
            dependencies.insert(0, assets_id.clone());
            if let Publishing::Bootstrap { qualifier } = &assembly.publishing {
                let role = |name: &str| {
                    format!("arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/cdk-{qualifier}-{name}-${{AWS::AccountId}}-${{AWS::Region}}")
                };
                properties.insert("assumeRoleArn".into(), json!(role("deploy-role")));
                properties.insert("cloudFormationExecutionRoleArn".into(), json!(role("cfn-exec-role")));
                properties.insert(
                    "stackTemplateAssetObjectUrl".into(),
                    json!(format!("s3://{}/{template_hash}.json", bootstrap_bucket(qualifier))),
                );
                properties.insert("requiresBootstrapStackVersion".into(), json!(BOOTSTRAP_VERSION));
                properties.insert("bootstrapStackVersionSsmParameter".into(), json!(ssm_parameter(qualifier)));
            }
            properties.insert("additionalDependencies".into(), json!([assets_id]));
        }

        let mut artifact = Map::new();
        artifact.insert("type".into(), json!("aws:cloudformation:stack"));
        artifact.insert("environment".into(), json!(stack.environment.uri()));
        artifact.insert("properties".into(), Value::Object(properties));
        if !dependencies.is_empty() {
            artifact.insert("dependencies".into(), json!(dependencies));
        }
        artifact.insert("displayName".into(), json!(stack.name));
        artifacts.insert(stack.name.clone(), Value::Object(artifact));

        files.push((template_file, template_json));
        let mut yaml = stack.template_yaml.clone().into_bytes();
        if !yaml.ends_with(b"\n") {
            yaml.push(b'\n');
        }
        files.push((format!("{}.template.yaml", stack.name), yaml));
    }
    if let Some(packaged) = &assembly.lambda_asset {
        files.push((packaged.asset.staged_file_name(), packaged.zip.clone()));
    }
    files.push(("manifest.json".into(), pretty(&json!({ "version": SCHEMA_VERSION, "artifacts": artifacts }))));
    files.push(("cdk.out".into(), pretty(&json!({ "version": SCHEMA_VERSION }))));
    Ok(files)
}

fn asset_manifest(publishing: &Publishing, packaged: &PackagedAsset, template: Option<(&String, &String)>) -> Value {
    let destination = |object_key: String| -> Value {
        match publishing {
            Publishing::Bootstrap { qualifier } => json!({
                "bucketName": bootstrap_bucket(qualifier),
                "objectKey": object_key,
                "assumeRoleArn": format!("arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/cdk-{qualifier}-file-publishing-role-${{AWS::AccountId}}-${{AWS::Region}}"),
            }),
            Publishing::Bucket(bucket) => json!({ "bucketName": bucket, "objectKey": object_key }),
        }
    };
    let asset = &packaged.asset;
    let mut files = Map::new();
    files.insert(
        asset.sha256.clone(),
        json!({
            "source": { "path": asset.staged_file_name(), "packaging": "file" },
            "destinations": { "current_account-current_region": destination(asset.object_key()) },
        }),
    );
    if let Some((template_file, hash)) = template {
        files.insert(
            hash.clone(),
            json!({
                "source": { "path": template_file, "packaging": "file" },
                "destinations": { "current_account-current_region": destination(format!("{hash}.json")) },
            }),
        );
    }
    json!({ "version": SCHEMA_VERSION, "files": files, "dockerImages": {} })
}

fn bootstrap_bucket(qualifier: &str) -> String {
    format!("cdk-{qualifier}-assets-${{AWS::AccountId}}-${{AWS::Region}}")
}

fn ssm_parameter(qualifier: &str) -> String {
    format!("/cdk-bootstrap/{qualifier}/version")
}

fn pretty(value: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("json values serialize");
    bytes.push(b'\n');
    bytes
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asset::{asset_files, pack};
    use crate::elf::fixture;
    use pretty_assertions::assert_eq;

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
        }
    }

    fn file(files: &[(String, Vec<u8>)], name: &str) -> Value {
        let bytes = &files.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no {name}")).1;
        serde_json::from_slice(bytes).unwrap()
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
}
