//! The names the synthesizer, the runtime and deploy must agree on, defined
//! once: the Lambda environment variables the main stack sets and the
//! handlers read, the tags rekey writes on secrets, and the partition of a
//! region (for ARNs), and the metric names the functions emit and the
//! dashboard charts. `stacks`, `runtime` and `deploy` re-export or use these;
//! none defines its own copy.

pub use crate::CONFIG_ENV;

/// Environment variable selecting the handler (`inventory`, `rotation`, `notifier`).
pub const FUNCTION_ENV: &str = "REKEY_FUNCTION";
/// Environment variable holding the accounts queue URL (the inventory queues
/// accounts; the rotation queues the rest of an account it cannot finish).
pub const ACCOUNTS_QUEUE_ENV: &str = "REKEY_ACCOUNTS_QUEUE_URL";
/// Environment variable holding the notifications queue URL (all three functions).
pub const NOTIFICATIONS_QUEUE_ENV: &str = "REKEY_NOTIFICATIONS_QUEUE_URL";
/// Environment variable holding the run ledger's DynamoDB table name (all three functions).
pub const RUN_LEDGER_TABLE_ENV: &str = "REKEY_RUN_LEDGER_TABLE";
/// Environment variable holding the accounts queue's receive count before
/// its dead-letter queue (the rotation function's last attempt).
pub const ACCOUNTS_MAX_RECEIVE_COUNT_ENV: &str = "REKEY_ACCOUNTS_MAX_RECEIVE_COUNT";
/// Environment variable holding the deployment account id (inventory and rotation).
pub const DEPLOYMENT_ACCOUNT_ENV: &str = "REKEY_DEPLOYMENT_ACCOUNT_ID";

/// Tag on every secret rekey manages (value `true`): the runtime lists
/// secrets by it, `rekey destroy --delete-secrets` finds them by it.
pub const MANAGED_TAG: &str = "rekey:managed";
/// Secret tag: the account the key belongs to.
pub const ACCOUNT_TAG: &str = "rekey:account";
/// Secret tag: the IAM user the key belongs to.
pub const USER_TAG: &str = "rekey:user";
/// Secret tag written before a key is created and removed once it is
/// promoted: a rotation in flight, and the lease on it. Each run writes
/// `<this>/<run>` (its own key, so none overwrites another's); earlier
/// versions wrote this key itself.
pub const ROTATION_STARTED_TAG: &str = "rekey:rotation-started";

/// CloudWatch namespace of the metrics the rotation function emits (EMF),
/// which the main stack's dashboard charts.
pub const METRIC_NAMESPACE: &str = "rekey";
/// The one dimension of those metrics: the account's effective mode.
pub const METRIC_MODE_DIMENSION: &str = "Mode";
/// Values of [`METRIC_MODE_DIMENSION`].
pub const METRIC_MODES: [&str; 2] = ["audit", "enforce"];
/// Metric: keys rotated (one EMF line per account report).
pub const METRIC_KEYS_ROTATED: &str = "KeysRotated";
/// Metric: keys deactivated.
pub const METRIC_KEYS_DEACTIVATED: &str = "KeysDeactivated";
/// Metric: keys deleted.
pub const METRIC_KEYS_DELETED: &str = "KeysDeleted";
/// Metric: warnings.
pub const METRIC_WARNINGS: &str = "Warnings";
/// Metric: failed actions and users.
pub const METRIC_FAILURES: &str = "Failures";
/// Metric: exempt users.
pub const METRIC_EXEMPT_USERS: &str = "ExemptUsers";
/// Metric: actions planned (audit mode).
pub const METRIC_ACTIONS_PLANNED: &str = "ActionsPlanned";
/// Every metric, in the order the EMF line declares them.
pub const METRICS: [&str; 7] = [
    METRIC_KEYS_ROTATED,
    METRIC_KEYS_DEACTIVATED,
    METRIC_KEYS_DELETED,
    METRIC_WARNINGS,
    METRIC_FAILURES,
    METRIC_EXEMPT_USERS,
    METRIC_ACTIONS_PLANNED,
];

/// The partition of a region (`aws`, `aws-cn`, `aws-us-gov`), for ARNs.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}
