//! An in-memory AWS for the rotation core's unit tests: IAM users and keys,
//! Secrets Manager secrets with staging labels, role assumption, a call log
//! and failure injection (one call failing, or a "crash": every mutating
//! call after a given one failing, compensation included).

use crate::lifecycle::KeyStatus;
use crate::ports::*;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// A fake key.
#[derive(Clone, Debug)]
pub struct FakeKey {
    pub id: String,
    pub secret: String,
    pub status: KeyStatus,
    pub created: DateTime<Utc>,
    pub last_used: Option<DateTime<Utc>>,
}

/// A fake user.
#[derive(Clone, Debug, Default)]
pub struct FakeUser {
    pub arn: String,
    pub tags: BTreeMap<String, String>,
    pub groups: Vec<String>,
    pub keys: Vec<FakeKey>,
}

/// A fake secret version.
#[derive(Clone, Debug)]
pub struct FakeVersion {
    pub value: String,
    pub stages: Vec<String>,
}

/// A fake secret.
#[derive(Clone, Debug, Default)]
pub struct FakeSecret {
    pub arn: String,
    pub tags: BTreeMap<String, String>,
    pub versions: BTreeMap<String, FakeVersion>,
    pub policy: Option<String>,
    pub replicas: Vec<String>,
    pub kms_key_id: Option<String>,
    /// Scheduled for deletion (by hand) at this time.
    pub deleted_date: Option<DateTime<Utc>>,
}

impl FakeSecret {
    pub fn version_with(&self, stage: &str) -> Option<&str> {
        self.versions.iter().find(|(_, v)| v.stages.iter().any(|s| s == stage)).map(|(id, _)| id.as_str())
    }
}

/// The whole fake world.
#[derive(Debug, Default)]
pub struct World {
    /// account → user name → user.
    pub users: BTreeMap<String, BTreeMap<String, FakeUser>>,
    /// (account, region) → secret name → secret.
    pub secrets: BTreeMap<(String, String), BTreeMap<String, FakeSecret>>,
    /// Accounts whose member role is missing.
    pub not_enrolled: BTreeSet<String>,
    /// Every call, as `account op target`.
    pub calls: Vec<String>,
    /// Operations that fail (once each).
    pub fail_once: BTreeMap<String, ErrorKind>,
    /// Operations that take effect and then fail (once each), as a call
    /// whose answer was lost: e.g. `iam:CreateAccessKey` with
    /// `LimitExceeded`, what the SDK's retry of it answers.
    pub fail_after_effect: BTreeMap<String, ErrorKind>,
    /// After this operation succeeds, every later mutating call fails.
    pub crash_after: Option<String>,
    crashed: bool,
    /// Creation time of new keys.
    pub clock: DateTime<Utc>,
    /// When set, every IAM and Secrets Manager call takes this long (on
    /// tokio's clock, paused in tests), so calls of different users overlap.
    pub latency: Option<std::time::Duration>,
    /// Calls under way now, and the most there ever were at once.
    pub in_flight: (usize, usize),
    next_key: u32,
}

const MUTATING: &[&str] = &[
    "iam:CreateAccessKey",
    "iam:UpdateAccessKey",
    "iam:DeleteAccessKey",
    "iam:TagUser",
    "iam:UntagUser",
    "secretsmanager:CreateSecret",
    "secretsmanager:TagResource",
    "secretsmanager:UntagResource",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
    "secretsmanager:PutResourcePolicy",
    "secretsmanager:ReplicateSecretToRegions",
];

/// Secrets per `ListSecrets` page (Secrets Manager's most).
pub const LIST_PAGE: usize = 100;

/// True for operations that change state.
pub fn is_mutating(call: &str) -> bool {
    MUTATING.iter().any(|m| call.split(' ').nth(1) == Some(m))
}

impl World {
    /// Logs a call and applies failure injection.
    fn enter(&mut self, account: &str, op: &'static str, target: &str) -> PortResult<()> {
        self.calls.push(format!("{account} {op} {target}"));
        if self.crashed && MUTATING.contains(&op) {
            return Err(PortError::new(ErrorKind::Other, op, target, "crashed"));
        }
        if let Some(kind) = self.fail_once.remove(op) {
            return Err(PortError::new(kind, op, target, "injected failure"));
        }
        Ok(())
    }

    /// Marks the crash point once `op` succeeded, and answers an injected
    /// after-effect failure: the call took effect, the caller sees an error.
    fn leave(&mut self, op: &'static str) -> PortResult<()> {
        if self.crash_after.as_deref() == Some(op) {
            self.crash_after = None;
            self.crashed = true;
        }
        match self.fail_after_effect.remove(op) {
            Some(kind) => Err(PortError::new(kind, op, "", "injected failure after the call took effect")),
            None => Ok(()),
        }
    }

    /// Ends a simulated crash: the next run starts on a healthy platform.
    pub fn restart(&mut self) {
        self.crashed = false;
        self.crash_after = None;
        self.fail_once.clear();
        self.fail_after_effect.clear();
        self.calls.clear();
    }

    /// Adds a user with keys `(status, created)`; returns the key ids.
    pub fn add_user(&mut self, account: &str, name: &str, keys: &[(KeyStatus, DateTime<Utc>)]) -> Vec<String> {
        let user = self.users.entry(account.to_string()).or_default().entry(name.to_string()).or_default();
        user.arn = format!("arn:aws:iam::{account}:user/{name}");
        let mut ids = Vec::new();
        for (status, created) in keys {
            self.next_key += 1;
            let id = format!("AKIAFAKE{:012}", self.next_key);
            user.keys.push(FakeKey {
                id: id.clone(),
                secret: format!("secret-{id}"),
                status: *status,
                created: *created,
                last_used: None,
            });
            ids.push(id);
        }
        ids
    }

    fn user(&mut self, account: &str, op: &'static str, name: &str) -> PortResult<&mut FakeUser> {
        self.users
            .get_mut(account)
            .and_then(|u| u.get_mut(name))
            .ok_or_else(|| PortError::new(ErrorKind::NotFound, op, name, "NoSuchEntity"))
    }

    /// The keys of a user.
    pub fn keys(&self, account: &str, name: &str) -> Vec<FakeKey> {
        self.users.get(account).and_then(|u| u.get(name)).map(|u| u.keys.clone()).unwrap_or_default()
    }

    /// A secret by name.
    pub fn secret(&self, account: &str, region: &str, name: &str) -> Option<&FakeSecret> {
        self.secrets.get(&(account.to_string(), region.to_string())).and_then(|s| s.get(name))
    }
}

/// Facts of a user with nothing read yet: what the executor gets when a
/// test hands it actions directly.
pub fn bare_user(account: &str, name: &str) -> crate::lifecycle::UserFacts {
    crate::lifecycle::UserFacts {
        user_name: name.into(),
        user_arn: format!("arn:aws:iam::{account}:user/{name}"),
        keys: vec![],
        tags: Default::default(),
        in_exemption_group: false,
        secret: None,
    }
}

/// Shared handle on the world.
#[derive(Clone, Debug)]
pub struct Fake(pub Arc<Mutex<World>>);

impl Fake {
    pub fn new(clock: DateTime<Utc>) -> Self {
        Fake(Arc::new(Mutex::new(World { clock, ..World::default() })))
    }

    pub fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.0.lock().expect("fake world lock")
    }

    /// A call's latency ([`World::latency`]), counted as in flight meanwhile.
    async fn pause(&self) {
        let Some(latency) = self.world().latency else { return };
        {
            let mut w = self.world();
            w.in_flight.0 += 1;
            w.in_flight.1 = w.in_flight.1.max(w.in_flight.0);
        }
        tokio::time::sleep(latency).await;
        self.world().in_flight.0 -= 1;
    }
}

/// Fake IAM of one account.
#[derive(Clone, Debug)]
pub struct FakeIam {
    fake: Fake,
    account: String,
}

/// Fake Secrets Manager of one account and region.
#[derive(Clone, Debug)]
pub struct FakeSecrets {
    fake: Fake,
    account: String,
    region: String,
}

fn report_date(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()).unwrap_or_else(|| "N/A".into())
}

impl IamAccount for FakeIam {
    async fn generate_credential_report(&self) -> PortResult<ReportState> {
        self.fake.pause().await;
        let mut w = self.fake.world();
        w.enter(&self.account, "iam:GenerateCredentialReport", &self.account)?;
        Ok(ReportState::Complete)
    }

    async fn credential_report(&self) -> PortResult<String> {
        self.fake.pause().await;
        let mut w = self.fake.world();
        w.enter(&self.account, "iam:GetCredentialReport", &self.account)?;
        let mut csv = String::from(
            "user,arn,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,\
             access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date\n",
        );
        for (name, u) in w.users.get(&self.account).into_iter().flatten() {
            let slot = |i: usize| match u.keys.get(i) {
                Some(k) => format!(
                    "{},{},{}",
                    k.status == KeyStatus::Active,
                    report_date(Some(k.created)),
                    report_date(k.last_used)
                ),
                None => "false,N/A,N/A".to_string(),
            };
            csv.push_str(&format!("{name},{},{},{}\n", u.arn, slot(0), slot(1)));
        }
        Ok(csv)
    }

    async fn users(&self) -> PortResult<Vec<IamUser>> {
        self.fake.pause().await;
        let mut w = self.fake.world();
        w.enter(&self.account, "iam:GetAccountAuthorizationDetails", &self.account)?;
        Ok(w.users
            .get(&self.account)
            .into_iter()
            .flatten()
            .map(|(name, u)| IamUser {
                user_name: name.clone(),
                arn: u.arn.clone(),
                tags: u.tags.clone(),
                groups: u.groups.clone(),
            })
            .collect())
    }

    async fn list_access_keys(&self, user: &str) -> PortResult<Vec<AccessKeyInfo>> {
        self.fake.pause().await;
        let mut w = self.fake.world();
        w.enter(&self.account, "iam:ListAccessKeys", user)?;
        let u = w.user(&self.account, "iam:ListAccessKeys", user)?;
        Ok(u.keys
            .iter()
            .map(|k| AccessKeyInfo { access_key_id: k.id.clone(), status: k.status, created: k.created })
            .collect())
    }

    async fn access_key_last_used(&self, key_id: &str) -> PortResult<Option<DateTime<Utc>>> {
        self.fake.pause().await;
        let mut w = self.fake.world();
        w.enter(&self.account, "iam:GetAccessKeyLastUsed", key_id)?;
        Ok(w.users
            .get(&self.account)
            .into_iter()
            .flat_map(|u| u.values())
            .flat_map(|u| &u.keys)
            .find(|k| k.id == key_id)
            .and_then(|k| k.last_used))
    }

    async fn create_access_key(&self, user: &str) -> PortResult<NewAccessKey> {
        self.fake.pause().await;
        let op = "iam:CreateAccessKey";
        let mut w = self.fake.world();
        w.enter(&self.account, op, user)?;
        w.next_key += 1;
        let id = format!("AKIAFAKE{:012}", w.next_key);
        let created = w.clock;
        let u = w.user(&self.account, op, user)?;
        if u.keys.len() >= 2 {
            return Err(PortError::new(ErrorKind::LimitExceeded, op, user, "AccessKeysPerUser: 2"));
        }
        let secret = format!("secret-{id}");
        u.keys.push(FakeKey {
            id: id.clone(),
            secret: secret.clone(),
            status: KeyStatus::Active,
            created,
            last_used: None,
        });
        w.leave(op)?;
        Ok(NewAccessKey { access_key_id: id, secret_access_key: SecretString::new(secret), created })
    }

    async fn set_access_key_status(&self, user: &str, key_id: &str, status: KeyStatus) -> PortResult<()> {
        self.fake.pause().await;
        let op = "iam:UpdateAccessKey";
        let mut w = self.fake.world();
        w.enter(&self.account, op, key_id)?;
        let u = w.user(&self.account, op, user)?;
        let k = u
            .keys
            .iter_mut()
            .find(|k| k.id == key_id)
            .ok_or_else(|| PortError::new(ErrorKind::NotFound, op, key_id, "no key"))?;
        k.status = status;
        w.leave(op)?;
        Ok(())
    }

    async fn delete_access_key(&self, user: &str, key_id: &str) -> PortResult<()> {
        self.fake.pause().await;
        let op = "iam:DeleteAccessKey";
        let mut w = self.fake.world();
        w.enter(&self.account, op, key_id)?;
        let u = w.user(&self.account, op, user)?;
        let before = u.keys.len();
        u.keys.retain(|k| k.id != key_id);
        if u.keys.len() == before {
            return Err(PortError::new(ErrorKind::NotFound, op, key_id, "no key"));
        }
        w.leave(op)?;
        Ok(())
    }

    async fn tag_user(&self, user: &str, tags: &BTreeMap<String, String>) -> PortResult<()> {
        self.fake.pause().await;
        let op = "iam:TagUser";
        let mut w = self.fake.world();
        w.enter(&self.account, op, user)?;
        w.user(&self.account, op, user)?.tags.extend(tags.clone());
        w.leave(op)?;
        Ok(())
    }

    async fn untag_user(&self, user: &str, keys: &[String]) -> PortResult<()> {
        self.fake.pause().await;
        let op = "iam:UntagUser";
        let mut w = self.fake.world();
        w.enter(&self.account, op, user)?;
        w.user(&self.account, op, user)?.tags.retain(|k, _| !keys.contains(k));
        w.leave(op)?;
        Ok(())
    }
}

impl FakeSecrets {
    fn with<T>(&self, op: &'static str, id: &str, f: impl FnOnce(&mut FakeSecret) -> PortResult<T>) -> PortResult<T> {
        let mut w = self.fake.world();
        w.enter(&self.account, op, id)?;
        let store = w.secrets.entry((self.account.clone(), self.region.clone())).or_default();
        let name = store.iter().find(|(n, s)| s.arn == id || n.as_str() == id).map(|(n, _)| n.clone());
        let Some(secret) = name.and_then(|n| store.get_mut(&n)) else {
            return Err(PortError::new(ErrorKind::NotFound, op, id, "ResourceNotFoundException"));
        };
        let out = f(secret)?;
        w.leave(op)?;
        Ok(out)
    }
}

fn info(name: &str, s: &FakeSecret) -> SecretInfo {
    SecretInfo {
        name: name.to_string(),
        arn: s.arn.clone(),
        tags: s.tags.clone(),
        versions: s.versions.iter().map(|(k, v)| (k.clone(), v.stages.clone())).collect(),
        replica_regions: s.replicas.clone(),
        deleted_date: s.deleted_date,
    }
}

impl SecretStore for FakeSecrets {
    /// Like Secrets Manager: a tag-value filter is a prefix match on any
    /// tag's value; one call is logged per page of [`LIST_PAGE`].
    async fn list_managed(&self, account_id: Option<&str>) -> PortResult<Vec<SecretInfo>> {
        self.fake.pause().await;
        let mut w = self.fake.world();
        let listed: Vec<SecretInfo> = w
            .secrets
            .get(&(self.account.clone(), self.region.clone()))
            .into_iter()
            .flatten()
            .filter(|(_, s)| s.tags.contains_key(super::MANAGED_TAG))
            .filter(|(_, s)| account_id.is_none_or(|id| s.tags.values().any(|v| v.starts_with(id))))
            .map(|(n, s)| info(n, s))
            .collect();
        for _ in 0..listed.len().div_ceil(LIST_PAGE).max(1) {
            w.enter(&self.account, "secretsmanager:ListSecrets", &self.region)?;
        }
        Ok(listed)
    }

    async fn describe(&self, name: &str) -> PortResult<Option<SecretInfo>> {
        self.fake.pause().await;
        match self.with("secretsmanager:DescribeSecret", name, |s| Ok(s.clone())) {
            Ok(s) => {
                let w = self.fake.world();
                let store = &w.secrets[&(self.account.clone(), self.region.clone())];
                let n = store.iter().find(|(_, x)| x.arn == s.arn).map(|(n, _)| n.clone()).unwrap_or_default();
                Ok(Some(info(&n, &s)))
            }
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn create(&self, secret: &NewSecret) -> PortResult<String> {
        self.fake.pause().await;
        let op = "secretsmanager:CreateSecret";
        let mut w = self.fake.world();
        w.enter(&self.account, op, &secret.name)?;
        let arn = format!("arn:aws:secretsmanager:{}:{}:secret:{}-AbCdEf", self.region, self.account, secret.name);
        let store = w.secrets.entry((self.account.clone(), self.region.clone())).or_default();
        if store.contains_key(&secret.name) {
            return Err(PortError::new(ErrorKind::Other, op, &secret.name, "ResourceExistsException"));
        }
        store.insert(
            secret.name.clone(),
            FakeSecret {
                arn: arn.clone(),
                tags: secret.tags.clone(),
                kms_key_id: secret.kms_key_id.clone(),
                ..FakeSecret::default()
            },
        );
        w.leave(op)?;
        Ok(arn)
    }

    async fn tag(&self, secret_id: &str, tags: &BTreeMap<String, String>) -> PortResult<()> {
        self.fake.pause().await;
        self.with("secretsmanager:TagResource", secret_id, |s| {
            s.tags.extend(tags.clone());
            Ok(())
        })
    }

    async fn untag(&self, secret_id: &str, keys: &[String]) -> PortResult<()> {
        self.fake.pause().await;
        self.with("secretsmanager:UntagResource", secret_id, |s| {
            s.tags.retain(|k, _| !keys.contains(k));
            Ok(())
        })
    }

    async fn put_pending(&self, secret_id: &str, token: &str, value: &SecretString) -> PortResult<Vec<String>> {
        self.fake.pause().await;
        self.with("secretsmanager:PutSecretValue", secret_id, |s| {
            if let Some(v) = s.versions.get(token) {
                return if v.value == value.expose() {
                    Ok(v.stages.clone())
                } else {
                    Err(PortError::new(ErrorKind::Other, "secretsmanager:PutSecretValue", token, "token reused"))
                };
            }
            for v in s.versions.values_mut() {
                v.stages.retain(|st| st != super::STAGE_PENDING);
            }
            // Like Secrets Manager: a secret's first version also becomes AWSCURRENT.
            let mut stages = vec![super::STAGE_PENDING.to_string()];
            if s.versions.is_empty() {
                stages.push(super::STAGE_CURRENT.to_string());
            }
            s.versions
                .insert(token.to_string(), FakeVersion { value: value.expose().to_string(), stages: stages.clone() });
            Ok(stages)
        })
    }

    async fn get_version(&self, secret_id: &str, version_id: &str) -> PortResult<SecretString> {
        self.fake.pause().await;
        self.with("secretsmanager:GetSecretValue", secret_id, |s| {
            s.versions.get(version_id).map(|v| SecretString::new(v.value.clone())).ok_or_else(|| {
                PortError::new(ErrorKind::NotFound, "secretsmanager:GetSecretValue", version_id, "no version")
            })
        })
    }

    async fn move_stage(
        &self,
        secret_id: &str,
        stage: &str,
        version_id: Option<&str>,
        from_version: Option<&str>,
    ) -> PortResult<()> {
        self.fake.pause().await;
        self.with("secretsmanager:UpdateSecretVersionStage", secret_id, |s| {
            let previous = (stage == super::STAGE_CURRENT).then(|| from_version.map(str::to_string)).flatten();
            if let Some(from) = from_version {
                if let Some(v) = s.versions.get_mut(from) {
                    v.stages.retain(|st| st != stage);
                }
            }
            if let Some(to) = version_id {
                let v = s.versions.get_mut(to).ok_or_else(|| {
                    PortError::new(ErrorKind::NotFound, "secretsmanager:UpdateSecretVersionStage", to, "no version")
                })?;
                v.stages.push(stage.to_string());
            }
            if let Some(prev) = previous {
                for v in s.versions.values_mut() {
                    v.stages.retain(|st| st != "AWSPREVIOUS");
                }
                if let Some(v) = s.versions.get_mut(&prev) {
                    v.stages.push("AWSPREVIOUS".into());
                }
            }
            Ok(())
        })
    }

    async fn put_resource_policy(&self, secret_id: &str, policy: &str) -> PortResult<()> {
        self.fake.pause().await;
        self.with("secretsmanager:PutResourcePolicy", secret_id, |s| {
            s.policy = Some(policy.to_string());
            Ok(())
        })
    }

    async fn replicate(&self, secret_id: &str, regions: &[String]) -> PortResult<()> {
        self.fake.pause().await;
        self.with("secretsmanager:ReplicateSecretToRegions", secret_id, |s| {
            s.replicas.extend(regions.iter().cloned());
            Ok(())
        })
    }
}

impl Platform for Fake {
    type Iam = FakeIam;
    type Secrets = FakeSecrets;

    async fn assume_role(&self, role_arn: &str, _session_name: &str) -> PortResult<SessionCredentials> {
        // `arn:aws:iam::<account>:role/<name>`
        let account = role_arn.split(':').nth(4).unwrap_or_default().to_string();
        let mut w = self.world();
        w.enter(&account, "sts:AssumeRole", role_arn)?;
        if w.not_enrolled.contains(&account) {
            return Err(PortError::new(ErrorKind::NotEnrolled, "sts:AssumeRole", role_arn, "AccessDenied"));
        }
        Ok(SessionCredentials {
            account_id: account,
            access_key_id: "ASIAFAKE".into(),
            secret_access_key: SecretString::new("fake"),
            session_token: None,
            expiration: None,
        })
    }

    async fn caller_account(&self) -> PortResult<String> {
        Ok("000000000000".into())
    }

    async fn verify_key(&self, access_key_id: &str, secret_access_key: &SecretString) -> PortResult<String> {
        let mut w = self.world();
        w.enter("-", "sts:GetCallerIdentity", access_key_id)?;
        for (account, users) in &w.users {
            for u in users.values() {
                if u.keys.iter().any(|k| {
                    k.id == access_key_id && k.secret == secret_access_key.expose() && k.status == KeyStatus::Active
                }) {
                    return Ok(account.clone());
                }
            }
        }
        Err(PortError::new(ErrorKind::AccessDenied, "sts:GetCallerIdentity", access_key_id, "InvalidClientTokenId"))
    }

    fn iam(&self, credentials: &SessionCredentials) -> FakeIam {
        FakeIam { fake: self.clone(), account: credentials.account_id.clone() }
    }

    fn secrets(&self, credentials: &SessionCredentials, region: &str) -> FakeSecrets {
        FakeSecrets { fake: self.clone(), account: credentials.account_id.clone(), region: region.to_string() }
    }
}
