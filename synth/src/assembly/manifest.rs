//! The cloud assembly's JSON files (`manifest.json`, `cdk.out`, `<stack>.assets.json`) as serde types: the one
//! description of their keys, built by `render` and parsed back by `read`, so the writer and the reader cannot
//! disagree. Fields are declared in the order they are written: the files stay byte-for-byte what rekey has always
//! written (the snapshot and determinism tests hold them to it).
//!
//! Reading is lenient where assemblies of CDK apps differ: unknown keys and artifact types are ignored, and the
//! fields rekey needs are `Option`s, so a missing one is reported by name rather than as a parse error.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The cloud assembly schema version.
    pub version: String,
    /// Every artifact by id, in writing order (asset manifests just before the stack that uses them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<IndexMap<String, Artifact>>,
}

/// `cdk.out`: the schema version alone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionFile {
    /// The cloud assembly schema version.
    pub version: String,
}

/// One artifact of the manifest, by its `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Artifact {
    /// A CloudFormation stack.
    #[serde(rename = "aws:cloudformation:stack")]
    Stack(Box<StackArtifact>),
    /// An asset manifest (`<stack>.assets.json`).
    #[serde(rename = "cdk:asset-manifest")]
    AssetManifest(AssetManifestArtifact),
    /// Any other type (`cdk:tree`, nested assemblies, ...): ignored.
    #[serde(other)]
    Other,
}

/// An `aws:cloudformation:stack` artifact.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackArtifact {
    /// `aws://ACCOUNT/REGION`.
    #[serde(default)]
    pub environment: String,
    /// Template file, stack name, tags, bootstrap roles.
    #[serde(default)]
    pub properties: StackProperties,
    /// Metadata entries by construct path (rekey files one, [`super::CONFIG_METADATA_TYPE`], under `/rekey`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub metadata: IndexMap<String, Vec<MetadataEntry>>,
    /// Artifacts to deploy first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<String>,
    /// The name the CDK CLI shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// The `properties` of a stack artifact.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackProperties {
    /// `<stack>.template.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_file: Option<String>,
    /// The CloudFormation stack name (the artifact id when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_name: Option<String>,
    /// Stack tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Always written `false`.
    #[serde(default)]
    pub termination_protection: bool,
    /// Always written `false`.
    #[serde(default)]
    pub validate_on_synth: bool,
    /// CDK bootstrap deploy role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assume_role_arn: Option<String>,
    /// CDK bootstrap CloudFormation execution role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_formation_execution_role_arn: Option<String>,
    /// Where the CDK CLI publishes the template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_template_asset_object_url: Option<String>,
    /// The bootstrap stack version required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_bootstrap_stack_version: Option<u32>,
    /// The SSM parameter holding the bootstrap version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_stack_version_ssm_parameter: Option<String>,
    /// The asset manifest this stack needs published first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_dependencies: Vec<String>,
}

/// A `cdk:asset-manifest` artifact.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AssetManifestArtifact {
    /// The file and the bootstrap version it needs.
    #[serde(default)]
    pub properties: AssetManifestProperties,
}

/// The `properties` of an asset manifest artifact.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetManifestProperties {
    /// `<stack>.assets.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The bootstrap stack version required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_bootstrap_stack_version: Option<u32>,
    /// The SSM parameter holding the bootstrap version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_stack_version_ssm_parameter: Option<String>,
}

/// One metadata entry. `data` is free-form in the schema (its shape depends on `type`); rekey's own is a
/// [`ConfigRef`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetadataEntry {
    /// The entry type (`rekey:config`, `aws:cdk:logicalId`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// The payload.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub data: Value,
}

/// The `data` of the `rekey:config` metadata entry: the recorded config file and its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigRef {
    /// File name inside the assembly.
    pub file: String,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
}

/// `<stack>.assets.json`: the files to publish, by the SHA-256 of their bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetManifest {
    /// The cloud assembly schema version.
    pub version: String,
    /// File assets by SHA-256 (the Lambda zip first, then the template when it is published too).
    #[serde(default)]
    pub files: IndexMap<String, FileAsset>,
    /// Always empty: rekey has no container images.
    #[serde(default)]
    pub docker_images: IndexMap<String, Value>,
}

/// One file asset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileAsset {
    /// The file inside the assembly.
    #[serde(default)]
    pub source: FileSource,
    /// Where it goes, by destination id.
    #[serde(default)]
    pub destinations: IndexMap<String, Destination>,
}

/// Where a file asset comes from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FileSource {
    /// Path relative to the assembly (CDK apps may give an `executable` instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packaging: Option<String>,
}

/// One publishing destination of a file asset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    /// The bucket (with `${AWS::AccountId}`/`${AWS::Region}` placeholders for the bootstrap bucket).
    pub bucket_name: String,
    /// The object key.
    pub object_key: String,
    /// The CDK bootstrap file-publishing role, when publishing to the bootstrap bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assume_role_arn: Option<String>,
}

/// Pretty JSON with a final newline, as every file of the assembly is written.
pub fn pretty<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("manifest types serialize");
    bytes.push(b'\n');
    bytes
}
