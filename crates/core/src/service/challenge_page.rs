//! What the hosted challenge page shows for an action: its state and
//! methods, what the user has enrolled, whether a passkey is offered, which
//! methods can unlock adding one, and the action's message in its locale.

use serde::Serialize;

use crate::actions::state::ActionState;
use crate::auth::methods::VerificationMethod;
use crate::error::CoreError;
use crate::policy::config::ActionConfigurationInput;
use crate::present::{render_template, template_for};
use crate::store::UserStore;
use crate::time::Millis;

use super::actions::get_action;
use super::enroll::unlocks_enrollment;
use super::passkeys::should_prompt;
use super::users::get_user;

/// The challenge page's view of an action (`GET /v1/client/action`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeView {
    /// The action code.
    pub action_code: String,
    /// Its idempotency key.
    pub idempotency_key: String,
    /// Its state.
    pub state: ActionState,
    /// Whether a challenge of it was passed (its state may since have moved
    /// on to review): the page says "Verified" and continues.
    pub verified: bool,
    /// The methods its challenge may use.
    pub allowed_verification_methods: Vec<VerificationMethod>,
    /// The method to show first.
    pub default_verification_method: Option<VerificationMethod>,
    /// Whether the user has a verified authenticator.
    pub is_enrolled: bool,
    /// The methods they have.
    pub enrolled_verification_methods: Vec<VerificationMethod>,
    /// Whether they have an authenticator app.
    pub has_authenticator_app: bool,
    /// Whether they have a passkey.
    pub has_passkey: bool,
    /// Whether they have a security key.
    pub has_security_key: bool,
    /// Whether to offer a passkey after the challenge (only to a client
    /// holding proof, which alone could accept).
    pub prompt_passkey: bool,
    /// The methods they have that can prove them before adding the passkey
    /// a passkey-only action needs.
    pub unlock_methods: Vec<VerificationMethod>,
    /// Whether such a proof was given.
    pub enrollment_unlocked: bool,
    /// The action's message (HTML-escaped values) in its locale, else English.
    pub message_html: Option<String>,
    /// Where the page returns to.
    pub redirect_url: Option<String>,
    /// Wrong answers so far.
    pub failed_attempts: u32,
}

/// The challenge page's view of the action `code`/`key` of `user_id`,
/// configured by `config` (its message templates), for a client that
/// holds proof (`proved`) or not.
///
/// # Errors
/// [`CoreError::ActionNotFound`], or storage errors.
pub fn challenge_view<S: UserStore>(
    store: &S,
    user_id: &str,
    code: &str,
    key: &str,
    config: Option<&ActionConfigurationInput>,
    proved: bool,
    now: Millis,
) -> Result<ChallengeView, CoreError> {
    let record = get_action(store, code, key)?;
    let auths = store.list_authenticators()?;
    let user = get_user(store, user_id)?;
    let has = |m: VerificationMethod| {
        auths
            .iter()
            .any(|a| a.verified_at.is_some() && a.verification_method == m)
    };
    let prompt_passkey = proved && should_prompt(store, &record, now)?;
    let mut unlock_methods: Vec<_> = auths
        .iter()
        .map(|a| a.verification_method)
        .filter(|m| unlocks_enrollment(&record, &auths, *m))
        .collect();
    unlock_methods.sort();
    unlock_methods.dedup();
    let message_html = config
        .and_then(|c| template_for(&c.messaging_templates, record.request.locale.as_deref()))
        .and_then(|t| {
            record
                .context
                .as_ref()
                .and_then(|c| render_template(&t.default_template, c))
        });
    Ok(ChallengeView {
        action_code: code.to_owned(),
        idempotency_key: key.to_owned(),
        state: record.state,
        verified: record.verification_method.is_some(),
        allowed_verification_methods: record.allowed_verification_methods.clone(),
        default_verification_method: record.default_verification_method,
        is_enrolled: user.is_enrolled,
        enrolled_verification_methods: user.enrolled_verification_methods,
        has_authenticator_app: has(VerificationMethod::AuthenticatorApp),
        has_passkey: has(VerificationMethod::Passkey),
        has_security_key: has(VerificationMethod::SecurityKey),
        prompt_passkey,
        unlock_methods,
        enrollment_unlocked: record.enrollment_unlocked_by.is_some(),
        message_html,
        redirect_url: record.request.redirect_url.clone(),
        failed_attempts: record.failed_attempts,
    })
}
