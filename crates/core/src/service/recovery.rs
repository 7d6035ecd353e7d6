//! Recovery codes (`RECOVERY_CODE`): ten single-use codes a user keeps for
//! the day they lose their other factors.
//!
//! - Made when the user's first other authenticator is verified, and shown
//!   that once; after that only a client that just proved itself with one
//!   of the user's authenticators may make a new set (the old one stops
//!   working).
//! - Kept as one `RECOVERY_CODE` authenticator holding a salted SHA-256 of
//!   each code, never the codes.
//! - A code completes a challenge whose methods include `RECOVERY_CODE`,
//!   once. Wrong codes count against the user's throttle
//!   ([`crate::auth::throttle`]) and the challenge's attempts, as any code.
//!
//! Codes are ten characters of Crockford's base32 (50 bits), shown as
//! `xxxxx-xxxxx`; reading one ignores case, dashes and spaces and takes
//! `i`/`l` for `1` and `o` for `0`.

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::actions::{complete_challenge, get_action};
use super::codes::{CodeCheck, check_guesses, clear_guesses, count_guess, count_wrong_code};
use crate::actions::state::ActionState;
use crate::auth::methods::VerificationMethod;
use crate::error::CoreError;
use crate::store::UserStore;
use crate::time::Millis;
use crate::user::Authenticator;

/// Codes in a set.
pub const COUNT: usize = 10;
/// Characters per code.
const LEN: usize = 10;
/// Random bytes [`issue`] needs: one per character, and 16 of salt.
pub const RANDOM_BYTES: usize = COUNT * LEN + 16;
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    salt: String,
    codes: Vec<StoredCode>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredCode {
    hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    used_at: Option<Millis>,
}

fn hash(salt: &str, code: &str) -> String {
    crate::encoding::sha256_hex(format!("{salt}:{code}").as_bytes())
}

/// A code as typed, in the stored form (or `None` if it cannot be one).
fn normalized(entered: &str) -> Option<String> {
    let code: String = entered
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| match c.to_ascii_lowercase() {
            'i' | 'l' => '1',
            'o' => '0',
            c => c,
        })
        .collect();
    (code.len() == LEN && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

fn stored(auth: &Authenticator) -> Result<Stored, CoreError> {
    auth.secret
        .as_ref()
        .and_then(|v| crate::encoding::from_value(v).ok())
        .ok_or_else(|| CoreError::Internal("recovery codes unreadable".into()))
}

/// The user's recovery codes authenticator, if they have one.
pub fn find(auths: &[Authenticator]) -> Option<&Authenticator> {
    auths
        .iter()
        .find(|a| a.verification_method == VerificationMethod::RecoveryCode)
}

/// How many of the user's recovery codes are still unused.
pub fn remaining(auths: &[Authenticator]) -> usize {
    find(auths).and_then(|a| stored(a).ok()).map_or(0, |s| {
        s.codes.iter().filter(|c| c.used_at.is_none()).count()
    })
}

/// Make a new set (replacing any old one) from [`RANDOM_BYTES`] random
/// bytes; the codes, to show once.
///
/// # Errors
/// [`CoreError::Internal`] with too few random bytes; storage errors.
pub fn issue<S: UserStore>(
    store: &S,
    random: &[u8],
    id: String,
    now: Millis,
) -> Result<Vec<String>, CoreError> {
    let (chars, salt) = random
        .split_at_checked(COUNT * LEN)
        .filter(|(_, s)| s.len() >= 16)
        .ok_or_else(|| CoreError::Internal("too few random bytes".into()))?;
    let salt = crate::encoding::b64url(salt);
    // 256 is a multiple of 32: each byte's low five bits are uniform.
    let codes: Vec<String> = chars
        .chunks(LEN)
        .map(|c| {
            c.iter()
                .map(|b| char::from(ALPHABET.get(usize::from(b & 31)).copied().unwrap_or(b'0')))
                .collect()
        })
        .collect();
    let kept = Stored {
        codes: codes
            .iter()
            .map(|c| StoredCode {
                hash: hash(&salt, c),
                used_at: None,
            })
            .collect(),
        salt,
    };
    let auths = store.list_authenticators()?;
    if let Some(old) = find(&auths) {
        store.delete_authenticator(&old.user_authenticator_id)?;
    }
    store.put_authenticator(&Authenticator {
        user_authenticator_id: id,
        verification_method: VerificationMethod::RecoveryCode,
        created_at: now,
        verified_at: Some(now),
        last_verified_at: None,
        email: None,
        phone_number: None,
        is_default: false,
        secret: Some(serde_json::to_value(&kept).map_err(|e| CoreError::Internal(e.to_string()))?),
    })?;
    Ok(codes
        .iter()
        .map(|c| format!("{}-{}", c.get(..5).unwrap_or(""), c.get(5..).unwrap_or("")))
        .collect())
}

/// A first set, when the user has exactly one verified authenticator of
/// another method and no recovery codes yet (called right after an
/// enrollment: their first factor): the codes to show, once.
///
/// # Errors
/// Storage errors.
pub fn issue_if_first<S: UserStore>(
    store: &S,
    random: &[u8],
    id: String,
    now: Millis,
) -> Result<Option<Vec<String>>, CoreError> {
    let auths = store.list_authenticators()?;
    let others = auths
        .iter()
        .filter(|a| {
            a.verified_at.is_some() && a.verification_method != VerificationMethod::RecoveryCode
        })
        .count();
    // Exactly one: the factor just enrolled is the first.
    if others != 1 || find(&auths).is_some() {
        return Ok(None);
    }
    issue(store, random, id, now).map(Some)
}

/// A new set for a client that just proved itself (`proved`) in this
/// action's challenge, which succeeded with a factor other than a recovery
/// code.
///
/// # Errors
/// 403 without that proof; storage errors.
pub fn regenerate<S: UserStore>(
    store: &S,
    code: &str,
    key: &str,
    proved: bool,
    random: &[u8],
    id: String,
    now: Millis,
) -> Result<Vec<String>, CoreError> {
    let record = get_action(store, code, key)?;
    // Proof from another factor: one leaked code must not become a new set
    // (and void the user's own).
    let by_code = record.verification_method == Some(VerificationMethod::RecoveryCode);
    if !proved || by_code || record.state != ActionState::ChallengeSucceeded {
        return Err(CoreError::Refused {
            code: "verification_required",
            message:
                "Verify with one of your authenticators first; then new recovery codes can be made."
                    .into(),
        });
    }
    issue(store, random, id, now)
}

/// Check a recovery code for an action's challenge: a right one completes
/// it and is used up.
///
/// # Errors
/// 400 when the action does not accept recovery codes, is not waiting for a
/// challenge, or the user has none; 429 while the user's wrong codes impose
/// a wait; storage errors.
pub fn verify_recovery_code<S: UserStore>(
    store: &S,
    code: &str,
    key: &str,
    entered: &str,
    now: Millis,
) -> Result<CodeCheck, CoreError> {
    let record = get_action(store, code, key)?;
    if record.state == ActionState::ChallengeFailed {
        return Ok(CodeCheck::Failed);
    }
    if !record
        .allowed_verification_methods
        .contains(&VerificationMethod::RecoveryCode)
    {
        return Err(super::actions::not_allowed(
            VerificationMethod::RecoveryCode,
        ));
    }
    if record.state != ActionState::ChallengeRequired {
        return Err(super::actions::not_waiting());
    }
    let auths = store.list_authenticators()?;
    let mut auth = find(&auths)
        .cloned()
        .ok_or_else(|| CoreError::field("verificationMethod", "no recovery codes were made"))?;
    let mut kept = stored(&auth)?;
    let guesses = check_guesses(store, now)?;
    let entered = normalized(entered).map(|c| hash(&kept.salt, &c));
    // Every unused code is compared, in constant time, whichever matches.
    let mut hit = None;
    for (i, c) in kept.codes.iter().enumerate() {
        let same = entered
            .as_deref()
            .is_some_and(|e| bool::from(e.as_bytes().ct_eq(c.hash.as_bytes())));
        if same && c.used_at.is_none() {
            hit = Some(i);
        }
    }
    let Some(slot) = hit.and_then(|i| kept.codes.get_mut(i)) else {
        count_guess(store, guesses, now)?;
        return count_wrong_code(store, record, false, now);
    };
    slot.used_at = Some(now);
    clear_guesses(store, &guesses)?;
    auth.secret =
        Some(serde_json::to_value(&kept).map_err(|e| CoreError::Internal(e.to_string()))?);
    auth.last_verified_at = Some(now);
    store.put_authenticator(&auth)?;
    let record = complete_challenge(store, code, key, VerificationMethod::RecoveryCode, now)?;
    Ok(CodeCheck::Verified {
        record: Box::new(record),
        enrolled: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::model::TrackRequest;
    use crate::policy::config::{ActionConfiguration, ActionConfigurationInput};
    use crate::redirect::RedirectAllowlist;
    use crate::service::{TrackInput, track};
    use crate::store::memory::MemoryUserStore;
    use crate::user::EnrollAuthenticatorRequest;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const NOW: Millis = 1_795_380_179_000;

    fn random(seed: u8) -> Vec<u8> {
        (0..RANDOM_BYTES)
            .map(|i| hmac_sha256::Hash::hash(&[seed, (i % 256) as u8, (i / 256) as u8])[0])
            .collect()
    }

    /// A user with a verified email authenticator.
    fn enrolled() -> MemoryUserStore {
        let store = MemoryUserStore::new();
        crate::service::enroll_authenticator(
            &store,
            "alice",
            EnrollAuthenticatorRequest {
                verification_method: VerificationMethod::EmailOtp,
                email: Some("a@example.com".into()),
                phone_number: None,
                is_default: None,
            },
            "email-1".into(),
            NOW,
        )
        .unwrap();
        store
    }

    fn challenge(store: &MemoryUserStore, key: &str, methods: &str) {
        let cfg = ActionConfiguration {
            action_code: "withdraw".into(),
            input: ActionConfigurationInput::parse(
                format!(
                    r#"{{"defaultUserActionResult":"CHALLENGE","verificationMethods":{methods}}}"#
                )
                .as_bytes(),
            )
            .unwrap(),
            rules: Vec::new(),
            created_at: 0,
            updated_at: 0,
        };
        let list = RedirectAllowlist::parse("https://app.example.com").unwrap();
        let mut input = TrackInput::new(
            "alice",
            "withdraw",
            TrackRequest {
                idempotency_key: Some(key.into()),
                ..TrackRequest::default()
            },
            (Some(&cfg), None),
            &list,
            NOW,
        );
        input.fresh_key = "x".into();
        track(store, input).unwrap();
    }

    #[test]
    fn the_first_set_comes_once_with_the_first_factor() {
        let empty = MemoryUserStore::new();
        assert_eq!(
            issue_if_first(&empty, &random(1), "rc".into(), NOW).unwrap(),
            None
        );
        let store = enrolled();
        let codes = issue_if_first(&store, &random(1), "rc".into(), NOW)
            .unwrap()
            .unwrap();
        assert_eq!(codes.len(), COUNT);
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 11 && c.as_bytes()[5] == b'-')
        );
        assert_eq!(
            issue_if_first(&store, &random(2), "rc2".into(), NOW).unwrap(),
            None
        );
        assert_eq!(remaining(&store.list_authenticators().unwrap()), COUNT);
        // Only hashes are kept.
        let kept = serde_json::to_string(&store.list_authenticators().unwrap()).unwrap();
        assert!(!kept.contains(&codes[0].replace('-', "")));
    }

    #[test]
    fn a_code_completes_a_challenge_once() {
        let store = enrolled();
        let codes = issue(&store, &random(3), "rc".into(), NOW).unwrap();
        challenge(&store, "k1", r#"["EMAIL_OTP","RECOVERY_CODE"]"#);
        let typed = codes[4].to_uppercase().replace('-', " ");
        let r = verify_recovery_code(&store, "withdraw", "k1", &typed, NOW).unwrap();
        assert!(matches!(r, CodeCheck::Verified { ref record, .. }
            if record.state == ActionState::ChallengeSucceeded
                && record.verification_method == Some(VerificationMethod::RecoveryCode)));
        assert_eq!(remaining(&store.list_authenticators().unwrap()), COUNT - 1);
        challenge(&store, "k2", r#"["EMAIL_OTP","RECOVERY_CODE"]"#);
        let again = verify_recovery_code(&store, "withdraw", "k2", &codes[4], NOW).unwrap();
        assert!(
            matches!(again, CodeCheck::Wrong { .. }),
            "a used code is wrong"
        );
        let other = verify_recovery_code(&store, "withdraw", "k2", &codes[5], NOW).unwrap();
        assert!(matches!(other, CodeCheck::Verified { .. }));
    }

    #[test]
    fn codes_need_the_method_allowed_and_regenerating_needs_proof() {
        let store = enrolled();
        let codes = issue(&store, &random(4), "rc".into(), NOW).unwrap();
        challenge(&store, "k", r#"["EMAIL_OTP"]"#);
        assert!(verify_recovery_code(&store, "withdraw", "k", &codes[0], NOW).is_err());
        let r = regenerate(&store, "withdraw", "k", true, &random(5), "rc2".into(), NOW);
        assert!(
            matches!(r, Err(CoreError::Refused { .. })),
            "the challenge is not passed"
        );
        crate::service::complete_challenge(
            &store,
            "withdraw",
            "k",
            VerificationMethod::EmailOtp,
            NOW,
        )
        .unwrap();
        let r = regenerate(
            &store,
            "withdraw",
            "k",
            false,
            &random(5),
            "rc2".into(),
            NOW,
        );
        assert!(
            matches!(r, Err(CoreError::Refused { .. })),
            "a track token proves nothing"
        );
        let fresh =
            regenerate(&store, "withdraw", "k", true, &random(5), "rc2".into(), NOW).unwrap();
        assert_ne!(fresh, codes);
        challenge(&store, "k3", r#"["RECOVERY_CODE"]"#);
        let old = verify_recovery_code(&store, "withdraw", "k3", &codes[1], NOW).unwrap();
        assert!(
            matches!(old, CodeCheck::Wrong { .. }),
            "the old set stopped working"
        );
        assert_eq!(
            store
                .list_authenticators()
                .unwrap()
                .iter()
                .filter(|a| a.verification_method == VerificationMethod::RecoveryCode)
                .count(),
            1
        );
    }

    #[test]
    fn wrong_codes_count_like_any_code() {
        let store = enrolled();
        issue(&store, &random(6), "rc".into(), NOW).unwrap();
        challenge(&store, "k", r#"["RECOVERY_CODE"]"#);
        for _ in 0..crate::auth::otp::MAX_FAILED_ATTEMPTS {
            let r = verify_recovery_code(&store, "withdraw", "k", "aaaaa-aaaaa", NOW).unwrap();
            assert!(matches!(r, CodeCheck::Wrong { .. }));
        }
        let r = verify_recovery_code(&store, "withdraw", "k", "not a code", NOW).unwrap();
        assert!(matches!(r, CodeCheck::Failed));
        assert_eq!(normalized("ABCDE-fghIO"), Some("abcdefgh10".into()));
        assert_eq!(normalized("abcde-fghu1"), None, "u is not in the alphabet");
    }
}
