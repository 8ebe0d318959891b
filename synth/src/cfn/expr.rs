//! CloudFormation values and intrinsic functions as one typed enum, serialized
//! in long form (`{"Fn::GetAtt": ["X", "Arn"]}`) so JSON and YAML read alike.

use indexmap::IndexMap;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

/// A template value: a literal or an intrinsic function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// A literal string.
    Str(String),
    /// A literal boolean.
    Bool(bool),
    /// A literal integer.
    Int(i64),
    /// A list of values.
    List(Vec<Expr>),
    /// `Ref` to a parameter, resource or pseudo parameter.
    Ref(String),
    /// `Fn::GetAtt` of a resource attribute.
    GetAtt(String, String),
    /// `Fn::Sub` of a string with `${...}` placeholders.
    Sub(String),
    /// `Fn::Sub` with explicit variables.
    SubWith(String, IndexMap<String, Expr>),
    /// `Fn::Join` with a delimiter.
    Join(String, Vec<Expr>),
    /// `Fn::If` on a named condition.
    If(String, Box<Expr>, Box<Expr>),
    /// `Fn::Equals` (conditions only).
    Equals(Box<Expr>, Box<Expr>),
    /// `Fn::Not` (conditions only).
    Not(Box<Expr>),
    /// `Fn::And` (conditions only).
    And(Vec<Expr>),
    /// `Fn::Or` (conditions only).
    Or(Vec<Expr>),
    /// A reference to another named condition, inside `Fn::And`/`Fn::Or`/`Fn::Not`.
    Condition(String),
    /// `Fn::Select` of one item of a list.
    Select(u32, Box<Expr>),
    /// `Fn::ImportValue` of another stack's export.
    ImportValue(Box<Expr>),
}

impl Expr {
    /// `Ref` to a logical id or parameter.
    pub fn r#ref(name: impl Into<String>) -> Expr {
        Expr::Ref(name.into())
    }

    /// `Fn::GetAtt [resource, attribute]`.
    pub fn get_att(resource: impl Into<String>, attribute: impl Into<String>) -> Expr {
        Expr::GetAtt(resource.into(), attribute.into())
    }

    /// `Fn::Sub` when `text` has a `${...}` placeholder, the plain string
    /// otherwise (cfn-lint warns about a `Fn::Sub` with nothing to substitute).
    pub fn sub(text: impl Into<String>) -> Expr {
        let text = text.into();
        if text.contains("${") {
            Expr::Sub(text)
        } else {
            Expr::Str(text)
        }
    }

    /// `Fn::Join` with `delimiter`.
    pub fn join(delimiter: impl Into<String>, items: Vec<Expr>) -> Expr {
        Expr::Join(delimiter.into(), items)
    }

    /// `Fn::If [condition, then, else]`.
    pub fn if_(condition: impl Into<String>, then: Expr, otherwise: Expr) -> Expr {
        Expr::If(condition.into(), Box::new(then), Box::new(otherwise))
    }

    /// `Fn::Equals [a, b]`.
    pub fn equals(a: Expr, b: Expr) -> Expr {
        Expr::Equals(Box::new(a), Box::new(b))
    }

    /// `Fn::Not [a]` (named so it does not shadow `std::ops::Not`).
    pub fn negate(a: Expr) -> Expr {
        Expr::Not(Box::new(a))
    }

    /// `Fn::Select [index, list]`.
    pub fn select(index: u32, list: Expr) -> Expr {
        Expr::Select(index, Box::new(list))
    }

    /// `Fn::ImportValue` of the export named `name`.
    pub fn import_value(name: Expr) -> Expr {
        Expr::ImportValue(Box::new(name))
    }

    /// A list of literal strings.
    pub fn strings<I, S>(items: I) -> Expr
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Expr::List(items.into_iter().map(|s| Expr::Str(s.into())).collect())
    }

    /// `AWS::AccountId`.
    pub fn account_id() -> Expr {
        Expr::r#ref("AWS::AccountId")
    }

    /// `AWS::Region`.
    pub fn region() -> Expr {
        Expr::r#ref("AWS::Region")
    }

    /// `AWS::Partition`.
    pub fn partition() -> Expr {
        Expr::r#ref("AWS::Partition")
    }

    /// `AWS::StackName`.
    pub fn stack_name() -> Expr {
        Expr::r#ref("AWS::StackName")
    }

    /// `AWS::URLSuffix`.
    pub fn url_suffix() -> Expr {
        Expr::r#ref("AWS::URLSuffix")
    }

    /// `AWS::NoValue`: removes the property it is assigned to.
    pub fn no_value() -> Expr {
        Expr::r#ref("AWS::NoValue")
    }

    /// The literal string, when this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Expr::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl From<&str> for Expr {
    fn from(value: &str) -> Self {
        Expr::Str(value.to_string())
    }
}

impl From<String> for Expr {
    fn from(value: String) -> Self {
        Expr::Str(value)
    }
}

impl From<&String> for Expr {
    fn from(value: &String) -> Self {
        Expr::Str(value.clone())
    }
}

impl From<bool> for Expr {
    fn from(value: bool) -> Self {
        Expr::Bool(value)
    }
}

impl From<i64> for Expr {
    fn from(value: i64) -> Self {
        Expr::Int(value)
    }
}

impl From<Vec<Expr>> for Expr {
    fn from(value: Vec<Expr>) -> Self {
        Expr::List(value)
    }
}

/// Serializes `{key: value}`: the shape of every intrinsic.
fn single<S: Serializer, V: Serialize + ?Sized>(serializer: S, key: &str, value: &V) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(1))?;
    map.serialize_entry(key, value)?;
    map.end()
}

/// A heterogeneous argument list (`[name, [items]]` and the like).
struct Args<'a>(Vec<Arg<'a>>);

enum Arg<'a> {
    Str(&'a str),
    Int(u32),
    Expr(&'a Expr),
    Exprs(&'a [Expr]),
    Vars(&'a IndexMap<String, Expr>),
}

impl Serialize for Args<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for arg in &self.0 {
            match arg {
                Arg::Str(s) => seq.serialize_element(s)?,
                Arg::Int(i) => seq.serialize_element(i)?,
                Arg::Expr(e) => seq.serialize_element(e)?,
                Arg::Exprs(e) => seq.serialize_element(e)?,
                Arg::Vars(v) => seq.serialize_element(v)?,
            }
        }
        seq.end()
    }
}

impl Serialize for Expr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Expr::Str(s) => serializer.serialize_str(s),
            Expr::Bool(b) => serializer.serialize_bool(*b),
            Expr::Int(i) => serializer.serialize_i64(*i),
            Expr::List(items) => items.serialize(serializer),
            Expr::Ref(name) => single(serializer, "Ref", name),
            Expr::GetAtt(resource, attribute) => {
                single(serializer, "Fn::GetAtt", &Args(vec![Arg::Str(resource), Arg::Str(attribute)]))
            }
            Expr::Sub(text) => single(serializer, "Fn::Sub", text),
            Expr::SubWith(text, vars) => single(serializer, "Fn::Sub", &Args(vec![Arg::Str(text), Arg::Vars(vars)])),
            Expr::Join(delimiter, items) => {
                single(serializer, "Fn::Join", &Args(vec![Arg::Str(delimiter), Arg::Exprs(items)]))
            }
            Expr::If(condition, then, otherwise) => {
                single(serializer, "Fn::If", &Args(vec![Arg::Str(condition), Arg::Expr(then), Arg::Expr(otherwise)]))
            }
            Expr::Equals(a, b) => single(serializer, "Fn::Equals", &Args(vec![Arg::Expr(a), Arg::Expr(b)])),
            Expr::Not(a) => single(serializer, "Fn::Not", &Args(vec![Arg::Expr(a)])),
            Expr::And(items) => single(serializer, "Fn::And", items),
            Expr::Or(items) => single(serializer, "Fn::Or", items),
            Expr::Condition(name) => single(serializer, "Condition", name),
            Expr::Select(index, list) => {
                single(serializer, "Fn::Select", &Args(vec![Arg::Int(*index), Arg::Expr(list)]))
            }
            Expr::ImportValue(name) => single(serializer, "Fn::ImportValue", name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    fn js(e: &Expr) -> serde_json::Value {
        serde_json::to_value(e).unwrap()
    }

    #[test]
    fn intrinsics_serialize_in_long_form() {
        assert_eq!(js(&Expr::r#ref("X")), json!({"Ref": "X"}));
        assert_eq!(js(&Expr::get_att("Fn", "Arn")), json!({"Fn::GetAtt": ["Fn", "Arn"]}));
        assert_eq!(js(&Expr::sub("a-${AWS::Region}")), json!({"Fn::Sub": "a-${AWS::Region}"}));
        let vars = IndexMap::from([("X".to_string(), Expr::account_id())]);
        assert_eq!(
            js(&Expr::SubWith("${X}".into(), vars)),
            json!({"Fn::Sub": ["${X}", {"X": {"Ref": "AWS::AccountId"}}]})
        );
        assert_eq!(
            js(&Expr::join(",", vec!["a".into(), Expr::region()])),
            json!({"Fn::Join": [",", ["a", {"Ref": "AWS::Region"}]]})
        );
        assert_eq!(
            js(&Expr::if_("C", "yes".into(), Expr::no_value())),
            json!({"Fn::If": ["C", "yes", {"Ref": "AWS::NoValue"}]})
        );
        assert_eq!(
            js(&Expr::negate(Expr::equals(Expr::r#ref("P"), "".into()))),
            json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "P"}, ""]}]})
        );
        assert_eq!(
            js(&Expr::And(vec![Expr::Condition("A".into()), Expr::Condition("B".into())])),
            json!({"Fn::And": [{"Condition": "A"}, {"Condition": "B"}]})
        );
        assert_eq!(js(&Expr::Or(vec![Expr::Condition("A".into())])), json!({"Fn::Or": [{"Condition": "A"}]}));
        assert_eq!(js(&Expr::select(1, Expr::strings(["a", "b"]))), json!({"Fn::Select": [1, ["a", "b"]]}));
        assert_eq!(js(&Expr::import_value("x-Id".into())), json!({"Fn::ImportValue": "x-Id"}));
    }

    #[test]
    fn literals_stay_literal_and_sub_is_only_used_when_needed() {
        assert_eq!(js(&Expr::sub("plain-bucket")), json!("plain-bucket"));
        assert_eq!(js(&Expr::from(true)), json!(true));
        assert_eq!(js(&Expr::from(3i64)), json!(3));
        assert_eq!(Expr::from("x").as_str(), Some("x"));
        assert_eq!(Expr::account_id().as_str(), None);
        assert_eq!(js(&Expr::partition()), json!({"Ref": "AWS::Partition"}));
        assert_eq!(js(&Expr::stack_name()), json!({"Ref": "AWS::StackName"}));
        assert_eq!(js(&Expr::url_suffix()), json!({"Ref": "AWS::URLSuffix"}));
    }
}
