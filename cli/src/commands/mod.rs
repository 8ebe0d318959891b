//! One module per verb; each has `Args` (clap) and `run(args, out) -> VerbResult`,
//! writing its result into the injected writer so tests can read it.

pub mod completions;
#[cfg(feature = "aws")]
pub mod deploy;
#[cfg(feature = "aws")]
pub mod destroy;
#[cfg(feature = "aws")]
pub mod diff;
pub mod init;
pub mod ls;
#[cfg(feature = "aws")]
pub mod plan;
#[cfg(feature = "aws")]
mod reviewed;
#[cfg(feature = "aws")]
pub mod rotate;
pub mod schema;
pub mod synth;
pub mod validate;

use crate::exit::Failure;
use rekey_config::Config;
use std::path::{Path, PathBuf};

/// The file every verb uses without `--config` when it exists in the current directory (what `rekey init` writes).
pub const DISCOVERED_FILE: &str = "rekey.yaml";

/// Names the config file when `--config` is not given (the Lambda functions' `REKEY_CONFIG` is something else: the
/// function's own view of the config, as JSON).
pub const CONFIG_FILE_ENV: &str = "REKEY_CONFIG_FILE";

/// Where the config came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// `--config FILE`.
    Flag(PathBuf),
    /// `REKEY_CONFIG_FILE`.
    Env(PathBuf),
    /// `./rekey.yaml`.
    Discovered(PathBuf),
    /// Nothing given, no `./rekey.yaml`: the built-in default.
    BuiltIn,
}

impl ConfigSource {
    /// The file, when there is one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            ConfigSource::Flag(p) | ConfigSource::Env(p) | ConfigSource::Discovered(p) => Some(p),
            ConfigSource::BuiltIn => None,
        }
    }
}

/// The one discovery rule: `--config`, else `REKEY_CONFIG_FILE`, else `./rekey.yaml` when it exists, else the
/// built-in default. `env` and `cwd_has_file` are parameters so the rule is tested without touching the process.
pub fn config_source(flag: Option<&Path>, env: Option<PathBuf>, cwd_has_file: bool) -> ConfigSource {
    match (flag, env.filter(|p| !p.as_os_str().is_empty())) {
        (Some(path), _) => ConfigSource::Flag(path.to_path_buf()),
        (None, Some(path)) => ConfigSource::Env(path),
        (None, None) if cwd_has_file => ConfigSource::Discovered(PathBuf::from(DISCOVERED_FILE)),
        (None, None) => ConfigSource::BuiltIn,
    }
}

/// [`config_source`] for this process. A file found without `--config` is named on stderr: the user did not type
/// it, so they are told which one acts.
pub fn resolve_config(flag: Option<&Path>) -> ConfigSource {
    let env = std::env::var_os(CONFIG_FILE_ENV).map(PathBuf::from);
    let source = config_source(flag, env, Path::new(DISCOVERED_FILE).is_file());
    match &source {
        ConfigSource::Env(path) => eprintln!("using config {} (from {CONFIG_FILE_ENV})", path.display()),
        ConfigSource::Discovered(path) => eprintln!("using config {} (found in the current directory)", path.display()),
        ConfigSource::Flag(_) | ConfigSource::BuiltIn => {}
    }
    match source.path() {
        Some(path) => tracing::info!(config = %path.display(), "reading the config file"),
        None => tracing::info!("using the built-in default config"),
    }
    source
}

/// Loads the config the discovery rule ([`resolve_config`]) names. An invalid file becomes a [`Failure`] with exit
/// code 3 (see `exit.rs`).
pub fn load_config(flag: Option<&Path>) -> Result<Config, Failure> {
    let config = match resolve_config(flag).path() {
        Some(path) => Config::load(path)?,
        None => Config::builtin_default(),
    };
    note_inferred_scope(&config);
    Ok(config)
}

/// A file from before `scope` existed (neither `scope` nor `organization`) keeps its meaning, single account, and
/// is told so on stderr with the one-line fix: refusing it would break every such file at once, and reading it as
/// the new default (organization) would silently widen what rekey touches.
pub fn note_inferred_scope(config: &Config) {
    if config.scope_inferred() {
        eprintln!("{}", Config::SCOPE_INFERRED_NOTE);
    }
}

/// The scope in words, for `validate`, `ls` and `synth`.
pub fn scope_text(config: &Config) -> String {
    match (config.scope(), config.scope_inferred()) {
        (rekey_config::Scope::Organization, _) => "scope: organization (the accounts of the AWS Organization)".into(),
        (rekey_config::Scope::Account, false) => "scope: account (only the deployment account)".into(),
        (rekey_config::Scope::Account, true) => {
            "scope: account (only the deployment account; inferred: no `scope`, no `organization`)".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_order_is_flag_env_file_default() {
        let flag = Path::new("a.yaml");
        let env = || Some(PathBuf::from("b.yaml"));
        assert_eq!(config_source(Some(flag), env(), true), ConfigSource::Flag(flag.into()));
        assert_eq!(config_source(None, env(), true), ConfigSource::Env("b.yaml".into()));
        assert_eq!(config_source(None, None, true), ConfigSource::Discovered("rekey.yaml".into()));
        assert_eq!(config_source(None, Some(PathBuf::new()), false), ConfigSource::BuiltIn);
        assert_eq!(config_source(None, None, false), ConfigSource::BuiltIn);
    }
}
