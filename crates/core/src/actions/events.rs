//! What happens to a user's actions and authenticators that others must
//! hear of: the app (webhooks `action.created`, `action.state_changed`,
//! `authenticator.created`, `authenticator.deleted`) and the review queue
//! (which lists every action in `REVIEW_REQUIRED`, across users).
//!
//! The service records events through [`crate::store::UserStore::emit`] in
//! the same step as the change itself; the Durable Object keeps them in an
//! outbox and delivers them afterwards, at least once, retrying with
//! backoff. Events carry no user id: the store they are emitted into is
//! one user's.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::actions::model::{ActionRecord, Cause};
use crate::actions::state::ActionState;
use crate::auth::methods::VerificationMethod;
use crate::time::{Millis, to_rfc3339};
use crate::user::AuthenticatorView;

/// An authenticator as Authsignal's `authenticator.created` and
/// `authenticator.deleted` webhooks carry it: flat, `userId`,
/// `verificationMethod`, `createdAt`, `userAuthenticatorId`, and `email`,
/// `phoneNumber`, or a passkey's `credentialId` and `aaguid`, as it has them.
fn flat_authenticator(user_id: &str, a: &AuthenticatorView) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("userId".into(), user_id.into());
    m.insert("verificationMethod".into(), json!(a.verification_method));
    m.insert("createdAt".into(), a.created_at.as_str().into());
    m.insert(
        "userAuthenticatorId".into(),
        a.user_authenticator_id.as_str().into(),
    );
    if let Some(e) = &a.email {
        m.insert("email".into(), e.as_str().into());
    }
    if let Some(p) = &a.phone_number {
        m.insert("phoneNumber".into(), p.as_str().into());
    }
    if let Some(c) = &a.webauthn_credential {
        for key in ["credentialId", "aaguid"] {
            if let Some(v) = c.get(key) {
                m.insert(key.into(), v.clone());
            }
        }
    }
    m
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
enum EventKind {
    ActionCreated,
    ActionStateChanged,
    AuthenticatorCreated,
    AuthenticatorDeleted,
    UserDeleted,
    ProfileChanged,
}

/// Every field of every [`Event`], as one flat object.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventFields {
    kind: EventKind,
    action_code: Option<String>,
    idempotency_key: Option<String>,
    state: Option<ActionState>,
    at: Option<Millis>,
    rule_ids: Option<Vec<String>>,
    custom: Option<Value>,
    from: Option<ActionState>,
    to: Option<ActionState>,
    cause: Option<Cause>,
    created_at: Option<Millis>,
    replay: Option<bool>,
    authenticator: Option<Box<AuthenticatorView>>,
    user_authenticator_id: Option<String>,
    verification_method: Option<VerificationMethod>,
    entry: Option<crate::user::DirectoryEntry>,
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use crate::encoding::required;
        let f = EventFields::deserialize(d)?;
        Ok(match f.kind {
            EventKind::ActionCreated => Event::ActionCreated {
                action_code: required(f.action_code, "actionCode")?,
                idempotency_key: required(f.idempotency_key, "idempotencyKey")?,
                state: required(f.state, "state")?,
                at: required(f.at, "at")?,
                rule_ids: required(f.rule_ids, "ruleIds")?,
                custom: f.custom,
            },
            EventKind::ActionStateChanged => Event::ActionStateChanged {
                action_code: required(f.action_code, "actionCode")?,
                idempotency_key: required(f.idempotency_key, "idempotencyKey")?,
                from: required(f.from, "from")?,
                to: required(f.to, "to")?,
                at: required(f.at, "at")?,
                cause: required(f.cause, "cause")?,
                created_at: required(f.created_at, "createdAt")?,
                rule_ids: required(f.rule_ids, "ruleIds")?,
                custom: f.custom,
                replay: f.replay.unwrap_or(false),
            },
            EventKind::AuthenticatorCreated => Event::AuthenticatorCreated {
                authenticator: required(f.authenticator, "authenticator")?,
            },
            EventKind::AuthenticatorDeleted => Event::AuthenticatorDeleted {
                user_authenticator_id: required(f.user_authenticator_id, "userAuthenticatorId")?,
                verification_method: required(f.verification_method, "verificationMethod")?,
                at: required(f.at, "at")?,
                authenticator: f.authenticator,
            },
            EventKind::UserDeleted => Event::UserDeleted {
                at: required(f.at, "at")?,
            },
            EventKind::ProfileChanged => Event::ProfileChanged {
                entry: required(f.entry, "entry")?,
            },
        })
    }
}

/// A change to the user directory (see [`Event::directory_change`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryChange {
    /// The user's row (a deletion's marker when `deleted`; the user's
    /// credentials go with it).
    Profile(crate::user::DirectoryEntry),
    /// A passkey or security key was added.
    CredentialAdded {
        /// Its WebAuthn credential id (base64url).
        credential_id: String,
        /// The authenticator it is.
        user_authenticator_id: String,
    },
    /// An authenticator was removed (a credential, if it was one).
    CredentialRemoved {
        /// The authenticator.
        user_authenticator_id: String,
    },
}

/// An event of one user: one object tagged by `kind`, read through a flat
/// form (see [`crate::actions::model::Cause`] for why).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Event {
    /// An action was tracked (or recorded by a sign-in).
    ActionCreated {
        /// Action code.
        action_code: String,
        /// Idempotency key.
        idempotency_key: String,
        /// Its first state.
        state: ActionState,
        /// When.
        at: Millis,
        /// Matched rules, deciding rule first.
        rule_ids: Vec<String>,
        /// The track request's custom attributes (for reviewers).
        #[serde(default)]
        custom: Option<Value>,
    },
    /// An action changed state.
    ActionStateChanged {
        /// Action code.
        action_code: String,
        /// Idempotency key.
        idempotency_key: String,
        /// Before.
        from: ActionState,
        /// After.
        to: ActionState,
        /// When.
        at: Millis,
        /// Why.
        cause: Cause,
        /// When the action was created (orders the review queue).
        created_at: Millis,
        /// Matched rules (for reviewers).
        rule_ids: Vec<String>,
        /// Custom attributes (for reviewers).
        #[serde(default)]
        custom: Option<Value>,
        /// The held request is to be sent to the app now (approved, and
        /// its route replays on approval).
        #[serde(default)]
        replay: bool,
    },
    /// A verified authenticator was added.
    AuthenticatorCreated {
        /// It, as the API shows it.
        authenticator: Box<AuthenticatorView>,
    },
    /// An authenticator was removed.
    AuthenticatorDeleted {
        /// Its id.
        user_authenticator_id: String,
        /// Its method.
        verification_method: VerificationMethod,
        /// When.
        at: Millis,
        /// It, as the API showed it (its `userId` left empty: the store is
        /// the user's); absent in events stored before it was kept.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        authenticator: Option<Box<AuthenticatorView>>,
    },
    /// The user and everything of theirs was deleted.
    UserDeleted {
        /// When.
        at: Millis,
    },
    /// What the user directory holds of the user changed (or the user is
    /// new): delivered to the directory only, never a webhook.
    ProfileChanged {
        /// The new entry.
        entry: crate::user::DirectoryEntry,
    },
}

/// How an event changes the review queue.
#[derive(Debug, Clone, PartialEq)]
pub enum ReviewChange {
    /// The action now waits for a reviewer.
    Enter {
        /// Action code.
        action_code: String,
        /// Idempotency key.
        idempotency_key: String,
        /// When the action was created.
        created_at: Millis,
        /// When it entered review.
        entered_at: Millis,
        /// What a reviewer sees in the list.
        summary: Value,
    },
    /// It no longer does.
    Leave {
        /// Action code.
        action_code: String,
        /// Idempotency key.
        idempotency_key: String,
    },
    /// None of the user's actions do.
    LeaveAll,
}

impl Event {
    /// The event for a new action.
    pub fn created(record: &ActionRecord) -> Self {
        Event::ActionCreated {
            action_code: record.action_code.clone(),
            idempotency_key: record.idempotency_key.clone(),
            state: record.state,
            at: record.created_at,
            rule_ids: record.rule_ids.clone(),
            custom: record.request.custom.clone().map(Value::Object),
        }
    }

    /// The event for the action's last state change, if it has one.
    pub fn state_changed(record: &ActionRecord) -> Option<Self> {
        let last = record.history.last()?;
        Some(Event::ActionStateChanged {
            action_code: record.action_code.clone(),
            idempotency_key: record.idempotency_key.clone(),
            from: last.from?,
            to: last.to,
            at: last.at,
            cause: last.cause.clone(),
            created_at: record.created_at,
            rule_ids: record.rule_ids.clone(),
            custom: record.request.custom.clone().map(Value::Object),
            replay: last.to == ActionState::ReviewSucceeded
                && record.replayed_at.is_none()
                && record
                    .pending_request
                    .as_ref()
                    .is_some_and(|p| p.replay_on_approval),
        })
    }

    /// The action whose held request is to be sent to the app now, if any.
    pub fn replay(&self) -> Option<(&str, &str)> {
        match self {
            Event::ActionStateChanged {
                action_code,
                idempotency_key,
                replay: true,
                ..
            } => Some((action_code, idempotency_key)),
            _ => None,
        }
    }

    /// The webhook event type.
    pub fn webhook_type(&self) -> &'static str {
        match self {
            Event::ActionCreated { .. } => "action.created",
            Event::ActionStateChanged { .. } => "action.state_changed",
            Event::AuthenticatorCreated { .. } => "authenticator.created",
            Event::AuthenticatorDeleted { .. } => "authenticator.deleted",
            Event::UserDeleted { .. } => "user.deleted",
            Event::ProfileChanged { .. } => "user.profile_changed",
        }
    }

    /// The webhook's `data` for `user_id`.
    pub fn webhook_data(&self, user_id: &str) -> Value {
        match self {
            Event::ActionCreated {
                action_code,
                idempotency_key,
                state,
                at,
                rule_ids,
                ..
            } => json!({
                "userId": user_id,
                "actionCode": action_code,
                "idempotencyKey": idempotency_key,
                "state": state,
                "createdAt": to_rfc3339(*at),
                "ruleIds": rule_ids,
            }),
            Event::ActionStateChanged {
                action_code,
                idempotency_key,
                from,
                to,
                at,
                cause,
                ..
            } => json!({
                "userId": user_id,
                "actionCode": action_code,
                "idempotencyKey": idempotency_key,
                "previousState": from,
                "state": to,
                "stateUpdatedAt": to_rfc3339(*at),
                "cause": cause,
            }),
            Event::AuthenticatorCreated { authenticator } => {
                Value::Object(flat_authenticator(user_id, authenticator))
            }
            Event::AuthenticatorDeleted {
                user_authenticator_id,
                verification_method,
                at,
                authenticator,
            } => {
                let mut data = match authenticator {
                    Some(a) => flat_authenticator(user_id, a),
                    None => {
                        let mut m = serde_json::Map::new();
                        m.insert("userId".into(), user_id.into());
                        m.insert("verificationMethod".into(), json!(verification_method));
                        m.insert(
                            "userAuthenticatorId".into(),
                            user_authenticator_id.as_str().into(),
                        );
                        m
                    }
                };
                data.insert("deletedAt".into(), to_rfc3339(*at).into());
                Value::Object(data)
            }
            Event::UserDeleted { at } => json!({
                "userId": user_id,
                "deletedAt": to_rfc3339(*at),
            }),
            Event::ProfileChanged { entry } => json!({
                "userId": user_id,
                "updatedAt": to_rfc3339(entry.updated_at),
            }),
        }
    }

    /// Whether the app hears of it as a webhook (the user's deletion and
    /// profile changes are for the review queue and the directory only).
    pub fn is_webhook(&self) -> bool {
        !matches!(
            self,
            Event::UserDeleted { .. } | Event::ProfileChanged { .. }
        )
    }

    /// What this event changes in the user directory, if anything: the
    /// user's row, or the passkeys and security keys it can find across
    /// users (`passkey.isAvailableOnDevice`) by credential id.
    pub fn directory_change(&self) -> Option<DirectoryChange> {
        match self {
            Event::AuthenticatorCreated { authenticator } => authenticator
                .webauthn_credential
                .as_ref()
                .and_then(|c| c.get("credentialId"))
                .and_then(Value::as_str)
                .map(|id| DirectoryChange::CredentialAdded {
                    credential_id: id.to_owned(),
                    user_authenticator_id: authenticator.user_authenticator_id.clone(),
                }),
            Event::AuthenticatorDeleted {
                user_authenticator_id,
                ..
            } => Some(DirectoryChange::CredentialRemoved {
                user_authenticator_id: user_authenticator_id.clone(),
            }),
            _ => self.directory_entry().map(DirectoryChange::Profile),
        }
    }

    /// What this event writes to the user's row in the directory, if
    /// anything: the new entry, or the deletion's marker.
    pub fn directory_entry(&self) -> Option<crate::user::DirectoryEntry> {
        match self {
            Event::ProfileChanged { entry } => Some(entry.clone()),
            Event::UserDeleted { at } => Some(crate::user::DirectoryEntry {
                updated_at: *at,
                deleted: true,
                ..crate::user::DirectoryEntry::default()
            }),
            _ => None,
        }
    }

    /// What this event does to the review queue, if anything.
    pub fn review_change(&self) -> Option<ReviewChange> {
        let summary = |rule_ids: &Vec<String>, custom: &Option<Value>| json!({"ruleIds": rule_ids, "custom": custom});
        match self {
            Event::ActionCreated {
                action_code,
                idempotency_key,
                state: ActionState::ReviewRequired,
                at,
                rule_ids,
                custom,
            } => Some(ReviewChange::Enter {
                action_code: action_code.clone(),
                idempotency_key: idempotency_key.clone(),
                created_at: *at,
                entered_at: *at,
                summary: summary(rule_ids, custom),
            }),
            Event::ActionStateChanged {
                action_code,
                idempotency_key,
                from,
                to,
                at,
                created_at,
                rule_ids,
                custom,
                ..
            } => {
                if *to == ActionState::ReviewRequired {
                    Some(ReviewChange::Enter {
                        action_code: action_code.clone(),
                        idempotency_key: idempotency_key.clone(),
                        created_at: *created_at,
                        entered_at: *at,
                        summary: summary(rule_ids, custom),
                    })
                } else if *from == ActionState::ReviewRequired {
                    Some(ReviewChange::Leave {
                        action_code: action_code.clone(),
                        idempotency_key: idempotency_key.clone(),
                    })
                } else {
                    None
                }
            }
            Event::UserDeleted { .. } => Some(ReviewChange::LeaveAll),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::user::{Authenticator, DirectoryEntry};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn view() -> Box<AuthenticatorView> {
        Box::new(
            Authenticator {
                user_authenticator_id: "a1".into(),
                verification_method: VerificationMethod::EmailOtp,
                created_at: 1,
                verified_at: Some(2),
                last_verified_at: None,
                email: Some("a@example.com".into()),
                phone_number: None,
                is_default: true,
                secret: None,
            }
            .view(""),
        )
    }

    #[test]
    fn every_event_reads_back_what_it_writes() {
        let (code, key) = (String::from("pay"), String::from("k1"));
        let all = [
            Event::ActionCreated {
                action_code: code.clone(),
                idempotency_key: key.clone(),
                state: ActionState::ChallengeRequired,
                at: 5,
                rule_ids: vec!["r1".into()],
                custom: Some(json!({"amount": 5})),
            },
            Event::ActionCreated {
                action_code: code.clone(),
                idempotency_key: key.clone(),
                state: ActionState::Allow,
                at: 5,
                rule_ids: vec![],
                custom: None,
            },
            Event::ActionStateChanged {
                action_code: code.clone(),
                idempotency_key: key.clone(),
                from: ActionState::ReviewRequired,
                to: ActionState::ReviewSucceeded,
                at: 9,
                cause: Cause::Review {
                    reviewer: "rev".into(),
                    note: None,
                },
                created_at: 5,
                rule_ids: vec!["r1".into(), "r2".into()],
                custom: None,
                replay: true,
            },
            Event::AuthenticatorCreated {
                authenticator: view(),
            },
            Event::AuthenticatorDeleted {
                user_authenticator_id: "a1".into(),
                verification_method: VerificationMethod::EmailOtp,
                at: 7,
                authenticator: Some(view()),
            },
            Event::AuthenticatorDeleted {
                user_authenticator_id: "a1".into(),
                verification_method: VerificationMethod::EmailOtp,
                at: 7,
                authenticator: None,
            },
            Event::UserDeleted { at: 3 },
            Event::ProfileChanged {
                entry: DirectoryEntry::default(),
            },
        ];
        for e in all {
            let text = serde_json::to_string(&e).unwrap();
            assert_eq!(
                crate::encoding::from_json::<Event>(&text).unwrap(),
                e,
                "{text}"
            );
        }
    }

    #[test]
    fn stored_events_without_later_fields_still_read_and_broken_ones_do_not() {
        // `replay` came later: absent means false.
        let old = r#"{"kind":"actionStateChanged","actionCode":"pay","idempotencyKey":"k",
            "from":"CHALLENGE_REQUIRED","to":"CHALLENGE_SUCCEEDED","at":2,
            "cause":{"type":"CHALLENGE","method":"EMAIL_OTP"},"createdAt":1,"ruleIds":[]}"#;
        let Event::ActionStateChanged { replay, custom, .. } =
            crate::encoding::from_json::<Event>(old).unwrap()
        else {
            panic!("not a state change");
        };
        assert!(!replay && custom.is_none());
        for bad in [
            r#"{"kind":"actionCreated","actionCode":"pay","idempotencyKey":"k","at":1,"ruleIds":[]}"#,
            r#"{"kind":"userDeleted"}"#,
            r#"{"kind":"authenticatorCreated"}"#,
            r#"{"kind":"somethingElse","at":1}"#,
            r#"{"at":1}"#,
        ] {
            assert!(crate::encoding::from_json::<Event>(bad).is_err(), "{bad}");
        }
    }
}
