//! The `runtime` section: how hard the rotation function works an account
//! at once (per-user concurrency) and the client-side rate limits that keep
//! it within the per-account quotas of STS and Secrets Manager.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How the rotation function spreads its calls over time
/// (docs/scale.md, "Concurrency and quotas").
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Runtime {
    /// Work done at once inside one account.
    #[serde(deserialize_with = "crate::file::null_as_default")]
    pub concurrency: Concurrency,
    /// Client-side rate limits (token buckets with jitter) on the calls whose
    /// quota is shared by every account of a run.
    #[serde(deserialize_with = "crate::file::null_as_default")]
    pub rate_limits: RateLimits,
}

impl Runtime {
    /// Whether every setting is its default (the section is then left out of
    /// the written config and of the rotation function's environment).
    pub fn is_default(&self) -> bool {
        *self == Runtime::default()
    }
}

/// Work done at once inside one account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Concurrency {
    /// Users of one account audited (`ListAccessKeys`, ...) and rotated at
    /// once (1 to 64; default 8). Each user's own steps stay strictly in
    /// order; only different users overlap. 1 is the sequential behaviour of
    /// earlier versions. The default keeps one account's rotation role within
    /// its account's quotas: a rotation makes about ten calls, half of them
    /// Secrets Manager writes, and waits seconds for the new key to verify,
    /// so eight users at once stay well under Secrets Manager's 50 writes per
    /// second per operation group and region, and under the rate at which IAM
    /// starts throttling an account's mutating calls; reads
    /// (`ListAccessKeys`, `DescribeSecret`) have far higher quotas. The SDK
    /// retries what is throttled anyway, so a higher value is safe but gains
    /// little once the account's quota binds.
    pub users_per_account: u32,
}

/// Default of `runtime.concurrency.users_per_account`.
pub const DEFAULT_USERS_PER_ACCOUNT: u32 = 8;

impl Default for Concurrency {
    fn default() -> Self {
        Concurrency { users_per_account: DEFAULT_USERS_PER_ACCOUNT }
    }
}

/// Client-side rate limits. Each is a token bucket per process (one Lambda
/// execution environment, or one `rekey rotate`): the burst is one second's
/// worth, and each wait gets up to a quarter of a token's interval of jitter
/// so callers released together do not call in step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// STS `AssumeRole` calls per second (1 to 1000; default 20): two per
    /// account (the member role, and in central storage the inventory role).
    /// STS throttles per calling account, and every account of a run is
    /// entered from the deployment account.
    pub assume_role_per_second: u32,
    /// Secrets Manager writes per second to the central account in `central`
    /// storage (1 to 1000; default 10). Secrets Manager counts calls against
    /// the account of the caller, here the central account's inventory role
    /// for every member account, with 50 per second per operation group
    /// (tags, values and labels, policies) and region. The limit is per
    /// process, so the organization-wide rate is this times the rotation
    /// functions running at once (`lambda.rotation_max_concurrency`, default
    /// 5): keep the product at or under 50. Ignored in `member` storage, where
    /// each account writes within its own quota.
    pub central_secret_writes_per_second: u32,
}

/// Default of `runtime.rate_limits.assume_role_per_second`.
pub const DEFAULT_ASSUME_ROLE_PER_SECOND: u32 = 20;
/// Default of `runtime.rate_limits.central_secret_writes_per_second`.
pub const DEFAULT_CENTRAL_SECRET_WRITES_PER_SECOND: u32 = 10;

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            assume_role_per_second: DEFAULT_ASSUME_ROLE_PER_SECOND,
            central_secret_writes_per_second: DEFAULT_CENTRAL_SECRET_WRITES_PER_SECOND,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Config, Function};

    #[test]
    fn the_defaults_are_left_out_of_the_rotation_environment_and_a_setting_reaches_it() {
        let default = Config::builtin_default();
        assert_eq!(default.runtime.concurrency.users_per_account, 8);
        assert!(!default.function_env_json(Function::Rotation).contains("\"runtime\""));
        let set = Config::from_yaml_str(
            "runtime:\n  concurrency:\n    users_per_account: 1\n  rate_limits:\n    assume_role_per_second: 5\n",
            None,
        )
        .unwrap();
        let view = set.function_view(Function::Rotation);
        assert_eq!(view.runtime.concurrency.users_per_account, 1);
        assert_eq!(view.runtime.rate_limits.assume_role_per_second, 5);
        assert_eq!(view.runtime.rate_limits.central_secret_writes_per_second, 10, "unset fields keep their default");
        assert!(set.function_view(Function::Inventory).runtime.is_default(), "only the rotation function reads it");
    }

    #[test]
    fn zero_concurrency_and_zero_rates_are_rejected_with_their_paths() {
        let yaml = "runtime:\n  concurrency:\n    users_per_account: 0\n  rate_limits:\n    \
                    assume_role_per_second: 0\n    central_secret_writes_per_second: 0\n";
        let err = Config::from_yaml_str(yaml, None).unwrap_err().to_string();
        for path in [
            "runtime.concurrency.users_per_account",
            "runtime.rate_limits.assume_role_per_second",
            "runtime.rate_limits.central_secret_writes_per_second",
        ] {
            assert!(err.contains(path), "{path} in {err}");
        }
        assert!(Config::from_yaml_str("runtime:\n  concurrency:\n    users_per_account: 65\n", None).is_err());
        assert!(Config::from_yaml_str("runtime:\n", None).is_ok(), "an empty section is every default");
    }
}
