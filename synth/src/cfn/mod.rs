//! A small typed CloudFormation model: the template sections, intrinsic
//! functions ([`Expr`]) and exactly the resource types rekey emits, each with
//! typed properties. Serialization is deterministic: every map keeps
//! insertion order and stacks insert in a fixed order, so the same config
//! gives byte-identical templates.

mod dynamodb;
mod ec2;
mod events;
mod expr;
mod iam;
mod lambda;
mod monitoring;
mod sqs;

pub use dynamodb::*;
pub use ec2::*;
pub use events::*;
pub use expr::Expr;
pub use iam::*;
pub use lambda::*;
pub use monitoring::*;
pub use sqs::*;

use indexmap::IndexMap;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

/// The only CloudFormation template format version.
pub const FORMAT_VERSION: &str = "2010-09-09";

/// A CloudFormation template.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Template {
    /// Always [`FORMAT_VERSION`].
    #[serde(rename = "AWSTemplateFormatVersion")]
    pub format_version: &'static str,
    /// What the stack is.
    pub description: String,
    /// Template-level metadata.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub metadata: IndexMap<String, serde_json::Value>,
    /// Parameters.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub parameters: IndexMap<String, Parameter>,
    /// Named conditions.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub conditions: IndexMap<String, Expr>,
    /// Resources by logical id.
    pub resources: IndexMap<String, Resource>,
    /// Outputs.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub outputs: IndexMap<String, Output>,
}

impl Template {
    /// An empty template.
    pub fn new(description: impl Into<String>) -> Self {
        Self { format_version: FORMAT_VERSION, description: description.into(), ..Self::default() }
    }

    /// Adds a resource and returns its logical id.
    ///
    /// # Panics
    /// When `logical_id` is not alphanumeric or is already used: both are
    /// bugs in the stack code, caught by its tests.
    pub fn add(&mut self, logical_id: &str, resource: impl Into<Resource>) -> String {
        check_logical_id(logical_id);
        let previous = self.resources.insert(logical_id.to_string(), resource.into());
        assert!(previous.is_none(), "logical id `{logical_id}` is used twice");
        logical_id.to_string()
    }

    /// Adds a parameter.
    ///
    /// # Panics
    /// Like [`Template::add`].
    pub fn add_parameter(&mut self, name: &str, parameter: Parameter) {
        check_logical_id(name);
        assert!(self.parameters.insert(name.to_string(), parameter).is_none(), "parameter `{name}` is used twice");
    }

    /// Adds a named condition.
    ///
    /// # Panics
    /// Like [`Template::add`].
    pub fn add_condition(&mut self, name: &str, condition: Expr) {
        check_logical_id(name);
        assert!(self.conditions.insert(name.to_string(), condition).is_none(), "condition `{name}` is used twice");
    }

    /// Adds an output.
    ///
    /// # Panics
    /// Like [`Template::add`].
    pub fn add_output(&mut self, name: &str, output: Output) {
        check_logical_id(name);
        assert!(self.outputs.insert(name.to_string(), output).is_none(), "output `{name}` is used twice");
    }

    /// The template as pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("templates serialize");
        text.push('\n');
        text
    }

    /// The template as YAML (long-form intrinsics, so any YAML reader can load it).
    pub fn to_yaml(&self) -> String {
        // Through a JSON value: a YAML writer may write enum variants as YAML
        // tags, which no CloudFormation reader expects; a JSON value has no enums.
        rekey_config::yaml::to_string(&self.to_value())
    }

    /// The template as a JSON value, for tests that inspect it.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("templates serialize")
    }
}

fn check_logical_id(id: &str) {
    assert!(
        !id.is_empty() && id.len() <= 255 && id.chars().all(|c| c.is_ascii_alphanumeric()),
        "logical id `{id}` must be 1 to 255 ASCII letters or digits"
    );
}

/// A template parameter.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Parameter {
    /// `String`, `Number`...
    #[serde(rename = "Type")]
    pub kind: String,
    /// What to enter.
    pub description: String,
    /// Default value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Regular expression the value must match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_pattern: Option<String>,
    /// Shown when the pattern does not match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraint_description: Option<String>,
}

impl Parameter {
    /// A `String` parameter.
    pub fn string(description: impl Into<String>) -> Self {
        Self {
            kind: "String".to_string(),
            description: description.into(),
            default: None,
            allowed_pattern: None,
            constraint_description: None,
        }
    }
}

/// A stack output.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Output {
    /// What it is.
    pub description: String,
    /// Its value.
    pub value: Expr,
    /// Export, for `Fn::ImportValue` in other stacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export: Option<Export>,
}

impl Output {
    /// An output without export.
    pub fn new(description: impl Into<String>, value: Expr) -> Self {
        Self { description: description.into(), value, export: None }
    }
}

/// An output export.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Export {
    /// Name, unique in the account and region.
    pub name: Expr,
}

/// Resource metadata: today only checkov suppressions, each with its reason.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ResourceMetadata {
    /// Checks skipped for this resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkov: Option<Checkov>,
}

/// checkov's metadata block.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Checkov {
    /// Skipped checks.
    pub skip: Vec<CheckovSkip>,
}

/// One skipped checkov check.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckovSkip {
    /// Check id (`CKV_AWS_117`).
    pub id: String,
    /// Why the check does not apply to this design.
    pub comment: String,
}

/// One resource: its typed kind plus the resource-level attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    /// Type and properties.
    pub kind: ResourceKind,
    /// Created only when this condition holds.
    pub condition: Option<String>,
    /// Explicit dependencies (beyond those implied by `Ref`/`GetAtt`).
    pub depends_on: Vec<String>,
    /// Metadata.
    pub metadata: ResourceMetadata,
}

impl Resource {
    /// Adds a dependency.
    pub fn depends_on(mut self, logical_id: impl Into<String>) -> Self {
        self.depends_on.push(logical_id.into());
        self
    }

    /// Puts the resource under a condition.
    pub fn when(mut self, condition: impl Into<String>) -> Self {
        self.condition = Some(condition.into());
        self
    }

    /// Skips a checkov check, with the reason it does not apply.
    pub fn skip_checkov(mut self, id: &str, reason: &str) -> Self {
        self.metadata
            .checkov
            .get_or_insert_with(Checkov::default)
            .skip
            .push(CheckovSkip { id: id.to_string(), comment: reason.to_string() });
        self
    }

    /// The CloudFormation type name.
    pub fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }
}

impl Serialize for Resource {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("Type", self.kind.type_name())?;
        if let Some(condition) = &self.condition {
            map.serialize_entry("Condition", condition)?;
        }
        if !self.depends_on.is_empty() {
            map.serialize_entry("DependsOn", &self.depends_on)?;
        }
        if self.metadata.checkov.is_some() {
            map.serialize_entry("Metadata", &self.metadata)?;
        }
        self.kind.serialize_properties(&mut map)?;
        map.end()
    }
}

macro_rules! resource_kinds {
    ($($variant:ident($props:ty) => $type_name:literal,)*) => {
        /// Every resource type rekey emits, with its typed properties.
        // A template holds a few dozen resources, built once: boxing the
        // larger property structs would buy nothing but noise.
        #[allow(clippy::large_enum_variant)]
        #[derive(Clone, Debug, PartialEq)]
        pub enum ResourceKind {
            $(
                #[doc = concat!("`", $type_name, "`.")]
                $variant($props),
            )*
        }

        impl ResourceKind {
            /// The CloudFormation type name.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $(ResourceKind::$variant(_) => $type_name,)*
                }
            }

            fn serialize_properties<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
                match self {
                    $(ResourceKind::$variant(props) => map.serialize_entry("Properties", props),)*
                }
            }
        }

        $(
            impl From<$props> for Resource {
                fn from(props: $props) -> Resource {
                    Resource {
                        kind: ResourceKind::$variant(props),
                        condition: None,
                        depends_on: Vec::new(),
                        metadata: ResourceMetadata::default(),
                    }
                }
            }
        )*
    };
}

resource_kinds! {
    IamRole(Role) => "AWS::IAM::Role",
    IamGroup(Group) => "AWS::IAM::Group",
    LambdaFunction(Function) => "AWS::Lambda::Function",
    LambdaPermission(Permission) => "AWS::Lambda::Permission",
    LambdaEventSourceMapping(EventSourceMapping) => "AWS::Lambda::EventSourceMapping",
    SqsQueue(Queue) => "AWS::SQS::Queue",
    SqsQueuePolicy(QueuePolicy) => "AWS::SQS::QueuePolicy",
    EventsRule(Rule) => "AWS::Events::Rule",
    LogsLogGroup(LogGroup) => "AWS::Logs::LogGroup",
    CloudWatchAlarm(Alarm) => "AWS::CloudWatch::Alarm",
    CloudWatchDashboard(Dashboard) => "AWS::CloudWatch::Dashboard",
    Ec2SecurityGroup(SecurityGroup) => "AWS::EC2::SecurityGroup",
    Ec2VpcEndpoint(VpcEndpoint) => "AWS::EC2::VPCEndpoint",
    DynamoDbTable(Table) => "AWS::DynamoDB::Table",
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    fn sample() -> Template {
        let mut t = Template::new("sample");
        t.add_parameter(
            "Env",
            Parameter {
                default: Some("dev".into()),
                allowed_pattern: Some("^[a-z]+$".into()),
                ..Parameter::string("env")
            },
        );
        t.add_condition("IsProd", Expr::equals(Expr::r#ref("Env"), "prod".into()));
        let group = Resource::from(Group { group_name: Expr::sub("${Env}-exempt") })
            .when("IsProd")
            .skip_checkov("CKV_AWS_X", "a reason");
        t.add("Group", group);
        t.add(
            "Logs",
            Resource::from(LogGroup { log_group_name: "/aws/lambda/x".into(), retention_in_days: 365 })
                .depends_on("Group"),
        );
        t.add_output(
            "GroupName",
            Output {
                export: Some(Export { name: Expr::sub("${AWS::StackName}-Group") }),
                ..Output::new("g", Expr::r#ref("Group"))
            },
        );
        t
    }

    #[test]
    fn template_serializes_sections_and_resource_attributes_in_order() {
        let v = sample().to_value();
        assert_eq!(
            v,
            json!({
                "AWSTemplateFormatVersion": "2010-09-09",
                "Description": "sample",
                "Parameters": {"Env": {"Type": "String", "Description": "env", "Default": "dev", "AllowedPattern": "^[a-z]+$"}},
                "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]}},
                "Resources": {
                    "Group": {
                        "Type": "AWS::IAM::Group",
                        "Condition": "IsProd",
                        "Metadata": {"checkov": {"skip": [{"id": "CKV_AWS_X", "comment": "a reason"}]}},
                        "Properties": {"GroupName": {"Fn::Sub": "${Env}-exempt"}}
                    },
                    "Logs": {
                        "Type": "AWS::Logs::LogGroup",
                        "DependsOn": ["Group"],
                        "Properties": {"LogGroupName": "/aws/lambda/x", "RetentionInDays": 365}
                    }
                },
                "Outputs": {"GroupName": {"Description": "g", "Value": {"Ref": "Group"}, "Export": {"Name": {"Fn::Sub": "${AWS::StackName}-Group"}}}}
            })
        );
        let keys: Vec<_> = v["Resources"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["Group", "Logs"], "insertion order is kept");
    }

    #[test]
    fn json_and_yaml_are_stable_and_equivalent() {
        let (a, b) = (sample(), sample());
        assert_eq!(a.to_json(), b.to_json());
        assert!(a.to_json().ends_with("}\n"));
        let from_yaml: serde_json::Value = rekey_config::yaml::from_str(&a.to_yaml()).unwrap();
        assert_eq!(from_yaml, a.to_value());
        assert!(a.to_yaml().contains("Fn::Sub"), "long-form intrinsics in YAML");
    }

    #[test]
    fn yaml_has_no_tags_only_plain_maps() {
        let mut t = Template::new("roles");
        t.add(
            "Role",
            Role {
                role_name: "r".into(),
                description: "d".into(),
                assume_role_policy_document: PolicyDocument::new(vec![Statement::trust(
                    "T",
                    Principal::Aws(vec![Expr::account_id()]),
                )]),
                policies: Vec::new(),
                max_session_duration: None,
            },
        );
        let yaml = t.to_yaml();
        assert!(!yaml.contains('!'), "{yaml}");
        let from_yaml: serde_json::Value = rekey_config::yaml::from_str(&yaml).unwrap();
        assert_eq!(from_yaml, t.to_value());
        let principal =
            &t.to_value()["Resources"]["Role"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"];
        assert_eq!(principal, &json!({"AWS": [{"Ref": "AWS::AccountId"}]}));
    }

    #[test]
    #[should_panic(expected = "logical id `Group` is used twice")]
    fn duplicate_logical_ids_are_rejected() {
        let mut t = sample();
        t.add("Group", Group { group_name: "x".into() });
    }

    #[test]
    #[should_panic(expected = "must be 1 to 255 ASCII letters or digits")]
    fn non_alphanumeric_logical_ids_are_rejected() {
        Template::new("x").add("my-group", Group { group_name: "x".into() });
    }

    #[test]
    fn every_kind_names_its_type() {
        let r = Resource::from(Group { group_name: "g".into() });
        assert_eq!(r.type_name(), "AWS::IAM::Group");
    }
}
