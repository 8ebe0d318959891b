//! [`SecretStore`] on `aws-sdk-secretsmanager`: `ListSecrets` paginated and
//! filtered on the `rekey:managed` tag, staging labels for the rotation
//! protocol, resource policies and replicas.

use super::port_error;
use crate::ports::{NewSecret, PortResult, SecretInfo, SecretStore, SecretString};
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, ReplicaRegionType, Tag};
use rekey_config::contract::MANAGED_TAG;
use std::collections::BTreeMap;

/// Secrets Manager of one account and region.
#[derive(Clone, Debug)]
pub struct AwsSecrets {
    client: aws_sdk_secretsmanager::Client,
}

impl AwsSecrets {
    /// Wraps a client.
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        AwsSecrets { client }
    }
}

fn tags(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter().map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string())).collect()
}

fn versions<'a>(map: impl IntoIterator<Item = (&'a String, &'a Vec<String>)>) -> BTreeMap<String, Vec<String>> {
    map.into_iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

impl SecretStore for AwsSecrets {
    async fn list_managed(&self, account_id: Option<&str>) -> PortResult<Vec<SecretInfo>> {
        let managed = Filter::builder().key(FilterNameStringType::TagKey).values(MANAGED_TAG).build();
        // Filters of different keys must all match: with the account's id as
        // a tag value, a shared store returns that account's secrets only.
        let account = account_id.map(|id| Filter::builder().key(FilterNameStringType::TagValue).values(id).build());
        let filters = std::iter::once(managed).chain(account).collect();
        // 100 is the most a page may hold: fewer pages, fewer calls.
        let mut pages = self.client.list_secrets().set_filters(Some(filters)).max_results(100).into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| port_error("secretsmanager:ListSecrets", MANAGED_TAG, e))?;
            for s in page.secret_list() {
                out.push(SecretInfo {
                    name: s.name().unwrap_or_default().to_string(),
                    arn: s.arn().unwrap_or_default().to_string(),
                    tags: tags(s.tags()),
                    versions: s.secret_versions_to_stages().map(versions).unwrap_or_default(),
                    // ListSecrets does not tell replicas; DescribeSecret does.
                    replica_regions: Vec::new(),
                    deleted_date: s.deleted_date().map(super::to_chrono),
                });
            }
        }
        Ok(out)
    }

    async fn describe(&self, name: &str) -> PortResult<Option<SecretInfo>> {
        match self.client.describe_secret().secret_id(name).send().await {
            Ok(s) => Ok(Some(SecretInfo {
                name: s.name().unwrap_or_default().to_string(),
                arn: s.arn().unwrap_or_default().to_string(),
                tags: tags(s.tags()),
                versions: s.version_ids_to_stages().map(versions).unwrap_or_default(),
                replica_regions: s.replication_status().iter().filter_map(|r| r.region().map(str::to_string)).collect(),
                deleted_date: s.deleted_date().map(super::to_chrono),
            })),
            Err(e) => {
                let err = port_error("secretsmanager:DescribeSecret", name, e);
                if err.kind == crate::ports::ErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    async fn create(&self, secret: &NewSecret) -> PortResult<String> {
        let tags = secret.tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
        let out = self
            .client
            .create_secret()
            .name(&secret.name)
            .description(&secret.description)
            .set_kms_key_id(secret.kms_key_id.clone())
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| port_error("secretsmanager:CreateSecret", &secret.name, e))?;
        Ok(out.arn().unwrap_or_default().to_string())
    }

    async fn tag(&self, secret_id: &str, tags: &BTreeMap<String, String>) -> PortResult<()> {
        let tags = tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
        self.client
            .tag_resource()
            .secret_id(secret_id)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| port_error("secretsmanager:TagResource", secret_id, e))?;
        Ok(())
    }

    async fn untag(&self, secret_id: &str, keys: &[String]) -> PortResult<()> {
        self.client
            .untag_resource()
            .secret_id(secret_id)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| port_error("secretsmanager:UntagResource", secret_id, e))?;
        Ok(())
    }

    async fn put_pending(&self, secret_id: &str, token: &str, value: &SecretString) -> PortResult<Vec<String>> {
        let out = self
            .client
            .put_secret_value()
            .secret_id(secret_id)
            .client_request_token(token)
            .secret_string(value.expose())
            .version_stages(crate::ports::STAGE_PENDING)
            .send()
            .await
            .map_err(|e| port_error("secretsmanager:PutSecretValue", secret_id, e))?;
        Ok(out.version_stages().to_vec())
    }

    async fn get_version(&self, secret_id: &str, version_id: &str) -> PortResult<SecretString> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .version_id(version_id)
            .send()
            .await
            .map_err(|e| port_error("secretsmanager:GetSecretValue", &format!("{secret_id}@{version_id}"), e))?;
        Ok(SecretString::new(out.secret_string().unwrap_or_default()))
    }

    async fn move_stage(
        &self,
        secret_id: &str,
        stage: &str,
        version_id: Option<&str>,
        from_version: Option<&str>,
    ) -> PortResult<()> {
        self.client
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(stage)
            .set_move_to_version_id(version_id.map(str::to_string))
            .set_remove_from_version_id(from_version.map(str::to_string))
            .send()
            .await
            .map_err(|e| port_error("secretsmanager:UpdateSecretVersionStage", &format!("{secret_id} {stage}"), e))?;
        Ok(())
    }

    async fn put_resource_policy(&self, secret_id: &str, policy: &str) -> PortResult<()> {
        self.client
            .put_resource_policy()
            .secret_id(secret_id)
            .resource_policy(policy)
            .block_public_policy(true)
            .send()
            .await
            .map_err(|e| port_error("secretsmanager:PutResourcePolicy", secret_id, e))?;
        Ok(())
    }

    async fn replicate(&self, secret_id: &str, regions: &[String]) -> PortResult<()> {
        let regions = regions.iter().map(|r| ReplicaRegionType::builder().region(r).build()).collect();
        self.client
            .replicate_secret_to_regions()
            .secret_id(secret_id)
            .set_add_replica_regions(Some(regions))
            .send()
            .await
            .map_err(|e| port_error("secretsmanager:ReplicateSecretToRegions", secret_id, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! Pagination and not-found handling on the real client with `aws-smithy-mocks`.
    use super::*;
    use aws_sdk_secretsmanager::operation::list_secrets::ListSecretsOutput;
    use aws_sdk_secretsmanager::types::SecretListEntry;
    use aws_sdk_secretsmanager::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    fn entry(name: &str) -> SecretListEntry {
        SecretListEntry::builder()
            .name(name)
            .arn(format!("arn:aws:secretsmanager:us-east-1:111111111111:secret:{name}-AbCdEf"))
            .tags(Tag::builder().key(MANAGED_TAG).value("true").build())
            .secret_versions_to_stages("rekey-access-key-AKIA1", vec!["AWSCURRENT".to_string()])
            .build()
    }

    #[tokio::test]
    async fn managed_secrets_are_listed_across_pages_with_the_tag_filter() {
        let rule = mock!(Client::list_secrets).then_compute_output(|req| {
            let filter = &req.filters()[0];
            assert_eq!(filter.key(), Some(&FilterNameStringType::TagKey));
            assert_eq!(filter.values(), [MANAGED_TAG]);
            let page = ListSecretsOutput::builder();
            match req.next_token() {
                None => page.secret_list(entry("a")).next_token("t1"),
                Some("t1") => page.next_token("t2"),
                Some("t2") => page.secret_list(entry("b")),
                Some(other) => panic!("unexpected token `{other}`"),
            }
            .build()
        });
        let client = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [&rule]);
        let secrets = AwsSecrets::new(client).list_managed(None).await.expect("all pages");
        assert_eq!(secrets.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(secrets[0].version_with("AWSCURRENT"), Some("rekey-access-key-AKIA1"));
        assert_eq!(rule.num_calls(), 3);
    }

    /// Central storage: the account's id goes to the service as a tag-value
    /// filter beside the managed-tag one (both must match), in full pages.
    #[tokio::test]
    async fn an_accounts_secrets_are_listed_with_its_id_as_a_tag_value_filter() {
        let rule = mock!(Client::list_secrets).then_compute_output(|req| {
            let filters: Vec<_> = req.filters().iter().map(|f| (f.key().cloned(), f.values().to_vec())).collect();
            assert_eq!(
                filters,
                [
                    (Some(FilterNameStringType::TagKey), vec![MANAGED_TAG.to_string()]),
                    (Some(FilterNameStringType::TagValue), vec!["111111111111".to_string()]),
                ]
            );
            assert_eq!(req.max_results(), Some(100));
            ListSecretsOutput::builder().secret_list(entry("a")).build()
        });
        let client = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [&rule]);
        let secrets = AwsSecrets::new(client).list_managed(Some("111111111111")).await.expect("one page");
        assert_eq!(secrets.len(), 1);
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_missing_secret_is_none_and_other_errors_are_errors() {
        let body = r#"{"__type":"ResourceNotFoundException","message":"nope"}"#;
        let missing = mock!(Client::describe_secret).sequence().http_status(400, Some(body.to_string())).build();
        let client = mock_client!(aws_sdk_secretsmanager, [&missing]);
        assert_eq!(AwsSecrets::new(client).describe("s").await.expect("not an error"), None);

        let denied = mock!(Client::describe_secret)
            .sequence()
            .http_status(400, Some(r#"{"__type":"AccessDeniedException","message":"no"}"#.to_string()))
            .build();
        let client = mock_client!(aws_sdk_secretsmanager, [&denied]);
        let err = AwsSecrets::new(client).describe("s").await.unwrap_err();
        assert_eq!(err.kind, crate::ports::ErrorKind::AccessDenied);
    }
}
