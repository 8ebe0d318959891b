//! Validated identifier newtypes (account ids, OU ids, regions, emails, ARNs):
//! a value of one of these types has already passed its format check, so the
//! rest of rekey never re-checks it.

use regex::Regex;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

macro_rules! validated_string {
    ($(#[$doc:meta])* $name:ident, $pattern:expr, $what:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The regular expression every value matches.
            pub const PATTERN: &'static str = $pattern;

            /// The value as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(value: String) -> Result<Self, String> {
                static RE: LazyLock<Regex> = LazyLock::new(|| Regex::new($pattern).expect("valid pattern"));
                if RE.is_match(&value) {
                    Ok(Self(value))
                } else {
                    Err(format!("`{value}` is not {} (expected to match `{}`)", $what, $pattern))
                }
            }
        }

        impl TryFrom<&str> for $name {
            type Error = String;
            fn try_from(value: &str) -> Result<Self, String> {
                Self::try_from(value.to_string())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(value: &str) -> Result<Self, String> {
                Self::try_from(value.to_string())
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "type": "string", "pattern": $pattern, "description": $what })
            }
        }
    };
}

validated_string!(
    /// A 12-digit AWS account id.
    AccountId,
    r"^[0-9]{12}$",
    "a 12-digit AWS account id"
);
validated_string!(
    /// An AWS Organizations organizational unit id (`ou-xxxx-xxxxxxxx`) or root id (`r-xxxx`).
    OuId,
    r"^(ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32})$",
    "an organizational unit id like `ou-ab12-cd34ef56` or a root id like `r-ab12`"
);
validated_string!(
    /// An AWS Organizations id (`o-xxxxxxxxxx`).
    OrganizationId,
    r"^o-[a-z0-9]{10,32}$",
    "an organization id like `o-a1b2c3d4e5`"
);
validated_string!(
    /// An AWS region name such as `us-east-1` or `eu-central-2`.
    Region,
    r"^(us|eu|ap|sa|ca|me|af|il|mx|cn|us-gov)-(north|south|east|west|central|northeast|southeast|northwest|southwest|gov-east|gov-west|iso-east)*-?[0-9]$",
    "an AWS region name like `us-east-1`"
);
validated_string!(
    /// An email address (checked for shape only; SES verifies ownership).
    EmailAddress,
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$",
    "an email address like `security@example.com`"
);
validated_string!(
    /// The ARN of a customer-managed KMS key (`arn:aws:kms:REGION:ACCOUNT:key/ID`).
    KmsKeyArn,
    r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-zA-Z0-9-]+$",
    "a KMS key ARN like `arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab`"
);
validated_string!(
    /// The ARN of an IAM principal (role, user or account root).
    PrincipalArn,
    r"^arn:aws[a-z-]*:iam::[0-9]{12}:(root|(role|user)/[\w+=,.@/-]+)$",
    "an IAM principal ARN like `arn:aws:iam::111122223333:role/Auditor`"
);
validated_string!(
    /// A VPC id (`vpc-...`).
    VpcId,
    r"^vpc-[0-9a-f]{8,17}$",
    "a VPC id like `vpc-0a1b2c3d4e5f67890`"
);
validated_string!(
    /// A subnet id (`subnet-...`).
    SubnetId,
    r"^subnet-[0-9a-f]{8,17}$",
    "a subnet id like `subnet-0a1b2c3d4e5f67890`"
);
validated_string!(
    /// A route table id (`rtb-...`).
    RouteTableId,
    r"^rtb-[0-9a-f]{8,17}$",
    "a route table id like `rtb-0a1b2c3d4e5f67890`"
);
validated_string!(
    /// A name usable for IAM roles, groups and as a resource name prefix.
    ResourceName,
    r"^[A-Za-z0-9+=,.@_-]{1,64}$",
    "a name of 1 to 64 letters, digits or `+=,.@_-`"
);
validated_string!(
    /// A short lowercase prefix for every resource rekey names.
    NamePrefix,
    r"^[a-z][a-z0-9-]{0,19}$",
    "a prefix of 1 to 20 lowercase letters, digits or `-`, starting with a letter"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_rejects_by_format() {
        assert!(AccountId::try_from("123456789012").is_ok());
        assert!(AccountId::try_from("12345678901").is_err());
        assert!(OuId::try_from("ou-ab12-cd34ef56").is_ok());
        assert!(OuId::try_from("r-ab12").is_ok());
        assert!(OuId::try_from("ou-AB12").is_err());
        for region in ["us-east-1", "eu-central-2", "ap-southeast-4", "us-gov-west-1", "il-central-1"] {
            assert!(Region::try_from(region).is_ok(), "{region}");
        }
        for region in ["us-east", "useast1", "mars-north-1", "US-EAST-1"] {
            assert!(Region::try_from(region).is_err(), "{region}");
        }
        assert!(EmailAddress::try_from("a.b+c@example.co.uk").is_ok());
        assert!(EmailAddress::try_from("not-an-email").is_err());
        assert!(EmailAddress::try_from("x@localhost").is_err());
    }

    #[test]
    fn error_names_value_and_expectation() {
        let err = AccountId::try_from("42").unwrap_err();
        assert_eq!(err, "`42` is not a 12-digit AWS account id (expected to match `^[0-9]{12}$`)");
    }
}
