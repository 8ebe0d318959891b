//! Seeding moto with the benchmark's organization: one management account,
//! groups of member accounts with `users` IAM users each, every user with
//! one access key backdated to an age from [`AGES`], so an account holds
//! keys that are fresh, in the warning window and due for rotation.

use futures::StreamExt;
use rekey_e2e::moto::Moto;

/// Key ages in days, one per user in turn (user `i` gets `AGES[i % 10]`).
/// With the default lifecycle (warn 7 days before 90, rotate at 90,
/// deactivate at 100) a tenth are warned and three tenths are rotated: 45
/// rotations in a 150-user account.
pub const AGES: [i64; 10] = [5, 20, 35, 50, 65, 80, 86, 92, 95, 98];

/// Users seeded at once (moto serves requests on threads; beyond a few at
/// once it only queues them).
const SEED_CONCURRENCY: usize = 8;

/// Keys due for rotation among `users` users seeded by [`seed_account`].
pub fn due_keys(users: usize) -> usize {
    (0..users).filter(|i| AGES[i % AGES.len()] >= 90).count()
}

/// Creates the organization of `management` with `members` member accounts;
/// returns their ids, sorted.
pub async fn organization(moto: &Moto, management: &str, members: usize) -> Vec<String> {
    moto.create_organization(management, "bench", members).await
}

/// Creates `users` users with one backdated key each in `account`.
pub async fn seed_account(moto: &'static Moto, account: &str, users: usize) {
    let iam = aws_sdk_iam::Client::new(&moto.account_config(account).await);
    futures::stream::iter(0..users)
        .map(|i| {
            let iam = iam.clone();
            let account = account.to_string();
            async move {
                let name = format!("user{i:05}");
                iam.create_user().user_name(&name).send().await.expect("create user");
                let key = iam.create_access_key().user_name(&name).send().await.expect("create key");
                let key_id = key.access_key().expect("a key").access_key_id().to_string();
                let days = AGES[i % AGES.len()];
                tokio::task::spawn_blocking(move || moto.backdate_key(&account, &key_id, days))
                    .await
                    .expect("backdate");
            }
        })
        .buffer_unordered(SEED_CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    // The credential report exists before the measured runs, as it does in
    // an account whose report was made in the last four hours: the runs then
    // measure rekey, not the first report's generation wait.
    iam.generate_credential_report().send().await.expect("generate the credential report");
}

/// Seeds every account of `accounts`, a few accounts at once.
pub async fn seed_accounts(moto: &'static Moto, accounts: &[String], users: usize) {
    futures::stream::iter(accounts)
        .map(|account| seed_account(moto, account, users))
        .buffer_unordered(2)
        .collect::<Vec<()>>()
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_150_user_account_has_45_due_keys() {
        assert_eq!(due_keys(150), 45);
        assert_eq!(due_keys(1000), 300);
    }
}
