//! The user's audit trail of authenticator changes: every verified
//! authenticator added (by the server API, or by the user inside an action)
//! and every one removed, newest last, the last [`KEEP`] kept.
//!
//! An action's history already says when an authenticator was enrolled
//! during it (`ENROLLED`); this log also holds what no action carries (the
//! server API's enrollments and removals), so "who added this factor, and
//! when" has one answer per user. Each change is announced here and only
//! here: the `authenticator.created`/`authenticator.deleted` event and the
//! log entry are written in the same step (the entry first, so a log that cannot be
//! written announces nothing).

use serde::{Deserialize, Serialize};

use crate::actions::events::Event;
use crate::auth::methods::VerificationMethod;
use crate::error::CoreError;
use crate::store::UserStore;
use crate::time::{Millis, to_rfc3339};
use crate::user::{Authenticator, AuthenticatorView};

/// The per-user setting the log is kept in.
const SETTING: &str = "authenticator-log";

/// How many changes are kept (the oldest go first).
pub const KEEP: usize = 200;

/// What happened to the authenticator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Change {
    /// It was added, verified.
    Added,
    /// It was removed.
    Removed,
}

/// Who made the change: one object tagged by `type`, read through a flat
/// form (see [`crate::actions::model::Cause`] for why).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "SCREAMING_SNAKE_CASE",
    rename_all_fields = "camelCase"
)]
pub enum By {
    /// The app, through the server API (its secret key).
    ServerApi,
    /// The user, during this action (its first code or ceremony passed).
    Action {
        /// The action's code.
        action_code: String,
        /// Its idempotency key.
        idempotency_key: String,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum ByType {
    ServerApi,
    Action,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ByFields {
    #[serde(rename = "type")]
    kind: ByType,
    action_code: Option<String>,
    idempotency_key: Option<String>,
}

impl<'de> Deserialize<'de> for By {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use crate::encoding::required;
        let f = ByFields::deserialize(d)?;
        Ok(match f.kind {
            ByType::ServerApi => By::ServerApi,
            ByType::Action => By::Action {
                action_code: required(f.action_code, "actionCode")?,
                idempotency_key: required(f.idempotency_key, "idempotencyKey")?,
            },
        })
    }
}

/// One change, as stored and as the portal and management API show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// When (ms since the epoch).
    pub at: Millis,
    /// Added or removed.
    pub change: Change,
    /// The authenticator's method.
    pub verification_method: VerificationMethod,
    /// The authenticator's id.
    pub user_authenticator_id: String,
    /// Who.
    pub by: By,
}

impl Entry {
    /// The wire form: `at` in RFC 3339.
    pub fn to_wire(&self) -> serde_json::Value {
        serde_json::json!({
            "at": to_rfc3339(self.at),
            "change": self.change,
            "verificationMethod": self.verification_method,
            "userAuthenticatorId": self.user_authenticator_id,
            "by": self.by,
        })
    }
}

/// The user's changes, oldest first. A stored log that does not parse is
/// an error rather than silently forgotten.
///
/// # Errors
/// [`CoreError::Internal`] when storage fails or the log is unreadable.
pub fn read<S: UserStore>(store: &S) -> Result<Vec<Entry>, CoreError> {
    match store.get_setting(SETTING)? {
        None => Ok(Vec::new()),
        Some(s) => crate::encoding::from_json(&s)
            .map_err(|e| CoreError::Internal(format!("authenticator log unreadable: {e}"))),
    }
}

fn append<S: UserStore>(store: &S, entry: Entry) -> Result<(), CoreError> {
    let mut log = read(store)?;
    log.push(entry);
    if log.len() > KEEP {
        let extra = log.len() - KEEP;
        log.drain(..extra);
    }
    let text = serde_json::to_string(&log).map_err(|e| CoreError::Internal(e.to_string()))?;
    store.put_setting(SETTING, &text)
}

/// Announce a verified authenticator just stored: its
/// `authenticator.created` event and its log entry.
///
/// # Errors
/// Storage errors.
pub fn added<S: UserStore>(
    store: &S,
    auth: &Authenticator,
    user_id: &str,
    by: By,
    now: Millis,
) -> Result<AuthenticatorView, CoreError> {
    append(
        store,
        Entry {
            at: now,
            change: Change::Added,
            verification_method: auth.verification_method,
            user_authenticator_id: auth.user_authenticator_id.clone(),
            by,
        },
    )?;
    let view = auth.view(user_id);
    store.emit(Event::AuthenticatorCreated {
        authenticator: Box::new(view.clone()),
    })?;
    Ok(view)
}

/// Announce a verified authenticator just removed: its
/// `authenticator.deleted` event and its log entry.
///
/// # Errors
/// Storage errors.
pub fn removed<S: UserStore>(
    store: &S,
    gone: &Authenticator,
    by: By,
    now: Millis,
) -> Result<(), CoreError> {
    append(
        store,
        Entry {
            at: now,
            change: Change::Removed,
            verification_method: gone.verification_method,
            user_authenticator_id: gone.user_authenticator_id.clone(),
            by,
        },
    )?;
    store.emit(Event::AuthenticatorDeleted {
        user_authenticator_id: gone.user_authenticator_id.clone(),
        verification_method: gone.verification_method,
        at: now,
        authenticator: Some(Box::new(gone.view(""))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryUserStore;

    #[test]
    fn who_reads_back_what_it_writes() {
        for by in [
            By::ServerApi,
            By::Action {
                action_code: "pay".into(),
                idempotency_key: "k".into(),
            },
        ] {
            let text = serde_json::to_string(&by).unwrap();
            assert_eq!(crate::encoding::from_json::<By>(&text).unwrap(), by);
        }
        for bad in [r#"{"type":"ACTION","actionCode":"a"}"#, r#"{"type":"APP"}"#] {
            assert!(crate::encoding::from_json::<By>(bad).is_err(), "{bad}");
        }
    }

    fn auth(id: &str) -> Authenticator {
        Authenticator {
            user_authenticator_id: id.into(),
            verification_method: VerificationMethod::EmailOtp,
            created_at: 1,
            verified_at: Some(1),
            last_verified_at: None,
            email: Some("a@example.com".into()),
            phone_number: None,
            is_default: false,
            secret: None,
        }
    }

    #[test]
    fn keeps_the_newest_and_emits_with_each_entry() {
        let store = MemoryUserStore::new();
        for i in 0..(KEEP + 5) {
            let a = auth(&format!("a{i}"));
            added(&store, &a, "u", By::ServerApi, i as Millis).unwrap();
        }
        removed(&store, &auth("a7"), By::ServerApi, 9_999).unwrap();
        let log = read(&store).unwrap();
        assert_eq!(log.len(), KEEP);
        // The five oldest and the sixth went to make room.
        assert_eq!(log[0].user_authenticator_id, "a6");
        let last = log.last().unwrap();
        assert_eq!(
            (last.change, last.at, last.user_authenticator_id.as_str()),
            (Change::Removed, 9_999, "a7")
        );
        assert_eq!(store.events().len(), KEEP + 6);
    }

    #[test]
    fn wire_form_names_the_action() {
        let e = Entry {
            at: 0,
            change: Change::Added,
            verification_method: VerificationMethod::AuthenticatorApp,
            user_authenticator_id: "x".into(),
            by: By::Action {
                action_code: "withdraw".into(),
                idempotency_key: "k".into(),
            },
        };
        assert_eq!(
            e.to_wire(),
            serde_json::json!({
                "at": "1970-01-01T00:00:00.000Z",
                "change": "ADDED",
                "verificationMethod": "AUTHENTICATOR_APP",
                "userAuthenticatorId": "x",
                "by": {"type": "ACTION", "actionCode": "withdraw", "idempotencyKey": "k"},
            })
        );
    }

    #[test]
    fn an_unreadable_log_is_an_error_not_a_fresh_start() {
        let store = MemoryUserStore::new();
        store.put_setting(SETTING, "not json").unwrap();
        assert!(read(&store).is_err());
        assert!(added(&store, &auth("a"), "u", By::ServerApi, 1).is_err());
        // Nothing is announced that the log could not hold.
        assert!(store.events().is_empty());
    }
}
