//! The rotation core behind [`AccountRotator`] with a reviewed plan: each
//! account's new plan goes through [`AccountReview::screen`], and what each
//! account's review saw is kept for the plan file (`rekey plan --out`) or
//! the apply report (`rekey rotate --plan`).

use super::screen::AccountReview;
use super::ReviewedPlan;
use crate::messages::AccountMessage;
use crate::ports::Platform;
use crate::report::AccountReport;
use crate::rotation::{rotate_account_reviewed, AccountRotator, Deadline, RotationDeps};
use chrono::{DateTime, Utc};
use rekey_config::Config;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Rotates accounts under a reviewed plan (`Some`: run only its actions) or
/// recording what is planned (`None`).
#[derive(Debug)]
pub struct ReviewedRotator<P> {
    config: Config,
    deps: RotationDeps<P>,
    plan: Option<ReviewedPlan>,
    reviews: Mutex<BTreeMap<String, AccountReview>>,
}

impl<P: Platform> ReviewedRotator<P> {
    /// A rotator applying `plan`, or only recording when `None`.
    pub fn new(config: &Config, deps: RotationDeps<P>, plan: Option<ReviewedPlan>) -> Self {
        ReviewedRotator { config: config.clone(), deps, plan, reviews: Mutex::default() }
    }

    /// Each account's review, by account id (once the run is over).
    pub fn reviews(&self) -> BTreeMap<String, AccountReview> {
        self.reviews.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl<P: Platform> AccountRotator for ReviewedRotator<P> {
    async fn rotate(&self, message: &AccountMessage, now: DateTime<Utc>) -> AccountReport {
        let mut review = AccountReview::new(self.plan.as_ref().map(|p| p.account(&message.account_id)));
        let part =
            rotate_account_reviewed(&self.deps, &self.config, message, now, &Deadline::none(), &mut review).await;
        self.reviews.lock().unwrap_or_else(|e| e.into_inner()).insert(message.account_id.clone(), review);
        part.report
    }
}
