//! Building the runtime's Lambda `bootstrap` for Linux on the configured
//! architecture with `cargo zigbuild`, the way cargo-lambda does.
//!
//! The target carries a `.2.17` glibc suffix, so zig links against glibc
//! 2.17 symbols: the binary starts on `provided.al2023` (glibc 2.34) and on
//! older runtimes too, whatever the build host's glibc is. Tools that are
//! missing are installed into the checkout (`scripts/install-tools zig`), so
//! the default config synths on a fresh machine with nothing but `cargo`.

use rekey_config::{Architecture, Config, RuntimeFeature};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The cargo profile the Lambda binary is built with by default (root `Cargo.toml`).
pub const DEFAULT_PROFILE: &str = "lambda";
/// Environment variable choosing another profile (e.g. `lambda-test`, the
/// unoptimised one the tests use for the arm64 build).
pub const PROFILE_ENV: &str = "REKEY_LAMBDA_PROFILE";
/// Environment variable overriding where the Lambda build's cargo output goes.
pub const TARGET_DIR_ENV: &str = "REKEY_LAMBDA_TARGET_DIR";

/// The rekey checkout this binary was compiled from; `rekey synth` builds the
/// runtime from its sources.
pub fn compiled_workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("synth/ has a parent").to_path_buf()
}

/// What to build and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildOptions {
    /// The rekey workspace (holds `runtime/` and `scripts/install-tools`).
    pub workspace: PathBuf,
    /// The CPU of the functions.
    pub architecture: Architecture,
    /// Cargo profile (`lambda` unless overridden).
    pub profile: String,
    /// The runtime's optional parts to build in (the config's
    /// [`rekey_config::Integrations::runtime_features`]); the others are left out.
    pub features: Vec<RuntimeFeature>,
    /// Cargo target directory of the Lambda build. A directory of its own
    /// (`target/rekey-lambda` by default) so the nested cargo never waits on
    /// the lock of the cargo that runs `rekey` (`cargo run`, `cargo test`).
    pub target_dir: PathBuf,
}

impl BuildOptions {
    /// The build of `config`'s Lambda binary (its architecture and the
    /// optional parts it turns on), with defaults: the compiled-in workspace,
    /// the profile from [`PROFILE_ENV`] or `lambda`, the target dir from
    /// [`TARGET_DIR_ENV`] or `<workspace>/target/rekey-lambda`.
    pub fn new(config: &Config, profile: Option<String>) -> BuildOptions {
        let (architecture, features) = (config.lambda.architecture, config.integrations.runtime_features());
        let workspace = compiled_workspace();
        let profile = profile
            .or_else(|| std::env::var(PROFILE_ENV).ok().filter(|p| !p.is_empty()))
            .unwrap_or_else(|| DEFAULT_PROFILE.to_string());
        let target_dir = std::env::var_os(TARGET_DIR_ENV)
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace.join("target").join("rekey-lambda"));
        BuildOptions { workspace, architecture, profile, features, target_dir }
    }

    /// The feature arguments of the build: the runtime's default features
    /// (every optional part) off, the chosen ones on.
    pub fn feature_args(&self) -> Vec<String> {
        let mut args = vec!["--no-default-features".to_string()];
        if !self.features.is_empty() {
            let names: Vec<&str> = self.features.iter().map(|f| f.cargo_name()).collect();
            args.extend(["--features".to_string(), names.join(",")]);
        }
        args
    }

    /// Where cargo puts the binary.
    pub fn binary_path(&self) -> PathBuf {
        self.target_dir.join(self.architecture.rust_target()).join(&self.profile).join("bootstrap")
    }

    /// The `--target` argument: the triple with the glibc 2.17 suffix.
    pub fn zig_target(&self) -> String {
        format!("{}.2.17", self.architecture.rust_target())
    }
}

/// Why the Lambda binary could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Not run from a rekey checkout, so there is nothing to build.
    #[error("cannot build the Lambda binary: `{0}` is not the rekey source tree (no `runtime/Cargo.toml`); pass `--lambda-zip PATH` with a prebuilt zip instead")]
    NoWorkspace(PathBuf),
    /// `cargo-zigbuild` is missing and could not be installed.
    #[error("`cargo-zigbuild` is not installed and `{script}` did not install it; run `{script} zig` (needs python3 with venv and pip) or pass `--lambda-zip PATH`")]
    ZigbuildMissing {
        /// The install script tried.
        script: PathBuf,
    },
    /// A tool could not be started.
    #[error("cannot run `{tool}`: {source}; {hint}")]
    Spawn {
        /// The program.
        tool: String,
        /// The I/O error.
        source: std::io::Error,
        /// What to do.
        hint: &'static str,
    },
    /// A tool ran and failed.
    #[error("`{command}` failed ({status}); its output is above")]
    Failed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: std::process::ExitStatus,
    },
    /// The build succeeded but the binary is not where cargo puts it.
    #[error("the build finished but `{0}` does not exist")]
    NoBinary(PathBuf),
}

/// Builds `bootstrap` and returns its path. Progress (cargo's own output)
/// goes to this process's stderr.
pub fn build_bootstrap(options: &BuildOptions) -> Result<PathBuf, BuildError> {
    if !options.workspace.join("runtime").join("Cargo.toml").is_file() {
        return Err(BuildError::NoWorkspace(options.workspace.clone()));
    }
    let path = child_path(&options.workspace);
    ensure_zigbuild(&options.workspace, &path)?;
    ensure_rust_target(options.architecture.rust_target(), &path)?;

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target = options.zig_target();
    let mut args: Vec<OsString> = vec![
        "zigbuild".into(),
        "--target".into(),
        target.into(),
        "--profile".into(),
        options.profile.clone().into(),
        "-p".into(),
        "rekey-runtime".into(),
        "--bin".into(),
        "bootstrap".into(),
        "--target-dir".into(),
        options.target_dir.clone().into(),
    ];
    args.extend(options.feature_args().into_iter().map(OsString::from));
    eprintln!("rekey: building the Lambda binary: cargo {}", display_args(&args));
    let mut command = Command::new(&cargo);
    command.args(&args).current_dir(&options.workspace).env("PATH", &path);
    // Cargo variables of an enclosing `cargo run`/`cargo test` must not leak
    // into the nested build (they would point it at the outer target dir).
    command.env_remove("CARGO_TARGET_DIR").env_remove("CARGO_BUILD_TARGET");
    for name in crate_variables(std::env::vars_os().map(|(name, _)| name)) {
        command.env_remove(name);
    }
    run(command, format!("cargo {}", display_args(&args)), "is cargo installed and on PATH?")?;

    let binary = options.binary_path();
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(BuildError::NoBinary(binary))
    }
}

/// The variables cargo sets for the program it runs (`cargo run`, `cargo
/// test`) to describe that program's crate, found among `names`. They must
/// not reach the nested build: build scripts read some of them (ring's
/// declares `rerun-if-env-changed=CARGO_MANIFEST_DIR` and the
/// `CARGO_PKG_*` it reads), so with `/work/main/cli` inherited from `cargo run
/// -p rekey` cargo judged ring stale and recompiled every crate above it,
/// the whole SDK, after a build started from `target/debug/rekey` (and the
/// other way round). Cargo sets the right values for each build script itself.
fn crate_variables(names: impl Iterator<Item = OsString>) -> Vec<OsString> {
    const EXACT: [&str; 9] = [
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_MANIFEST_LINKS",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
        "OUT_DIR",
    ];
    const PREFIXES: [&str; 2] = ["CARGO_PKG_", "CARGO_BIN_EXE_"];
    names
        .filter(|name| {
            let name = name.to_string_lossy();
            EXACT.contains(&name.as_ref()) || PREFIXES.iter().any(|p| name.starts_with(p))
        })
        .collect()
}

/// PATH for the child processes: the checkout's zig venv first, so
/// `cargo zigbuild` finds both itself and `python -m ziglang` there.
fn child_path(workspace: &Path) -> OsString {
    let venv = workspace.join(".tools").join("zig").join("bin");
    let mut dirs = vec![venv];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).expect("PATH entries have no separator")
}

fn find_in(path: &OsString, program: &str) -> Option<PathBuf> {
    std::env::split_paths(path).map(|dir| dir.join(program)).find(|p| p.is_file())
}

fn ensure_zigbuild(workspace: &Path, path: &OsString) -> Result<(), BuildError> {
    if find_in(path, "cargo-zigbuild").is_some() {
        return Ok(());
    }
    let script = workspace.join("scripts").join("install-tools");
    eprintln!("rekey: cargo-zigbuild not found; installing it with `{} zig`", script.display());
    let mut command = Command::new(&script);
    command.arg("zig").current_dir(workspace);
    match run(command, format!("{} zig", script.display()), "") {
        Ok(()) if find_in(path, "cargo-zigbuild").is_some() => Ok(()),
        _ => Err(BuildError::ZigbuildMissing { script }),
    }
}

fn ensure_rust_target(triple: &str, path: &OsString) -> Result<(), BuildError> {
    // Without rustup (a distribution's rustc) there is nothing to add; the
    // build itself then says whether the target's std is there.
    let Ok(output) = Command::new("rustup").args(["target", "list", "--installed"]).env("PATH", path).output() else {
        return Ok(());
    };
    if String::from_utf8_lossy(&output.stdout).lines().any(|l| l.trim() == triple) {
        return Ok(());
    }
    eprintln!("rekey: adding the Rust target `{triple}`");
    let mut command = Command::new("rustup");
    command.args(["target", "add", triple]).env("PATH", path);
    run(command, format!("rustup target add {triple}"), "is rustup installed?")
}

/// Runs `command` with its stdout and stderr both on our stderr (our stdout
/// belongs to the verb's result).
fn run(mut command: Command, display: String, hint: &'static str) -> Result<(), BuildError> {
    let stderr = std::io::stderr();
    let stdout_to_stderr =
        std::os::fd::AsFd::as_fd(&stderr).try_clone_to_owned().map(Stdio::from).unwrap_or_else(|_| Stdio::inherit());
    command.stdin(Stdio::null()).stdout(stdout_to_stderr).stderr(Stdio::inherit());
    let program = command.get_program().to_string_lossy().into_owned();
    let status = command.status().map_err(|source| BuildError::Spawn { tool: program, source, hint })?;
    if status.success() {
        Ok(())
    } else {
        Err(BuildError::Failed { command: display, status })
    }
}

fn display_args(args: &[OsString]) -> String {
    args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crate_variables_of_an_enclosing_cargo_run_are_removed_and_cargo_settings_kept() {
        let names = [
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
            "CARGO_BIN_EXE_rekey",
            "CARGO_CRATE_NAME",
            "OUT_DIR",
            "CARGO_HOME",
            "CARGO_PROFILE_LAMBDA_LTO",
            "CARGO_NET_OFFLINE",
            "RUSTUP_TOOLCHAIN",
            "PATH",
        ];
        let removed = crate_variables(names.iter().map(OsString::from));
        assert_eq!(
            removed,
            [
                "CARGO_MANIFEST_DIR",
                "CARGO_PKG_NAME",
                "CARGO_PKG_VERSION_MAJOR",
                "CARGO_BIN_EXE_rekey",
                "CARGO_CRATE_NAME",
                "OUT_DIR"
            ]
            .map(OsString::from)
        );
    }

    #[test]
    fn binary_path_and_target_follow_architecture_and_profile() {
        let options = BuildOptions {
            workspace: PathBuf::from("/ws"),
            architecture: Architecture::Arm64,
            profile: "lambda-test".into(),
            features: vec![],
            target_dir: PathBuf::from("/ws/target/rekey-lambda"),
        };
        assert_eq!(options.zig_target(), "aarch64-unknown-linux-gnu.2.17");
        assert_eq!(
            options.binary_path(),
            PathBuf::from("/ws/target/rekey-lambda/aarch64-unknown-linux-gnu/lambda-test/bootstrap")
        );
    }

    #[test]
    fn the_build_has_exactly_the_optional_parts_the_config_turns_on() {
        let off = BuildOptions::new(&Config::builtin_default(), None);
        assert_eq!(off.feature_args(), ["--no-default-features"]);
        let config =
            Config::from_yaml_str("integrations:\n  security_hub: { enabled: true }\n  event_bus: b\n", None).unwrap();
        let on = BuildOptions::new(&config, None);
        assert_eq!(on.feature_args(), ["--no-default-features", "--features", "security-hub,event-bus"]);
    }

    #[test]
    fn compiled_workspace_is_this_checkout() {
        assert!(compiled_workspace().join("runtime").join("Cargo.toml").is_file());
    }

    #[test]
    fn outside_a_checkout_the_error_says_to_use_a_prebuilt_zip() {
        let dir = tempfile::tempdir().unwrap();
        let options = BuildOptions {
            workspace: dir.path().to_path_buf(),
            architecture: Architecture::X86_64,
            profile: DEFAULT_PROFILE.into(),
            features: vec![],
            target_dir: dir.path().join("target"),
        };
        let err = build_bootstrap(&options).unwrap_err();
        assert!(err.to_string().contains("pass `--lambda-zip PATH`"), "{err}");
    }

    #[test]
    fn child_path_puts_the_zig_venv_first() {
        let path = child_path(Path::new("/ws"));
        assert_eq!(std::env::split_paths(&path).next(), Some(PathBuf::from("/ws/.tools/zig/bin")));
    }
}
