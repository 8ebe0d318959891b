//! Paths of the tools `scripts/install-tools` puts in `<workspace>/.tools/`
//! and of the shared fixtures. A missing tool fails the test with the command
//! that installs it: tests never skip.

use std::path::PathBuf;

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().expect("the tests crate lives inside the workspace").to_path_buf()
}

/// `<workspace>/.tools/<rel>`, e.g. `tool("lint/bin/cfn-lint")`.
///
/// # Panics
/// When the tool is not installed, with the command that installs it.
pub fn tool(rel: &str) -> PathBuf {
    let path = workspace_root().join(".tools").join(rel);
    assert!(
        path.exists(),
        "`{}` is missing: run `scripts/install-tools` from the workspace root to install the test tools",
        path.display()
    );
    path
}

/// `<workspace>/tests/fixtures/<name>`.
pub fn fixture(name: &str) -> PathBuf {
    workspace_root().join("tests").join("fixtures").join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_tools_and_fixtures_resolve_inside_the_workspace() {
        assert!(workspace_root().join("Cargo.toml").exists());
        assert!(fixture("all-options.yaml").exists());
    }

    #[test]
    #[should_panic(expected = "run `scripts/install-tools`")]
    fn a_missing_tool_says_how_to_install_it() {
        tool("no-such-tool/bin/nothing");
    }
}
