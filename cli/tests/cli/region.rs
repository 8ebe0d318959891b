//! The one region rule of every AWS verb: `--region`, else the AWS SDK configuration (`AWS_REGION`, profile), else
//! `deployment.region`. Checked offline through `destroy --force` (no Lambda build) against a closed port: the
//! region is resolved and logged (`-v`) before the first call fails with exit 5.

use crate::common::{rekey_command, Run};

fn destroy(dir: &std::path::Path, extra: &[&str], aws_region: Option<&str>) -> Run {
    let mut args = vec!["-v", "destroy", "--force"];
    args.extend_from_slice(extra);
    let mut command = rekey_command(dir, &args);
    command
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_REGION")
        .env("AWS_CONFIG_FILE", "/nonexistent/rekey-test-config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/rekey-test-credentials")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9") // discard port: connection refused
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "y");
    if let Some(region) = aws_region {
        command.env("AWS_REGION", region);
    }
    command.output().unwrap().into()
}

#[test]
fn region_is_flag_then_sdk_chain_then_deployment_region() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rekey.yaml"), "deployment:\n  region: eu-west-1\norganization: {}\n").unwrap();

    let run = destroy(dir.path(), &[], None);
    assert_eq!(run.code, 5, "{run:?}");
    assert!(run.stderr.contains("region region=eu-west-1 from=deployment.region"), "{run:?}");
    assert!(!run.stderr.contains("note: region"), "{run:?}");

    let run = destroy(dir.path(), &[], Some("ap-south-1"));
    assert_eq!(run.code, 5, "{run:?}");
    assert!(run.stderr.contains("region region=ap-south-1 from=the AWS SDK configuration"), "{run:?}");
    assert!(
        run.stderr.contains(
            "note: region ap-south-1 (from the AWS SDK configuration: AWS_REGION or the profile); member-role \
             instances stay in eu-west-1 (deployment.region)"
        ),
        "{run:?}"
    );

    let run = destroy(dir.path(), &["--region", "us-west-2"], Some("ap-south-1"));
    assert_eq!(run.code, 5, "{run:?}");
    assert!(run.stderr.contains("region region=us-west-2 from=--region"), "{run:?}");
}
