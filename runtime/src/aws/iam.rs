//! [`IamAccount`] on `aws-sdk-iam`: every list operation paginated.

use super::{port_error, to_chrono};
use crate::lifecycle::KeyStatus;
use crate::ports::{
    AccessKeyInfo, ErrorKind, IamAccount, IamUser, NewAccessKey, PortError, PortResult, ReportState, SecretString,
};
use aws_sdk_iam::types::{EntityType, ReportStateType, StatusType, Tag};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// IAM of one account.
#[derive(Clone, Debug)]
pub struct AwsIam {
    client: aws_sdk_iam::Client,
    account_id: String,
}

impl AwsIam {
    /// Wraps a client acting in `account_id` (the id only labels errors).
    pub fn new(client: aws_sdk_iam::Client, account_id: impl Into<String>) -> Self {
        AwsIam { client, account_id: account_id.into() }
    }

    fn user_target(&self, user: &str) -> String {
        format!("{}/{user}", self.account_id)
    }
}

fn key_status(status: Option<&StatusType>) -> KeyStatus {
    match status {
        Some(StatusType::Active) => KeyStatus::Active,
        _ => KeyStatus::Inactive,
    }
}

fn created(t: Option<&aws_smithy_types::DateTime>) -> DateTime<Utc> {
    t.map(to_chrono).unwrap_or_default()
}

impl IamAccount for AwsIam {
    async fn generate_credential_report(&self) -> PortResult<ReportState> {
        let out = self
            .client
            .generate_credential_report()
            .send()
            .await
            .map_err(|e| port_error("iam:GenerateCredentialReport", &self.account_id, e))?;
        Ok(match out.state() {
            Some(ReportStateType::Complete) => ReportState::Complete,
            Some(ReportStateType::Started) => ReportState::Started,
            _ => ReportState::InProgress,
        })
    }

    async fn credential_report(&self) -> PortResult<String> {
        let out = self
            .client
            .get_credential_report()
            .send()
            .await
            .map_err(|e| port_error("iam:GetCredentialReport", &self.account_id, e))?;
        let content = out.content().map(|b| b.as_ref().to_vec()).unwrap_or_default();
        String::from_utf8(content).map_err(|e| {
            PortError::new(ErrorKind::Other, "iam:GetCredentialReport", &self.account_id, format!("not UTF-8: {e}"))
        })
    }

    async fn users(&self) -> PortResult<Vec<IamUser>> {
        // GetAccountAuthorizationDetails has no `.items()`: iterate pages.
        let mut pages =
            self.client.get_account_authorization_details().filter(EntityType::User).into_paginator().send();
        let mut users = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| port_error("iam:GetAccountAuthorizationDetails", &self.account_id, e))?;
            for u in page.user_detail_list() {
                users.push(IamUser {
                    user_name: u.user_name().unwrap_or_default().to_string(),
                    arn: u.arn().unwrap_or_default().to_string(),
                    tags: u.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect(),
                    groups: u.group_list().to_vec(),
                });
            }
        }
        Ok(users)
    }

    async fn list_access_keys(&self, user: &str) -> PortResult<Vec<AccessKeyInfo>> {
        let mut pages = self.client.list_access_keys().user_name(user).into_paginator().send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| port_error("iam:ListAccessKeys", &self.user_target(user), e))?;
            for k in page.access_key_metadata() {
                keys.push(AccessKeyInfo {
                    access_key_id: k.access_key_id().unwrap_or_default().to_string(),
                    status: key_status(k.status()),
                    created: created(k.create_date()),
                });
            }
        }
        Ok(keys)
    }

    async fn access_key_last_used(&self, key_id: &str) -> PortResult<Option<DateTime<Utc>>> {
        let out = self
            .client
            .get_access_key_last_used()
            .access_key_id(key_id)
            .send()
            .await
            .map_err(|e| port_error("iam:GetAccessKeyLastUsed", &format!("{}/{key_id}", self.account_id), e))?;
        Ok(out.access_key_last_used().and_then(|u| u.last_used_date()).map(to_chrono))
    }

    async fn create_access_key(&self, user: &str) -> PortResult<NewAccessKey> {
        let out = self
            .client
            .create_access_key()
            .user_name(user)
            .send()
            .await
            .map_err(|e| port_error("iam:CreateAccessKey", &self.user_target(user), e))?;
        let key = out.access_key().ok_or_else(|| {
            PortError::new(ErrorKind::Other, "iam:CreateAccessKey", self.user_target(user), "no key in the response")
        })?;
        Ok(NewAccessKey {
            access_key_id: key.access_key_id().to_string(),
            secret_access_key: SecretString::new(key.secret_access_key()),
            created: created(key.create_date()),
        })
    }

    async fn set_access_key_status(&self, user: &str, key_id: &str, status: KeyStatus) -> PortResult<()> {
        let status = match status {
            KeyStatus::Active => StatusType::Active,
            KeyStatus::Inactive => StatusType::Inactive,
        };
        self.client
            .update_access_key()
            .user_name(user)
            .access_key_id(key_id)
            .status(status)
            .send()
            .await
            .map_err(|e| port_error("iam:UpdateAccessKey", &format!("{}/{key_id}", self.user_target(user)), e))?;
        Ok(())
    }

    async fn delete_access_key(&self, user: &str, key_id: &str) -> PortResult<()> {
        self.client
            .delete_access_key()
            .user_name(user)
            .access_key_id(key_id)
            .send()
            .await
            .map_err(|e| port_error("iam:DeleteAccessKey", &format!("{}/{key_id}", self.user_target(user)), e))?;
        Ok(())
    }

    async fn tag_user(&self, user: &str, tags: &BTreeMap<String, String>) -> PortResult<()> {
        let tags = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PortError::new(ErrorKind::Other, "iam:TagUser", self.user_target(user), e.to_string()))?;
        self.client
            .tag_user()
            .user_name(user)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| port_error("iam:TagUser", &self.user_target(user), e))?;
        Ok(())
    }

    async fn untag_user(&self, user: &str, keys: &[String]) -> PortResult<()> {
        self.client
            .untag_user()
            .user_name(user)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| port_error("iam:UntagUser", &self.user_target(user), e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! Pagination and errors a local emulator cannot produce, on the real
    //! client with `aws-smithy-mocks`.
    use super::*;
    use aws_sdk_iam::operation::get_account_authorization_details::GetAccountAuthorizationDetailsOutput;
    use aws_sdk_iam::operation::list_access_keys::ListAccessKeysOutput;
    use aws_sdk_iam::types::{AccessKeyMetadata, UserDetail};
    use aws_sdk_iam::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    fn throttling() -> String {
        "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>\
         <RequestId>1</RequestId></ErrorResponse>"
            .to_string()
    }

    fn user(name: &str, groups: &[&str]) -> UserDetail {
        UserDetail::builder()
            .user_name(name)
            .arn(format!("arn:aws:iam::111111111111:user/{name}"))
            .set_group_list(Some(groups.iter().map(|g| g.to_string()).collect()))
            .tags(Tag::builder().key("owner").value("o@example.com").build().unwrap())
            .build()
    }

    #[tokio::test]
    async fn authorization_details_follow_markers_across_empty_pages() {
        let rule = mock!(Client::get_account_authorization_details).then_compute_output(|req| {
            assert_eq!(req.filter(), &[EntityType::User]);
            let page = GetAccountAuthorizationDetailsOutput::builder();
            match req.marker() {
                None => page
                    .user_detail_list(user("a", &["rekey-exempt"]))
                    .user_detail_list(user("b", &[]))
                    .is_truncated(true)
                    .marker("m1"),
                // An empty page that still carries a marker.
                Some("m1") => page.is_truncated(true).marker("m2"),
                Some("m2") => page.user_detail_list(user("c", &[])).is_truncated(false),
                Some(other) => panic!("unexpected marker `{other}`"),
            }
            .build()
        });
        let client = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&rule]);
        let users = AwsIam::new(client, "111111111111").users().await.expect("all pages");
        assert_eq!(users.iter().map(|u| u.user_name.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(users[0].groups, ["rekey-exempt"]);
        assert_eq!(users[0].tags.get("owner").map(String::as_str), Some("o@example.com"));
        assert_eq!(rule.num_calls(), 3);
    }

    fn key(id: &str) -> AccessKeyMetadata {
        AccessKeyMetadata::builder()
            .access_key_id(id)
            .status(StatusType::Active)
            .create_date(aws_smithy_types::DateTime::from_secs(1_700_000_000))
            .build()
    }

    #[tokio::test]
    async fn access_keys_are_paginated_and_throttling_is_retried() {
        let rule = mock!(Client::list_access_keys)
            .sequence()
            .http_status(400, Some(throttling()))
            .output(|| {
                ListAccessKeysOutput::builder()
                    .access_key_metadata(key("AKIA1"))
                    .is_truncated(true)
                    .marker("m")
                    .build()
                    .unwrap()
            })
            .output(|| {
                ListAccessKeysOutput::builder().access_key_metadata(key("AKIA2")).is_truncated(false).build().unwrap()
            })
            .build();
        let client = mock_client!(aws_sdk_iam, RuleMode::Sequential, [&rule], |c| c
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3)));
        let keys = AwsIam::new(client, "111111111111").list_access_keys("alice").await.expect("retried");
        assert_eq!(keys.iter().map(|k| k.access_key_id.as_str()).collect::<Vec<_>>(), ["AKIA1", "AKIA2"]);
        assert_eq!(keys[0].status, KeyStatus::Active);
        assert_eq!(keys[0].created.timestamp(), 1_700_000_000);
        assert_eq!(rule.num_calls(), 3);
    }

    #[tokio::test]
    async fn errors_are_classified_and_name_the_target() {
        let server = mock!(Client::list_access_keys).sequence().http_status(503, None).repeatedly().build();
        let client = mock_client!(aws_sdk_iam, RuleMode::Sequential, [&server], |c| c
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2)));
        let err = AwsIam::new(client, "111111111111").list_access_keys("alice").await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Retryable);
        assert_eq!(err.operation, "iam:ListAccessKeys");
        assert_eq!(err.target, "111111111111/alice");
        assert_eq!(server.num_calls(), 2, "retried up to the configured attempts");

        // As IAM sends it: the SDK parses the code from the body.
        let body = "<ErrorResponse><Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>no user</Message>\
                    </Error><RequestId>1</RequestId></ErrorResponse>";
        let missing = mock!(Client::list_access_keys).sequence().http_status(404, Some(body.to_string())).build();
        let client = mock_client!(aws_sdk_iam, [&missing]);
        let err = AwsIam::new(client, "111111111111").list_access_keys("ghost").await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotFound);
        assert!(err.to_string().contains("`111111111111/ghost`"), "{err}");
    }
}
