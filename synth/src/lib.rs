//! Typed CloudFormation model, cloud assembly and Lambda asset packaging.

pub mod assembly;
pub mod asset;
pub mod asset_cache;
pub mod build;
pub mod cfn;
pub mod elf;
