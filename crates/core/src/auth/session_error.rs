//! Why a session request was refused (apart from [`super::session`], so that
//! `CoreError` can carry it without importing what sessions import).

/// Why a session request was refused. Each maps to a stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// Not a token of this deployment, or altered.
    #[error("The token is not valid.")]
    InvalidToken,
    /// Past its expiry.
    #[error("The token has expired.")]
    Expired,
    /// The session was revoked (by the app, by a refresh, or after a
    /// refresh token was used twice).
    #[error("The session was revoked.")]
    Revoked,
    /// A refresh token was presented a second time: whoever holds the
    /// session's tokens is not alone, so the session is revoked.
    #[error("The refresh token was already used, so the session is now revoked.")]
    RefreshReused,
    /// The action behind a client token has not been verified by a
    /// challenge.
    #[error("The token's action has not been verified by a challenge.")]
    NotVerified,
    /// A session was already created from this token's action.
    #[error("A session was already created from this token.")]
    AlreadyUsed,
}

impl SessionError {
    /// Stable error code.
    pub fn code(self) -> &'static str {
        match self {
            SessionError::InvalidToken => "invalid_token",
            SessionError::Expired => "expired_token",
            SessionError::Revoked => "session_revoked",
            SessionError::RefreshReused => "refresh_token_reused",
            SessionError::NotVerified => "challenge_not_completed",
            SessionError::AlreadyUsed => "token_already_used",
        }
    }

    /// Whether the refusal is about the caller's credential (401) rather
    /// than about what it points at (403).
    pub fn unauthorized(self) -> bool {
        !matches!(self, SessionError::NotVerified | SessionError::AlreadyUsed)
    }
}
