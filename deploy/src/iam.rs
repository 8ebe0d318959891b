//! IAM statements of a template and what a change widens: new `Allow` statements, removed `Deny` statements and
//! new managed policies, in role policies, trust policies and resource policies (queues, keys, Lambda
//! permissions). `--require-approval broadening` asks before such a change, and `rekey diff` calls them out.

use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// Property names whose value is a policy document, wherever they appear in a resource.
const POLICY_KEYS: [&str; 5] = ["PolicyDocument", "AssumeRolePolicyDocument", "KeyPolicy", "ResourcePolicy", "Policy"];

/// One IAM statement (or managed policy attachment) of one resource.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Statement {
    /// Logical id of the resource carrying it.
    pub logical_id: String,
    /// `Allow`, `Deny`, or `Attach` for a managed policy.
    pub effect: String,
    /// A readable one-line summary: actions, resources, principal, condition.
    pub summary: String,
    /// The statement as canonical JSON (keys sorted), what equality is decided on.
    pub canonical: String,
}

impl std::fmt::Display for Statement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {} {}", self.logical_id, self.effect, self.summary)
    }
}

/// Statements added and removed between two templates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IamChanges {
    /// In the new template only.
    pub added: Vec<Statement>,
    /// In the old template only.
    pub removed: Vec<Statement>,
}

impl IamChanges {
    /// The changes that widen access: added `Allow` or `Attach`, removed `Deny`.
    pub fn widening(&self) -> Vec<String> {
        let added = self.added.iter().filter(|s| s.effect != "Deny").map(|s| format!("+ {s}"));
        let removed = self.removed.iter().filter(|s| s.effect == "Deny").map(|s| format!("- {s}"));
        added.chain(removed).collect()
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// Compares the IAM statements of `old` (absent: a new stack) and `new`.
pub fn changes(old: Option<&Value>, new: &Value) -> IamChanges {
    let old = old.map(statements).unwrap_or_default();
    let new = statements(new);
    IamChanges { added: new.difference(&old).cloned().collect(), removed: old.difference(&new).cloned().collect() }
}

/// Every statement of a template, deduplicated and ordered.
pub fn statements(template: &Value) -> BTreeSet<Statement> {
    let mut out = BTreeSet::new();
    let Some(resources) = template.get("Resources").and_then(Value::as_object) else { return out };
    for (logical_id, resource) in resources {
        let properties = resource.get("Properties").cloned().unwrap_or(Value::Null);
        if resource.get("Type").and_then(Value::as_str) == Some("AWS::Lambda::Permission") {
            // A Lambda permission is a resource-policy statement spelled as properties.
            let mut statement = Map::new();
            statement.insert("Effect".into(), "Allow".into());
            for (from, to) in [("Action", "Action"), ("Principal", "Principal"), ("FunctionName", "Resource")] {
                if let Some(v) = properties.get(from) {
                    statement.insert(to.into(), v.clone());
                }
            }
            for key in ["SourceArn", "SourceAccount", "PrincipalOrgID"] {
                if let Some(v) = properties.get(key) {
                    statement.insert("Condition".into(), serde_json::json!({ key: v }));
                }
            }
            push(&mut out, logical_id, &Value::Object(statement));
            continue;
        }
        walk(&properties, logical_id, &mut out);
    }
    out
}

fn walk(value: &Value, logical_id: &str, out: &mut BTreeSet<Statement>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if POLICY_KEYS.contains(&key.as_str()) && v.get("Statement").is_some() {
                    match v.get("Statement") {
                        Some(Value::Array(items)) => items.iter().for_each(|s| push(out, logical_id, s)),
                        Some(single) => push(out, logical_id, single),
                        None => {}
                    }
                } else if key == "ManagedPolicyArns" {
                    for arn in v.as_array().into_iter().flatten() {
                        let text = compact(arn);
                        out.insert(Statement {
                            logical_id: logical_id.to_string(),
                            effect: "Attach".into(),
                            summary: text.clone(),
                            canonical: text,
                        });
                    }
                } else {
                    walk(v, logical_id, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| walk(v, logical_id, out)),
        _ => {}
    }
}

fn push(out: &mut BTreeSet<Statement>, logical_id: &str, statement: &Value) {
    // The Sid is a label, not a permission.
    let mut canonical = canonicalize(statement);
    if let Value::Object(map) = &mut canonical {
        map.remove("Sid");
    }
    // One entry per action and resource, so narrowing a statement reads as removals only.
    let each = |key: &str| -> Vec<Option<Value>> {
        match canonical.get(key) {
            Some(Value::Array(items)) => items.iter().cloned().map(Some).collect(),
            Some(v) => vec![Some(v.clone())],
            None => vec![None],
        }
    };
    for action in each("Action") {
        for resource in each("Resource") {
            let mut atom = canonical.clone();
            if let Value::Object(map) = &mut atom {
                if let Some(a) = &action {
                    map.insert("Action".into(), a.clone());
                }
                if let Some(r) = &resource {
                    map.insert("Resource".into(), r.clone());
                }
            }
            push_atom(out, logical_id, &atom);
        }
    }
}

fn push_atom(out: &mut BTreeSet<Statement>, logical_id: &str, canonical: &Value) {
    let statement = canonical;
    let effect = statement.get("Effect").and_then(Value::as_str).unwrap_or("Allow").to_string();
    let mut summary = String::new();
    for (key, label) in [("Action", ""), ("NotAction", "not "), ("Resource", "on "), ("NotResource", "not on ")] {
        if let Some(v) = statement.get(key) {
            if !summary.is_empty() {
                summary.push(' ');
            }
            summary.push_str(label);
            summary.push_str(&compact(v));
        }
    }
    if let Some(p) = statement.get("Principal") {
        summary.push_str(&format!(" for {}", compact(p)));
    }
    if let Some(c) = statement.get("Condition") {
        summary.push_str(&format!(" when {}", compact(c)));
    }
    out.insert(Statement {
        logical_id: logical_id.to_string(),
        effect,
        summary,
        canonical: serde_json::to_string(canonical).expect("json serializes"),
    });
}

/// A one-line rendering: strings bare, single-element lists unwrapped, the rest compact JSON.
fn compact(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) if items.len() == 1 => compact(&items[0]),
        Value::Array(items) => format!("[{}]", items.iter().map(compact).collect::<Vec<_>>().join(", ")),
        other => serde_json::to_string(&canonicalize(other)).expect("json serializes"),
    }
}

/// `value` with every object's keys sorted, one-element lists unwrapped (IAM treats `"a"` and `["a"]` alike) and
/// the lists IAM treats as sets (actions, resources, principals) sorted. Other lists (`Fn::GetAtt` arguments) keep
/// their order.
pub fn canonicalize(value: &Value) -> Value {
    canonical_in(value, false)
}

fn canonical_in(value: &Value, set: bool) -> Value {
    const SETS: [&str; 7] = ["Action", "NotAction", "Resource", "NotResource", "AWS", "Service", "Federated"];
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter().map(|k| (k.clone(), canonical_in(&map[k], SETS.contains(&k.as_str())))).collect(),
            )
        }
        Value::Array(items) if items.len() == 1 => canonical_in(&items[0], false),
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(|v| canonical_in(v, false)).collect();
            if set {
                items.sort_by_key(|v| serde_json::to_string(v).expect("json serializes"));
            }
            Value::Array(items)
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn role(actions: Value) -> Value {
        json!({"Resources": {"Fn": {"Type": "AWS::IAM::Role", "Properties": {
            "AssumeRolePolicyDocument": {"Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
            "Policies": [{"PolicyName": "p", "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Sid": "Keys", "Effect": "Allow", "Action": actions, "Resource": "*"}]}}]}}}})
    }

    #[test]
    fn new_stack_widens_with_every_allow_statement() {
        let new = role(json!(["iam:ListUsers"]));
        let widening = changes(None, &new).widening();
        assert_eq!(
            widening,
            vec![
                "+ [Fn] Allow iam:ListUsers on *".to_string(),
                "+ [Fn] Allow sts:AssumeRole for {\"Service\":\"lambda.amazonaws.com\"}".to_string(),
            ]
        );
    }

    #[test]
    fn reordering_actions_or_renaming_a_sid_is_no_change() {
        let old = role(json!(["iam:ListUsers", "iam:ListAccessKeys"]));
        let mut new = role(json!(["iam:ListAccessKeys", "iam:ListUsers"]));
        new["Resources"]["Fn"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]["Sid"] = json!("Other");
        assert!(changes(Some(&old), &new).is_empty());
    }

    #[test]
    fn an_added_action_widens_and_a_removed_one_does_not() {
        let old = role(json!(["iam:ListUsers"]));
        let new = role(json!(["iam:ListUsers", "iam:DeleteAccessKey"]));
        assert_eq!(changes(Some(&old), &new).widening(), vec!["+ [Fn] Allow iam:DeleteAccessKey on *".to_string()]);
        assert!(changes(Some(&new), &old).widening().is_empty());
        assert_eq!(changes(Some(&new), &old).removed.len(), 1);
    }

    #[test]
    fn lambda_permissions_and_managed_policies_count() {
        let new = json!({"Resources": {
            "Perm": {"Type": "AWS::Lambda::Permission", "Properties": {"Action": "lambda:InvokeFunction",
                "FunctionName": {"Ref": "Fn"}, "Principal": "events.amazonaws.com", "SourceArn": {"Fn::GetAtt": ["Rule", "Arn"]}}},
            "R": {"Type": "AWS::IAM::Role", "Properties": {"ManagedPolicyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]}}}});
        let widening = changes(None, &new).widening();
        assert_eq!(
            widening,
            vec![
                "+ [Perm] Allow lambda:InvokeFunction on {\"Ref\":\"Fn\"} for events.amazonaws.com when {\"SourceArn\":{\"Fn::GetAtt\":[\"Rule\",\"Arn\"]}}".to_string(),
                "+ [R] Attach arn:aws:iam::aws:policy/ReadOnlyAccess".to_string(),
            ]
        );
    }

    #[test]
    fn removing_a_deny_widens() {
        let deny = json!({"Resources": {"Q": {"Type": "AWS::SQS::QueuePolicy", "Properties": {"PolicyDocument": {
            "Statement": {"Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": "*"}}}}}});
        let open = json!({"Resources": {}});
        assert_eq!(changes(Some(&deny), &open).widening(), vec!["- [Q] Deny sqs:* on * for *".to_string()]);
    }
}
