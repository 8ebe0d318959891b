//! `rekey diff`: a resource- and property-level comparison of a deployed template with a synthesized one, with
//! IAM changes called out. Pure functions over JSON; fetching the deployed side is `deploy.rs`'s job.

use crate::iam::{self, IamChanges};
use serde_json::Value;
use std::fmt::Write as _;

/// How a resource (or output, or parameter) changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Only in the new template.
    Added,
    /// Only in the deployed template.
    Removed,
    /// In both, different.
    Modified,
}

impl Change {
    fn mark(self) -> &'static str {
        match self {
            Change::Added => "[+]",
            Change::Removed => "[-]",
            Change::Modified => "[~]",
        }
    }
}

/// One changed property path of a resource, with the deployed and the new value.
#[derive(Clone, Debug, PartialEq)]
pub struct PropertyChange {
    /// Dotted path below the resource (`Properties.Environment.Variables.REKEY_CONFIG{lifecycle.rotate_after_days}`;
    /// braces mark a path inside a string that holds JSON).
    pub path: String,
    /// Deployed value (absent when added).
    pub old: Option<Value>,
    /// New value (absent when removed).
    pub new: Option<Value>,
}

/// One changed entry of a template section.
#[derive(Clone, Debug, PartialEq)]
pub struct EntryChange {
    /// `Resources`, `Outputs`, `Parameters`, `Conditions`, ...
    pub section: String,
    /// Logical id.
    pub logical_id: String,
    /// Resource type, for resources.
    pub resource_type: Option<String>,
    /// Added, removed or modified.
    pub change: Change,
    /// For modified entries, the changed paths.
    pub properties: Vec<PropertyChange>,
}

/// The difference between a deployed and a synthesized template.
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateDiff {
    /// Stack (or StackSet) name and where it lives, e.g. `rekey-main (account 111111111111)`.
    pub title: String,
    /// Whether nothing is deployed yet.
    pub new_stack: bool,
    /// Changed entries, in section then logical id order.
    pub entries: Vec<EntryChange>,
    /// IAM statement changes.
    pub iam: IamChanges,
}

/// Resource types that are nothing but IAM or a resource policy: all of their changes are security changes.
const SECURITY_TYPES: [&str; 6] = [
    "AWS::Lambda::Permission",
    "AWS::SQS::QueuePolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::S3::BucketPolicy",
    "AWS::SecretsManager::ResourcePolicy",
    "AWS::Events::EventBusPolicy",
];

/// Property names that hold permissions inside other resources (a role's policies, a key's policy, ...).
const SECURITY_PROPERTIES: [&str; 7] = [
    "PolicyDocument",
    "AssumeRolePolicyDocument",
    "KeyPolicy",
    "ResourcePolicy",
    "Policy",
    "ManagedPolicyArns",
    "PermissionsBoundary",
];

impl TemplateDiff {
    /// Whether the templates are the same.
    pub fn is_empty(&self) -> bool {
        !self.new_stack && self.entries.is_empty()
    }

    /// `rekey diff --security-only` (as `cdk diff --security-only`): the IAM statement changes, and only the
    /// entries that change permissions: IAM and resource-policy resources whole, elsewhere only the policy
    /// properties (a role's `Policies`, a key's `KeyPolicy`, ...) and entries that carry a changed statement.
    pub fn security_only(&self) -> TemplateDiff {
        let carries_statement = |id: &str| self.iam.added.iter().chain(&self.iam.removed).any(|s| s.logical_id == id);
        let entries = self
            .entries
            .iter()
            .filter_map(|e| {
                let ty = e.resource_type.as_deref().unwrap_or_default();
                if ty.starts_with("AWS::IAM::") || SECURITY_TYPES.contains(&ty) {
                    return Some(e.clone());
                }
                let properties: Vec<PropertyChange> = e
                    .properties
                    .iter()
                    .filter(|p| p.path.split(['.', '[', '{']).any(|part| SECURITY_PROPERTIES.contains(&part)))
                    .cloned()
                    .collect();
                if !properties.is_empty() || (e.change != Change::Modified && carries_statement(&e.logical_id)) {
                    Some(EntryChange { properties, ..e.clone() })
                } else {
                    None
                }
            })
            .collect::<Vec<_>>();
        TemplateDiff {
            title: self.title.clone(),
            new_stack: self.new_stack && !(entries.is_empty() && self.iam.is_empty()),
            entries,
            iam: self.iam.clone(),
        }
    }
}

/// Compares `old` (the deployed template; absent when nothing is deployed) with `new`.
pub fn diff(title: &str, old: Option<&Value>, new: &Value) -> TemplateDiff {
    let empty = Value::Object(Default::default());
    let old_t = old.unwrap_or(&empty);
    let mut entries = Vec::new();
    for section in ["Parameters", "Conditions", "Resources", "Outputs"] {
        let old_s = old_t.get(section).and_then(Value::as_object).cloned().unwrap_or_default();
        let new_s = new.get(section).and_then(Value::as_object).cloned().unwrap_or_default();
        let mut ids: Vec<&String> = old_s.keys().chain(new_s.keys()).collect();
        ids.sort();
        ids.dedup();
        for id in ids {
            let (o, n) = (old_s.get(id), new_s.get(id));
            let resource_type = n
                .or(o)
                .and_then(|v| v.get("Type"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .filter(|_| section == "Resources");
            let (change, properties) = match (o, n) {
                (None, Some(_)) => (Change::Added, Vec::new()),
                (Some(_), None) => (Change::Removed, Vec::new()),
                (Some(o), Some(n)) => {
                    let mut props = Vec::new();
                    compare("", o, n, &mut props);
                    if props.is_empty() {
                        continue;
                    }
                    (Change::Modified, props)
                }
                (None, None) => continue,
            };
            entries.push(EntryChange {
                section: section.to_string(),
                logical_id: id.clone(),
                resource_type,
                change,
                properties,
            });
        }
    }
    TemplateDiff { title: title.to_string(), new_stack: old.is_none(), entries, iam: iam::changes(old, new) }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn compare(path: &str, old: &Value, new: &Value, out: &mut Vec<PropertyChange>) {
    if old == new {
        return;
    }
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut keys: Vec<&String> = o.keys().chain(n.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let p = join(path, key);
                match (o.get(key), n.get(key)) {
                    (Some(a), Some(b)) => compare(&p, a, b, out),
                    (a, b) => out.push(PropertyChange { path: p, old: a.cloned(), new: b.cloned() }),
                }
            }
        }
        (Value::Array(o), Value::Array(n)) if sids(o).is_some() && sids(n).is_some() => {
            // Policy statements: matched by Sid, so inserting one does not shift every later statement.
            let (os, ns) = (sids(o).unwrap_or_default(), sids(n).unwrap_or_default());
            let mut keys: Vec<&str> = os.iter().chain(ns.iter()).map(|(k, _)| *k).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let p = format!("{path}[Sid={key}]");
                let find = |list: &[(&str, &Value)]| list.iter().find(|(k, _)| *k == key).map(|(_, v)| (*v).clone());
                match (find(&os), find(&ns)) {
                    (Some(a), Some(b)) => compare(&p, &a, &b, out),
                    (a, b) => out.push(PropertyChange { path: p, old: a, new: b }),
                }
            }
        }
        (Value::Array(o), Value::Array(n)) => {
            for i in 0..o.len().max(n.len()) {
                let p = format!("{path}[{i}]");
                match (o.get(i), n.get(i)) {
                    (Some(a), Some(b)) => compare(&p, a, b, out),
                    (a, b) => out.push(PropertyChange { path: p, old: a.cloned(), new: b.cloned() }),
                }
            }
        }
        (Value::String(a), Value::String(b)) => {
            // Strings holding JSON (the function config in REKEY_CONFIG, inline policies) are compared inside,
            // so a threshold change reads as one line rather than two long blobs.
            match (serde_json::from_str::<Value>(a), serde_json::from_str::<Value>(b)) {
                (Ok(ja @ Value::Object(_)), Ok(jb @ Value::Object(_))) => {
                    let mut inner = Vec::new();
                    compare("", &ja, &jb, &mut inner);
                    out.extend(
                        inner.into_iter().map(|c| PropertyChange { path: format!("{path}{{{}}}", c.path), ..c }),
                    );
                }
                _ => {
                    out.push(PropertyChange { path: path.to_string(), old: Some(old.clone()), new: Some(new.clone()) })
                }
            }
        }
        _ => out.push(PropertyChange { path: path.to_string(), old: Some(old.clone()), new: Some(new.clone()) }),
    }
}

/// `(Sid, statement)` of every element when each is an object with a distinct `Sid`.
fn sids(items: &[Value]) -> Option<Vec<(&str, &Value)>> {
    let list: Vec<(&str, &Value)> =
        items.iter().map(|v| v.get("Sid").and_then(Value::as_str).map(|sid| (sid, v))).collect::<Option<_>>()?;
    let mut names: Vec<&str> = list.iter().map(|(k, _)| *k).collect();
    names.sort();
    names.dedup();
    (names.len() == list.len() && !list.is_empty()).then_some(list)
}

fn show(value: &Option<Value>) -> String {
    const MAX: usize = 100;
    let text = match value {
        None => "(absent)".to_string(),
        Some(v) => serde_json::to_string(v).expect("json serializes"),
    };
    if text.chars().count() > MAX {
        format!("{}...", text.chars().take(MAX).collect::<String>())
    } else {
        text
    }
}

impl std::fmt::Display for TemplateDiff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = String::new();
        writeln!(s, "Stack {}", self.title)?;
        if self.is_empty() {
            writeln!(s, "There were no differences")?;
            return f.write_str(&s);
        }
        if self.new_stack {
            writeln!(s, "(not deployed yet: everything below is new)")?;
        }
        if !self.iam.is_empty() {
            writeln!(s, "IAM statement changes:")?;
            for st in &self.iam.added {
                writeln!(s, "  + {st}")?;
            }
            for st in &self.iam.removed {
                writeln!(s, "  - {st}")?;
            }
        }
        let mut section = "";
        for entry in &self.entries {
            if entry.section != section {
                section = &entry.section;
                writeln!(s, "{section}")?;
            }
            let ty = entry.resource_type.as_deref().map(|t| format!("{t} ")).unwrap_or_default();
            writeln!(s, "{} {ty}{}", entry.change.mark(), entry.logical_id)?;
            for p in &entry.properties {
                writeln!(s, "    ~ {}: {} -> {}", p.path, show(&p.old), show(&p.new))?;
            }
        }
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    fn function(config: &str) -> Value {
        json!({"Resources": {
            "RotationFunction": {"Type": "AWS::Lambda::Function", "Properties": {"MemorySize": 256,
                "Environment": {"Variables": {"REKEY_CONFIG": config}}}},
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {}}},
            "Outputs": {"QueueUrl": {"Value": {"Ref": "Queue"}}}})
    }

    /// `--security-only` keeps the IAM changes and the policy properties, drops the rest.
    #[test]
    fn security_only_keeps_iam_and_policies_only() {
        let old = function(r#"{"lifecycle":{"rotate_after_days":90}}"#);
        let mut new = function(r#"{"lifecycle":{"rotate_after_days":60}}"#);
        let resources = new["Resources"].as_object_mut().expect("object");
        resources.insert(
            "Role".into(),
            json!({"Type": "AWS::IAM::Role", "Properties": {"Policies": [{"PolicyName": "p",
                "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}]}}]}}),
        );
        resources["Queue"]["Properties"] = json!({"VisibilityTimeout": 60});
        let full = diff("rekey-main", Some(&old), &new);
        assert_eq!(full.entries.len(), 3);
        let security = full.security_only();
        assert_eq!(
            security.to_string(),
            "Stack rekey-main\nIAM statement changes:\n  + [Role] Allow sqs:SendMessage on *\nResources\n[+] AWS::IAM::Role Role\n"
        );
        // Only a threshold changed: nothing security-related.
        let threshold = diff("rekey-main", Some(&old), &function(r#"{"lifecycle":{"rotate_after_days":60}}"#));
        assert!(!threshold.is_empty());
        assert!(threshold.security_only().is_empty());
        // A queue policy is a security resource as a whole.
        let mut with_policy = old.clone();
        with_policy["Resources"]["QueuePolicy"] =
            json!({"Type": "AWS::SQS::QueuePolicy", "Properties": {"Queues": []}});
        let d = diff("rekey-main", Some(&old), &with_policy).security_only();
        assert_eq!(d.entries.iter().map(|e| e.logical_id.as_str()).collect::<Vec<_>>(), ["QueuePolicy"]);
    }

    #[test]
    fn same_template_has_no_differences() {
        let t = function("{}");
        let d = diff("rekey-main", Some(&t), &t);
        assert!(d.is_empty());
        assert_eq!(d.to_string(), "Stack rekey-main\nThere were no differences\n");
    }

    #[test]
    fn a_threshold_change_reads_as_one_path_inside_the_config_json() {
        let old = function(r#"{"lifecycle":{"rotate_after_days":90,"delete_after_days":110}}"#);
        let new = function(r#"{"lifecycle":{"rotate_after_days":60,"delete_after_days":110}}"#);
        let d = diff("rekey-main", Some(&old), &new);
        assert_eq!(
            d.to_string(),
            "Stack rekey-main\nResources\n[~] AWS::Lambda::Function RotationFunction\n    ~ Properties.Environment.Variables.REKEY_CONFIG{lifecycle.rotate_after_days}: 90 -> 60\n"
        );
    }

    #[test]
    fn added_and_removed_entries_and_iam_are_listed() {
        let old = function("{}");
        let mut new = function("{}");
        let resources = new["Resources"].as_object_mut().expect("object");
        resources.remove("Queue");
        resources.insert(
            "Role".into(),
            json!({"Type": "AWS::IAM::Role", "Properties": {"Policies": [{"PolicyName": "p",
                "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}]}}]}}),
        );
        new["Outputs"] = json!({});
        let d = diff("rekey-main", Some(&old), &new);
        assert_eq!(
            d.to_string(),
            "Stack rekey-main\nIAM statement changes:\n  + [Role] Allow sqs:SendMessage on *\nResources\n[-] AWS::SQS::Queue Queue\n[+] AWS::IAM::Role Role\nOutputs\n[-] QueueUrl\n"
        );
    }

    #[test]
    fn policy_statements_are_matched_by_sid() {
        let role = |statements: Value| {
            json!({"Resources": {"R": {"Type": "AWS::IAM::Role", "Properties": {
            "Policies": [{"PolicyName": "p", "PolicyDocument": {"Statement": statements}}]}}}})
        };
        let a = json!({"Sid": "A", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"});
        let b = json!({"Sid": "B", "Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"});
        let d = diff("s", Some(&role(json!([b.clone()]))), &role(json!([a, b])));
        assert_eq!(
            d.entries[0].properties,
            vec![PropertyChange {
                path: "Properties.Policies[0].PolicyDocument.Statement[Sid=A]".into(),
                old: None,
                new: Some(json!({"Sid": "A", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"})),
            }]
        );
    }

    #[test]
    fn nothing_deployed_is_a_difference() {
        let d = diff("rekey-main", None, &function("{}"));
        assert!(!d.is_empty());
        assert!(d.to_string().contains("(not deployed yet"));
    }
}
