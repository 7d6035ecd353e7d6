//! Action outcomes, stored states and the state machine between them.
//!
//! Rules run once, when an action is tracked, and pick an [`Outcome`]; the
//! outcome gives the initial [`ActionState`]. From then on only a challenge,
//! a reviewer or the server API (`updateAction`) moves the state, and only
//! along the edges below. Each edge names who may take it.
//!
//! ```text
//!                 track (rules pick the outcome)
//!      ┌──────────────┬───────────┴────────┬──────────────────┐
//!      ▼              ▼                    ▼                  ▼
//!    ALLOW ──(a)──► REVIEW_REQUIRED ◄─(c)─ CHALLENGE_REQUIRED  BLOCK
//!                    │  │  │  ▲            │  │  │             ▲ ▲
//!                (a,r)│ (a,r) └─(a)─┐   (c)│  │(c)└───(a,r)─────┘ │
//!                    ▼  ▼  └───(a,r)┼──────┼──┼───────────────────┘
//!     REVIEW_SUCCEEDED  REVIEW_FAILED│      ▼  ▼
//!                                   └── CHALLENGE_SUCCEEDED ─(v)─► CHALLENGE_FAILED
//!
//!  (c) a completed challenge   (a) server API updateAction   (r) a reviewer
//!  (v) the app's action.verify webhook, vetoing a challenge as it completes
//! ```
//!
//! - `CHALLENGE_REQUIRED → CHALLENGE_SUCCEEDED | CHALLENGE_FAILED` by a challenge;
//!   `→ REVIEW_REQUIRED` by a challenge whose rule also demands manual review,
//!   or by the server API (the app sends a pending action to review, as
//!   Authsignal's `updateAction` allows).
//! - `ALLOW | CHALLENGE_SUCCEEDED → REVIEW_REQUIRED` by the server API (send to review).
//! - `REVIEW_REQUIRED → REVIEW_SUCCEEDED | REVIEW_FAILED` by the API or a reviewer.
//! - `CHALLENGE_REQUIRED | REVIEW_REQUIRED → BLOCK` by the API or a reviewer.
//! - `CHALLENGE_SUCCEEDED → CHALLENGE_FAILED` by the app's veto, in the same
//!   step as the challenge (nothing else sees the action in between).
//! - Setting the state an action already has is a no-op, not an error, so a
//!   retried `updateAction` is harmless.
//!
//! Everything else is refused; in particular a settled action never becomes
//! pending again (`REVIEW_SUCCEEDED → CHALLENGE_REQUIRED`), and the server API
//! cannot claim a challenge succeeded.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Configured result of evaluating an action (`defaultUserActionResult`, a rule's `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Outcome {
    /// Let the action through.
    Allow,
    /// Ask the user to verify themselves first.
    Challenge,
    /// Hold the action for a person to approve.
    Review,
    /// Refuse the action.
    Block,
}

impl Outcome {
    /// The state an action starts in when tracking decides this outcome.
    pub fn initial_state(self) -> ActionState {
        match self {
            Outcome::Allow => ActionState::Allow,
            Outcome::Challenge => ActionState::ChallengeRequired,
            Outcome::Review => ActionState::ReviewRequired,
            Outcome::Block => ActionState::Block,
        }
    }
}

/// Stored state of an action, as the Authsignal SDKs name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActionState {
    /// Allowed without a challenge.
    Allow,
    /// Blocked.
    Block,
    /// Waiting for the user to complete a challenge.
    ChallengeRequired,
    /// The user completed the challenge.
    ChallengeSucceeded,
    /// The user failed the challenge (e.g. too many wrong codes).
    ChallengeFailed,
    /// Waiting for a person to review it.
    ReviewRequired,
    /// A reviewer approved it.
    ReviewSucceeded,
    /// A reviewer rejected it.
    ReviewFailed,
}

/// Every state, in declaration order.
pub const ALL_STATES: [ActionState; 8] = [
    ActionState::Allow,
    ActionState::Block,
    ActionState::ChallengeRequired,
    ActionState::ChallengeSucceeded,
    ActionState::ChallengeFailed,
    ActionState::ReviewRequired,
    ActionState::ReviewSucceeded,
    ActionState::ReviewFailed,
];

impl ActionState {
    /// The wire name (`CHALLENGE_REQUIRED`).
    pub fn as_str(self) -> &'static str {
        match self {
            ActionState::Allow => "ALLOW",
            ActionState::Block => "BLOCK",
            ActionState::ChallengeRequired => "CHALLENGE_REQUIRED",
            ActionState::ChallengeSucceeded => "CHALLENGE_SUCCEEDED",
            ActionState::ChallengeFailed => "CHALLENGE_FAILED",
            ActionState::ReviewRequired => "REVIEW_REQUIRED",
            ActionState::ReviewSucceeded => "REVIEW_SUCCEEDED",
            ActionState::ReviewFailed => "REVIEW_FAILED",
        }
    }

    /// Parse a wire name; `field` names where it came from.
    ///
    /// # Errors
    /// [`UnknownState`] (a [`crate::CoreError::InvalidField`] naming `field`)
    /// when `s` is not a state.
    pub fn parse(s: &str, field: &str) -> Result<Self, UnknownState> {
        ALL_STATES
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownState {
                field: field.to_owned(),
                value: s.to_owned(),
            })
    }

    /// Whether the action still waits for a challenge or a review.
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            ActionState::ChallengeRequired | ActionState::ReviewRequired
        )
    }

    /// Whether an action in this state may go ahead (what `validate` accepts).
    pub fn is_approved(self) -> bool {
        matches!(
            self,
            ActionState::Allow | ActionState::ChallengeSucceeded | ActionState::ReviewSucceeded
        )
    }
}

impl fmt::Display for ActionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no state (see [`ActionState::parse`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownState {
    /// Where the name came from.
    pub field: String,
    /// The name.
    pub value: String,
}

impl fmt::Display for UnknownState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown state {:?}, expected one of {}",
            self.value,
            ALL_STATES.map(|s| s.as_str()).join(", ")
        )
    }
}

/// A state change the state machine refuses (see [`check_transition`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IllegalTransition {
    /// Current state.
    pub from: ActionState,
    /// Requested state.
    pub to: ActionState,
}

impl fmt::Display for IllegalTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot change action state from {} to {}",
            self.from, self.to
        )
    }
}

/// Who asks for a state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// A completed challenge (hosted page or Client API).
    Challenge,
    /// The server API's `updateAction`.
    Api,
    /// A person working the review queue.
    Reviewer,
    /// The app's `action.verify` webhook.
    Veto,
}

/// Check a state change against the state machine.
///
/// Returns `Ok(true)` when the state changes, `Ok(false)` for a no-op (the
/// action is already in `to`).
///
/// Actions move only through `ActionRecord::move_to` (in the model),
/// which checks here first.
///
/// # Errors
/// [`IllegalTransition`] naming both states when the edge does not exist or
/// `actor` may not take it.
pub fn check_transition(
    from: ActionState,
    to: ActionState,
    actor: Actor,
) -> Result<bool, IllegalTransition> {
    use ActionState as S;
    use Actor as A;
    if from == to {
        return Ok(false);
    }
    let allowed = match (from, to) {
        (S::ChallengeRequired, S::ChallengeSucceeded | S::ChallengeFailed) => actor == A::Challenge,
        (S::ChallengeRequired, S::ReviewRequired) => matches!(actor, A::Challenge | A::Api),
        (S::Allow | S::ChallengeSucceeded, S::ReviewRequired) => actor == A::Api,
        (S::ReviewRequired, S::ReviewSucceeded | S::ReviewFailed) => {
            matches!(actor, A::Api | A::Reviewer)
        }
        (S::ChallengeRequired | S::ReviewRequired, S::Block) => {
            matches!(actor, A::Api | A::Reviewer)
        }
        (S::ChallengeSucceeded, S::ChallengeFailed) => actor == A::Veto,
        _ => false,
    };
    if allowed {
        Ok(true)
    } else {
        Err(IllegalTransition { from, to })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ActionState as S;
    use Actor as A;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn ok(from: S, to: S, actor: A) {
        assert_eq!(
            check_transition(from, to, actor),
            Ok(true),
            "{from} -> {to} by {actor:?}"
        );
    }
    fn refused(from: S, to: S, actor: A) {
        assert_eq!(
            check_transition(from, to, actor),
            Err(IllegalTransition { from, to }),
            "{from} -> {to} by {actor:?} must be refused"
        );
    }

    #[test]
    fn outcome_gives_initial_state() {
        assert_eq!(Outcome::Allow.initial_state(), S::Allow);
        assert_eq!(Outcome::Challenge.initial_state(), S::ChallengeRequired);
        assert_eq!(Outcome::Review.initial_state(), S::ReviewRequired);
        assert_eq!(Outcome::Block.initial_state(), S::Block);
    }

    #[test]
    fn challenge_required_to_challenge_succeeded_by_challenge() {
        ok(S::ChallengeRequired, S::ChallengeSucceeded, A::Challenge);
        refused(S::ChallengeRequired, S::ChallengeSucceeded, A::Api);
        refused(S::ChallengeRequired, S::ChallengeSucceeded, A::Reviewer);
    }

    #[test]
    fn challenge_required_to_challenge_failed_by_challenge() {
        ok(S::ChallengeRequired, S::ChallengeFailed, A::Challenge);
        refused(S::ChallengeRequired, S::ChallengeFailed, A::Api);
    }

    #[test]
    fn challenge_required_to_review_required_by_challenge_or_the_app() {
        ok(S::ChallengeRequired, S::ReviewRequired, A::Challenge);
        ok(S::ChallengeRequired, S::ReviewRequired, A::Api);
        refused(S::ChallengeRequired, S::ReviewRequired, A::Reviewer);
    }

    #[test]
    fn allow_to_review_required_by_api() {
        ok(S::Allow, S::ReviewRequired, A::Api);
        refused(S::Allow, S::ReviewRequired, A::Challenge);
    }

    #[test]
    fn challenge_succeeded_to_review_required_by_api() {
        ok(S::ChallengeSucceeded, S::ReviewRequired, A::Api);
    }

    #[test]
    fn review_required_to_review_succeeded_by_api_or_reviewer() {
        ok(S::ReviewRequired, S::ReviewSucceeded, A::Api);
        ok(S::ReviewRequired, S::ReviewSucceeded, A::Reviewer);
        refused(S::ReviewRequired, S::ReviewSucceeded, A::Challenge);
    }

    #[test]
    fn review_required_to_review_failed_by_api_or_reviewer() {
        ok(S::ReviewRequired, S::ReviewFailed, A::Api);
        ok(S::ReviewRequired, S::ReviewFailed, A::Reviewer);
        refused(S::ReviewRequired, S::ReviewFailed, A::Challenge);
    }

    #[test]
    fn challenge_required_to_block_by_api_or_reviewer() {
        ok(S::ChallengeRequired, S::Block, A::Api);
        ok(S::ChallengeRequired, S::Block, A::Reviewer);
    }

    #[test]
    fn review_required_to_block_by_api_or_reviewer() {
        ok(S::ReviewRequired, S::Block, A::Api);
        ok(S::ReviewRequired, S::Block, A::Reviewer);
    }

    #[test]
    fn challenge_succeeded_to_challenge_failed_by_veto() {
        ok(S::ChallengeSucceeded, S::ChallengeFailed, A::Veto);
        refused(S::ChallengeSucceeded, S::ChallengeFailed, A::Api);
        refused(S::ChallengeSucceeded, S::ChallengeFailed, A::Challenge);
        refused(S::ReviewSucceeded, S::ChallengeFailed, A::Veto);
    }

    #[test]
    fn same_state_is_a_no_op() {
        for s in ALL_STATES {
            assert_eq!(check_transition(s, s, A::Api), Ok(false));
        }
    }

    #[test]
    fn settled_actions_never_become_pending_again() {
        for from in [
            S::ReviewSucceeded,
            S::ReviewFailed,
            S::ChallengeFailed,
            S::Block,
        ] {
            for to in [S::ChallengeRequired, S::ReviewRequired] {
                for actor in [A::Api, A::Reviewer, A::Challenge] {
                    refused(from, to, actor);
                }
            }
        }
    }

    #[test]
    fn exactly_the_documented_edges_exist() {
        // Count every (from, to, actor) accepted: the module docs list 15.
        let mut n = 0;
        for from in ALL_STATES {
            for to in ALL_STATES {
                for actor in [A::Api, A::Reviewer, A::Challenge, A::Veto] {
                    if from != to && check_transition(from, to, actor).is_ok() {
                        n += 1;
                    }
                }
            }
        }
        assert_eq!(n, 15);
    }

    #[test]
    fn illegal_transition_message_names_both_states() {
        let err = check_transition(S::ReviewSucceeded, S::ChallengeRequired, A::Api).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot change action state from REVIEW_SUCCEEDED to CHALLENGE_REQUIRED"
        );
    }

    #[test]
    fn parse_round_trips_and_names_the_field() {
        for s in ALL_STATES {
            assert_eq!(ActionState::parse(s.as_str(), "state"), Ok(s));
        }
        let err = crate::CoreError::from(ActionState::parse("DONE", "state").unwrap_err());
        assert!(err.to_string().starts_with("state: unknown state \"DONE\""));
    }
}
