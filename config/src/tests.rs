//! Unit tests of loading and validation (the 30-case invalid-config table
//! lives in the CLI's integration tests, where "nothing written" is checked).

use super::*;
use pretty_assertions::assert_eq;

#[test]
fn builtin_default_is_valid_and_matches_serde_defaults() {
    let config = Config::builtin_default();
    let mut expected = ConfigFile {
        deployment: Deployment::default(),
        organization: Some(Organization::default()),
        lifecycle: Lifecycle::default(),
        mode: Mode::Audit,
        secrets: Secrets::default(),
        notifications: Notifications::default(),
        schedule: Schedule::default(),
        vpc: Vpc::default(),
        lambda: Lambda::default(),
    };
    assert_eq!(config.file(), &expected);
    // An empty file is single-account mode with every other default.
    expected.organization = None;
    assert_eq!(Config::from_yaml_str("", None).unwrap().file(), &expected);
}

#[test]
fn syntax_errors_name_the_path() {
    let err = Config::from_yaml_str("lifecycle:\n  rotate_after_days: ninety\n", None).unwrap_err();
    let issues = err.issues();
    assert_eq!(issues[0].path, "lifecycle.rotate_after_days");
    assert!(issues[0].message.contains("invalid type"), "{}", issues[0].message);

    let err = Config::from_yaml_str("lifecycle:\n  rotate_days: 3\n", None).unwrap_err();
    assert!(err.to_string().contains("unknown field `rotate_days`"), "{err}");

    let err = Config::from_yaml_str("organization:\n  exclude_account_ids: ['1234']\n", None).unwrap_err();
    assert_eq!(err.issues()[0].path, "organization.exclude_account_ids[0]");
}

#[test]
fn day_ordering_message_matches_the_documented_wording() {
    let err =
        Config::from_yaml_str("lifecycle:\n  rotate_after_days: 100\n  deactivate_after_days: 95\n", None).unwrap_err();
    assert_eq!(
        err.issues(),
        vec![ConfigIssue {
            path: "lifecycle.deactivate_after_days".into(),
            message: "lifecycle.deactivate_after_days (95) must be greater than lifecycle.rotate_after_days (100)"
                .into()
        }]
    );
}

#[test]
fn function_views_hold_only_what_each_function_reads() {
    let mut file = Config::builtin_default().file().clone();
    file.lifecycle.rotate_after_days = 60;
    file.lifecycle.deactivate_after_days = 70;
    file.lifecycle.delete_after_days = 80;
    let changed = Config::validate(file).unwrap();
    let default = Config::builtin_default();
    for f in Function::ALL {
        let same = default.function_env_json(f) == changed.function_env_json(f);
        assert_eq!(same, f != Function::Rotation, "{f:?}");
    }
}

#[test]
fn runtime_loader_round_trips_a_view() {
    let config = Config::builtin_default();
    let json = config.function_env_json(Function::Rotation);
    let loaded = Config::from_runtime_json(&json, std::path::Path::new("/nonexistent")).unwrap();
    assert_eq!(loaded.lifecycle, config.lifecycle);
    assert_eq!(loaded.names(), config.names());
}

#[test]
fn names_are_derived_once() {
    let names = Config::builtin_default().names();
    assert_eq!(names.member_role, "rekey-member");
    assert_eq!(names.inventory_role, "rekey-inventory");
    assert_eq!(names.execution_role(Function::Rotation), "rekey-rotation-fn");
    assert_eq!(names.stack(StackId::MemberRole), "rekey-member-role");
    assert_eq!(names.secret_name("111122223333", "alice"), "Account_111122223333_User_alice_AccessKey");
    assert_eq!(names.secret_name_glob("111122223333"), "Account_111122223333_User_*_AccessKey");
}

#[test]
fn a_user_name_with_a_comma_has_no_valid_secret_name() {
    let names = Config::builtin_default().names();
    // IAM user names allow `+=,.@_-`; Secrets Manager names allow `/_+=.@-`.
    for ok in ["alice", "svc+ci=1.x@example-y_z"] {
        assert_eq!(names.secret_name_problem("111122223333", ok), None, "{ok}");
    }
    let problem = names.secret_name_problem("111122223333", "ci,deploy").expect("a comma is refused");
    assert!(problem.contains("`ci,deploy`") && problem.contains("`,`"), "{problem}");
    assert!(problem.contains("Account_111122223333_User_ci,deploy_AccessKey"), "names the secret: {problem}");
    let problem = secret_name_problem("{account_id}/{user_name}", "111122223333", "a,b").expect("any pattern");
    assert!(problem.contains("`111122223333/a,b`"), "{problem}");
    // Unreachable with a validated pattern (at most 256 characters), checked anyway.
    let long = format!("{}{{account_id}}{{user_name}}", "p".repeat(480));
    let problem = secret_name_problem(&long, "111122223333", &"u".repeat(64)).expect("too long");
    assert!(problem.contains("more than the 512"), "{problem}");
}

#[test]
fn schema_describes_every_section() {
    let schema = json_schema();
    let props = schema["properties"].as_object().unwrap();
    for section in
        ["deployment", "organization", "lifecycle", "mode", "secrets", "notifications", "schedule", "vpc", "lambda"]
    {
        assert!(props.contains_key(section), "{section}");
    }
}

#[test]
fn the_builtin_default_yaml_spells_out_the_type_defaults() {
    // `rekey init` writes this file: every value in it must be the default
    // the code would pick anyway, so the documentation cannot drift.
    let spelled_out = Config::builtin_default().to_yaml();
    let implied = Config::from_yaml_str("organization: {}\n", None).unwrap().to_yaml();
    assert_eq!(spelled_out, implied);
}
