//! `rekey deploy`, `rekey diff` and `rekey destroy`: CloudFormation stacks, the member-role StackSet and the
//! Lambda asset, behind small traits (`api`) so the logic is tested without AWS; `sdk` holds the AWS adapters.
//!
//! Entry points: [`placement::place_stacks`] places the synthesized stacks, [`deploy::deploy`], [`deploy::diff_all`] and
//! [`destroy::destroy`] carry the plan out, writing progress through [`progress::Progress`].

pub mod api;
pub mod deploy;
pub mod destroy;
pub mod diff;
pub mod error;
pub mod iam;
pub mod model;
pub mod placement;
pub mod progress;
pub mod sdk;
mod stack_set;
mod wait;

pub use deploy::{
    deploy, diff_all, Approver, AssetUpload, Clients, DeployReport, NoTerminal, Options, RequireApproval,
};
pub use destroy::{destroy, DestroyOptions, DestroyReport};
pub use error::DeployError;
pub use placement::{place_stacks, AccountRole, Placement, StackTemplate, Step, UnknownStack};
pub use progress::{Progress, ProgressMode};

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;
