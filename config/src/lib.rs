//! The one typed configuration of rekey: read from YAML by the synthesizer,
//! passed to each Lambda function through its environment, and read back by
//! the runtime with the same loader, so no field can be documented and ignored.
//!
//! Two stages: [`ConfigFile`] is the serde layer (`deny_unknown_fields`,
//! defaults); [`Config`] is only built by validation and is what every other
//! crate takes.

pub mod contract;
mod dashboard;
mod file;
mod ids;
mod names;
pub mod reference;
mod runtime;
mod validate;
pub mod yaml;

pub use dashboard::*;
pub use file::*;
pub use ids::*;
pub use names::{secret_name_in, secret_name_problem, Names, StackId, MAX_SECRET_NAME_LEN};
pub use runtime::*;
pub use validate::LOG_RETENTION_DAYS;

use std::ops::Deref;
use std::path::{Path, PathBuf};

/// The secret name pattern of the reference solution, kept as the default so
/// existing secrets are found after a migration.
pub const DEFAULT_SECRET_NAME_PATTERN: &str = "Account_{account_id}_User_{user_name}_AccessKey";

/// The built-in default configuration, with comments; `rekey init` writes it.
pub const DEFAULT_CONFIG_YAML: &str = include_str!("default.yaml");

/// Environment variable holding a function's view of the config, as JSON.
pub const CONFIG_ENV: &str = "REKEY_CONFIG";

/// Where, inside the Lambda asset, email template overrides are shipped.
pub const ASSET_HTML_TEMPLATE: &str = "templates/email.html.tera";
/// Where, inside the Lambda asset, the plain-text template override is shipped.
pub const ASSET_TEXT_TEMPLATE: &str = "templates/email.txt.tera";

/// One broken rule: the YAML path and what is wrong there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Dotted YAML path, e.g. `lifecycle.deactivate_after_days` or `vpc.subnet_ids[1]`.
    pub path: String,
    /// The rule broken, with the offending value.
    pub message: String,
}

impl std::fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not valid YAML/JSON of the right shape (unknown field, wrong type, bad id).
    #[error("{}invalid configuration at `{path}`: {message}", origin.as_ref().map(|o| format!("{o}: ")).unwrap_or_default())]
    Syntax {
        /// The file, when there is one.
        origin: Option<String>,
        /// Dotted path of the offending value (`(root)` for the document itself).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The shape is right but rules are broken.
    #[error("{}invalid configuration:\n{}", origin.as_ref().map(|o| format!("{o}: ")).unwrap_or_default(), issues.iter().map(|i| format!("  - {i}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// The file, when there is one.
        origin: Option<String>,
        /// Every broken rule.
        issues: Vec<ConfigIssue>,
    },
}

impl ConfigError {
    /// Every `(path, message)` this error reports, for tests and JSON output.
    pub fn issues(&self) -> Vec<ConfigIssue> {
        match self {
            ConfigError::Read { path, source } => {
                vec![ConfigIssue { path: "(file)".into(), message: format!("{}: {source}", path.display()) }]
            }
            ConfigError::Syntax { path, message, .. } => {
                vec![ConfigIssue { path: path.clone(), message: message.clone() }]
            }
            ConfigError::Invalid { issues, .. } => issues.clone(),
        }
    }
}

/// Email template overrides, read from files next to the config (CLI) or
/// from the Lambda asset (runtime).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TemplateOverrides {
    /// HTML template text.
    pub html: Option<String>,
    /// Plain-text template text.
    pub text: Option<String>,
}

/// A validated configuration. Only [`Config::validate`] and the loaders
/// build one, so holding a `Config` means every rule holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    file: ConfigFile,
    templates: TemplateOverrides,
    /// The file says neither `scope` nor `organization`: read as `scope: account`, as before the field existed.
    scope_inferred: bool,
}

impl Deref for Config {
    type Target = ConfigFile;
    fn deref(&self) -> &ConfigFile {
        &self.file
    }
}

/// The scope step of validation; returns whether the scope was inferred (no `scope`, no `organization`). The
/// validated model keeps carrying the scope as "an `organization` section is present" (every consumer reads
/// that), so the section is filled in with its defaults for `scope: organization` and must be absent for
/// `scope: account`.
fn resolve_scope(file: &mut ConfigFile, issues: &mut Vec<ConfigIssue>) -> bool {
    match (file.scope, &file.organization) {
        (Some(Scope::Organization), None) => file.organization = Some(Organization::default()),
        (Some(Scope::Account), Some(_)) => issues.insert(
            0,
            ConfigIssue {
                path: "organization".to_string(),
                message: "`scope: account` covers only the deployment account: remove the `organization` section, \
                          or set `scope: organization`"
                    .to_string(),
            },
        ),
        _ => {}
    }
    file.scope.is_none() && file.organization.is_none()
}

/// The Lambda functions rekey deploys, each reading its own view of the config.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Function {
    /// Lists accounts and queues one message per account.
    Inventory,
    /// Audits, plans and (enforce mode) rotates one account.
    Rotation,
    /// Renders and sends the email digests.
    Notifier,
}

impl Function {
    /// Every function, in deployment order.
    pub const ALL: [Function; 3] = [Function::Inventory, Function::Rotation, Function::Notifier];

    /// Short lowercase name (`inventory`, `rotation`, `notifier`).
    pub fn name(self) -> &'static str {
        match self {
            Function::Inventory => "inventory",
            Function::Rotation => "rotation",
            Function::Notifier => "notifier",
        }
    }
}

impl Config {
    /// Validates a parsed file.
    pub fn validate(file: ConfigFile) -> Result<Config, ConfigError> {
        Self::validate_with(file, TemplateOverrides::default(), None)
    }

    fn validate_with(
        file: ConfigFile,
        templates: TemplateOverrides,
        origin: Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut file = file;
        let mut issues = validate::issues(&file);
        let scope_inferred = resolve_scope(&mut file, &mut issues);
        if issues.is_empty() {
            Ok(Config { file, templates, scope_inferred })
        } else {
            Err(ConfigError::Invalid { origin, issues })
        }
    }

    /// The built-in default configuration.
    pub fn builtin_default() -> Config {
        Self::from_yaml_str(DEFAULT_CONFIG_YAML, None).expect("the built-in default config is valid")
    }

    /// Parses and validates YAML text. Template override paths are not read.
    pub fn from_yaml_str(text: &str, origin: Option<&str>) -> Result<Config, ConfigError> {
        let file = parse_yaml(text, origin)?;
        Self::validate_with(file, TemplateOverrides::default(), origin.map(str::to_string))
    }

    /// Reads, parses and validates a YAML file, and reads the email template
    /// overrides it names (paths relative to the file).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = read_config_file(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let origin = path.display().to_string();
        let file = parse_yaml(&text, Some(&origin))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut issues = Vec::new();
        let mut read = |field: &str, rel: &Option<String>| -> Option<String> {
            let rel = rel.as_ref()?;
            let full = base.join(rel);
            match std::fs::read_to_string(&full) {
                Ok(text) => Some(text),
                Err(e) => {
                    issues.push(ConfigIssue {
                        path: format!("notifications.{field}"),
                        message: format!("cannot read template file `{}`: {e}", full.display()),
                    });
                    None
                }
            }
        };
        let templates = TemplateOverrides {
            html: read("html_template", &file.notifications.html_template),
            text: read("text_template", &file.notifications.text_template),
        };
        issues.extend(validate::issues(&file));
        let mut file = file;
        let scope_inferred = resolve_scope(&mut file, &mut issues);
        if issues.is_empty() {
            Ok(Config { file, templates, scope_inferred })
        } else {
            Err(ConfigError::Invalid { origin: Some(origin), issues })
        }
    }

    /// The config as a Lambda function sees it: only the sections that
    /// function reads, so changing e.g. a lifecycle threshold changes only the
    /// rotation function's environment. Serialized as compact JSON for [`CONFIG_ENV`].
    pub fn function_view(&self, function: Function) -> ConfigFile {
        let full = &self.file;
        let mut view = ConfigFile {
            // The validated `organization` section carries the scope (see `validate_with`), and leaving the field
            // out keeps each function's environment what it was before `scope` existed.
            scope: None,
            deployment: Deployment {
                name_prefix: full.deployment.name_prefix.clone(),
                region: full.deployment.region.clone(),
                account_id: full.deployment.account_id.clone(),
                ..Deployment::default()
            },
            organization: full.organization.clone().map(|mut o| {
                o.stackset = StackSetSettings::default();
                o
            }),
            lifecycle: Lifecycle::default(),
            mode: Mode::default(),
            secrets: Secrets::default(),
            notifications: Notifications::default(),
            schedule: Schedule::default(),
            vpc: Vpc::default(),
            lambda: Lambda::default(),
            integrations: Integrations::default(),
            runtime: Runtime::default(),
            // Read by the synthesizer and the CLI only.
            dashboard: Dashboard::default(),
            plan: PlanFiles::default(),
        };
        match function {
            Function::Inventory => {
                view.mode = full.mode;
            }
            Function::Rotation => {
                view.lifecycle = full.lifecycle.clone();
                view.mode = full.mode;
                view.secrets = full.secrets.clone();
                view.notifications = full.notifications.clone();
                view.integrations = full.integrations.clone();
                view.runtime = full.runtime.clone();
            }
            Function::Notifier => {
                view.organization = None;
                view.mode = full.mode;
                view.notifications = full.notifications.clone();
                // `Run Completed` is sent when the notifier closes a run.
                view.integrations.event_bus = full.integrations.event_bus.clone();
            }
        }
        view
    }

    /// The JSON a function finds in [`CONFIG_ENV`].
    pub fn function_env_json(&self, function: Function) -> String {
        serde_json::to_string(&self.function_view(function)).expect("config serializes")
    }

    /// The runtime's loader: parses a function's [`CONFIG_ENV`] JSON and reads
    /// template overrides from the unpacked asset at `asset_root`.
    pub fn from_runtime_json(json: &str, asset_root: &Path) -> Result<Config, ConfigError> {
        let origin = Some(format!("${CONFIG_ENV}"));
        let de = &mut serde_json::Deserializer::from_str(json);
        let file: ConfigFile = serde_path_to_error::deserialize(de).map_err(|e| ConfigError::Syntax {
            origin: origin.clone(),
            path: display_path(&e.path().to_string()),
            message: e.inner().to_string(),
        })?;
        let read = |set: bool, rel: &str| {
            if set {
                std::fs::read_to_string(asset_root.join(rel)).ok()
            } else {
                None
            }
        };
        let templates = TemplateOverrides {
            html: read(file.notifications.html_template.is_some(), ASSET_HTML_TEMPLATE),
            text: read(file.notifications.text_template.is_some(), ASSET_TEXT_TEMPLATE),
        };
        Self::validate_with(file, templates, origin)
    }

    /// The scope in effect: `organization` when the validated config has an `organization` section (always so
    /// for `scope: organization`), else `account`.
    pub fn scope(&self) -> Scope {
        if self.file.organization.is_some() {
            Scope::Organization
        } else {
            Scope::Account
        }
    }

    /// Whether the file set neither `scope` nor `organization` and was read as `scope: account` (the meaning such
    /// files had before `scope` existed). The CLI says so on stderr, with the one-line fix.
    pub fn scope_inferred(&self) -> bool {
        self.scope_inferred
    }

    /// The note the CLI prints for [`Config::scope_inferred`].
    pub const SCOPE_INFERRED_NOTE: &'static str = "note: the config sets neither `scope` nor `organization`: read as \
        `scope: account` (only the deployment account), as before `scope` existed; add `scope: account` to keep \
        that, or `scope: organization` to cover the organization";

    /// The raw, validated file.
    pub fn file(&self) -> &ConfigFile {
        &self.file
    }

    /// Email template overrides, when configured.
    pub fn templates(&self) -> &TemplateOverrides {
        &self.templates
    }

    /// Every name derived from the config (roles, functions, queues, stacks).
    pub fn names(&self) -> Names {
        Names::new(&self.file)
    }

    /// The YAML text of this config (normalized, without comments).
    pub fn to_yaml(&self) -> String {
        yaml::to_string(&self.file)
    }
}

/// The JSON Schema of the configuration file, for editor completion.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(ConfigFile)).expect("schema serializes")
}

fn parse_yaml(text: &str, origin: Option<&str>) -> Result<ConfigFile, ConfigError> {
    // An empty file, one with only comments or a bare `---` means "all defaults".
    let file: Option<ConfigFile> = yaml::from_str(text).map_err(|yaml::YamlError { path, message }| {
        ConfigError::Syntax { origin: origin.map(str::to_string), path, message }
    })?;
    Ok(file.unwrap_or_else(|| yaml::from_str("{}").expect("an empty mapping is the all-defaults config")))
}

/// Reads a config file, refusing before parsing what no config can be: a
/// file over [`yaml::MAX_CONFIG_BYTES`] (checked before reading, and again
/// while reading, for files whose size is not known up front) or text that is
/// not UTF-8.
fn read_config_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let refuse = |message: String| std::io::Error::new(std::io::ErrorKind::InvalidData, message);
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len > yaml::MAX_CONFIG_BYTES as u64 {
        return Err(refuse(yaml::too_large(usize::try_from(len).unwrap_or(usize::MAX))));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(yaml::MAX_CONFIG_BYTES as u64 + 1).read_to_end(&mut bytes)?;
    if bytes.len() > yaml::MAX_CONFIG_BYTES {
        return Err(refuse(format!(
            "refused: the file is larger than {} bytes (1 MiB), the most a rekey config may be",
            yaml::MAX_CONFIG_BYTES
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        refuse(format!("refused: the file is not UTF-8 text (invalid byte at offset {at}, line {line})"))
    })
}

fn display_path(path: &str) -> String {
    if path.is_empty() || path == "." {
        "(root)".to_string()
    } else {
        path.to_string()
    }
}

#[cfg(test)]
mod tests;
