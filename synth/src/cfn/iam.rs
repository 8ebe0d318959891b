//! IAM: policy documents, roles with inline policies, groups. A role has no
//! field for managed policy ARNs at all, so no stack can attach an
//! AWS-managed `*FullAccess` policy by accident.

use super::Expr;
use indexmap::IndexMap;
use serde::Serialize;

/// The only IAM policy language version.
pub const POLICY_VERSION: &str = "2012-10-17";

/// An IAM policy document.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyDocument {
    /// Always [`POLICY_VERSION`].
    pub version: &'static str,
    /// The statements.
    pub statement: Vec<Statement>,
}

impl PolicyDocument {
    /// A document with `statements`.
    pub fn new(statements: Vec<Statement>) -> Self {
        Self { version: POLICY_VERSION, statement: statements }
    }
}

/// `Allow` or `Deny`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Effect {
    /// Grants.
    Allow,
    /// Denies, whatever else grants.
    Deny,
}

/// Who a trust or resource policy statement applies to.
#[derive(Clone, Debug, PartialEq)]
pub enum Principal {
    /// IAM principals (account roots, roles, users) by ARN.
    Aws(Vec<Expr>),
    /// AWS services (`lambda.amazonaws.com`).
    Service(Vec<String>),
}

// By hand, as a one-entry map: serde's derived enum form would become a YAML
// tag (`!AWS`) in `Template::to_yaml`.
impl Serialize for Principal {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(1))?;
        match self {
            Principal::Aws(arns) => map.serialize_entry("AWS", arns)?,
            Principal::Service(services) => map.serialize_entry("Service", services)?,
        }
        map.end()
    }
}

impl Principal {
    /// Number of principals named.
    pub fn len(&self) -> usize {
        match self {
            Principal::Aws(v) => v.len(),
            Principal::Service(v) => v.len(),
        }
    }

    /// Whether no principal is named.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Condition block: operator (`StringEquals`) → key (`aws:ResourceOrgID`) → value(s).
pub type Conditions = IndexMap<String, IndexMap<String, Expr>>;

/// One policy statement.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    /// Statement id (letters and digits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Allow or deny.
    pub effect: Effect,
    /// Principal (trust and resource policies only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<Principal>,
    /// Actions (`service:Action`).
    pub action: Vec<String>,
    /// Resources (identity policies); absent in trust policies.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource: Vec<Expr>,
    /// Conditions.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub condition: Conditions,
}

impl Statement {
    /// An `Allow` of `actions` on `resources`.
    pub fn allow<A, S>(sid: &str, actions: A, resources: Vec<Expr>) -> Self
    where
        A: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            sid: Some(sid.to_string()),
            effect: Effect::Allow,
            principal: None,
            action: actions.into_iter().map(Into::into).collect(),
            resource: resources,
            condition: IndexMap::new(),
        }
    }

    /// A trust statement: `principal` may call `sts:AssumeRole`.
    pub fn trust(sid: &str, principal: Principal) -> Self {
        Self {
            sid: Some(sid.to_string()),
            effect: Effect::Allow,
            principal: Some(principal),
            action: vec!["sts:AssumeRole".to_string()],
            resource: Vec::new(),
            condition: IndexMap::new(),
        }
    }

    /// Adds the condition `operator: {key: value}`.
    pub fn with_condition(mut self, operator: &str, key: &str, value: Expr) -> Self {
        self.condition.entry(operator.to_string()).or_default().insert(key.to_string(), value);
        self
    }
}

/// An inline policy of a role.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InlinePolicy {
    /// Name, unique within the role.
    pub policy_name: String,
    /// The document.
    pub policy_document: PolicyDocument,
}

/// `AWS::IAM::Role`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Role {
    /// Fixed name (other accounts trust it by ARN).
    pub role_name: Expr,
    /// What the role is for.
    pub description: String,
    /// Who may assume it.
    pub assume_role_policy_document: PolicyDocument,
    /// Inline policies: the only way rekey grants permissions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<InlinePolicy>,
    /// Maximum session length, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_session_duration: Option<u32>,
}

/// `AWS::IAM::Group` (rekey's exemption group: membership only, no policies).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Group {
    /// Fixed name (the runtime looks it up by name).
    pub group_name: Expr,
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    #[test]
    fn statements_serialize_with_only_the_set_fields() {
        let s = Statement::allow("Read", ["iam:GetUser"], vec![Expr::sub("arn:${AWS::Partition}:iam::*:user/*")])
            .with_condition("StringEquals", "aws:ResourceOrgID", "o-abc".into());
        assert_eq!(
            serde_json::to_value(PolicyDocument::new(vec![s])).unwrap(),
            json!({"Version": "2012-10-17", "Statement": [{
                "Sid": "Read", "Effect": "Allow", "Action": ["iam:GetUser"],
                "Resource": [{"Fn::Sub": "arn:${AWS::Partition}:iam::*:user/*"}],
                "Condition": {"StringEquals": {"aws:ResourceOrgID": "o-abc"}}
            }]})
        );
        let t = Statement::trust("Lambda", Principal::Service(vec!["lambda.amazonaws.com".into()]));
        assert_eq!(
            serde_json::to_value(&t).unwrap(),
            json!({"Sid": "Lambda", "Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com"]}, "Action": ["sts:AssumeRole"]})
        );
        assert_eq!(t.principal.as_ref().map(Principal::len), Some(1));
        assert!(!Principal::Aws(vec![Expr::account_id()]).is_empty());
    }
}
