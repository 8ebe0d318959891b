//! Typed CloudFormation model, cloud assembly and Lambda asset packaging.

pub mod asset;
pub mod cfn;
