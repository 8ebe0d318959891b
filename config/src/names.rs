//! Every name rekey gives a resource, derived in this one place from the
//! config, so the stacks, the deploy code and the runtime can never disagree
//! (the reference's most reported failure was hand-matched role names).

use crate::file::ConfigFile;

/// The stacks rekey synthesizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StackId {
    /// Functions, queues, schedule, alarms (deployment account).
    Main,
    /// The role the rotation function assumes, and the exemption group (every member account).
    MemberRole,
    /// The role the inventory function assumes (management or delegated-admin account).
    InventoryRole,
    /// VPC endpoints (deployment account; only when the VPC is enabled).
    VpcEndpoints,
}

impl StackId {
    /// Every stack, in deployment order.
    pub const ALL: [StackId; 4] = [StackId::VpcEndpoints, StackId::InventoryRole, StackId::MemberRole, StackId::Main];

    /// Suffix of the stack name (`main`, `member-role`, ...).
    pub fn suffix(self) -> &'static str {
        match self {
            StackId::Main => "main",
            StackId::MemberRole => "member-role",
            StackId::InventoryRole => "inventory-role",
            StackId::VpcEndpoints => "vpc-endpoints",
        }
    }
}

/// Names derived from a config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    prefix: String,
    /// Role in each member account, assumed by the rotation function.
    pub member_role: String,
    /// Role in the management account, assumed by the inventory function.
    pub inventory_role: String,
    /// IAM group whose members are exempt, in each member account.
    pub exemption_group: String,
    /// Secret name pattern with `{account_id}` and `{user_name}`.
    pub secret_name_pattern: String,
}

impl Names {
    /// Derives every name from `file`.
    pub fn new(file: &ConfigFile) -> Names {
        let prefix = file.deployment.name_prefix.to_string();
        let org = file.organization.as_ref();
        Names {
            member_role: org
                .and_then(|o| o.member_role_name.as_ref())
                .map(ToString::to_string)
                .unwrap_or_else(|| format!("{prefix}-member")),
            inventory_role: org
                .and_then(|o| o.inventory_role_name.as_ref())
                .map(ToString::to_string)
                .unwrap_or_else(|| format!("{prefix}-inventory")),
            exemption_group: file
                .lifecycle
                .exemption_group
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_else(|| format!("{prefix}-exempt")),
            secret_name_pattern: file.secrets.name_pattern.clone(),
            prefix,
        }
    }

    /// The configured resource-name prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Name of a function (`rekey-rotation`).
    pub fn function(&self, function: crate::Function) -> String {
        format!("{}-{}", self.prefix, function.name())
    }

    /// Name of a function's execution role (`rekey-rotation-fn`); fixed so
    /// that the member and inventory roles can trust it by ARN.
    pub fn execution_role(&self, function: crate::Function) -> String {
        format!("{}-{}-fn", self.prefix, function.name())
    }

    /// Queue carrying one message per account to the rotation function.
    pub fn accounts_queue(&self) -> String {
        format!("{}-accounts", self.prefix)
    }

    /// Queue carrying one message per recipient to the notifier.
    pub fn notifications_queue(&self) -> String {
        format!("{}-notifications", self.prefix)
    }

    /// DynamoDB table where a run's account reports are collected until its
    /// digests are sent (one per recipient per run).
    pub fn run_ledger_table(&self) -> String {
        format!("{}-runs", self.prefix)
    }

    /// Dead-letter queue of `queue`.
    pub fn dead_letter_queue(&self, queue: &str) -> String {
        format!("{queue}-dlq")
    }

    /// Name of a stack (`rekey-main`); the member-role StackSet has the same
    /// name as the member-role stack.
    pub fn stack(&self, stack: StackId) -> String {
        format!("{}-{}", self.prefix, stack.suffix())
    }

    /// STS session name of a function's role assumptions (shows in CloudTrail).
    pub fn session_name(&self, function: crate::Function) -> String {
        format!("{}-{}", self.prefix, function.name())
    }

    /// The secret holding `user_name`'s key in `account_id`. Not every IAM
    /// user name gives a valid secret name: see [`Names::secret_name_problem`].
    pub fn secret_name(&self, account_id: &str, user_name: &str) -> String {
        secret_name_in(&self.secret_name_pattern, account_id, user_name)
    }

    /// Why `user_name`'s secret in `account_id` cannot be created, if it
    /// cannot (see [`secret_name_problem`]).
    pub fn secret_name_problem(&self, account_id: &str, user_name: &str) -> Option<String> {
        secret_name_problem(&self.secret_name_pattern, account_id, user_name)
    }

    /// The secret name with `{account_id}` filled and `{user_name}` as `*`:
    /// the IAM resource pattern that scopes Secrets Manager writes.
    pub fn secret_name_glob(&self, account_id: &str) -> String {
        self.secret_name_pattern.replace("{account_id}", account_id).replace("{user_name}", "*")
    }
}

/// Most characters a Secrets Manager secret name may have.
pub const MAX_SECRET_NAME_LEN: usize = 512;

/// The secret name `pattern` (a validated `secrets.name_pattern`) gives
/// `user_name` in `account_id`.
pub fn secret_name_in(pattern: &str, account_id: &str, user_name: &str) -> String {
    pattern.replace("{account_id}", account_id).replace("{user_name}", user_name)
}

/// Why the secret name `pattern` gives `user_name` in `account_id` is one
/// Secrets Manager refuses, if it is; `None` when the name is valid.
///
/// Validation already holds the pattern's own text to Secrets Manager's
/// alphabet (letters, digits and `/_+=.@-`), but IAM user names may also
/// contain `,`: such a user's secret can never be created, so the rotation
/// would fail on every run. The planner reports the user instead.
pub fn secret_name_problem(pattern: &str, account_id: &str, user_name: &str) -> Option<String> {
    let name = secret_name_in(pattern, account_id, user_name);
    let bad: std::collections::BTreeSet<char> = name.chars().filter(|c| !secret_name_char(*c)).collect();
    if !bad.is_empty() {
        let listed = bad.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ");
        return Some(format!(
            "the user name `{user_name}` contains {listed}, which a Secrets Manager secret name cannot contain \
             (letters, digits and `/_+=.@-` only), so rekey cannot create the secret `{name}`"
        ));
    }
    if name.len() > MAX_SECRET_NAME_LEN {
        return Some(format!(
            "the secret name for the user `{user_name}` would be {} characters long, more than the \
             {MAX_SECRET_NAME_LEN} Secrets Manager allows",
            name.len()
        ));
    }
    None
}

/// Whether Secrets Manager allows `c` in a secret name.
fn secret_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "/_+=.@-".contains(c)
}
