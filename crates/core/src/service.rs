//! The per-user service: what the user's Durable Object does for each
//! Server API call, over any [`UserStore`].
//!
//! Functions here take the store, the request and `now`; they never read the
//! clock, generate randomness or touch HTTP. Fresh identifiers are passed in.
//!
//! One module per concern (`track`, `actions`, `enroll`, `codes`, `users`,
//! `passkeys`, `recovery`, `sessions`, `server_challenges`, `challenge_page`, `authenticator_log`); their public items are re-exported
//! here, the service's API.

pub mod actions;
pub mod authenticator_log;
pub mod challenge_page;
pub mod codes;
pub mod enroll;
pub mod passkeys;
pub mod recovery;
pub mod server_challenges;
pub mod sessions;
pub mod track;
pub mod users;

pub use crate::policy::decide::{Decision, decide};
pub use actions::{
    Claim, ClaimError, cancel, claim, complete_challenge, expire_hold, get_action, note_verifier,
    query_actions, sign_in, unclaim, update_state,
};
pub use challenge_page::{ChallengeView, challenge_view};
pub use codes::{
    CodeCheck, CodeToSend, issue_code, lift_lockout, magic_link_status, verify_code, verify_totp,
};
pub use enroll::{
    ADD_AUTHENTICATORS, TotpEnrollment, check_may_add, enroll_totp, grants_adding,
    unlocks_enrollment,
};
pub use track::{Simulation, TrackInput, Tracked, history, simulate, track};
pub use users::{
    delete_authenticator, delete_user, enroll_authenticator, get_user, list_authenticators,
    patch_user,
};

#[cfg(test)]
mod tests;
