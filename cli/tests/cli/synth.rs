//! `rekey synth` with a prebuilt fixture zip: the assembly's layout, its
//! determinism, the asset, and atomic replacement.

use crate::common::{entries, fixture_path, fixture_zip, json, rekey, tree};
use pretty_assertions::assert_eq;
use rekey_synth::asset::{read_files, sha256_hex};

#[test]
fn two_synths_give_byte_identical_trees() {
    let dir = tempfile::tempdir().unwrap();
    let zip = fixture_zip(dir.path(), false);
    let zip = zip.to_str().unwrap();
    for out in ["one", "two"] {
        let run = rekey(dir.path(), &["synth", "--out", out, "--lambda-zip", zip]);
        assert_eq!(run.code, 0, "{run:?}");
    }
    let one = tree(&dir.path().join("one"));
    assert_eq!(one, tree(&dir.path().join("two")));
    // Re-synthesizing over an existing assembly gives the same bytes again.
    assert_eq!(rekey(dir.path(), &["synth", "--out", "one", "--lambda-zip", zip]).code, 0);
    assert_eq!(one, tree(&dir.path().join("one")));

    // The all-options config (arm64, template overrides), too.
    let arm = fixture_zip(dir.path(), true);
    let config = fixture_path("all-options.yaml");
    let args = |out: &'static str| {
        ["synth", "--config", config.to_str().unwrap(), "--out", out, "--lambda-zip", arm.to_str().unwrap()]
            .map(String::from)
    };
    for out in ["all-a", "all-b"] {
        let args = args(out);
        let run = rekey(dir.path(), &args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(run.code, 0, "{run:?}");
    }
    assert_eq!(tree(&dir.path().join("all-a")), tree(&dir.path().join("all-b")));
}

#[test]
fn default_assembly_has_every_stack_the_manifest_and_the_asset() {
    let dir = tempfile::tempdir().unwrap();
    let zip = fixture_zip(dir.path(), false);
    let run = rekey(dir.path(), &["synth", "--lambda-zip", zip.to_str().unwrap(), "--output", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let sha = report["asset"]["sha256"].as_str().unwrap().to_string();
    // Without template overrides the prebuilt zip is staged byte for byte.
    assert_eq!(sha, sha256_hex(&std::fs::read(&zip).unwrap()));

    let out = dir.path().join("cdk.out");
    let mut expected = vec![
        format!("asset.{sha}.zip"),
        "cdk.out".to_string(),
        "manifest.json".to_string(),
        "rekey-inventory-role.template.json".to_string(),
        "rekey-inventory-role.template.yaml".to_string(),
        "rekey-main.assets.json".to_string(),
        "rekey-main.template.json".to_string(),
        "rekey-main.template.yaml".to_string(),
        "rekey-member-role.template.json".to_string(),
        "rekey-member-role.template.yaml".to_string(),
        // The config `rekey deploy --app` reads back.
        "rekey.config.json".to_string(),
    ];
    expected.sort();
    assert_eq!(entries(&out), expected);
    assert_eq!(sha256_hex(&std::fs::read(out.join(format!("asset.{sha}.zip"))).unwrap()), sha);

    let manifest = json(&out.join("manifest.json"));
    let artifacts = manifest["artifacts"].as_object().unwrap();
    let stacks: Vec<&String> =
        artifacts.iter().filter(|(_, a)| a["type"] == "aws:cloudformation:stack").map(|(id, _)| id).collect();
    assert_eq!(stacks, ["rekey-inventory-role", "rekey-member-role", "rekey-main"]);
    for id in stacks {
        let artifact = &artifacts[id.as_str()];
        assert_eq!(artifact["environment"], "aws://unknown-account/us-east-1");
        let template = json(&out.join(artifact["properties"]["templateFile"].as_str().unwrap()));
        assert!(template["Resources"].as_object().is_some_and(|r| !r.is_empty()), "{id} has no resources");
    }
    // The main template points at the asset's object key.
    let main = std::fs::read_to_string(out.join("rekey-main.template.json")).unwrap();
    assert!(main.contains(&format!("{sha}.zip")), "the main template does not reference the asset");

    let assets = json(&out.join("rekey-main.assets.json"));
    let destination = &assets["files"][sha.as_str()]["destinations"]["current_account-current_region"];
    assert_eq!(destination["bucketName"], "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}");
    assert_eq!(destination["objectKey"], format!("{sha}.zip"));

    // The text report names the stacks, the asset and the next step.
    let run = rekey(dir.path(), &["synth", "--lambda-zip", zip.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with("synthesized 3 stack(s) into cdk.out/\n  rekey-inventory-role  "), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("asset asset.{sha}.zip")), "{}", run.stdout);
    assert!(run.stdout.contains("needs parameter"), "role stacks need the deployment account: {}", run.stdout);
}

#[test]
fn all_options_assembly_uses_configured_accounts_and_ships_template_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let zip = fixture_zip(dir.path(), true);
    let config = fixture_path("all-options.yaml");
    let run = rekey(
        dir.path(),
        &["synth", "--config", config.to_str().unwrap(), "--lambda-zip", zip.to_str().unwrap(), "--out", "out"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let out = dir.path().join("out");
    let manifest = json(&out.join("manifest.json"));
    let env = |id: &str| manifest["artifacts"][id]["environment"].as_str().unwrap().to_string();
    assert_eq!(env("keyrot-main"), "aws://111111111111/eu-west-1");
    assert_eq!(env("keyrot-vpc-endpoints"), "aws://111111111111/eu-west-1");
    assert_eq!(env("keyrot-inventory-role"), "aws://222222222222/eu-west-1");
    assert_eq!(
        manifest["artifacts"]["keyrot-main"]["dependencies"],
        serde_json::json!(["keyrot-main.assets", "keyrot-vpc-endpoints"])
    );
    assert_eq!(
        manifest["artifacts"]["keyrot-main"]["properties"]["tags"],
        serde_json::json!({"cost-center": "42", "team": "security"})
    );
    assert_eq!(
        manifest["artifacts"]["keyrot-main"]["properties"]["assumeRoleArn"],
        "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/cdk-abc123-deploy-role-${AWS::AccountId}-${AWS::Region}"
    );

    // With template overrides, the prebuilt zip is repacked with them.
    let asset = entries(&out).into_iter().find(|n| n.starts_with("asset.")).unwrap();
    let files = read_files(&std::fs::read(out.join(&asset)).unwrap()).unwrap();
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["bootstrap", rekey_config::ASSET_HTML_TEMPLATE, rekey_config::ASSET_TEXT_TEMPLATE]);
    assert_eq!(files[1].data, std::fs::read(fixture_path("email.html.tera")).unwrap());
}

#[test]
fn own_asset_bucket_needs_no_bootstrap_roles() {
    let dir = tempfile::tempdir().unwrap();
    let zip = fixture_zip(dir.path(), false);
    std::fs::write(dir.path().join("c.yaml"), "deployment:\n  asset_bucket: my-lambda-assets\n").unwrap();
    let run = rekey(dir.path(), &["synth", "--config", "c.yaml", "--lambda-zip", zip.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{run:?}");
    let out = dir.path().join("cdk.out");
    let manifest = json(&out.join("manifest.json"));
    assert!(manifest["artifacts"]["rekey-main"]["properties"].get("assumeRoleArn").is_none());
    let assets = json(&out.join("rekey-main.assets.json"));
    let (_, file) = assets["files"].as_object().unwrap().iter().next().unwrap();
    assert_eq!(file["destinations"]["current_account-current_region"]["bucketName"], "my-lambda-assets");
}

#[test]
fn a_bad_prebuilt_zip_exits_4_and_keeps_the_previous_assembly() {
    let dir = tempfile::tempdir().unwrap();
    let zip = fixture_zip(dir.path(), false);
    assert_eq!(rekey(dir.path(), &["synth", "--lambda-zip", zip.to_str().unwrap()]).code, 0);
    let before = tree(&dir.path().join("cdk.out"));

    // An arm64 binary for the default (x86_64) config.
    let arm = fixture_zip(dir.path(), true);
    let run = rekey(dir.path(), &["synth", "--lambda-zip", arm.to_str().unwrap()]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(run.stderr.contains("lambda.architecture `x86_64` needs x86_64"), "{}", run.stderr);

    let run = rekey(dir.path(), &["synth", "--lambda-zip", "no-such.zip"]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(run.stderr.starts_with("error: cannot read lambda zip `no-such.zip`"), "{}", run.stderr);

    assert_eq!(tree(&dir.path().join("cdk.out")), before);
    assert_eq!(entries(dir.path()), ["cdk.out", "lambda-arm64.zip", "lambda-x86_64.zip"]);
}
