//! The protocol between the worker and a user's object: the commands (JSON,
//! `{"<command>": <fields>}`) and where a request to the object names its user.

use actiongate_core::actions::model::TrackRequest;
use actiongate_core::actions::state::ActionState;
use actiongate_core::auth::methods::VerificationMethod;
use actiongate_core::auth::webauthn::RelyingParty;
use serde::{Deserialize, Serialize};

/// Binding name of the namespace in wrangler.toml.
pub const BINDING: &str = "USERS";

/// Header naming the user a request to the object is for (percent-encoded).
pub const USER_HEADER: &str = "X-ActionGate-User";

/// A track, from the Server API or the edge proxy.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Track {
    pub user_id: String,
    pub action_code: String,
    pub request: TrackRequest,
    /// The worker's origin, for the challenge page URL.
    pub origin: String,
    /// What the edge saw (edge proxy only).
    #[serde(default)]
    pub edge: Option<actiongate_core::geo::EdgeInfo>,
    /// The request held back (edge proxy only).
    #[serde(default)]
    pub pending: Option<actiongate_core::actions::model::PendingRequest>,
}

/// Where a verifying client is (its device cookie, its country), so that a
/// proof from elsewhere does not make the action's whereabouts known (see
/// `service::note_verifier`).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verifier {
    pub device_id: Option<String>,
    pub country: Option<String>,
    /// The browser's `User-Agent`, kept with a passkey it registers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// A request from the worker to a user's object.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum UserCommand {
    /// Track an action.
    Track(Track),
    /// Release a held-back request once (edge proxy); `retry` is the
    /// retried request's (method, path and query, body SHA-256).
    Claim {
        action_code: String,
        idempotency_key: String,
        retry: Option<(String, String, String, serde_json::Value)>,
    },
    /// What the hosted challenge page needs to show (Client API).
    ChallengeInfo {
        user_id: String,
        action_code: String,
        idempotency_key: String,
        #[serde(default)]
        proved: bool,
    },
    /// Start enrolling an authenticator app (Client API). `proved`: the
    /// client's token is an access token (see `ActionClaims::proved`).
    EnrollTotp {
        user_id: String,
        action_code: String,
        idempotency_key: String,
        #[serde(default)]
        proved: bool,
    },
    /// Issue a code by email or SMS for the action's challenge (Client API):
    /// to `enroll_to` when enrolling, else to the enrolled address.
    IssueCode {
        user_id: String,
        action_code: String,
        idempotency_key: String,
        channel: actiongate_core::auth::otp::Channel,
        enroll_to: Option<String>,
        #[serde(default)]
        proved: bool,
    },
    /// Check a code for the action's challenge (Client API): one sent by
    /// email, SMS or magic link (`channel`), or, with `channel` absent, an
    /// authenticator app's or a recovery code (`recovery_code`).
    VerifyCode {
        user_id: String,
        action_code: String,
        idempotency_key: String,
        channel: Option<actiongate_core::auth::otp::Channel>,
        code: String,
        #[serde(default)]
        verifier: Verifier,
        /// With no channel: a recovery code rather than an authenticator app's.
        #[serde(default)]
        recovery_code: bool,
    },
    /// Whether the challenge was completed by a magic link (Client API finalize).
    MagicLinkStatus {
        user_id: String,
        action_code: String,
        idempotency_key: String,
    },
    /// The person cancels the challenge (Client API, the challenge page).
    Cancel {
        action_code: String,
        idempotency_key: String,
    },
    /// Make a claimed request claimable again after an origin failure.
    Unclaim {
        action_code: String,
        idempotency_key: String,
    },
    /// Get one action.
    GetAction {
        action_code: String,
        idempotency_key: String,
    },
    /// List actions.
    QueryActions {
        from: Option<i64>,
        codes: Vec<String>,
        state: Option<ActionState>,
        limit: usize,
    },
    /// Change an action's state through the server API.
    UpdateAction {
        action_code: String,
        idempotency_key: String,
        state: ActionState,
    },
    /// Get the profile; `allowed` is what the deployment can complete
    /// (`crate::delivery::deliverable_methods`), which the answer's
    /// `allowedVerificationMethods` keeps to (all of them when absent).
    GetUser {
        user_id: String,
        #[serde(default)]
        allowed: Option<Vec<VerificationMethod>>,
    },
    /// Patch the profile (`allowed` as for [`UserCommand::GetUser`]).
    PatchUser {
        user_id: String,
        #[serde(default)]
        allowed: Option<Vec<VerificationMethod>>,
        patch: serde_json::Value,
    },
    /// Delete everything.
    DeleteUser,
    /// List authenticators.
    ListAuthenticators { user_id: String },
    /// Enroll a verified email/phone authenticator.
    EnrollAuthenticator {
        user_id: String,
        request: serde_json::Value,
    },
    /// Delete an authenticator.
    DeleteAuthenticator { id: String },
    /// Clear the user's wrong codes and lift their verification lock.
    LiftLockout,
    /// Start a WebAuthn ceremony for the action's challenge (Client API):
    /// registering a passkey or security key, or signing in with one.
    PasskeyOptions {
        user_id: String,
        action_code: String,
        idempotency_key: String,
        registration: bool,
        method: actiongate_core::auth::methods::VerificationMethod,
        username: Option<String>,
        attachment: Option<String>,
        rp: RelyingParty,
        #[serde(default)]
        proved: bool,
    },
    /// Finish registering a passkey or security key (Client API).
    PasskeyRegister {
        user_id: String,
        action_code: String,
        idempotency_key: String,
        challenge_id: Option<String>,
        credential: serde_json::Value,
        rp: RelyingParty,
        #[serde(default)]
        proved: bool,
        #[serde(default)]
        verifier: Verifier,
    },
    /// Verify a passkey sign-in (Client API): for the token's action
    /// (`action` = code and key), or, with no token, for the user the
    /// passkey's user handle named.
    PasskeyVerify {
        user_id: String,
        action: Option<(String, String)>,
        challenge_id: Option<String>,
        credential: serde_json::Value,
        rp: RelyingParty,
        /// Without a token: what the edge saw of the request, and its
        /// device cookie, for the track the sign-in is decided as.
        #[serde(default)]
        edge: Option<actiongate_core::geo::EdgeInfo>,
        #[serde(default)]
        device_id: Option<String>,
    },
    /// "Not now" to the offer of adding a passkey.
    PasskeyPromptSkip,
    /// Everything about the user for the admin portal: profile,
    /// authenticators, recent actions with their history.
    Overview { user_id: String },
    /// A reviewer's decision on an action in `REVIEW_REQUIRED`.
    Review {
        action_code: String,
        idempotency_key: String,
        approve: bool,
        reviewer: String,
        note: Option<String>,
    },
    /// A new set of recovery codes, for a client that just proved itself.
    RegenerateRecoveryCodes {
        action_code: String,
        idempotency_key: String,
        proved: bool,
    },
    /// Exchange a verified action for a session (`createSession`).
    CreateSession {
        user_id: String,
        action_code: String,
        idempotency_key: String,
        client_id: String,
        /// The access token's issuer (the worker's origin).
        issuer: String,
    },
    /// Exchange a refresh token for new tokens (`refreshSession`).
    RefreshSession {
        user_id: String,
        session_id: String,
        secret: String,
        issuer: String,
    },
    /// Whether an access token's session is live (`validateSession`).
    CheckSession {
        user_id: String,
        session_id: String,
        access_id: String,
    },
    /// Revoke one session (`revokeSession`).
    RevokeSession { session_id: String },
    /// Revoke every session of the user (`revokeUserSessions`).
    RevokeUserSessions,
    /// Start a server-side challenge, or send a new code for one
    /// (`challenge`), in its owner's object.
    StartChallenge {
        resend: Option<String>,
        channel: actiongate_core::auth::otp::Channel,
        to: String,
        user_id: Option<String>,
        action_code: String,
        idempotency_key: Option<String>,
        request: TrackRequest,
        /// The owner's name, for the new challenge's id.
        owner: String,
    },
    /// Check a code for a server-side challenge (`verify`).
    VerifyChallenge { id: String, code: String },
    /// Claim a verified server-side challenge for a user (`claimChallenge`),
    /// in its owner's object.
    ClaimChallenge { id: String, user_id: String },
    /// In the claiming user's object: the claimed challenge as a sign-in.
    SignInWithChallenge {
        user_id: String,
        challenge: Box<actiongate_core::auth::server_challenge::ServerChallenge>,
    },
    /// A server-side challenge by id, or the user's newest pending one
    /// (`getChallenge`).
    GetChallenge {
        id: Option<String>,
        action_code: Option<String>,
        method: Option<actiongate_core::auth::methods::VerificationMethod>,
    },
    /// Evaluate a hypothetical track without writing anything.
    Simulate {
        user_id: String,
        action_code: String,
        request: TrackRequest,
    },
}
