//! Server-side challenges (`challenge`, `verify`, `claimChallenge`,
//! `getChallenge`): a code sent by email, SMS or WhatsApp at the app
//! server's request, to a user or to a bare address (verification before
//! sign-up), verified, then claimed for a user.
//!
//! A challenge lives with its *owner*: the user's object when the app named
//! a user, else an object of its own per address, so that sends and wrong
//! codes are counted per user or per address with the same limits and
//! throttle as the Client API's codes. Its id says where it lives.

use serde::{Deserialize, Serialize};

use crate::actions::model::TrackRequest;
use crate::auth::otp::{Channel, SentCode};
use crate::encoding::{b64url, sha256_hex, unb64url};
use crate::time::Millis;

/// Where a challenge is after its code was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChallengeState {
    /// Waiting for its code.
    Pending,
    /// The right code was entered; it may be claimed once.
    Verified,
    /// Too many wrong codes: nothing more is checked.
    Failed,
    /// Claimed for a user (`claimed_by`).
    Claimed,
}

/// How long a verified challenge may wait to be claimed.
pub const CLAIM_WINDOW_MS: Millis = 10 * 60 * 1000;

/// One server-side challenge, as its owner stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerChallenge {
    /// The challenge id (see [`challenge_id`]).
    pub id: String,
    /// How the code went.
    pub channel: Channel,
    /// Where it went (an email address or E.164 number), as given.
    pub to: String,
    /// The user the app named when it started the challenge, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The action the challenge is for (what a claim tracks).
    pub action_code: String,
    /// The action's idempotency key.
    pub idempotency_key: String,
    /// What the app sent besides (device, network, custom data, scope,
    /// locale): the claim's track sees it.
    pub request: TrackRequest,
    /// The current code: only its salted hash.
    pub sent: SentCode,
    /// Codes sent for this challenge.
    pub codes_sent: u32,
    /// Wrong codes entered.
    pub failed_attempts: u32,
    /// Where it is.
    pub state: ChallengeState,
    /// When the right code was entered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<Millis>,
    /// Who claimed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_by: Option<String>,
    /// When it was started.
    pub created_at: Millis,
}

impl ServerChallenge {
    /// Until when the record matters: its code's life, and after a right
    /// code the claim window.
    pub fn keep_until(&self) -> Millis {
        let claim = self
            .verified_at
            .map_or(0, |v| v.saturating_add(CLAIM_WINDOW_MS));
        self.sent.expires_at.max(claim)
    }
}

/// Prefix of the owner of challenges to a bare address: a control
/// character, which no user id may contain, so it names no user.
pub const ADDRESS_OWNER_PREFIX: &str = "\u{1}address:";

/// The owner of challenges sent to `to` with no user named: one per
/// address (email addresses compared without case), named by its SHA-256.
pub fn address_owner(to: &str) -> String {
    format!(
        "{ADDRESS_OWNER_PREFIX}{}",
        sha256_hex(to.trim().to_lowercase().as_bytes())
    )
}

/// A challenge id: a fresh id and its owner, `<uuid>.<owner in base64url>`.
pub fn challenge_id(fresh: &str, owner: &str) -> String {
    format!("{fresh}.{}", b64url(owner.as_bytes()))
}

/// The owner a challenge id names, if it is one of ours.
pub fn owner_of(id: &str) -> Option<String> {
    let (fresh, owner) = id.split_once('.')?;
    if fresh.is_empty()
        || fresh.len() > 64
        || !fresh
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return None;
    }
    let owner = String::from_utf8(unb64url(owner)?).ok()?;
    let ok = match owner.strip_prefix(ADDRESS_OWNER_PREFIX) {
        Some(hash) => hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        None => crate::ids::check_user_id(&owner).is_ok(),
    };
    ok.then_some(owner)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn ids_name_their_owner_and_nothing_else() {
        let by_address = address_owner(" Alice@Example.com");
        assert_eq!(by_address, address_owner("alice@example.com"));
        for owner in ["alice/1", by_address.as_str()] {
            let id = challenge_id("3a991a14-690c-492b-a5e5-02b9056a4b7d", owner);
            assert_eq!(owner_of(&id).as_deref(), Some(owner));
        }
        let forged = challenge_id("x", &format!("{ADDRESS_OWNER_PREFIX}nothex"));
        for bad in ["", "abc", ".YQ", "a b.YQ", "x.!!", forged.as_str()] {
            assert_eq!(owner_of(bad), None, "{bad:?}");
        }
    }
}
