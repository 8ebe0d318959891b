//! Organizations adapter: the inventory's [`Directory`] over the AWS SDK,
//! every list call paginated to the end (the Rust paginators of these
//! operations have no `.items()`, so pages are iterated).

use crate::inventory::ports::{AccountState, Directory, DirectoryError, OrgAccount};
use aws_sdk_organizations::types::{Account, ChildType};
use aws_sdk_organizations::Client;
use aws_smithy_types::error::display::DisplayErrorContext;

/// The organization as seen through an Organizations client.
#[derive(Clone, Debug)]
pub struct OrganizationsDirectory {
    client: Client,
}

impl OrganizationsDirectory {
    /// Wraps a client (already carrying the inventory role's credentials).
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// A directory whose calls assume `role_arn` (the inventory role in the
    /// management account). Credentials are fetched lazily and refreshed, so
    /// this is built once at start-up.
    pub async fn assume(sdk: &aws_config::SdkConfig, role_arn: &str, session_name: &str) -> Self {
        // The provider needs a clock to time its credentials; configs built
        // by hand (tests, embedders) may lack one.
        let sdk = &match sdk.time_source() {
            Some(_) => sdk.clone(),
            None => sdk.to_builder().time_source(aws_smithy_async::time::SystemTimeSource::new()).build(),
        };
        let provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
            .session_name(session_name)
            .configure(sdk)
            .build()
            .await;
        let conf = aws_sdk_organizations::config::Builder::from(sdk).credentials_provider(provider).build();
        Self::new(Client::from_conf(conf))
    }
}

fn to_account(a: &Account) -> OrgAccount {
    // `State` replaces the deprecated `Status`; read either.
    let state = a
        .state()
        .map(|s| s.as_str().to_string())
        .or_else(|| a.status().map(|s| s.as_str().to_string()))
        .unwrap_or_else(|| "UNKNOWN".to_string());
    OrgAccount {
        id: a.id().unwrap_or_default().to_string(),
        name: a.name().unwrap_or_default().to_string(),
        email: a.email().map(str::to_string),
        state: if state == "ACTIVE" { AccountState::Active } else { AccountState::Other(state) },
    }
}

fn error(operation: &'static str, parent: Option<&str>, e: impl std::error::Error) -> DirectoryError {
    DirectoryError { operation, parent: parent.map(str::to_string), message: DisplayErrorContext(e).to_string() }
}

impl Directory for OrganizationsDirectory {
    async fn list_accounts(&self) -> Result<Vec<OrgAccount>, DirectoryError> {
        let mut pages = self.client.list_accounts().into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| error("ListAccounts", None, e))?;
            out.extend(page.accounts().iter().map(to_account));
        }
        Ok(out)
    }

    async fn list_accounts_for_parent(&self, parent_id: &str) -> Result<Vec<OrgAccount>, DirectoryError> {
        let mut pages = self.client.list_accounts_for_parent().parent_id(parent_id).into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| error("ListAccountsForParent", Some(parent_id), e))?;
            out.extend(page.accounts().iter().map(to_account));
        }
        Ok(out)
    }

    async fn list_child_ous(&self, parent_id: &str) -> Result<Vec<String>, DirectoryError> {
        let mut pages = self
            .client
            .list_children()
            .parent_id(parent_id)
            .child_type(ChildType::OrganizationalUnit)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| error("ListChildren", Some(parent_id), e))?;
            out.extend(page.children().iter().filter_map(|c| c.id().map(str::to_string)));
        }
        Ok(out)
    }
}

/// The account the given credentials belong to (STS `GetCallerIdentity`).
pub async fn caller_account_id(sdk: &aws_config::SdkConfig) -> Result<String, crate::ports::PortError> {
    let out = aws_sdk_sts::Client::new(sdk)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| super::port_error("sts:GetCallerIdentity", "caller", e))?;
    out.account().map(str::to_string).ok_or_else(|| {
        crate::ports::PortError::new(
            crate::ports::ErrorKind::Other,
            "sts:GetCallerIdentity",
            "caller",
            "the response names no account",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_organizations::operation::list_accounts::ListAccountsOutput;
    use aws_sdk_organizations::operation::list_accounts_for_parent::{
        ListAccountsForParentError, ListAccountsForParentOutput,
    };
    use aws_sdk_organizations::operation::list_children::ListChildrenOutput;
    use aws_sdk_organizations::types::error::AccessDeniedException;
    use aws_sdk_organizations::types::{AccountState as SdkState, Child};
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    fn account(id: &str, state: SdkState) -> Account {
        Account::builder().id(id).name(format!("n{id}")).email(format!("{id}@example.com")).state(state).build()
    }

    #[tokio::test]
    async fn list_accounts_follows_every_page_including_empty_ones() {
        let rule = mock!(Client::list_accounts)
            .sequence()
            .output(|| {
                ListAccountsOutput::builder()
                    .accounts(account("200000000001", SdkState::Active))
                    .accounts(account("200000000002", SdkState::Suspended))
                    .next_token("t1")
                    .build()
            })
            // An empty page that still has a marker: the listing is not over.
            .output(|| ListAccountsOutput::builder().next_token("t2").build())
            .output(|| ListAccountsOutput::builder().accounts(account("200000000003", SdkState::Active)).build())
            .build();
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&rule]);
        let got = OrganizationsDirectory::new(client).list_accounts().await.unwrap();
        let ids: Vec<_> = got.iter().map(|a| (a.id.as_str(), a.state.clone())).collect();
        assert_eq!(
            ids,
            [
                ("200000000001", AccountState::Active),
                ("200000000002", AccountState::Other("SUSPENDED".into())),
                ("200000000003", AccountState::Active)
            ]
        );
        assert_eq!(rule.num_calls(), 3);
    }

    #[tokio::test]
    async fn child_ous_and_parent_accounts_paginate() {
        let children = mock!(Client::list_children)
            .match_requests(|r| {
                r.parent_id() == Some("r-root") && r.child_type() == Some(&ChildType::OrganizationalUnit)
            })
            .sequence()
            .output(|| {
                ListChildrenOutput::builder()
                    .children(Child::builder().id("ou-root-aaaaaaaa").r#type(ChildType::OrganizationalUnit).build())
                    .next_token("n")
                    .build()
            })
            .output(|| {
                ListChildrenOutput::builder()
                    .children(Child::builder().id("ou-root-bbbbbbbb").r#type(ChildType::OrganizationalUnit).build())
                    .build()
            })
            .build();
        let accounts = mock!(Client::list_accounts_for_parent)
            .sequence()
            .output(|| ListAccountsForParentOutput::builder().next_token("x").build())
            .output(|| {
                ListAccountsForParentOutput::builder().accounts(account("200000000009", SdkState::Active)).build()
            })
            .build();
        let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&children, &accounts]);
        let dir = OrganizationsDirectory::new(client);
        assert_eq!(dir.list_child_ous("r-root").await.unwrap(), ["ou-root-aaaaaaaa", "ou-root-bbbbbbbb"]);
        let got = dir.list_accounts_for_parent("ou-root-aaaaaaaa").await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].email.as_deref(), Some("200000000009@example.com"));
    }

    #[tokio::test]
    async fn access_denied_is_an_error_not_an_empty_list() {
        let rule = mock!(Client::list_accounts_for_parent).then_error(|| {
            ListAccountsForParentError::AccessDeniedException(
                AccessDeniedException::builder().message("not the management account").build(),
            )
        });
        let client = mock_client!(aws_sdk_organizations, [&rule]);
        let err = OrganizationsDirectory::new(client).list_accounts_for_parent("ou-root-aaaaaaaa").await.unwrap_err();
        assert_eq!(err.operation, "ListAccountsForParent");
        assert!(err.to_string().starts_with("organizations `ListAccountsForParent` for `ou-root-aaaaaaaa` failed: "));
        assert!(err.message.contains("not the management account"), "{}", err.message);
    }
}
