//! Client-side rate limits on the calls whose quota every account of a run
//! shares: STS `AssumeRole` (all accounts are entered from the deployment
//! account) and, in `central` storage, Secrets Manager writes (all counted
//! against the central account). A token bucket per quota, shared by the
//! accounts a process handles at once, with jitter on every wait so callers
//! released together do not call in step; and the [`Platform`] and
//! [`SecretStore`] wrappers that take a token before each such call.
//!
//! The bucket is a pure function of the time it is given ([`TokenBucket::take`])
//! and the jitter a seeded generator ([`Jitter`]), so tests are deterministic;
//! [`RateLimiter`] reads tokio's clock, which tests pause.

use crate::ports::{NewSecret, Platform, PortResult, SecretInfo, SecretStore, SecretString, SessionCredentials};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// A token bucket: `per_second` tokens a second, at most one second's worth
/// saved up. A caller that finds no token reserves the next one (the count
/// goes negative), so waiting callers are served in arrival order.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenBucket {
    per_second: f64,
    tokens: f64,
    last: Duration,
}

impl TokenBucket {
    /// A full bucket of `per_second` tokens (at least one).
    pub fn new(per_second: u32) -> TokenBucket {
        let per_second = f64::from(per_second.max(1));
        TokenBucket { per_second, tokens: per_second, last: Duration::ZERO }
    }

    /// Takes a token at `now` (time since any fixed origin, never going
    /// back); returns how long the caller waits before its call, zero when a
    /// token was there.
    pub fn take(&mut self, now: Duration) -> Duration {
        let elapsed = now.saturating_sub(self.last);
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.per_second).min(self.per_second);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.per_second)
        }
    }

    /// The interval between two tokens.
    pub fn interval(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.per_second)
    }
}

/// A small seeded generator (splitmix64) for jitter: the same seed gives the
/// same pauses, in every build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Jitter(u64);

impl Jitter {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Jitter {
        Jitter(seed)
    }

    /// Up to `max` (inclusive of zero), drawn uniformly.
    pub fn up_to(&mut self, max: Duration) -> Duration {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(if nanos == 0 { 0 } else { z % (nanos + 1) })
    }
}

/// A token bucket on tokio's clock, with jitter of up to a quarter of a
/// token's interval added to every wait (never to a call that need not wait).
#[derive(Debug)]
pub struct RateLimiter {
    origin: tokio::time::Instant,
    state: Mutex<(TokenBucket, Jitter)>,
}

impl RateLimiter {
    /// `per_second` calls a second, jitter from `seed`.
    pub fn new(per_second: u32, seed: u64) -> RateLimiter {
        RateLimiter {
            origin: tokio::time::Instant::now(),
            state: Mutex::new((TokenBucket::new(per_second), Jitter::new(seed))),
        }
    }

    /// The pause before the next call (reserving its token).
    fn reserve(&self) -> Duration {
        let now = self.origin.elapsed();
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (bucket, jitter) = &mut *state;
        let wait = bucket.take(now);
        if wait.is_zero() {
            wait
        } else {
            wait + jitter.up_to(bucket.interval() / 4)
        }
    }

    /// Waits for a token.
    pub async fn acquire(&self) {
        let wait = self.reserve();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// The limiters of one process, from `runtime.rate_limits`.
#[derive(Debug)]
pub struct Limits {
    /// STS `AssumeRole`.
    pub assume_role: RateLimiter,
    /// Secrets Manager writes in `central` storage.
    pub central_writes: RateLimiter,
}

impl Limits {
    /// Limiters at the configured rates.
    pub fn new(config: &rekey_config::RateLimits) -> Limits {
        // Fixed seeds: the jitter spreads callers within a process; processes
        // are already spread by when their accounts started.
        Limits {
            assume_role: RateLimiter::new(config.assume_role_per_second, 1),
            central_writes: RateLimiter::new(config.central_secret_writes_per_second, 2),
        }
    }
}

/// A platform whose role assumptions, and whose secret stores' writes when
/// `writes_limited` (central storage), take a token first.
#[derive(Debug)]
pub struct LimitedPlatform<'a, P> {
    inner: &'a P,
    limits: &'a Limits,
    writes_limited: bool,
}

impl<'a, P: Platform> LimitedPlatform<'a, P> {
    /// Wraps `inner`.
    pub fn new(inner: &'a P, limits: &'a Limits, writes_limited: bool) -> Self {
        LimitedPlatform { inner, limits, writes_limited }
    }
}

impl<'a, P: Platform> Platform for LimitedPlatform<'a, P> {
    type Iam = P::Iam;
    type Secrets = LimitedSecrets<'a, P::Secrets>;

    async fn assume_role(&self, role_arn: &str, session_name: &str) -> PortResult<SessionCredentials> {
        self.limits.assume_role.acquire().await;
        self.inner.assume_role(role_arn, session_name).await
    }

    async fn caller_account(&self) -> PortResult<String> {
        self.inner.caller_account().await
    }

    async fn verify_key(&self, access_key_id: &str, secret_access_key: &SecretString) -> PortResult<String> {
        self.inner.verify_key(access_key_id, secret_access_key).await
    }

    fn iam(&self, credentials: &SessionCredentials) -> P::Iam {
        self.inner.iam(credentials)
    }

    fn secrets(&self, credentials: &SessionCredentials, region: &str) -> LimitedSecrets<'a, P::Secrets> {
        let limiter = self.writes_limited.then_some(&self.limits.central_writes);
        LimitedSecrets { inner: self.inner.secrets(credentials, region), writes: limiter }
    }
}

/// A secret store whose writes take a token first (reads are not limited:
/// their quotas are two hundred times higher).
#[derive(Debug)]
pub struct LimitedSecrets<'a, S> {
    inner: S,
    writes: Option<&'a RateLimiter>,
}

impl<S: SecretStore> LimitedSecrets<'_, S> {
    async fn write_token(&self) {
        if let Some(limiter) = self.writes {
            limiter.acquire().await;
        }
    }
}

impl<S: SecretStore> SecretStore for LimitedSecrets<'_, S> {
    async fn list_managed(&self, account_id: Option<&str>) -> PortResult<Vec<SecretInfo>> {
        self.inner.list_managed(account_id).await
    }

    async fn describe(&self, name: &str) -> PortResult<Option<SecretInfo>> {
        self.inner.describe(name).await
    }

    async fn create(&self, secret: &NewSecret) -> PortResult<String> {
        self.write_token().await;
        self.inner.create(secret).await
    }

    async fn tag(&self, secret_id: &str, tags: &BTreeMap<String, String>) -> PortResult<()> {
        self.write_token().await;
        self.inner.tag(secret_id, tags).await
    }

    async fn untag(&self, secret_id: &str, keys: &[String]) -> PortResult<()> {
        self.write_token().await;
        self.inner.untag(secret_id, keys).await
    }

    async fn put_pending(&self, secret_id: &str, token: &str, value: &SecretString) -> PortResult<Vec<String>> {
        self.write_token().await;
        self.inner.put_pending(secret_id, token, value).await
    }

    async fn get_version(&self, secret_id: &str, version_id: &str) -> PortResult<SecretString> {
        self.inner.get_version(secret_id, version_id).await
    }

    async fn move_stage(
        &self,
        secret_id: &str,
        stage: &str,
        version_id: Option<&str>,
        from_version: Option<&str>,
    ) -> PortResult<()> {
        self.write_token().await;
        self.inner.move_stage(secret_id, stage, version_id, from_version).await
    }

    async fn put_resource_policy(&self, secret_id: &str, policy: &str) -> PortResult<()> {
        self.write_token().await;
        self.inner.put_resource_policy(secret_id, policy).await
    }

    async fn replicate(&self, secret_id: &str, regions: &[String]) -> PortResult<()> {
        self.write_token().await;
        self.inner.replicate(secret_id, regions).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_full_bucket_lets_a_second_through_then_spaces_calls_by_the_rate() {
        let mut bucket = TokenBucket::new(4);
        let waits: Vec<Duration> = (0..7).map(|_| bucket.take(Duration::ZERO)).collect();
        assert_eq!(&waits[..4], [Duration::ZERO; 4], "a burst of one second's worth");
        assert_eq!(&waits[4..], [250 * MS, 500 * MS, 750 * MS], "then one call per quarter second, queued");
        // Two seconds later the bucket has refilled, but never beyond its burst.
        let mut later: Vec<Duration> = (0..5).map(|_| bucket.take(Duration::from_secs(3))).collect();
        assert_eq!(later.pop(), Some(250 * MS));
        assert!(later.iter().all(Duration::is_zero), "{later:?}");
    }

    #[test]
    fn the_jitter_is_seeded_and_bounded() {
        let draws = |seed| {
            let mut j = Jitter::new(seed);
            (0..50).map(|_| j.up_to(10 * MS)).collect::<Vec<_>>()
        };
        assert_eq!(draws(7), draws(7), "the same seed, the same pauses");
        assert_ne!(draws(7), draws(8));
        assert!(draws(7).iter().all(|d| *d <= 10 * MS));
        assert!(draws(7).iter().any(|d| *d > 5 * MS) && draws(7).iter().any(|d| *d < 5 * MS), "spread");
        assert_eq!(Jitter::new(1).up_to(Duration::ZERO), Duration::ZERO);
    }

    /// On tokio's paused clock: ten calls at 5 per second take the burst at
    /// once and the rest spaced by 200 ms plus at most 50 ms of jitter.
    #[tokio::test(start_paused = true)]
    async fn a_limiter_spaces_calls_beyond_the_burst_with_bounded_jitter() {
        let limiter = RateLimiter::new(5, 42);
        let start = tokio::time::Instant::now();
        let mut at = Vec::new();
        for _ in 0..10 {
            limiter.acquire().await;
            at.push(start.elapsed());
        }
        assert!(at[..5].iter().all(Duration::is_zero), "{at:?}");
        for (i, t) in at.iter().enumerate().skip(5) {
            let due = 200 * MS * u32::try_from(i - 4).unwrap();
            assert!(*t >= due && *t <= due + 50 * MS + MS, "call {i} at {t:?}, due {due:?}");
        }
    }
}
