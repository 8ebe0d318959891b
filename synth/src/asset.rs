//! The Lambda asset: one deterministic zip (`bootstrap` at the root, plus
//! email template overrides) named by the SHA-256 of its bytes.

use rekey_config::Config;

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
