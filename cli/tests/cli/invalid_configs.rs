//! The invalid-config table: each case is a YAML snippet, the YAML path the
//! error must name and a fragment of its message. For every case, `validate`
//! and `synth` exit 3, name the path, and `synth` writes nothing: no new
//! output directory, and an existing assembly is left exactly as it was.

use crate::common::{entries, rekey, tree};
use pretty_assertions::assert_eq;

const KMS: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// (case, YAML, expected path, expected message fragment).
fn cases() -> Vec<(&'static str, String, &'static str, &'static str)> {
    let c = |name, yaml: &str, path, fragment| (name, yaml.to_string(), path, fragment);
    vec![
        // Lifecycle day ordering and bounds.
        c(
            "deactivate before rotate",
            "lifecycle:\n  rotate_after_days: 100\n  deactivate_after_days: 95\n  delete_after_days: 120\n",
            "lifecycle.deactivate_after_days",
            "lifecycle.deactivate_after_days (95) must be greater than lifecycle.rotate_after_days (100)",
        ),
        c(
            "delete not after deactivate",
            "lifecycle:\n  delete_after_days: 100\n",
            "lifecycle.delete_after_days",
            "lifecycle.delete_after_days (100) must be greater than lifecycle.deactivate_after_days (100)",
        ),
        c(
            "rotate at zero days",
            "lifecycle:\n  rotate_after_days: 0\n",
            "lifecycle.rotate_after_days",
            "must be greater than 0",
        ),
        c(
            "delete after ten years",
            "lifecycle:\n  delete_after_days: 4000\n",
            "lifecycle.delete_after_days",
            "must be at most 3650",
        ),
        c(
            "replacement expires before the old key is deactivated",
            "lifecycle:\n  rotate_after_days: 30\n  deactivate_after_days: 90\n  delete_after_days: 100\n",
            "lifecycle.deactivate_after_days",
            "lifecycle.deactivate_after_days (90) must be less than twice lifecycle.rotate_after_days (30), i.e. below 60",
        ),
        c(
            "inactive key holds the slot when the replacement must rotate",
            "lifecycle:\n  rotate_after_days: 30\n  deactivate_after_days: 45\n  delete_after_days: 61\n",
            "lifecycle.delete_after_days",
            "lifecycle.delete_after_days (61) must be at most twice lifecycle.rotate_after_days (30), i.e. 60",
        ),
        c(
            "warning longer than rotation",
            "lifecycle:\n  warn_before_days: 90\n",
            "lifecycle.warn_before_days",
            "lifecycle.warn_before_days (90) must be less than lifecycle.rotate_after_days (90)",
        ),
        c(
            "unused days zero",
            "lifecycle:\n  require_unused_days_before_deactivate: 0\n",
            "lifecycle.require_unused_days_before_deactivate",
            "must be greater than 0 when set",
        ),
        c(
            "negative days",
            "lifecycle:\n  rotate_after_days: -5\n",
            "lifecycle.rotate_after_days",
            "invalid type: integer `-5`, expected u32",
        ),
        // Account ids.
        c(
            "account id too short",
            "deployment:\n  account_id: \"12345678901\"\n",
            "deployment.account_id",
            "`12345678901` is not a 12-digit AWS account id",
        ),
        c(
            "tags as a list",
            "deployment:\n  tags: [a, b]\n",
            "deployment.tags",
            "invalid type: sequence, expected a map",
        ),
        c(
            "management account with letters",
            "organization:\n  management_account_id: \"12345678901a\"\n",
            "organization.management_account_id",
            "is not a 12-digit AWS account id",
        ),
        c(
            "excluded account too short",
            "organization:\n  exclude_account_ids: [\"1234\"]\n",
            "organization.exclude_account_ids[0]",
            "`1234` is not a 12-digit AWS account id",
        ),
        c(
            "account included and excluded",
            "organization:\n  include_account_ids: [\"111111111111\"]\n  exclude_account_ids: [\"111111111111\"]\n",
            "organization.include_account_ids[0]",
            "account `111111111111` is both included and excluded",
        ),
        c(
            "account listed twice",
            "organization:\n  include_account_ids: [\"111111111111\", \"111111111111\"]\n",
            "organization.include_account_ids[1]",
            "`111111111111` is listed twice",
        ),
        // OU and organization ids.
        c(
            "OU id in capitals",
            "organization:\n  target_ou_ids: [ou-AB12-CD34EF56]\n",
            "organization.target_ou_ids[0]",
            "is not an organizational unit id",
        ),
        c(
            "excluded OU malformed",
            "organization:\n  exclude_ou_ids: [ou-12]\n",
            "organization.exclude_ou_ids[0]",
            "`ou-12` is not an organizational unit id",
        ),
        c(
            "OU targeted and excluded",
            "organization:\n  target_ou_ids: [ou-ab12-cd34ef56]\n  exclude_ou_ids: [ou-ab12-cd34ef56]\n",
            "organization.target_ou_ids[0]",
            "OU `ou-ab12-cd34ef56` is both a target and excluded",
        ),
        c(
            "organization id malformed",
            "organization:\n  organization_id: org-123\n",
            "organization.organization_id",
            "is not an organization id",
        ),
        c(
            "member role name with a space",
            "organization:\n  member_role_name: \"key rotation\"\n",
            "organization.member_role_name",
            "is not a name of 1 to 64",
        ),
        c(
            "stackset concurrency zero",
            "organization:\n  stackset:\n    max_concurrent_percentage: 0\n",
            "organization.stackset.max_concurrent_percentage",
            "0 must be between 1 and 100",
        ),
        c(
            "stackset call_as unknown",
            "organization:\n  stackset:\n    call_as: admin\n",
            "organization.stackset.call_as",
            "unknown variant `admin`",
        ),
        // Regions.
        c(
            "region without number",
            "deployment:\n  region: us-east\n",
            "deployment.region",
            "`us-east` is not an AWS region name",
        ),
        c(
            "replica region unknown",
            "secrets:\n  replica_regions: [mars-north-1]\n",
            "secrets.replica_regions[0]",
            "`mars-north-1` is not an AWS region name",
        ),
        c(
            "replica is the primary region",
            "secrets:\n  replica_regions: [us-east-1]\n",
            "secrets.replica_regions[0]",
            "`us-east-1` is the primary region",
        ),
        // Email addresses.
        c(
            "sender not an email",
            "notifications:\n  sender: security-team\n",
            "notifications.sender",
            "`security-team` is not an email address",
        ),
        c(
            "recipient without domain dot",
            "notifications:\n  admin_recipients: [root@localhost]\n",
            "notifications.admin_recipients[0]",
            "`root@localhost` is not an email address",
        ),
        c(
            "recipient listed twice",
            "notifications:\n  admin_recipients: [a@example.com, a@example.com]\n",
            "notifications.admin_recipients[1]",
            "`a@example.com` is listed twice",
        ),
        c("empty subject", "notifications:\n  subject: \"  \"\n", "notifications.subject", "must not be empty"),
        c(
            "missing template file",
            "notifications:\n  html_template: no-such-template.html\n",
            "notifications.html_template",
            "cannot read template file",
        ),
        // VPC.
        c(
            "vpc without subnets",
            "vpc:\n  enabled: true\n  vpc_id: vpc-0a1b2c3d4e5f67890\n  endpoints: [sts]\n",
            "vpc.subnet_ids",
            "at least one subnet is required when vpc.enabled is true",
        ),
        c(
            "vpc without id",
            "vpc:\n  enabled: true\n  subnet_ids: [subnet-0a1b2c3d4e5f67890]\n  endpoints: [sts]\n",
            "vpc.vpc_id",
            "required when vpc.enabled is true",
        ),
        c(
            "s3 endpoint without route tables",
            "vpc:\n  enabled: true\n  vpc_id: vpc-0a1b2c3d4e5f67890\n  subnet_ids: [subnet-0a1b2c3d4e5f67890]\n",
            "vpc.route_table_ids",
            "the `s3` gateway endpoint needs at least one route table id",
        ),
        c(
            "subnet id malformed",
            "vpc:\n  subnet_ids: [subnet-xyz]\n",
            "vpc.subnet_ids[0]",
            "`subnet-xyz` is not a subnet id",
        ),
        c("unknown endpoint", "vpc:\n  endpoints: [dynamodb]\n", "vpc.endpoints[0]", "unknown variant `dynamodb`"),
        // Secrets.
        c(
            "central secrets without KMS key",
            "organization: {}\nsecrets:\n  storage: central\n",
            "secrets.kms_key_arn",
            "`central` storage needs a customer-managed KMS key ARN",
        ),
        c(
            "central secrets without organization",
            &format!("secrets:\n  storage: central\n  kms_key_arn: {KMS}\n"),
            "secrets.storage",
            "`central` storage needs an `organization` section",
        ),
        c(
            "KMS key in another region",
            "secrets:\n  kms_key_arn: arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab\n",
            "secrets.kms_key_arn",
            "the KMS key is in `eu-west-1` but secrets are stored in deployment.region `us-east-1`",
        ),
        c(
            "KMS alias instead of key",
            "secrets:\n  kms_key_arn: alias/rekey\n",
            "secrets.kms_key_arn",
            "`alias/rekey` is not a KMS key ARN",
        ),
        c(
            "name pattern without user",
            "secrets:\n  name_pattern: \"Account_{account_id}_Key\"\n",
            "secrets.name_pattern",
            "must contain `{user_name}`",
        ),
        c(
            "name pattern unknown placeholder",
            "secrets:\n  name_pattern: \"{account}_{account_id}_{user_name}\"\n",
            "secrets.name_pattern",
            "unknown placeholder `{account}`",
        ),
        c(
            "reader principal not an ARN",
            "secrets:\n  extra_reader_principals: [Auditor]\n",
            "secrets.extra_reader_principals[0]",
            "`Auditor` is not an IAM principal ARN",
        ),
        // Deployment.
        c(
            "name prefix in capitals",
            "deployment:\n  name_prefix: Rekey\n",
            "deployment.name_prefix",
            "`Rekey` is not a prefix of 1 to 20 lowercase letters",
        ),
        c(
            "asset bucket with underscore",
            "deployment:\n  asset_bucket: My_Bucket\n",
            "deployment.asset_bucket",
            "`My_Bucket` is not a valid S3 bucket name",
        ),
        c(
            "bootstrap qualifier too long",
            "deployment:\n  bootstrap_qualifier: abcdefghijkl\n",
            "deployment.bootstrap_qualifier",
            "`abcdefghijkl` must be 1 to 10 lowercase letters or digits",
        ),
        c(
            "reserved tag prefix",
            "deployment:\n  tags:\n    aws:owner: me\n",
            "deployment.tags.aws:owner",
            "tag key `aws:owner` uses the reserved `aws:` prefix",
        ),
        // Schedule and Lambda.
        c(
            "schedule with plural one",
            "schedule:\n  expression: rate(1 days)\n",
            "schedule.expression",
            "`rate(1 days)` is not an EventBridge schedule expression",
        ),
        c("memory too small", "lambda:\n  memory_mb: 64\n", "lambda.memory_mb", "64 must be between 128 and 10240"),
        c(
            "timeout over 15 minutes",
            "lambda:\n  timeout_seconds: 901\n",
            "lambda.timeout_seconds",
            "901 must be between 1 and 900",
        ),
        c(
            "log retention not offered",
            "lambda:\n  log_retention_days: 42\n",
            "lambda.log_retention_days",
            "42 is not a CloudWatch Logs retention value",
        ),
        c(
            "concurrency of one",
            "lambda:\n  rotation_max_concurrency: 1\n",
            "lambda.rotation_max_concurrency",
            "1 must be between 2 and 1000",
        ),
        c("architecture misspelt", "lambda:\n  architecture: arm\n", "lambda.architecture", "unknown variant `arm`"),
        // Shape: unknown fields, wrong types, not YAML.
        c(
            "unknown top-level section",
            "lifecycles:\n  rotate_after_days: 30\n",
            "lifecycles",
            "unknown field `lifecycles`",
        ),
        c(
            "unknown nested field",
            "lifecycle:\n  rotate_days: 30\n",
            "lifecycle.rotate_days",
            "unknown field `rotate_days`",
        ),
        c("days as words", "lifecycle:\n  rotate_after_days: ninety\n", "lifecycle.rotate_after_days", "invalid type"),
        c("mode misspelt", "mode: enforced\n", "mode", "unknown variant `enforced`"),
        c("section as a list", "vpc: [enabled]\n", "vpc", "invalid type: sequence"),
        c("boolean as text", "schedule:\n  enabled: sometimes\n", "schedule.enabled", "invalid type"),
        // The parser's own words (serde_yaml's libyaml said "found unexpected end of stream").
        c("not YAML at all", "mode: \"audit\n", "mode", "not valid YAML: unclosed quote at line 1, column 7"),
    ]
}

#[test]
fn every_invalid_config_exits_3_names_the_path_and_writes_nothing() {
    let cases = cases();
    assert!(cases.len() >= 30, "the table must keep at least 30 cases");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // A previous assembly that every failed synth must leave untouched.
    let previous = root.join("cdk.out");
    std::fs::create_dir(&previous).unwrap();
    std::fs::write(previous.join("manifest.json"), "{\"version\": \"previous\"}\n").unwrap();
    std::fs::write(previous.join("rekey-main.template.json"), "{}\n").unwrap();
    let previous_tree = tree(&previous);

    let mut failures = Vec::new();
    for (name, yaml, path, fragment) in &cases {
        std::fs::write(root.join("config.yaml"), yaml).unwrap();
        let expected = format!("{path}: ");

        let run = rekey(root, &["validate", "--config", "config.yaml"]);
        let line = run.stdout.lines().find(|l| l.trim_start().starts_with(&expected));
        if run.code != 3 || !line.is_some_and(|l| l.contains(fragment)) {
            failures.push(format!(
                "[{name}] validate: exit {}, expected `{expected}...{fragment}` in:\n{}",
                run.code, run.stdout
            ));
        }

        for out in ["cdk.out", "fresh.out"] {
            let run = rekey(root, &["synth", "--config", "config.yaml", "--out", out, "--lambda-zip", "missing.zip"]);
            let names_path = run.stderr.contains(path) && run.stderr.contains(fragment);
            if run.code != 3 || !names_path {
                failures.push(format!("[{name}] synth --out {out}: exit {}, stderr:\n{}", run.code, run.stderr));
            }
        }
        if entries(root) != ["cdk.out", "config.yaml"] {
            failures.push(format!("[{name}] synth left files behind: {:?}", entries(root)));
        }
        if tree(&previous) != previous_tree {
            failures.push(format!("[{name}] synth changed the existing assembly"));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}

#[test]
fn all_issues_of_one_file_are_reported_together() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.yaml"),
        "lifecycle:\n  rotate_after_days: 100\n  deactivate_after_days: 95\nvpc:\n  enabled: true\nlambda:\n  timeout_seconds: 0\n",
    )
    .unwrap();
    let run = rekey(dir.path(), &["synth", "--config", "config.yaml"]);
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(run.stdout, "");
    let listed: Vec<&str> =
        run.stderr.lines().filter_map(|l| l.strip_prefix("  - ")).map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(
        listed,
        vec![
            "lifecycle.deactivate_after_days",
            "vpc.vpc_id",
            "vpc.subnet_ids",
            "vpc.route_table_ids",
            "lambda.timeout_seconds"
        ]
    );
    assert_eq!(entries(dir.path()), ["config.yaml"]);
}

#[test]
fn hostile_files_are_refused_quickly_with_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    // A "billion laughs": 20^20 scalars if expanded.
    let mut laughs = String::from("deployment:\n  tags:\n    l0: &l0 [lol]\n");
    for i in 1..20 {
        laughs.push_str(&format!("    l{i}: &l{i} [{}]\n", vec![format!("*l{}", i - 1); 20].join(", ")));
    }
    std::fs::write(dir.path().join("laughs.yaml"), laughs).unwrap();
    // 100 MB, sparse, so the test writes nothing close to it.
    std::fs::File::create(dir.path().join("huge.yaml")).unwrap().set_len(100 * 1024 * 1024).unwrap();
    std::fs::write(dir.path().join("latin1.yaml"), b"notifications:\n  subject: caf\xe9\n").unwrap();

    let cases = [
        ("laughs.yaml", "(root): refused: 380 aliases for 20 anchor(s) look like an alias bomb (\"billion laughs\")"),
        ("huge.yaml", "refused: the file is 104857600 bytes; a rekey config may be at most 1048576 bytes (1 MiB)"),
        ("latin1.yaml", "refused: the file is not UTF-8 text (invalid byte at offset 29, line 2)"),
    ];
    for (file, message) in cases {
        let start = std::time::Instant::now();
        let run = rekey(dir.path(), &["validate", "--config", file]);
        let took = start.elapsed();
        assert_eq!(run.code, 3, "{file}: {run:?}");
        assert!(run.stdout.contains(message), "{file}: expected `{message}` in:\n{}", run.stdout);
        // Generous for a loaded CI machine; expanding or reading the input would take far longer.
        assert!(took < std::time::Duration::from_secs(10), "{file} took {took:?}");
    }
}
