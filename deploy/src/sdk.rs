//! The traits of `api.rs` on the AWS SDK: one adapter per service, mapping SDK types to `model.rs` and SDK
//! errors to [`DeployError::Aws`] with the operation and the stack or bucket involved.

use crate::api::{AssetStore, Cfn, ManagedSecrets, Org};
use crate::error::DeployError;
use crate::model::*;
use aws_config::SdkConfig;
use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudformation::types as cf;
use chrono::{DateTime, Utc};
use rekey_config::CallAs;

/// Tag the runtime puts on every secret it creates.
pub use rekey_config::contract::MANAGED_TAG as MANAGED_TAG_KEY;

fn aws_error<E, R>(operation: &'static str, target: &str, err: SdkError<E, R>) -> DeployError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let message = match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => aws_smithy_types::error::display::DisplayErrorContext(&err).to_string(),
    };
    DeployError::Aws { operation, target: target.to_string(), message }
}

fn is_missing<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    let code = err.code().unwrap_or_default();
    let message = err.message().unwrap_or_default();
    (code == "ValidationError" && message.contains("does not exist"))
        || code == "StackSetNotFoundException"
        || code == "StackSetNotFound"
        || code == "ChangeSetNotFound"
}

fn call_as(value: CallAs) -> cf::CallAs {
    match value {
        CallAs::SelfAccount => cf::CallAs::SelfValue,
        CallAs::DelegatedAdmin => cf::CallAs::DelegatedAdmin,
    }
}

fn time(t: Option<&aws_smithy_types::DateTime>) -> DateTime<Utc> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos())).unwrap_or_default()
}

fn parameters(pairs: &[(String, String)]) -> Vec<cf::Parameter> {
    pairs.iter().map(|(k, v)| cf::Parameter::builder().parameter_key(k).parameter_value(v).build()).collect()
}

fn tags(pairs: &[(String, String)]) -> Vec<cf::Tag> {
    pairs.iter().map(|(k, v)| cf::Tag::builder().key(k).value(v).build()).collect()
}

fn deployment_targets(targets: &StackSetTargets) -> cf::DeploymentTargets {
    cf::DeploymentTargets::builder().set_organizational_unit_ids(Some(targets.ou_ids.clone())).build()
}

fn preferences(targets: &StackSetTargets) -> cf::StackSetOperationPreferences {
    cf::StackSetOperationPreferences::builder()
        .max_concurrent_percentage(i32::from(targets.max_concurrent_percentage))
        .failure_tolerance_percentage(i32::from(targets.failure_tolerance_percentage))
        .build()
}

/// CloudFormation through the AWS SDK.
#[derive(Clone, Debug)]
pub struct SdkCfn {
    client: aws_sdk_cloudformation::Client,
}

impl SdkCfn {
    /// Wraps a client.
    pub fn new(client: aws_sdk_cloudformation::Client) -> Self {
        Self { client }
    }
}

impl Cfn for SdkCfn {
    async fn describe_stack(&self, name: &str) -> Result<Option<Stack>, DeployError> {
        let out = match self.client.describe_stacks().stack_name(name).send().await {
            Ok(out) => out,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(aws_error("DescribeStacks", name, e)),
        };
        let Some(stack) = out.stacks().first() else { return Ok(None) };
        let status = StackStatus::from(stack.stack_status().map(|s| s.as_str()).unwrap_or_default());
        if status == StackStatus::DeleteComplete {
            return Ok(None);
        }
        Ok(Some(Stack {
            name: name.to_string(),
            status,
            reason: stack.stack_status_reason().map(str::to_string),
            outputs: stack
                .outputs()
                .iter()
                .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value().unwrap_or_default().to_string())))
                .collect(),
        }))
    }

    async fn get_template(&self, name: &str) -> Result<Option<String>, DeployError> {
        match self.client.get_template().stack_name(name).template_stage(cf::TemplateStage::Original).send().await {
            Ok(out) => Ok(out.template_body().map(str::to_string)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(aws_error("GetTemplate", name, e)),
        }
    }

    async fn create_change_set(&self, request: &ChangeSetRequest) -> Result<Option<String>, DeployError> {
        let kind = match request.kind {
            ChangeSetKind::Create => cf::ChangeSetType::Create,
            ChangeSetKind::Update => cf::ChangeSetType::Update,
        };
        let out = self
            .client
            .create_change_set()
            .stack_name(&request.stack)
            .change_set_name(&request.name)
            .change_set_type(kind)
            .template_body(&request.template)
            .capabilities(cf::Capability::CapabilityNamedIam)
            .set_parameters(Some(parameters(&request.parameters)))
            .set_tags(Some(tags(&request.tags)))
            .set_description(request.description.clone())
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) if e.message().is_some_and(|m| m.contains("No updates are to be performed")) => return Ok(None),
            Err(e) => return Err(aws_error("CreateChangeSet", &request.stack, e)),
        };
        Ok(Some(out.id().unwrap_or(&request.name).to_string()))
    }

    async fn describe_change_set(&self, stack: &str, id: &str) -> Result<ChangeSet, DeployError> {
        let out = self
            .client
            .describe_change_set()
            .stack_name(stack)
            .change_set_name(id)
            .send()
            .await
            .map_err(|e| aws_error("DescribeChangeSet", stack, e))?;
        Ok(ChangeSet {
            status: out.status().map(|s| s.as_str()).unwrap_or_default().into(),
            reason: out.status_reason().map(str::to_string),
            changes: out
                .changes()
                .iter()
                .filter_map(|c| c.resource_change())
                .map(|c| ResourceChange {
                    action: c.action().map(|a| a.as_str().to_string()).unwrap_or_default(),
                    logical_id: c.logical_resource_id().unwrap_or_default().to_string(),
                    resource_type: c.resource_type().unwrap_or_default().to_string(),
                })
                .collect(),
        })
    }

    async fn execute_change_set(&self, stack: &str, id: &str) -> Result<(), DeployError> {
        self.client
            .execute_change_set()
            .stack_name(stack)
            .change_set_name(id)
            .send()
            .await
            .map_err(|e| aws_error("ExecuteChangeSet", stack, e))?;
        Ok(())
    }

    async fn delete_change_set(&self, stack: &str, id: &str) -> Result<(), DeployError> {
        self.client
            .delete_change_set()
            .stack_name(stack)
            .change_set_name(id)
            .send()
            .await
            .map_err(|e| aws_error("DeleteChangeSet", stack, e))?;
        Ok(())
    }

    async fn stack_events(&self, stack: &str) -> Result<Vec<StackEvent>, DeployError> {
        let mut pages = self.client.describe_stack_events().stack_name(stack).into_paginator().send();
        let mut events = Vec::new();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(page) => page,
                Err(e) if is_missing(&e) => return Ok(events),
                Err(e) => return Err(aws_error("DescribeStackEvents", stack, e)),
            };
            events.extend(page.stack_events().iter().map(|e| StackEvent {
                id: e.event_id().unwrap_or_default().to_string(),
                timestamp: time(e.timestamp()),
                stack: e.stack_name().unwrap_or(stack).to_string(),
                logical_id: e.logical_resource_id().unwrap_or_default().to_string(),
                resource_type: e.resource_type().unwrap_or_default().to_string(),
                status: e.resource_status().map(|s| s.as_str()).unwrap_or_default().into(),
                reason: e.resource_status_reason().filter(|r| !r.is_empty()).map(str::to_string),
            }));
        }
        Ok(events)
    }

    async fn delete_stack(&self, name: &str) -> Result<(), DeployError> {
        self.client.delete_stack().stack_name(name).send().await.map_err(|e| aws_error("DeleteStack", name, e))?;
        Ok(())
    }

    async fn describe_stack_set(&self, name: &str, call: CallAs) -> Result<Option<StackSet>, DeployError> {
        let out = match self.client.describe_stack_set().stack_set_name(name).call_as(call_as(call)).send().await {
            Ok(out) => out,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(aws_error("DescribeStackSet", name, e)),
        };
        let Some(set) = out.stack_set() else { return Ok(None) };
        let status = StackSetStatus::from(set.status().map(|s| s.as_str()).unwrap_or_default());
        if status == StackSetStatus::Deleted {
            return Ok(None);
        }
        Ok(Some(StackSet {
            name: name.to_string(),
            status,
            template: set.template_body().unwrap_or_default().to_string(),
            parameters: set
                .parameters()
                .iter()
                .filter_map(|p| {
                    Some((p.parameter_key()?.to_string(), p.parameter_value().unwrap_or_default().to_string()))
                })
                .collect(),
            ou_ids: set.organizational_unit_ids().to_vec(),
        }))
    }

    async fn create_stack_set(&self, request: &StackSetRequest) -> Result<(), DeployError> {
        self.client
            .create_stack_set()
            .stack_set_name(&request.name)
            .template_body(&request.template)
            .set_description(request.description.clone())
            .capabilities(cf::Capability::CapabilityNamedIam)
            .set_parameters(Some(parameters(&request.parameters)))
            .set_tags(Some(tags(&request.tags)))
            .permission_model(cf::PermissionModels::ServiceManaged)
            .auto_deployment(
                cf::AutoDeployment::builder().enabled(true).retain_stacks_on_account_removal(false).build(),
            )
            .managed_execution(cf::ManagedExecution::builder().active(true).build())
            .call_as(call_as(request.call_as))
            .send()
            .await
            .map_err(|e| aws_error("CreateStackSet", &request.name, e))?;
        Ok(())
    }

    async fn update_stack_set(
        &self,
        request: &StackSetRequest,
        targets: &StackSetTargets,
    ) -> Result<String, DeployError> {
        let out = self
            .client
            .update_stack_set()
            .stack_set_name(&request.name)
            .template_body(&request.template)
            .set_description(request.description.clone())
            .capabilities(cf::Capability::CapabilityNamedIam)
            .set_parameters(Some(parameters(&request.parameters)))
            .set_tags(Some(tags(&request.tags)))
            .permission_model(cf::PermissionModels::ServiceManaged)
            .auto_deployment(
                cf::AutoDeployment::builder().enabled(true).retain_stacks_on_account_removal(false).build(),
            )
            .managed_execution(cf::ManagedExecution::builder().active(true).build())
            .deployment_targets(deployment_targets(targets))
            .regions(&targets.region)
            .operation_preferences(preferences(targets))
            .call_as(call_as(request.call_as))
            .send()
            .await
            .map_err(|e| aws_error("UpdateStackSet", &request.name, e))?;
        Ok(out.operation_id().unwrap_or_default().to_string())
    }

    async fn create_stack_instances(
        &self,
        name: &str,
        targets: &StackSetTargets,
        call: CallAs,
    ) -> Result<String, DeployError> {
        let out = self
            .client
            .create_stack_instances()
            .stack_set_name(name)
            .deployment_targets(deployment_targets(targets))
            .regions(&targets.region)
            .operation_preferences(preferences(targets))
            .call_as(call_as(call))
            .send()
            .await
            .map_err(|e| aws_error("CreateStackInstances", name, e))?;
        Ok(out.operation_id().unwrap_or_default().to_string())
    }

    async fn delete_stack_instances(
        &self,
        name: &str,
        targets: &StackSetTargets,
        call: CallAs,
    ) -> Result<String, DeployError> {
        let out = self
            .client
            .delete_stack_instances()
            .stack_set_name(name)
            .deployment_targets(deployment_targets(targets))
            .regions(&targets.region)
            .retain_stacks(false)
            .operation_preferences(preferences(targets))
            .call_as(call_as(call))
            .send()
            .await
            .map_err(|e| aws_error("DeleteStackInstances", name, e))?;
        Ok(out.operation_id().unwrap_or_default().to_string())
    }

    async fn describe_operation(&self, name: &str, id: &str, call: CallAs) -> Result<Operation, DeployError> {
        let out = self
            .client
            .describe_stack_set_operation()
            .stack_set_name(name)
            .operation_id(id)
            .call_as(call_as(call))
            .send()
            .await
            .map_err(|e| aws_error("DescribeStackSetOperation", name, e))?;
        let op = out.stack_set_operation();
        Ok(Operation {
            status: op.and_then(|o| o.status()).map(|s| s.as_str()).unwrap_or_default().into(),
            reason: op.and_then(|o| o.status_reason()).filter(|r| !r.is_empty()).map(str::to_string),
        })
    }

    async fn list_stack_instances(&self, name: &str, call: CallAs) -> Result<Vec<StackInstance>, DeployError> {
        let mut pages =
            self.client.list_stack_instances().stack_set_name(name).call_as(call_as(call)).into_paginator().send();
        let mut instances = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("ListStackInstances", name, e))?;
            instances.extend(page.summaries().iter().map(|s| StackInstance {
                account: s.account().unwrap_or_default().to_string(),
                region: s.region().unwrap_or_default().to_string(),
                ou_id: s.organizational_unit_id().filter(|o| !o.is_empty()).map(str::to_string),
                status: s.status().map(|s| s.as_str()).unwrap_or_default().into(),
                detailed_status: s.stack_instance_status().and_then(|d| d.detailed_status()).map(|d| d.as_str().into()),
                reason: s.status_reason().filter(|r| !r.is_empty()).map(str::to_string),
            }));
        }
        instances.sort_by(|a, b| (&a.account, &a.region).cmp(&(&b.account, &b.region)));
        Ok(instances)
    }

    async fn delete_stack_set(&self, name: &str, call: CallAs) -> Result<(), DeployError> {
        self.client
            .delete_stack_set()
            .stack_set_name(name)
            .call_as(call_as(call))
            .send()
            .await
            .map_err(|e| aws_error("DeleteStackSet", name, e))?;
        Ok(())
    }
}

/// The asset bucket through the S3 SDK.
#[derive(Clone, Debug)]
pub struct SdkS3 {
    client: aws_sdk_s3::Client,
}

impl SdkS3 {
    /// Wraps a client.
    pub fn new(client: aws_sdk_s3::Client) -> Self {
        Self { client }
    }
}

impl AssetStore for SdkS3 {
    async fn exists(&self, bucket: &str, key: &str) -> Result<bool, DeployError> {
        match self.client.head_object().bucket(bucket).key(key).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
            Err(e) => Err(aws_error("HeadObject", &format!("s3://{bucket}/{key}"), e)),
        }
    }

    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), DeployError> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body.into())
            .send()
            .await
            .map_err(|e| aws_error("PutObject", &format!("s3://{bucket}/{key}"), e))?;
        Ok(())
    }
}

/// Organizations through the SDK.
#[derive(Clone, Debug)]
pub struct SdkOrg {
    client: aws_sdk_organizations::Client,
}

impl SdkOrg {
    /// Wraps a client.
    pub fn new(client: aws_sdk_organizations::Client) -> Self {
        Self { client }
    }
}

impl Org for SdkOrg {
    async fn root_id(&self) -> Result<String, DeployError> {
        let out = self.client.list_roots().send().await.map_err(|e| aws_error("ListRoots", "the organization", e))?;
        out.roots().first().and_then(|r| r.id()).map(str::to_string).ok_or_else(|| {
            DeployError::Setup("the organization has no root; is this account in an organization?".into())
        })
    }
}

/// Secrets Manager through the SDK.
#[derive(Clone, Debug)]
pub struct SdkSecrets {
    client: aws_sdk_secretsmanager::Client,
}

impl SdkSecrets {
    /// Wraps a client.
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self { client }
    }
}

impl ManagedSecrets for SdkSecrets {
    async fn list_managed(&self) -> Result<Vec<String>, DeployError> {
        let filter = aws_sdk_secretsmanager::types::Filter::builder()
            .key(aws_sdk_secretsmanager::types::FilterNameStringType::TagKey)
            .values(MANAGED_TAG_KEY)
            .build();
        let mut pages = self.client.list_secrets().filters(filter).into_paginator().send();
        let mut arns = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("ListSecrets", "secrets tagged rekey:managed", e))?;
            for secret in page.secret_list() {
                // The filter matches the key only; check the value too.
                let managed =
                    secret.tags().iter().any(|t| t.key() == Some(MANAGED_TAG_KEY) && t.value() == Some("true"));
                if let (true, Some(arn)) = (managed, secret.arn()) {
                    arns.push(arn.to_string());
                }
            }
        }
        arns.sort();
        Ok(arns)
    }

    async fn delete(&self, arn: &str) -> Result<(), DeployError> {
        self.client
            .delete_secret()
            .secret_id(arn)
            .force_delete_without_recovery(true)
            .send()
            .await
            .map_err(|e| aws_error("DeleteSecret", arn, e))?;
        Ok(())
    }
}

/// Every adapter for one account, built from one SDK configuration.
#[derive(Clone, Debug)]
pub struct Session {
    /// CloudFormation.
    pub cfn: SdkCfn,
    /// S3 (path-style when an endpoint URL is configured, as local emulators need).
    pub s3: SdkS3,
    /// Organizations.
    pub org: SdkOrg,
    /// Secrets Manager.
    pub secrets: SdkSecrets,
    /// STS, for the caller's account id.
    pub sts: aws_sdk_sts::Client,
}

impl Session {
    /// Builds every client from `config`.
    pub fn new(config: &SdkConfig) -> Self {
        let s3 = aws_sdk_s3::config::Builder::from(config).force_path_style(config.endpoint_url().is_some()).build();
        Self {
            cfn: SdkCfn::new(aws_sdk_cloudformation::Client::new(config)),
            s3: SdkS3::new(aws_sdk_s3::Client::from_conf(s3)),
            org: SdkOrg::new(aws_sdk_organizations::Client::new(config)),
            secrets: SdkSecrets::new(aws_sdk_secretsmanager::Client::new(config)),
            sts: aws_sdk_sts::Client::new(config),
        }
    }

    /// The S3 client (path-style when an endpoint URL is configured).
    pub fn s3_client(&self) -> &aws_sdk_s3::Client {
        &self.s3.client
    }

    /// The account the credentials belong to (`GetCallerIdentity`).
    pub async fn account_id(&self) -> Result<String, DeployError> {
        let out =
            self.sts.get_caller_identity().send().await.map_err(|e| aws_error("GetCallerIdentity", "the caller", e))?;
        out.account().map(str::to_string).ok_or_else(|| DeployError::Setup("STS returned no account id".into()))
    }
}
