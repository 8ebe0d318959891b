//! Unit tests of loading and validation (the 30-case invalid-config table
//! lives in the CLI's integration tests, where "nothing written" is checked).

use super::*;
use pretty_assertions::assert_eq;

#[test]
fn builtin_default_is_valid_and_matches_serde_defaults() {
    let config = Config::builtin_default();
    let mut expected = ConfigFile {
        scope: Some(Scope::Organization),
        deployment: Deployment::default(),
        organization: Some(Organization::default()),
        lifecycle: Lifecycle::default(),
        mode: Mode::Audit,
        secrets: Secrets::default(),
        notifications: Notifications::default(),
        schedule: Schedule::default(),
        vpc: Vpc::default(),
        lambda: Lambda::default(),
        integrations: Integrations::default(),
        runtime: Runtime::default(),
        dashboard: Dashboard::default(),
        plan: PlanFiles::default(),
    };
    assert_eq!(config.file(), &expected);
    assert_eq!((config.scope(), config.scope_inferred()), (Scope::Organization, false));
    // An empty file is single-account mode with every other default: the meaning it had before `scope` existed,
    // kept for existing files and flagged so the CLI can say so.
    expected.organization = None;
    expected.scope = None;
    let empty = Config::from_yaml_str("", None).unwrap();
    assert_eq!(empty.file(), &expected);
    assert_eq!((empty.scope(), empty.scope_inferred()), (Scope::Account, true));
}

#[test]
fn scope_is_explicit_and_never_inferred_from_a_section() {
    // `scope: organization` without the section: the organization with every default.
    let org = Config::from_yaml_str(
        "scope: organization
",
        None,
    )
    .unwrap();
    assert_eq!((org.scope(), org.scope_inferred()), (Scope::Organization, false));
    assert_eq!(org.organization, Some(Organization::default()));
    // `scope: account`: the deployment account only.
    let account = Config::from_yaml_str(
        "scope: account
mode: enforce
",
        None,
    )
    .unwrap();
    assert_eq!((account.scope(), account.scope_inferred()), (Scope::Account, false));
    assert_eq!(account.organization, None);
    // An `organization` section without `scope`: the default scope, organization.
    let section = Config::from_yaml_str(
        "organization:
  target_ou_ids: [ou-ab12-cd34ef56]
",
        None,
    )
    .unwrap();
    assert_eq!((section.scope(), section.scope_inferred()), (Scope::Organization, false));
    // `scope: account` with an `organization` section contradicts itself.
    let err = Config::from_yaml_str(
        "scope: account
organization: {}
",
        None,
    )
    .unwrap_err();
    assert_eq!(err.issues()[0].path, "organization");
    assert!(err.issues()[0].message.contains("remove the `organization` section"), "{err}");
    let err = Config::from_yaml_str(
        "scope: everything
",
        None,
    )
    .unwrap_err();
    assert_eq!(err.issues()[0].path, "scope");
    // Each function's environment carries the resolved section, not the field: unchanged for existing files.
    let view = org.function_view(Function::Inventory);
    assert_eq!((view.scope, view.organization.is_some()), (None, true));
    let runtime = Config::from_runtime_json(&org.function_env_json(Function::Inventory), Path::new(".")).unwrap();
    assert_eq!(runtime.scope(), Scope::Organization);
    let runtime = Config::from_runtime_json(&account.function_env_json(Function::Rotation), Path::new(".")).unwrap();
    assert_eq!(runtime.scope(), Scope::Account);
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

/// The planner needs the old key retired before its replacement expires at
/// the old key's age 2R (see `timeline_fits`; the runtime's timeline test
/// `the_longest_valid_timeline_needs_no_person_and_one_day_more_does` shows
/// the same bound from the planner's side).
#[test]
fn timelines_that_outlive_the_replacement_are_refused() {
    let lifecycle = |r: u32, d: u32, x: u32| {
        format!("lifecycle:\n  rotate_after_days: {r}\n  deactivate_after_days: {d}\n  delete_after_days: {x}\n")
    };
    let issues = |yaml: String| match Config::from_yaml_str(&yaml, None) {
        Ok(_) => Vec::new(),
        Err(ConfigError::Invalid { issues, .. }) => issues,
        Err(other) => panic!("{other}"),
    };
    for (r, d, x) in [(90, 100, 110), (30, 59, 60), (30, 45, 50), (10, 15, 20)] {
        assert_eq!(issues(lifecycle(r, d, x)), vec![], "{r}/{d}/{x}");
    }
    let found = issues(lifecycle(30, 90, 100));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].path, "lifecycle.deactivate_after_days");
    assert!(found[0].message.contains("below 60") && found[0].message.contains("expires"), "{}", found[0].message);
    let found = issues(lifecycle(30, 45, 61));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].path, "lifecycle.delete_after_days");
    assert!(
        found[0].message.contains("at most twice lifecycle.rotate_after_days (30), i.e. 60"),
        "{}",
        found[0].message
    );
    // Days out of order get only the ordering message.
    assert_eq!(issues(lifecycle(30, 25, 100)).len(), 1);
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
    for section in [
        "scope",
        "deployment",
        "organization",
        "lifecycle",
        "mode",
        "secrets",
        "notifications",
        "schedule",
        "vpc",
        "lambda",
    ] {
        assert!(props.contains_key(section), "{section}");
    }
}

#[test]
fn the_builtin_default_yaml_spells_out_the_type_defaults() {
    // `rekey init` writes this file: every value in it must be the default
    // the code would pick anyway, so the documentation cannot drift.
    let spelled_out = Config::builtin_default().to_yaml();
    // `scope: organization` implies the `organization` section with its defaults.
    let implied = Config::from_yaml_str("scope: organization\n", None).unwrap().to_yaml();
    assert_eq!(spelled_out, implied);
}

#[test]
fn integrations_are_off_by_default_and_validated() {
    let config = Config::builtin_default();
    assert!(config.integrations.is_off());
    assert!(!config.to_yaml().contains("integrations"), "an unused section is not written");

    let on = Config::from_yaml_str(
        "integrations:\n  security_hub: { enabled: true, region: eu-west-1 }\n  event_bus: rekey-events\n",
        None,
    )
    .unwrap();
    assert!(on.integrations.security_hub.enabled);
    assert_eq!(on.integrations.security_hub.region.as_ref().map(|r| r.as_str()), Some("eu-west-1"));
    assert_eq!(on.integrations.event_bus.as_deref(), Some("rekey-events"));
    // The rotation function reads both; the notifier only the bus (`Run Completed`).
    assert_eq!(on.function_view(Function::Rotation).integrations, on.integrations);
    let notifier = on.function_view(Function::Notifier).integrations;
    assert_eq!((notifier.security_hub.enabled, notifier.event_bus.as_deref()), (false, Some("rekey-events")));
    assert!(on.function_view(Function::Inventory).integrations.is_off());
    // What the Lambda binary is built with follows the same settings.
    assert_eq!(config.integrations.runtime_features(), vec![]);
    assert_eq!(on.integrations.runtime_features(), vec![RuntimeFeature::SecurityHub, RuntimeFeature::EventBus]);
    assert_eq!(on.function_view(Function::Notifier).integrations.runtime_features(), vec![RuntimeFeature::EventBus]);

    let arn = "integrations:\n  event_bus: arn:aws:events:eu-west-1:123456789012:event-bus/security\n";
    assert!(Config::from_yaml_str(arn, None).is_ok());
    for bad in ["event_bus: \"has space\"", "event_bus: arn:aws:sns:eu-west-1:123456789012:topic"] {
        let err = Config::from_yaml_str(&format!("integrations:\n  {bad}\n"), None).unwrap_err();
        assert_eq!(err.issues()[0].path, "integrations.event_bus", "{bad}");
    }
}
