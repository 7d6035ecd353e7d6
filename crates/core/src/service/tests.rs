use super::*;
use super::{actions::*, codes::*, track::*};

use crate::actions::model::{Cause, TrackRequest};
use crate::actions::state::{ActionState, Outcome};
use crate::auth::methods::{DEFAULT_METHODS, VerificationMethod};
use crate::error::CoreError;
use crate::policy::config::ActionConfiguration;
use crate::redirect::RedirectAllowlist;
use crate::store::{ActionQuery, UserStore};
use crate::time::Millis;
use crate::user::{EnrollAuthenticatorRequest, UserPatch};

/// Everything track needs besides the store.
use crate::policy::config::ActionConfigurationInput;
use crate::store::MAX_PAGE_SIZE;
use crate::store::memory::MemoryUserStore;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const NOW: Millis = 1_795_380_179_000;

fn config(outcome: &str) -> ActionConfiguration {
    ActionConfiguration {
        action_code: "withdraw-funds".into(),
        input: ActionConfigurationInput::parse(
            format!(r#"{{"defaultUserActionResult":"{outcome}","verificationMethods":["EMAIL_OTP","PASSKEY"]}}"#)
                .as_bytes(),
        )
        .unwrap(),
        rules: Vec::new(),
        created_at: 0,
        updated_at: 0,
    }
}

fn allowlist() -> RedirectAllowlist {
    RedirectAllowlist::parse("https://app.example.com").unwrap()
}

fn input<'a>(
    req: TrackRequest,
    cfg: Option<&'a ActionConfiguration>,
    list: &'a RedirectAllowlist,
    now: Millis,
) -> TrackInput<'a> {
    TrackInput {
        user_id: "alice",
        action_code: "withdraw-funds",
        request: req,
        config: cfg,
        rules: None,
        edge: None,
        pending: None,
        allowlist: list,
        origin: None,
        now,
        fresh_key: format!("fresh-{now}"),
    }
}

fn keyed(key: &str) -> TrackRequest {
    TrackRequest {
        idempotency_key: Some(key.into()),
        ..TrackRequest::default()
    }
}

#[test]
fn unconfigured_action_is_allowed() {
    let store = MemoryUserStore::new();
    let list = allowlist();
    let t = track(&store, input(TrackRequest::default(), None, &list, NOW)).unwrap();
    assert_eq!(t.record.state, ActionState::Allow);
    assert_eq!(
        t.record.allowed_verification_methods,
        DEFAULT_METHODS.to_vec()
    );
    assert!(t.created);
}

#[test]
fn default_outcome_sets_the_initial_state() {
    let list = allowlist();
    for (outcome, state) in [
        ("ALLOW", ActionState::Allow),
        ("CHALLENGE", ActionState::ChallengeRequired),
        ("REVIEW", ActionState::ReviewRequired),
        ("BLOCK", ActionState::Block),
    ] {
        let store = MemoryUserStore::new();
        let cfg = config(outcome);
        let t = track(
            &store,
            input(TrackRequest::default(), Some(&cfg), &list, NOW),
        )
        .unwrap();
        assert_eq!(t.record.state, state, "{outcome}");
        assert_eq!(
            t.record.allowed_verification_methods,
            [VerificationMethod::EmailOtp, VerificationMethod::Passkey]
        );
    }
}

#[test]
fn missing_key_gets_the_fresh_one() {
    let store = MemoryUserStore::new();
    let list = allowlist();
    let t = track(&store, input(TrackRequest::default(), None, &list, NOW)).unwrap();
    assert_eq!(t.record.idempotency_key, format!("fresh-{NOW}"));
}

#[test]
fn same_key_returns_the_stored_action_without_re_evaluating() {
    let store = MemoryUserStore::new();
    let list = allowlist();
    let challenge = config("CHALLENGE");
    let first = track(&store, input(keyed("k1"), Some(&challenge), &list, NOW)).unwrap();
    // The configuration changed meanwhile: the stored decision still stands.
    let block = config("BLOCK");
    let again = track(&store, input(keyed("k1"), Some(&block), &list, NOW + 5_000)).unwrap();
    assert!(!again.created);
    assert_eq!(again.record, first.record);
    assert_eq!(again.record.state, ActionState::ChallengeRequired);
    assert_eq!(store.action_count(), 1);
}

#[test]
fn same_key_with_a_different_body_returns_the_stored_action() {
    let store = MemoryUserStore::new();
    let list = allowlist();
    let cfg = config("CHALLENGE");
    let first = track(&store, input(keyed("k1"), Some(&cfg), &list, NOW)).unwrap();
    let mut other = keyed("k1");
    other.custom = Some(serde_json::from_str(r#"{"amount": 1000}"#).unwrap());
    let again = track(&store, input(other, None, &list, NOW + 1)).unwrap();
    assert!(!again.created);
    assert_eq!(
        again.record, first.record,
        "as it was decided, not re-evaluated"
    );
    assert_eq!(store.action_count(), 1);
}

#[test]
fn redirect_url_must_be_allowlisted() {
    let store = MemoryUserStore::new();
    let list = allowlist();
    let mut req = keyed("k");
    req.redirect_url = Some("https://evil.example/".into());
    let err = track(&store, input(req, None, &list, NOW)).unwrap_err();
    assert!(err.to_string().starts_with("redirectUrl: "));
    assert_eq!(store.action_count(), 0);
    let mut req = keyed("k");
    req.redirect_url = Some("https://app.example.com/done".into());
    assert!(track(&store, input(req, None, &list, NOW)).is_ok());
}

#[test]
fn bad_identifiers_and_contacts_are_refused_and_nothing_is_stored() {
    let store = MemoryUserStore::new();
    let list = allowlist();
    let mut i = input(keyed("k"), None, &list, NOW);
    i.action_code = "no spaces";
    assert!(
        track(&store, i)
            .unwrap_err()
            .to_string()
            .starts_with("action: ")
    );
    let mut req = keyed("k");
    req.email = Some("not-an-email".into());
    assert!(
        track(&store, input(req, None, &list, NOW))
            .unwrap_err()
            .to_string()
            .starts_with("email: ")
    );
    let mut req = keyed("k");
    req.phone_number = Some("call me <maybe>".into());
    assert!(
        track(&store, input(req, None, &list, NOW))
            .unwrap_err()
            .to_string()
            .starts_with("phoneNumber: ")
    );
    assert_eq!(store.action_count(), 0);
    // A profile keeps a number as the app sends it (only SMS enrollment
    // needs E.164).
    let patched = patch_user(
        &store,
        "alice",
        crate::error::parse_json(br#"{"phoneNumber":"9876543210"}"#).unwrap(),
        NOW,
    )
    .unwrap();
    assert_eq!(patched.phone_number.as_deref(), Some("9876543210"));
}

#[test]
fn track_fills_missing_profile_fields_but_never_overwrites() {
    let store = MemoryUserStore::new();
    let list = allowlist();
    let mut req = keyed("k1");
    req.email = Some("alice@example.com".into());
    track(&store, input(req, None, &list, NOW)).unwrap();
    let mut req = keyed("k2");
    req.email = Some("mallory@example.com".into());
    req.username = Some("alice".into());
    track(&store, input(req, None, &list, NOW)).unwrap();
    let u = get_user(&store, "alice").unwrap();
    assert_eq!(u.email.as_deref(), Some("alice@example.com"));
    assert_eq!(u.username.as_deref(), Some("alice"));
}

#[test]
fn query_is_newest_first_filtered_and_bounded() {
    let store = MemoryUserStore::new();
    let list = allowlist();
    let block = config("BLOCK");
    for i in 0..5 {
        let cfg = if i % 2 == 0 { None } else { Some(&block) };
        track(&store, input(keyed(&format!("k{i}")), cfg, &list, NOW + i)).unwrap();
    }
    let all = query_actions(
        &store,
        &ActionQuery {
            from: None,
            codes: vec![],
            state: None,
            limit: 10,
        },
    )
    .unwrap();
    let keys: Vec<&str> = all.iter().map(|a| a.idempotency_key.as_str()).collect();
    assert_eq!(keys, ["k4", "k3", "k2", "k1", "k0"]);
    let blocked = query_actions(
        &store,
        &ActionQuery {
            from: None,
            codes: vec![],
            state: Some(ActionState::Block),
            limit: 10,
        },
    )
    .unwrap();
    assert_eq!(blocked.len(), 2);
    let recent = query_actions(
        &store,
        &ActionQuery {
            from: Some(NOW + 3),
            codes: vec![],
            state: None,
            limit: 10,
        },
    )
    .unwrap();
    assert_eq!(recent.len(), 2);
    let other = query_actions(
        &store,
        &ActionQuery {
            from: None,
            codes: vec!["login".into()],
            state: None,
            limit: 10,
        },
    )
    .unwrap();
    assert!(other.is_empty());
    let capped = query_actions(
        &store,
        &ActionQuery {
            from: None,
            codes: vec![],
            state: None,
            limit: 2,
        },
    )
    .unwrap();
    assert_eq!(capped.len(), 2);
    let huge = query_actions(
        &store,
        &ActionQuery {
            from: None,
            codes: vec![],
            state: None,
            limit: usize::MAX,
        },
    )
    .unwrap();
    assert!(huge.len() <= MAX_PAGE_SIZE);
}

#[test]
fn update_follows_the_state_machine() {
    let store = MemoryUserStore::new();
    let list = allowlist();
    let review = config("REVIEW");
    track(&store, input(keyed("k"), Some(&review), &list, NOW)).unwrap();
    let r = update_state(
        &store,
        "withdraw-funds",
        "k",
        ActionState::ReviewSucceeded,
        Cause::Api,
        NOW + 10,
    )
    .unwrap();
    assert_eq!(r.state, ActionState::ReviewSucceeded);
    assert_eq!(r.state_updated_at, NOW + 10);
    assert_eq!(r.created_at, NOW);
    let err = update_state(
        &store,
        "withdraw-funds",
        "k",
        ActionState::ChallengeRequired,
        Cause::Api,
        NOW + 20,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot change action state from REVIEW_SUCCEEDED to CHALLENGE_REQUIRED"
    );
    // Unchanged after the refusal.
    assert_eq!(
        get_action(&store, "withdraw-funds", "k").unwrap().state,
        ActionState::ReviewSucceeded
    );
    // A repeated update is a no-op and keeps the timestamp.
    let again = update_state(
        &store,
        "withdraw-funds",
        "k",
        ActionState::ReviewSucceeded,
        Cause::Api,
        NOW + 30,
    )
    .unwrap();
    assert_eq!(again.state_updated_at, NOW + 10);
}

#[test]
fn a_cancelled_challenge_fails_once_and_only_from_challenge_required() {
    let store = MemoryUserStore::new();
    let list = allowlist();
    track(
        &store,
        input(keyed("c"), Some(&config("CHALLENGE")), &list, NOW),
    )
    .unwrap();
    let (r, cancelled) = cancel(&store, "withdraw-funds", "c", NOW + 5).unwrap();
    assert!(cancelled);
    assert_eq!(r.state, ActionState::ChallengeFailed);
    let last = r.history.last().unwrap();
    assert_eq!(
        (last.from, last.to, &last.cause),
        (
            Some(ActionState::ChallengeRequired),
            ActionState::ChallengeFailed,
            &Cause::Abandoned
        )
    );
    // Asked again: the same answer, nothing more written.
    let (again, cancelled) = cancel(&store, "withdraw-funds", "c", NOW + 9).unwrap();
    assert!(cancelled);
    assert_eq!(again.history.len(), r.history.len());
    assert_eq!(again.state_updated_at, NOW + 5);
    // The event says so (webhooks, analytics).
    assert!(store.events().iter().any(|e| matches!(
        e,
        crate::actions::events::Event::ActionStateChanged {
            cause: Cause::Abandoned,
            ..
        }
    )));
    // Nothing to cancel in an allowed action, nor after a review.
    track(
        &store,
        input(keyed("a"), Some(&config("ALLOW")), &list, NOW),
    )
    .unwrap();
    let err = cancel(&store, "withdraw-funds", "a", NOW + 5).unwrap_err();
    assert!(
        matches!(err, CoreError::IllegalTransition { .. }),
        "{err:?}"
    );
    assert_eq!(
        get_action(&store, "withdraw-funds", "a").unwrap().state,
        ActionState::Allow
    );
    assert!(matches!(
        cancel(&store, "withdraw-funds", "none", NOW),
        Err(CoreError::ActionNotFound)
    ));
}

#[test]
fn unknown_action_is_not_found() {
    let store = MemoryUserStore::new();
    assert_eq!(
        get_action(&store, "a", "b").unwrap_err(),
        CoreError::ActionNotFound
    );
    assert_eq!(
        update_state(&store, "a", "b", ActionState::Block, Cause::Api, NOW).unwrap_err(),
        CoreError::ActionNotFound
    );
}

#[test]
fn users_patch_get_and_delete_with_their_actions() {
    let store = MemoryUserStore::new();
    let list = allowlist();
    let patch: UserPatch = crate::error::parse_json(
        br#"{"email":"a@example.com","displayName":"Alice","custom":{"tier":"gold"}}"#,
    )
    .unwrap();
    let u = patch_user(&store, "alice", patch, NOW).unwrap();
    assert_eq!(u.display_name.as_deref(), Some("Alice"));
    assert!(!u.is_enrolled);
    track(&store, input(keyed("k"), None, &list, NOW)).unwrap();
    delete_user(&store, NOW).unwrap();
    assert_eq!(store.action_count(), 0);
    let u = get_user(&store, "alice").unwrap();
    assert_eq!(u.email, None);
}

#[test]
fn server_enrollment_marks_the_user_enrolled_and_preselects_the_method() {
    let store = MemoryUserStore::new();
    let list = allowlist();
    let req: EnrollAuthenticatorRequest = crate::error::parse_json(
        br#"{"verificationMethod":"EMAIL_OTP","email":"alice@example.com","isDefault":true}"#,
    )
    .unwrap();
    let view = enroll_authenticator(&store, "alice", req, "auth-1".into(), NOW).unwrap();
    assert_eq!(view.user_authenticator_id, "auth-1");
    let u = get_user(&store, "alice").unwrap();
    assert!(u.is_enrolled);
    assert!(u.email_verified);
    assert_eq!(
        u.enrolled_verification_methods,
        [VerificationMethod::EmailOtp]
    );
    assert_eq!(
        u.default_verification_method,
        Some(VerificationMethod::EmailOtp)
    );
    assert!(
        u.allowed_verification_methods
            .contains(&VerificationMethod::Passkey)
    );
    // A later factor made the default takes its place.
    let req: EnrollAuthenticatorRequest = crate::error::parse_json(
        br#"{"verificationMethod":"SMS","phoneNumber":"+15551234567","isDefault":true}"#,
    )
    .unwrap();
    enroll_authenticator(&store, "alice", req, "auth-2".into(), NOW + 1).unwrap();
    assert_eq!(
        get_user(&store, "alice")
            .unwrap()
            .default_verification_method,
        Some(VerificationMethod::Sms)
    );
    delete_authenticator(&store, "auth-2", NOW).unwrap();
    let cfg = config("CHALLENGE");
    let t = track(&store, input(keyed("k"), Some(&cfg), &list, NOW)).unwrap();
    assert_eq!(t.enrolled, [VerificationMethod::EmailOtp]);
    assert_eq!(
        t.record.default_verification_method,
        Some(VerificationMethod::EmailOtp)
    );
    delete_authenticator(&store, "auth-1", NOW).unwrap();
    assert_eq!(
        delete_authenticator(&store, "auth-1", NOW).unwrap_err(),
        CoreError::AuthenticatorNotFound
    );
    assert!(!get_user(&store, "alice").unwrap().is_enrolled);
}

#[test]
fn server_enrollment_refuses_client_ceremony_methods_and_missing_contacts() {
    let store = MemoryUserStore::new();
    for (body, field) in [
        (r#"{"verificationMethod":"PASSKEY"}"#, "verificationMethod"),
        (r#"{"verificationMethod":"EMAIL_OTP"}"#, "email"),
        (
            r#"{"verificationMethod":"SMS","phoneNumber":"12"}"#,
            "phoneNumber",
        ),
    ] {
        let req: EnrollAuthenticatorRequest = crate::error::parse_json(body.as_bytes()).unwrap();
        let err = enroll_authenticator(&store, "alice", req, "x".into(), NOW).unwrap_err();
        assert!(
            err.to_string().starts_with(&format!("{field}: ")),
            "{body}: {err}"
        );
    }
    assert!(list_authenticators(&store, "alice").unwrap().is_empty());
}

mod with_rules {
    use super::*;
    use crate::policy::lists::{ItemType, ValueListInput, ValueSet};
    use crate::policy::rules::{CompiledRules, Rule};
    use serde_json::json;
    use std::collections::HashMap;
    use std::sync::Arc;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn rule(id: &str, priority: u32, v: serde_json::Value) -> Rule {
        let mut body = v;
        body["name"] = json!(id);
        body["priority"] = json!(priority);
        Rule {
            rule_id: id.into(),
            input: serde_json::from_value(body).unwrap(),
        }
    }

    /// The demo policy: amount thresholds, new device, sanctions, challenge-and-review.
    fn demo() -> (ActionConfiguration, CompiledRules) {
        let mut cfg = config("ALLOW");
        cfg.rules = vec![
            rule(
                "sanctioned-destination",
                0,
                json!({"type": "BLOCK",
                "conditions": {"inValueList": [{"var": "action.custom.destinationAccount"}, "sanctioned-accounts"]}}),
            ),
            rule(
                "large-to-new-payee",
                1,
                json!({"type": "CHALLENGE", "reviewAfterChallenge": true,
                "verificationMethods": ["PASSKEY"],
                "conditions": {"and": [
                    {">": [{"var": "action.custom.amount"}, 100000]},
                    {">": [{"var": "action.custom.destinationAddedAt"}, {"-": [{"var": "now"}, 86400]}]}]}}),
            ),
            rule(
                "large-withdrawal",
                2,
                json!({"type": "CHALLENGE",
                "conditions": {">": [{"var": "action.custom.amount"}, 1000]}}),
            ),
            rule(
                "new-device",
                3,
                json!({"type": "CHALLENGE", "defaultVerificationMethod": "EMAIL_OTP",
                "conditions": {"==": [{"var": "device.isNew"}, true]}}),
            ),
        ];
        let sanctioned = ValueListInput {
            name: "s".into(),
            item_type: ItemType::String,
            normalize: None,
            items: vec![json!("acct-666")],
        };
        let lists = Arc::new(HashMap::from([(
            "sanctioned-accounts".to_owned(),
            Arc::new(ValueSet::from_list(&sanctioned)),
        )]));
        let compiled = CompiledRules::compile(&cfg.rules, lists).unwrap();
        (cfg, compiled)
    }

    fn tr(custom: serde_json::Value, device: &str, key: &str) -> TrackRequest {
        serde_json::from_value(json!({"idempotencyKey": key, "custom": custom, "deviceId": device}))
            .unwrap()
    }

    fn run(store: &MemoryUserStore, req: TrackRequest, now: Millis) -> Tracked {
        let (cfg, rules) = demo();
        let list = allowlist();
        let mut i = input(req, Some(&cfg), &list, now);
        i.rules = Some(&rules);
        track(store, i).unwrap()
    }

    #[test]
    fn demo_rules_decide_and_report_every_match() {
        let store = MemoryUserStore::new();
        // First device: new-device challenge with its default method.
        let t = run(&store, tr(json!({"amount": 10}), "d1", "k1"), NOW);
        assert_eq!(t.record.state, ActionState::ChallengeRequired);
        assert_eq!(t.record.rule_ids, ["new-device"]);
        assert_eq!(
            t.record.default_verification_method,
            Some(VerificationMethod::EmailOtp)
        );
        // Again from there: still new, a track proves nothing.
        let t = run(&store, tr(json!({"amount": 10}), "d1", "k1b"), NOW);
        assert_eq!(t.record.rule_ids, ["new-device"]);
        // The challenge passed: a known device, small amount: the default outcome.
        complete_challenge(
            &store,
            "withdraw-funds",
            "k1",
            VerificationMethod::EmailOtp,
            NOW,
        )
        .unwrap();
        let t = run(&store, tr(json!({"amount": 10}), "d1", "k2"), NOW + 1);
        assert_eq!(t.record.state, ActionState::Allow);
        assert!(t.record.rule_ids.is_empty());
        // Large withdrawal.
        let t = run(&store, tr(json!({"amount": 5000}), "d1", "k3"), NOW + 2);
        assert_eq!(t.record.rule_ids, ["large-withdrawal"]);
        // Sanctioned destination blocks even when other rules match too.
        let t = run(
            &store,
            tr(
                json!({"amount": 5000, "destinationAccount": "acct-666"}),
                "d2",
                "k4",
            ),
            NOW + 3,
        );
        assert_eq!(t.record.state, ActionState::Block);
        assert_eq!(
            t.record.rule_ids,
            ["sanctioned-destination", "large-withdrawal", "new-device"]
        );
        assert_eq!(
            t.record.deciding_rule_id.as_deref(),
            Some("sanctioned-destination")
        );
        assert_eq!(t.record.rules[0].name, "sanctioned-destination");
    }

    #[test]
    fn challenge_and_review_rule_leads_to_review_after_the_challenge() {
        let store = MemoryUserStore::new();
        let now_s = NOW / 1000;
        let t = run(
            &store,
            tr(
                json!({"amount": 250000, "destinationAddedAt": now_s - 3600}),
                "d1",
                "big",
            ),
            NOW,
        );
        assert_eq!(t.record.state, ActionState::ChallengeRequired);
        assert_eq!(
            t.record.deciding_rule_id.as_deref(),
            Some("large-to-new-payee")
        );
        assert_eq!(
            t.record.allowed_verification_methods,
            [VerificationMethod::Passkey],
            "the rule's methods replace the action's"
        );
        let done = complete_challenge(
            &store,
            "withdraw-funds",
            "big",
            VerificationMethod::Passkey,
            NOW + 10,
        )
        .unwrap();
        assert_eq!(done.state, ActionState::ReviewRequired);
        assert_eq!(done.verification_method, Some(VerificationMethod::Passkey));
        // An older payee: an ordinary challenge that succeeds.
        let t = run(
            &store,
            tr(
                json!({"amount": 250000, "destinationAddedAt": now_s - 3 * 86400}),
                "d1",
                "old",
            ),
            NOW,
        );
        assert_eq!(
            t.record.deciding_rule_id.as_deref(),
            Some("large-withdrawal")
        );
        let done = complete_challenge(
            &store,
            "withdraw-funds",
            "old",
            VerificationMethod::EmailOtp,
            NOW + 10,
        )
        .unwrap();
        assert_eq!(done.state, ActionState::ChallengeSucceeded);
        // A challenge cannot complete twice.
        assert!(
            complete_challenge(
                &store,
                "withdraw-funds",
                "old",
                VerificationMethod::EmailOtp,
                NOW + 20
            )
            .is_err()
        );
    }

    #[test]
    fn history_feeds_device_country_velocity_and_travel() {
        let store = MemoryUserStore::new();
        let list = allowlist();
        let challenge = config("CHALLENGE");
        let req = |key: &str, dev: &str, cc: &str, lat: f64, lon: f64| -> TrackRequest {
            serde_json::from_value(json!({"idempotencyKey": key, "deviceId": dev,
                "geo": {"countryCode": cc, "latitude": lat, "longitude": lon}}))
            .unwrap()
        };
        let t1 = track(
            &store,
            input(
                req("a", "d1", "NZ", -36.85, 174.76),
                Some(&challenge),
                &list,
                NOW,
            ),
        )
        .unwrap();
        let c1 = t1.record.context.unwrap();
        assert_eq!(c1["device"]["isNew"], true);
        assert_eq!(c1["device"]["isSeen"], false);
        assert_eq!(c1["device"]["count"], 0);
        assert_eq!(c1["ip"]["isNewCountry"], true);
        assert_eq!(c1["ip"]["impossibleTravel"], serde_json::Value::Null);
        assert_eq!(c1["velocity"]["actionsLastHour"], 0);
        // The user passes the challenge there: device, country and place
        // become known.
        complete_challenge(
            &store,
            "withdraw-funds",
            "a",
            VerificationMethod::EmailOtp,
            NOW + 5,
        )
        .unwrap();
        let t2 = track(
            &store,
            input(
                req("b", "d1", "NZ", -41.29, 174.78),
                None,
                &list,
                NOW + 3_600_000,
            ),
        )
        .unwrap();
        let c2 = t2.record.context.unwrap();
        assert_eq!(c2["device"]["isNew"], false);
        assert_eq!(c2["device"]["isSeen"], true);
        assert_eq!(c2["device"]["firstSeenAt"], NOW / 1000);
        assert_eq!(c2["device"]["count"], 1);
        assert_eq!(c2["ip"]["isNewCountry"], false);
        assert_eq!(c2["ip"]["impossibleTravel"], false);
        assert_eq!(c2["velocity"]["actionsLastHour"], 1);
        let t3 = track(
            &store,
            input(
                req("c", "d2", "GB", 51.5, -0.12),
                None,
                &list,
                NOW + 2 * 3_600_000,
            ),
        )
        .unwrap();
        let c3 = t3.record.context.unwrap();
        assert_eq!(c3["device"]["isNew"], true);
        assert_eq!(c3["ip"]["isNewCountry"], true);
        assert_eq!(c3["ip"]["impossibleTravel"], true);
        assert_eq!(
            c3["velocity"]["actionsLastHour"], 1,
            "the first is over an hour old"
        );
        assert_eq!(c3["velocity"]["actionsLastDay"], 2);
    }

    /// A stolen session repeats requests; only a passed challenge or an
    /// approval makes a device, a country or a place known.
    #[test]
    fn tracks_never_make_a_device_country_or_place_known() {
        let store = MemoryUserStore::new();
        let list = allowlist();
        let req = |key: &str, dev: &str| -> TrackRequest {
            serde_json::from_value(json!({"idempotencyKey": key, "deviceId": dev,
                "geo": {"countryCode": "RU", "latitude": 55.75, "longitude": 37.6}}))
            .unwrap()
        };
        let known = |key: &str, at: Millis| {
            let t = track(&store, input(req(key, "evil"), None, &list, at)).unwrap();
            let c = t.record.context.unwrap();
            (
                c["device"]["isNew"].clone(),
                c["ip"]["isNewCountry"].clone(),
                c["device"]["isSeen"].clone(),
            )
        };
        // Every outcome but a proof leaves them new: ALLOW, CHALLENGE left
        // pending, failed, BLOCK, REVIEW rejected, an API update.
        for (i, outcome) in ["ALLOW", "CHALLENGE", "BLOCK", "REVIEW"].iter().enumerate() {
            let cfg = config(outcome);
            let key = format!("k{i}");
            track(
                &store,
                input(req(&key, "evil"), Some(&cfg), &list, NOW + i as Millis),
            )
            .unwrap();
            match *outcome {
                "CHALLENGE" => {
                    update_state(
                        &store,
                        "withdraw-funds",
                        &key,
                        ActionState::ChallengeFailed,
                        Cause::TooManyAttempts,
                        NOW + 50,
                    )
                    .unwrap();
                }
                "REVIEW" => {
                    update_state(
                        &store,
                        "withdraw-funds",
                        &key,
                        ActionState::ReviewFailed,
                        Cause::Review {
                            reviewer: "ops".into(),
                            note: None,
                        },
                        NOW + 50,
                    )
                    .unwrap();
                }
                _ => {}
            }
        }
        let cfg = config("REVIEW");
        track(
            &store,
            input(req("api", "evil"), Some(&cfg), &list, NOW + 60),
        )
        .unwrap();
        update_state(
            &store,
            "withdraw-funds",
            "api",
            ActionState::ReviewSucceeded,
            Cause::Api,
            NOW + 61,
        )
        .unwrap();
        assert_eq!(
            known("again", NOW + 100),
            (json!(true), json!(true), json!(true))
        );
        // A reviewer's approval proves it.
        track(
            &store,
            input(req("rev", "evil"), Some(&cfg), &list, NOW + 200),
        )
        .unwrap();
        update_state(
            &store,
            "withdraw-funds",
            "rev",
            ActionState::ReviewSucceeded,
            Cause::Review {
                reviewer: "ops".into(),
                note: None,
            },
            NOW + 201,
        )
        .unwrap();
        assert_eq!(
            known("after-review", NOW + 300),
            (json!(false), json!(false), json!(true))
        );
    }

    /// A magic link is opened wherever the email is read: passing a
    /// challenge with one proves nothing about where the action came from.
    #[test]
    fn a_magic_link_proves_no_device() {
        let store = MemoryUserStore::new();
        let list = allowlist();
        let cfg = ActionConfiguration {
            action_code: "withdraw-funds".into(),
            input: ActionConfigurationInput::parse(
                br#"{"defaultUserActionResult":"CHALLENGE","verificationMethods":["EMAIL_MAGIC_LINK","EMAIL_OTP"]}"#,
            )
            .unwrap(),
            rules: Vec::new(),
            created_at: 0,
            updated_at: 0,
        };
        let req = |key: &str| -> TrackRequest {
            serde_json::from_value(json!({"idempotencyKey": key, "deviceId": "attacker", "geo": {"countryCode": "RU"}})).unwrap()
        };
        track(&store, input(req("a"), Some(&cfg), &list, NOW)).unwrap();
        complete_challenge(
            &store,
            "withdraw-funds",
            "a",
            VerificationMethod::EmailMagicLink,
            NOW + 1,
        )
        .unwrap();
        let h = store
            .history("withdraw-funds", Some("attacker"), Some("RU"), NOW + 2)
            .unwrap();
        assert_eq!(
            (h.device_known, h.country_known),
            (Some(false), Some(false))
        );
        // A code typed where the action came from does prove it.
        track(&store, input(req("b"), Some(&cfg), &list, NOW + 3)).unwrap();
        complete_challenge(
            &store,
            "withdraw-funds",
            "b",
            VerificationMethod::EmailOtp,
            NOW + 4,
        )
        .unwrap();
        let h = store
            .history("withdraw-funds", Some("attacker"), Some("RU"), NOW + 5)
            .unwrap();
        assert_eq!((h.device_known, h.country_known), (Some(true), Some(true)));
    }

    /// The victim types the code on their own phone for a request the
    /// attacker made from a laptop: the laptop is not proved.
    #[test]
    fn a_proof_from_another_device_or_country_proves_nothing_there() {
        let store = MemoryUserStore::new();
        let list = allowlist();
        let cfg = config("CHALLENGE");
        let req = |key: &str| -> TrackRequest {
            serde_json::from_value(
                json!({"idempotencyKey": key, "deviceId": "laptop", "geo": {"countryCode": "RU"}}),
            )
            .unwrap()
        };
        let known = |at: Millis| {
            let h = store
                .history("withdraw-funds", Some("laptop"), Some("RU"), at)
                .unwrap();
            (h.device_known, h.country_known)
        };
        for (key, device, country) in [
            ("other-device", Some("victim-phone"), Some("RU")),
            ("other-country", Some("laptop"), Some("NZ")),
        ] {
            track(&store, input(req(key), Some(&cfg), &list, NOW)).unwrap();
            note_verifier(&store, "withdraw-funds", key, device, country).unwrap();
            complete_challenge(
                &store,
                "withdraw-funds",
                key,
                VerificationMethod::EmailOtp,
                NOW + 1,
            )
            .unwrap();
            assert_eq!(known(NOW + 2), (Some(false), Some(false)), "{key}");
        }
        // A client that shows nothing contests nothing; the same device proves it.
        for (key, device, country) in [("silent", None, None), ("same", Some("laptop"), Some("ru"))]
        {
            track(&store, input(req(key), Some(&cfg), &list, NOW + 3)).unwrap();
            note_verifier(&store, "withdraw-funds", key, device, country).unwrap();
            complete_challenge(
                &store,
                "withdraw-funds",
                key,
                VerificationMethod::EmailOtp,
                NOW + 4,
            )
            .unwrap();
        }
        assert_eq!(known(NOW + 5), (Some(true), Some(true)));
    }

    #[test]
    fn simulate_agrees_with_track_and_writes_nothing() {
        let store = MemoryUserStore::new();
        let (cfg, rules) = demo();
        let list = allowlist();
        let req = tr(
            json!({"amount": 5000, "destinationAccount": "acct-666"}),
            "d9",
            "sim",
        );
        let mut i = input(req.clone(), Some(&cfg), &list, NOW);
        i.rules = Some(&rules);
        let sim = simulate(&store, i).unwrap();
        assert_eq!(store.action_count(), 0);
        let h = store
            .history("withdraw-funds", Some("d9"), None, NOW)
            .unwrap();
        assert_eq!(
            (h.device_seen, h.device_known),
            (Some(false), Some(false)),
            "simulate remembers no device"
        );
        assert_eq!(sim.decision.outcome, Outcome::Block);
        assert_eq!(sim.trace.len(), 4);
        assert_eq!(sim.trace[0]["ruleId"], "sanctioned-destination");
        assert_eq!(sim.trace[0]["matched"], true);
        let t = run(&store, req, NOW);
        assert_eq!(t.record.rule_ids, sim.decision.rule_ids);
        assert_eq!(t.record.state, sim.decision.outcome.initial_state());
    }
}

mod held_requests {
    use super::*;
    use crate::actions::model::PendingRequest;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn held() -> PendingRequest {
        PendingRequest {
            method: "POST".into(),
            path_and_query: "/api/withdraw?x=1".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: "eyJhbW91bnQiOjUwMDB9".into(),
            body_sha256: "abc".into(),
            replay_on_approval: false,
            expires_at: None,
        }
    }

    #[test]
    fn a_hold_nobody_came_back_for_expires_unreleased_and_says_so() {
        let store = MemoryUserStore::new();
        let cfg = config("CHALLENGE");
        let list = allowlist();
        let mut i = input(keyed("k"), Some(&cfg), &list, NOW);
        i.pending = Some(PendingRequest {
            expires_at: Some(NOW + 1000),
            ..held()
        });
        track(&store, i).unwrap();
        let passed = Cause::Challenge {
            method: VerificationMethod::EmailOtp,
        };
        update_state(
            &store,
            "withdraw-funds",
            "k",
            ActionState::ChallengeSucceeded,
            passed,
            NOW + 10,
        )
        .unwrap();
        // Not yet: nothing to drop, and it can still be released.
        assert!(!expire_hold(&store, "withdraw-funds", "k", NOW + 999).unwrap());
        // Time is up: the retry is refused, even before the sweep.
        assert_eq!(
            claim(&store, "withdraw-funds", "k", retry(), NOW + 1000).unwrap_err(),
            ClaimError::Expired
        );
        assert!(expire_hold(&store, "withdraw-funds", "k", NOW + 1000).unwrap());
        let r = get_action(&store, "withdraw-funds", "k").unwrap();
        assert_eq!(r.pending_request, None, "the request's body is not kept");
        assert_eq!(r.state, ActionState::ChallengeSucceeded, "the state stays");
        let last = r.history.last().unwrap();
        assert_eq!(
            (last.from, last.to, &last.cause),
            (
                Some(ActionState::ChallengeSucceeded),
                ActionState::ChallengeSucceeded,
                &Cause::HeldRequestExpired
            )
        );
        assert_eq!(
            r.held_view().unwrap()["expiredAt"],
            crate::time::to_rfc3339(NOW + 1000)
        );
        // Once only; and a claim now is told it expired.
        assert!(!expire_hold(&store, "withdraw-funds", "k", NOW + 5000).unwrap());
        assert_eq!(
            claim(&store, "withdraw-funds", "k", retry(), NOW + 5000).unwrap_err(),
            ClaimError::Expired
        );
    }

    #[test]
    fn a_released_hold_never_expires() {
        let store = MemoryUserStore::new();
        let cfg = config("ALLOW");
        let list = allowlist();
        let mut i = input(keyed("k"), Some(&cfg), &list, NOW);
        i.pending = Some(PendingRequest {
            expires_at: Some(NOW + 1000),
            ..held()
        });
        track(&store, i).unwrap();
        // An ALLOW holds nothing (forwarded at once), so nothing expires.
        assert!(!expire_hold(&store, "withdraw-funds", "k", NOW + 2000).unwrap());
        let cfg = config("REVIEW");
        let mut i = input(keyed("r"), Some(&cfg), &list, NOW);
        i.pending = Some(PendingRequest {
            expires_at: Some(NOW + 1000),
            ..held()
        });
        track(&store, i).unwrap();
        let review = Cause::Review {
            reviewer: "r".into(),
            note: None,
        };
        update_state(
            &store,
            "withdraw-funds",
            "r",
            ActionState::ReviewSucceeded,
            review,
            NOW + 5,
        )
        .unwrap();
        claim(&store, "withdraw-funds", "r", retry(), NOW + 6).unwrap();
        assert!(!expire_hold(&store, "withdraw-funds", "r", NOW + 2000).unwrap());
        let r = get_action(&store, "withdraw-funds", "r").unwrap();
        assert!(r.pending_request.is_some());
        assert!(r.held_view().unwrap()["releasedAt"].is_string());
    }

    #[test]
    fn an_approval_asks_for_the_replay_only_where_the_route_wants_it() {
        for (wanted, approve, expect) in [
            (true, true, true),
            (false, true, false),
            (true, false, false),
        ] {
            let store = MemoryUserStore::new();
            let cfg = config("REVIEW");
            let list = allowlist();
            let mut i = input(keyed("k"), Some(&cfg), &list, NOW);
            i.pending = Some(PendingRequest {
                replay_on_approval: wanted,
                ..held()
            });
            track(&store, i).unwrap();
            let to = if approve {
                ActionState::ReviewSucceeded
            } else {
                ActionState::ReviewFailed
            };
            let review = Cause::Review {
                reviewer: "r".into(),
                note: None,
            };
            update_state(&store, "withdraw-funds", "k", to, review, NOW).unwrap();
            let last = store.events().pop().unwrap();
            assert_eq!(last.replay().is_some(), expect, "{wanted} {approve}");
        }
    }

    fn tracked(store: &MemoryUserStore, outcome: &str) {
        let cfg = config(outcome);
        let list = allowlist();
        let mut i = input(keyed("k"), Some(&cfg), &list, NOW);
        i.pending = Some(held());
        track(store, i).unwrap();
    }

    fn retry() -> Claim<'static> {
        Claim::Retry {
            method: "POST",
            path_and_query: "/api/withdraw?x=1",
            body_sha256: "abc",
            custom: Box::leak(Box::new(json!({}))),
        }
    }

    #[test]
    fn nothing_is_held_for_an_allow_or_a_block() {
        // An ALLOW is forwarded at once; its token must not release it again.
        for outcome in ["ALLOW", "BLOCK"] {
            let store = MemoryUserStore::new();
            tracked(&store, outcome);
            let record = store.get_action("withdraw-funds", "k").unwrap().unwrap();
            assert_eq!(record.pending_request, None, "{outcome}");
            for how in [Claim::Replay, retry()] {
                assert_eq!(
                    claim(&store, "withdraw-funds", "k", how, NOW).unwrap_err(),
                    ClaimError::NothingHeld,
                    "{outcome}"
                );
            }
        }
    }

    #[test]
    fn nothing_is_released_before_approval() {
        let store = MemoryUserStore::new();
        tracked(&store, "CHALLENGE");
        assert_eq!(
            claim(&store, "withdraw-funds", "k", Claim::Replay, NOW).unwrap_err(),
            ClaimError::NotApproved(ActionState::ChallengeRequired)
        );
        assert_eq!(
            claim(&store, "withdraw-funds", "nope", Claim::Replay, NOW).unwrap_err(),
            ClaimError::NothingHeld
        );
    }

    #[test]
    fn after_the_challenge_it_is_released_exactly_once() {
        let store = MemoryUserStore::new();
        tracked(&store, "CHALLENGE");
        complete_challenge(
            &store,
            "withdraw-funds",
            "k",
            VerificationMethod::EmailOtp,
            NOW + 1,
        )
        .unwrap();
        let r = claim(&store, "withdraw-funds", "k", Claim::Replay, NOW + 2).unwrap();
        assert_eq!(r.pending_request.unwrap(), held());
        assert_eq!(
            claim(&store, "withdraw-funds", "k", Claim::Replay, NOW + 3).unwrap_err(),
            ClaimError::AlreadyUsed
        );
        assert_eq!(
            claim(&store, "withdraw-funds", "k", retry(), NOW + 3).unwrap_err(),
            ClaimError::AlreadyUsed
        );
    }

    #[test]
    fn a_retry_must_be_the_tracked_request() {
        let (empty, other) = (json!({}), json!({"account": "evil"}));
        let store = MemoryUserStore::new();
        tracked(&store, "REVIEW");
        update_state(
            &store,
            "withdraw-funds",
            "k",
            ActionState::ReviewSucceeded,
            Cause::Api,
            NOW + 1,
        )
        .unwrap();
        for bad in [
            Claim::Retry {
                method: "PUT",
                path_and_query: "/api/withdraw?x=1",
                body_sha256: "abc",
                custom: &empty,
            },
            Claim::Retry {
                method: "POST",
                path_and_query: "/api/withdraw?x=2",
                body_sha256: "abc",
                custom: &empty,
            },
            Claim::Retry {
                method: "POST",
                path_and_query: "/api/withdraw?x=1",
                body_sha256: "tampered",
                custom: &empty,
            },
            // The same request, but an attribute from a header changed.
            Claim::Retry {
                method: "POST",
                path_and_query: "/api/withdraw?x=1",
                body_sha256: "abc",
                custom: &other,
            },
        ] {
            assert_eq!(
                claim(&store, "withdraw-funds", "k", bad, NOW + 2).unwrap_err(),
                ClaimError::Mismatch
            );
        }
        assert!(claim(&store, "withdraw-funds", "k", retry(), NOW + 2).is_ok());
    }

    #[test]
    fn an_origin_failure_makes_it_claimable_again() {
        let store = MemoryUserStore::new();
        tracked(&store, "REVIEW");
        update_state(
            &store,
            "withdraw-funds",
            "k",
            ActionState::ReviewSucceeded,
            Cause::Api,
            NOW + 1,
        )
        .unwrap();
        claim(&store, "withdraw-funds", "k", retry(), NOW + 2).unwrap();
        unclaim(&store, "withdraw-funds", "k", NOW + 3).unwrap();
        assert!(claim(&store, "withdraw-funds", "k", retry(), NOW + 4).is_ok());
    }

    #[test]
    fn rejected_actions_release_nothing() {
        let store = MemoryUserStore::new();
        tracked(&store, "REVIEW");
        update_state(
            &store,
            "withdraw-funds",
            "k",
            ActionState::ReviewFailed,
            Cause::Api,
            NOW + 1,
        )
        .unwrap();
        assert_eq!(
            claim(&store, "withdraw-funds", "k", retry(), NOW + 2).unwrap_err(),
            ClaimError::NotApproved(ActionState::ReviewFailed)
        );
    }
}

mod authenticator_app {
    use super::*;
    use crate::auth::otp::{MAX_FAILED_ATTEMPTS, TotpSecret};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn challenged(store: &MemoryUserStore, key: &str, now: Millis) {
        let mut cfg = config("CHALLENGE");
        cfg.input.verification_methods = vec![
            VerificationMethod::AuthenticatorApp,
            VerificationMethod::EmailOtp,
        ];
        let list = allowlist();
        track(store, input(keyed(key), Some(&cfg), &list, now)).unwrap();
    }

    fn code_for(store: &MemoryUserStore, now: Millis) -> String {
        let auth = store
            .list_authenticators()
            .unwrap()
            .into_iter()
            .find(|a| a.verification_method == VerificationMethod::AuthenticatorApp)
            .unwrap();
        let s: TotpSecret = serde_json::from_value(auth.secret.unwrap()).unwrap();
        s.code_at(u64::try_from(now / 1000).unwrap()).unwrap()
    }

    #[test]
    fn first_enrollment_completes_the_challenge_with_the_first_code() {
        let store = MemoryUserStore::new();
        challenged(&store, "k1", NOW);
        let e = enroll_totp(
            &store,
            "alice",
            "withdraw-funds",
            "k1",
            "auth-1".into(),
            [5; 20],
            "ActionGate",
            false,
            NOW,
        )
        .unwrap();
        assert!(e.uri.starts_with("otpauth://totp/ActionGate:alice?"));
        assert!(
            !get_user(&store, "alice").unwrap().is_enrolled,
            "a pending enrollment is not enrolled"
        );
        let code = code_for(&store, NOW + 1_000);
        let CodeCheck::Verified { record, enrolled } =
            verify_totp(&store, "alice", "withdraw-funds", "k1", &code, NOW + 1_000).unwrap()
        else {
            panic!()
        };
        assert_eq!(record.state, ActionState::ChallengeSucceeded);
        assert_eq!(
            record.verification_method,
            Some(VerificationMethod::AuthenticatorApp)
        );
        assert_eq!(enrolled.unwrap().user_authenticator_id, "auth-1");
        assert!(get_user(&store, "alice").unwrap().is_enrolled);
    }

    #[test]
    fn an_enrolled_app_cannot_complete_an_action_that_does_not_allow_it() {
        let store = MemoryUserStore::new();
        challenged(&store, "k1", NOW);
        enroll_totp(
            &store,
            "alice",
            "withdraw-funds",
            "k1",
            "auth-1".into(),
            [5; 20],
            "ActionGate",
            false,
            NOW,
        )
        .unwrap();
        let code = code_for(&store, NOW);
        verify_totp(&store, "alice", "withdraw-funds", "k1", &code, NOW).unwrap();
        // An action that allows email codes only.
        let mut cfg = config("CHALLENGE");
        cfg.input.verification_methods = vec![VerificationMethod::EmailOtp];
        let list = allowlist();
        track(&store, input(keyed("k2"), Some(&cfg), &list, NOW)).unwrap();
        let later = NOW + 60_000;
        let err = verify_totp(
            &store,
            "alice",
            "withdraw-funds",
            "k2",
            &code_for(&store, later),
            later,
        )
        .unwrap_err();
        assert!(
            matches!(err, CoreError::InvalidField { ref field, .. } if field == "verificationMethod"),
            "{err}"
        );
        assert_eq!(
            get_action(&store, "withdraw-funds", "k2").unwrap().state,
            ActionState::ChallengeRequired
        );
    }

    #[test]
    fn a_code_is_never_accepted_twice() {
        let store = MemoryUserStore::new();
        challenged(&store, "k1", NOW);
        enroll_totp(
            &store,
            "alice",
            "withdraw-funds",
            "k1",
            "a".into(),
            [5; 20],
            "ActionGate",
            false,
            NOW,
        )
        .unwrap();
        let code = code_for(&store, NOW);
        assert!(matches!(
            verify_totp(&store, "alice", "withdraw-funds", "k1", &code, NOW).unwrap(),
            CodeCheck::Verified { .. }
        ));
        challenged(&store, "k2", NOW + 5_000);
        assert_eq!(
            verify_totp(&store, "alice", "withdraw-funds", "k2", &code, NOW + 5_000).unwrap(),
            CodeCheck::Wrong {
                remaining: MAX_FAILED_ATTEMPTS - 1
            }
        );
    }

    #[test]
    fn five_wrong_codes_are_tolerated_and_the_sixth_fails_the_challenge() {
        let store = MemoryUserStore::new();
        challenged(&store, "k1", NOW);
        enroll_totp(
            &store,
            "alice",
            "withdraw-funds",
            "k1",
            "a".into(),
            [5; 20],
            "ActionGate",
            false,
            NOW,
        )
        .unwrap();
        let right = code_for(&store, NOW);
        let wrong = if right == "000000" {
            "111111"
        } else {
            "000000"
        };
        for remaining in (0..MAX_FAILED_ATTEMPTS).rev() {
            assert_eq!(
                verify_totp(&store, "alice", "withdraw-funds", "k1", wrong, NOW).unwrap(),
                CodeCheck::Wrong { remaining }
            );
        }
        assert_eq!(
            verify_totp(&store, "alice", "withdraw-funds", "k1", wrong, NOW).unwrap(),
            CodeCheck::Failed
        );
        assert_eq!(
            get_action(&store, "withdraw-funds", "k1").unwrap().state,
            ActionState::ChallengeFailed
        );
        // Even the right code does nothing now.
        assert_eq!(
            verify_totp(&store, "alice", "withdraw-funds", "k1", &right, NOW).unwrap(),
            CodeCheck::Failed
        );
    }

    /// A new challenge is no new set of guesses: wrong codes count per
    /// user, and the eleventh is refused before any code is looked at.
    #[test]
    fn wrong_codes_across_challenges_stop_at_the_user() {
        let store = MemoryUserStore::new();
        challenged(&store, "k0", NOW);
        enroll_totp(
            &store,
            "alice",
            "withdraw-funds",
            "k0",
            "a".into(),
            [5; 20],
            "ActionGate",
            false,
            NOW,
        )
        .unwrap();
        let right = code_for(&store, NOW);
        verify_totp(&store, "alice", "withdraw-funds", "k0", &right, NOW).unwrap();
        let wrong = |at: Millis| {
            if code_for(&store, at) == "000000" {
                "111111"
            } else {
                "000000"
            }
        };
        let mut judged = 0;
        for k in 1..=5 {
            let key = format!("k{k}");
            challenged(&store, &key, NOW);
            for _ in 0..3 {
                match verify_totp(&store, "alice", "withdraw-funds", &key, wrong(NOW), NOW) {
                    Ok(_) => judged += 1,
                    Err(e) => {
                        assert_eq!(e.retry_after(), Some(15 * 60), "{e}");
                        assert_eq!(e.code(), "too_many_requests");
                    }
                }
            }
        }
        assert_eq!(judged, crate::auth::throttle::PER_WAIT);
        // Even the right code waits.
        challenged(&store, "k9", NOW);
        let later = NOW + 60_000;
        let err = verify_totp(
            &store,
            "alice",
            "withdraw-funds",
            "k9",
            &code_for(&store, later),
            later,
        )
        .unwrap_err();
        assert_eq!(err.retry_after(), Some(14 * 60));
        assert_eq!(
            get_action(&store, "withdraw-funds", "k9")
                .unwrap()
                .failed_attempts,
            0,
            "a refused verification is not judged"
        );
        // After the wait, the right code passes and clears the count.
        let after = NOW + 15 * 60_000;
        let ok = verify_totp(
            &store,
            "alice",
            "withdraw-funds",
            "k9",
            &code_for(&store, after),
            after,
        )
        .unwrap();
        assert!(matches!(ok, CodeCheck::Verified { .. }));
        challenged(&store, "k10", after);
        for _ in 0..5 {
            assert!(
                verify_totp(
                    &store,
                    "alice",
                    "withdraw-funds",
                    "k10",
                    wrong(after),
                    after
                )
                .is_ok()
            );
        }
        // The server lifts a lock the same way.
        assert_eq!(lift_lockout(&store).unwrap().consecutive, 5);
        assert_eq!(lift_lockout(&store).unwrap().consecutive, 0);
    }

    /// An authenticator app left pending while the user had no factor
    /// cannot be confirmed once the user has one: not in the action that
    /// started it, not in a later one.
    #[test]
    fn a_pending_app_left_behind_adds_no_factor_later() {
        let store = MemoryUserStore::new();
        challenged(&store, "k1", NOW);
        enroll_totp(
            &store,
            "alice",
            "withdraw-funds",
            "k1",
            "attacker-app".into(),
            [7; 20],
            "ActionGate",
            false,
            NOW,
        )
        .unwrap();
        // The user enrolls their email (the app's server does it).
        let req: EnrollAuthenticatorRequest = crate::error::parse_json(
            br#"{"verificationMethod":"EMAIL_OTP","email":"a@example.com"}"#,
        )
        .unwrap();
        enroll_authenticator(&store, "alice", req, "email-1".into(), NOW + 500).unwrap();
        challenged(&store, "k2", NOW + 1_000);
        for key in ["k1", "k2"] {
            let code = code_for(&store, NOW + 1_000);
            let err = verify_totp(&store, "alice", "withdraw-funds", key, &code, NOW + 1_000)
                .unwrap_err();
            assert!(err.to_string().contains("add it again"), "{key}: {err}");
            assert_eq!(
                get_action(&store, "withdraw-funds", key).unwrap().state,
                ActionState::ChallengeRequired
            );
        }
        let verified: Vec<_> = store
            .list_authenticators()
            .unwrap()
            .into_iter()
            .filter(|a| a.verified_at.is_some())
            .map(|a| a.user_authenticator_id)
            .collect();
        assert_eq!(verified, ["email-1"]);
    }

    /// A stolen session holds the track token, never the accessToken of
    /// the client that passed the challenge: only that accessToken, for an
    /// action tracked with `scope: "add:authenticators"`, adds a factor.
    #[test]
    fn an_enrolled_user_adds_a_factor_only_with_proof_and_scope() {
        let store = MemoryUserStore::new();
        let req: EnrollAuthenticatorRequest = crate::error::parse_json(
            br#"{"verificationMethod":"EMAIL_OTP","email":"a@example.com"}"#,
        )
        .unwrap();
        enroll_authenticator(&store, "alice", req, "email-1".into(), NOW).unwrap();
        let enroll = |key: &str, proved: bool| {
            enroll_totp(
                &store,
                "alice",
                "withdraw-funds",
                key,
                "a".into(),
                [5; 20],
                "ActionGate",
                proved,
                NOW,
            )
            .map_err(|e| e.to_string())
        };
        let pass = |key: &str| {
            complete_challenge(
                &store,
                "withdraw-funds",
                key,
                VerificationMethod::EmailOtp,
                NOW,
            )
            .unwrap();
        };
        // Without the scope: never, before or after the challenge.
        challenged(&store, "k1", NOW);
        for proved in [false, true] {
            let err = enroll("k1", proved).unwrap_err();
            assert!(err.starts_with("token: complete the challenge"), "{err}");
        }
        pass("k1");
        let err = enroll("k1", false).unwrap_err();
        assert!(err.contains("accessToken"), "{err}");
        let err = enroll("k1", true).unwrap_err();
        assert!(err.starts_with("scope: "), "{err}");
        // With the scope: the track token still adds nothing.
        let mut cfg = config("CHALLENGE");
        cfg.input.verification_methods = vec![
            VerificationMethod::AuthenticatorApp,
            VerificationMethod::EmailOtp,
        ];
        let list = allowlist();
        let scoped = TrackRequest {
            scope: Some("read:authenticators add:authenticators".into()),
            ..keyed("k2")
        };
        track(&store, input(scoped, Some(&cfg), &list, NOW)).unwrap();
        assert!(enroll("k2", true).is_err(), "not before the challenge");
        pass("k2");
        let err = enroll("k2", false).unwrap_err();
        assert!(err.contains("accessToken"), "{err}");
        assert_eq!(store.list_authenticators().unwrap().len(), 1);
        enroll("k2", true).unwrap();
        let code = code_for(&store, NOW);
        let CodeCheck::Verified { record, enrolled } =
            verify_totp(&store, "alice", "withdraw-funds", "k2", &code, NOW).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            record.verification_method,
            Some(VerificationMethod::EmailOtp),
            "the challenge was already done"
        );
        assert!(enrolled.is_some());
        // The enrollment is in the action's audit trail, the state unchanged.
        let stored = get_action(&store, "withdraw-funds", "k2").unwrap();
        let last = stored.history.last().unwrap();
        assert_eq!(
            last.cause,
            Cause::Enrolled {
                method: VerificationMethod::AuthenticatorApp,
                user_authenticator_id: "a".into()
            }
        );
        assert_eq!(
            (last.from, last.to),
            (
                Some(ActionState::ChallengeSucceeded),
                ActionState::ChallengeSucceeded
            )
        );
        assert_eq!(
            store
                .events()
                .iter()
                .filter(|e| e.webhook_type() == "authenticator.created")
                .count(),
            2,
            "the email the server enrolled, and the app"
        );
    }

    #[test]
    fn the_method_must_be_allowed_for_the_action() {
        let store = MemoryUserStore::new();
        let mut cfg = config("CHALLENGE");
        cfg.input.verification_methods = vec![VerificationMethod::Passkey];
        let list = allowlist();
        track(&store, input(keyed("k"), Some(&cfg), &list, NOW)).unwrap();
        let err = enroll_totp(
            &store,
            "alice",
            "withdraw-funds",
            "k",
            "a".into(),
            [5; 20],
            "ActionGate",
            false,
            NOW,
        )
        .unwrap_err();
        assert!(err.to_string().contains("AUTHENTICATOR_APP is not allowed"));
    }
}

mod email_codes {
    use super::*;
    use crate::auth::otp::Channel;
    use crate::auth::otp::{EMAIL_CODE_TTL_MS, MAX_FAILED_ATTEMPTS};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn challenged(store: &MemoryUserStore, key: &str) {
        let mut cfg = config("CHALLENGE");
        cfg.input.verification_methods = vec![VerificationMethod::EmailOtp];
        let list = allowlist();
        track(store, input(keyed(key), Some(&cfg), &list, NOW)).unwrap();
    }

    fn issue(
        store: &MemoryUserStore,
        key: &str,
        email: Option<&str>,
        code: &str,
        now: Millis,
    ) -> Result<CodeToSend, CoreError> {
        issue_code(
            store,
            "withdraw-funds",
            key,
            Channel::Email,
            email,
            format!("auth-{key}"),
            code.into(),
            "salt".into(),
            false,
            now,
        )
    }

    fn verify_email_code(
        store: &MemoryUserStore,
        user: &str,
        code: &str,
        key: &str,
        entered: &str,
        now: Millis,
    ) -> Result<CodeCheck, CoreError> {
        verify_code(store, user, code, key, Channel::Email, entered, now)
    }

    #[test]
    fn enroll_by_email_then_challenge_the_enrolled_address() {
        let store = MemoryUserStore::new();
        challenged(&store, "k1");
        let sent = issue(&store, "k1", Some("alice@example.com"), "123456", NOW).unwrap();
        assert_eq!(sent.to, "alice@example.com");
        assert!(!get_user(&store, "alice").unwrap().is_enrolled);
        let CodeCheck::Verified { record, enrolled } =
            verify_email_code(&store, "alice", "withdraw-funds", "k1", "123456", NOW + 1).unwrap()
        else {
            panic!()
        };
        assert_eq!(record.state, ActionState::ChallengeSucceeded);
        assert_eq!(
            record.verification_method,
            Some(VerificationMethod::EmailOtp)
        );
        assert!(enrolled.is_some());
        let user = get_user(&store, "alice").unwrap();
        assert!(user.email_verified);
        assert_eq!(
            user.enrolled_verification_methods,
            [VerificationMethod::EmailOtp]
        );
        // The code cannot be used again.
        assert!(
            verify_email_code(&store, "alice", "withdraw-funds", "k1", "123456", NOW + 2).is_err()
        );

        challenged(&store, "k2");
        let err = issue(&store, "k2", Some("mallory@example.com"), "111111", NOW).unwrap_err();
        assert!(
            err.to_string().starts_with("token: complete the challenge"),
            "{err}"
        );
        let sent = issue(&store, "k2", None, "654321", NOW).unwrap();
        assert_eq!(sent.to, "alice@example.com");
        assert!(matches!(
            verify_email_code(&store, "alice", "withdraw-funds", "k2", "654321", NOW).unwrap(),
            CodeCheck::Verified { .. }
        ));
    }

    #[test]
    fn sends_are_spaced_and_limited_per_action() {
        use crate::auth::otp::{MAX_SENDS_PER_ACTION, RESEND_INTERVAL_MS};
        let store = MemoryUserStore::new();
        challenged(&store, "k1");
        issue(&store, "k1", Some("a@example.com"), "111111", NOW).unwrap();
        let again = issue(&store, "k1", Some("a@example.com"), "222222", NOW + 1_000).unwrap_err();
        assert_eq!(again.code(), "code_recently_sent");
        assert_eq!(again.kind(), crate::error::ErrorKind::TooManyRequests);
        assert!(again.to_string().contains("wait 29 seconds"), "{again}");
        // A mistyped address corrected at once: the new one gets its code
        // (the per-action count still applies), the old code is gone.
        let fixed = issue(&store, "k1", Some("b@example.com"), "333333", NOW + 2_000).unwrap();
        assert_eq!(fixed.to, "b@example.com");
        let b_again =
            issue(&store, "k1", Some("b@example.com"), "444444", NOW + 3_000).unwrap_err();
        assert_eq!(b_again.code(), "code_recently_sent");
        assert!(
            !matches!(
                verify_email_code(
                    &store,
                    "alice",
                    "withdraw-funds",
                    "k1",
                    "111111",
                    NOW + 3_500
                )
                .unwrap(),
                CodeCheck::Verified { .. }
            ),
            "the code sent to the mistyped address no longer works"
        );
        // Start the count again on a fresh action for the rest of this test.
        challenged(&store, "k9");
        issue(&store, "k9", Some("a@example.com"), "111111", NOW).unwrap();
        let mut at = NOW;
        for n in 2..=MAX_SENDS_PER_ACTION {
            at += RESEND_INTERVAL_MS;
            issue(
                &store,
                "k9",
                Some("a@example.com"),
                &format!("{n}{n}{n}{n}{n}{n}"),
                at,
            )
            .unwrap();
        }
        at += RESEND_INTERVAL_MS;
        let over = issue(&store, "k9", Some("a@example.com"), "999999", at).unwrap_err();
        assert_eq!(over.code(), "too_many_requests");
        assert!(
            over.to_string().contains("start again from the app"),
            "{over}"
        );
        // The last code sent still works; another action has its own limits.
        let last = format!("{0}{0}{0}{0}{0}{0}", MAX_SENDS_PER_ACTION);
        assert!(matches!(
            verify_email_code(&store, "alice", "withdraw-funds", "k9", &last, at).unwrap(),
            CodeCheck::Verified { .. }
        ));
        challenged(&store, "k2");
        issue(&store, "k2", None, "333333", at).unwrap();
    }

    #[test]
    fn one_user_gets_at_most_ten_codes_an_hour_across_actions() {
        use crate::auth::otp::MAX_SENDS_PER_USER_HOUR;
        let store = MemoryUserStore::new();
        let mut at = NOW;
        for n in 0..MAX_SENDS_PER_USER_HOUR {
            let key = format!("k{n}");
            challenged(&store, &key);
            issue(&store, &key, Some("a@example.com"), "111111", at).unwrap();
            at += 1_000;
        }
        challenged(&store, "k-over");
        let over = issue(&store, "k-over", Some("a@example.com"), "111111", at).unwrap_err();
        assert_eq!(over.code(), "too_many_requests");
        assert!(over.to_string().contains("last hour"), "{over}");
        // An hour after the first, one more may go.
        issue(
            &store,
            "k-over",
            Some("a@example.com"),
            "111111",
            NOW + 3_600_001,
        )
        .unwrap();
    }

    #[test]
    fn codes_expire_after_ten_minutes_and_a_new_code_replaces_the_old() {
        let store = MemoryUserStore::new();
        challenged(&store, "k1");
        issue(&store, "k1", Some("a@example.com"), "111111", NOW).unwrap();
        assert_eq!(
            verify_email_code(
                &store,
                "a",
                "withdraw-funds",
                "k1",
                "111111",
                NOW + EMAIL_CODE_TTL_MS
            )
            .unwrap(),
            CodeCheck::Wrong {
                remaining: MAX_FAILED_ATTEMPTS - 1
            }
        );
        issue(
            &store,
            "k1",
            Some("a@example.com"),
            "222222",
            NOW + EMAIL_CODE_TTL_MS,
        )
        .unwrap();
        assert!(matches!(
            verify_email_code(
                &store,
                "a",
                "withdraw-funds",
                "k1",
                "111111",
                NOW + EMAIL_CODE_TTL_MS
            )
            .unwrap(),
            CodeCheck::Wrong { .. }
        ));
        assert!(matches!(
            verify_email_code(
                &store,
                "a",
                "withdraw-funds",
                "k1",
                "222222",
                NOW + EMAIL_CODE_TTL_MS
            )
            .unwrap(),
            CodeCheck::Verified { .. }
        ));
    }

    #[test]
    fn the_sixth_wrong_code_fails_the_challenge() {
        let store = MemoryUserStore::new();
        challenged(&store, "k1");
        issue(&store, "k1", Some("a@example.com"), "123456", NOW).unwrap();
        for remaining in (0..MAX_FAILED_ATTEMPTS).rev() {
            assert_eq!(
                verify_email_code(&store, "a", "withdraw-funds", "k1", "000000", NOW).unwrap(),
                CodeCheck::Wrong { remaining }
            );
        }
        assert_eq!(
            verify_email_code(&store, "a", "withdraw-funds", "k1", "000000", NOW).unwrap(),
            CodeCheck::Failed
        );
        assert_eq!(
            verify_email_code(&store, "a", "withdraw-funds", "k1", "123456", NOW).unwrap(),
            CodeCheck::Failed
        );
        assert_eq!(
            get_action(&store, "withdraw-funds", "k1").unwrap().state,
            ActionState::ChallengeFailed
        );
    }

    #[test]
    fn email_otp_must_be_allowed_and_the_address_valid() {
        let store = MemoryUserStore::new();
        let list = allowlist();
        track(
            &store,
            input(keyed("k"), Some(&config("CHALLENGE")), &list, NOW),
        )
        .unwrap(); // EMAIL_OTP, PASSKEY
        assert!(
            issue(&store, "k", Some("not-an-email"), "123456", NOW)
                .unwrap_err()
                .to_string()
                .starts_with("email: ")
        );
        let mut cfg = config("CHALLENGE");
        cfg.input.verification_methods = vec![VerificationMethod::Passkey];
        track(&store, input(keyed("p"), Some(&cfg), &list, NOW)).unwrap();
        assert!(
            issue(&store, "p", Some("a@example.com"), "123456", NOW)
                .unwrap_err()
                .to_string()
                .contains("EMAIL_OTP is not allowed")
        );
    }

    #[test]
    fn sms_codes_go_to_a_verified_phone_number() {
        let store = MemoryUserStore::new();
        let mut cfg = config("CHALLENGE");
        cfg.input.verification_methods = vec![VerificationMethod::Sms];
        let list = allowlist();
        track(&store, input(keyed("s"), Some(&cfg), &list, NOW)).unwrap();
        let bad = issue_code(
            &store,
            "withdraw-funds",
            "s",
            Channel::Sms,
            Some("021 555"),
            "a".into(),
            "123456".into(),
            "x".into(),
            false,
            NOW,
        )
        .unwrap_err();
        assert!(bad.to_string().starts_with("phoneNumber: "));
        let sent = issue_code(
            &store,
            "withdraw-funds",
            "s",
            Channel::Sms,
            Some("+64211234567"),
            "a".into(),
            "123456".into(),
            "x".into(),
            false,
            NOW,
        )
        .unwrap();
        assert_eq!(sent.to, "+64211234567");
        // An email code cannot be checked against an SMS challenge.
        assert!(
            verify_code(
                &store,
                "u",
                "withdraw-funds",
                "s",
                Channel::Email,
                "123456",
                NOW
            )
            .is_err()
        );
        assert!(matches!(
            verify_code(
                &store,
                "u",
                "withdraw-funds",
                "s",
                Channel::Sms,
                "123456",
                NOW
            )
            .unwrap(),
            CodeCheck::Verified { .. }
        ));
        let user = get_user(&store, "u").unwrap();
        assert_eq!(user.phone_number.as_deref(), Some("+64211234567"));
        assert!(user.phone_number_verified);
        assert_eq!(
            user.enrolled_verification_methods,
            [VerificationMethod::Sms]
        );
    }

    #[test]
    fn a_magic_link_completes_the_challenge_once_and_the_first_page_sees_it() {
        let store = MemoryUserStore::new();
        let mut cfg = config("CHALLENGE");
        cfg.input.verification_methods = vec![VerificationMethod::EmailMagicLink];
        let list = allowlist();
        track(&store, input(keyed("m"), Some(&cfg), &list, NOW)).unwrap();
        let secret = "s3cr3t-link-value-0123456789abcdefghijklmn";
        issue_code(
            &store,
            "withdraw-funds",
            "m",
            Channel::MagicLink,
            Some("a@example.com"),
            "a".into(),
            secret.into(),
            "x".into(),
            false,
            NOW,
        )
        .unwrap();
        assert_eq!(
            magic_link_status(&store, "withdraw-funds", "m").unwrap(),
            None
        );
        assert!(matches!(
            verify_code(
                &store,
                "u",
                "withdraw-funds",
                "m",
                Channel::MagicLink,
                "too-short",
                NOW
            )
            .unwrap(),
            CodeCheck::Wrong { .. }
        ));
        assert!(matches!(
            verify_code(
                &store,
                "u",
                "withdraw-funds",
                "m",
                Channel::MagicLink,
                secret,
                NOW
            )
            .unwrap(),
            CodeCheck::Verified { .. }
        ));
        let done = magic_link_status(&store, "withdraw-funds", "m")
            .unwrap()
            .unwrap();
        assert_eq!(done.state, ActionState::ChallengeSucceeded);
        // A second click does nothing.
        assert!(
            verify_code(
                &store,
                "u",
                "withdraw-funds",
                "m",
                Channel::MagicLink,
                secret,
                NOW
            )
            .is_err()
        );
        assert!(get_user(&store, "u").unwrap().email_verified);
    }
}

#[test]
fn every_state_change_is_kept_in_the_audit_trail() {
    let store = MemoryUserStore::new();
    let list = allowlist();
    let cfg = config("CHALLENGE");
    track(&store, input(keyed("k1"), Some(&cfg), &list, NOW)).unwrap();
    complete_challenge(
        &store,
        "withdraw-funds",
        "k1",
        VerificationMethod::EmailOtp,
        NOW + 1,
    )
    .unwrap();
    update_state(
        &store,
        "withdraw-funds",
        "k1",
        ActionState::ReviewRequired,
        Cause::Api,
        NOW + 2,
    )
    .unwrap();
    let review = Cause::Review {
        reviewer: "ops@bank.example".into(),
        note: Some("called the customer".into()),
    };
    let r = update_state(
        &store,
        "withdraw-funds",
        "k1",
        ActionState::ReviewSucceeded,
        review.clone(),
        NOW + 3,
    )
    .unwrap();
    // A no-op adds nothing.
    update_state(
        &store,
        "withdraw-funds",
        "k1",
        ActionState::ReviewSucceeded,
        Cause::Api,
        NOW + 4,
    )
    .unwrap();
    let h = get_action(&store, "withdraw-funds", "k1").unwrap().history;
    assert_eq!(h, r.history);
    let steps: Vec<_> = h
        .iter()
        .map(|c| (c.from, c.to, c.at - NOW, c.cause.clone()))
        .collect();
    assert_eq!(
        steps,
        vec![
            (
                None,
                ActionState::ChallengeRequired,
                0,
                Cause::Track { rule_id: None }
            ),
            (
                Some(ActionState::ChallengeRequired),
                ActionState::ChallengeSucceeded,
                1,
                Cause::Challenge {
                    method: VerificationMethod::EmailOtp
                }
            ),
            (
                Some(ActionState::ChallengeSucceeded),
                ActionState::ReviewRequired,
                2,
                Cause::Api
            ),
            (
                Some(ActionState::ReviewRequired),
                ActionState::ReviewSucceeded,
                3,
                review
            ),
        ]
    );
    // The wire form: RFC 3339 times, tagged causes.
    let wire = serde_json::to_value(
        get_action(&store, "withdraw-funds", "k1")
            .unwrap()
            .to_get_response(),
    )
    .unwrap();
    assert_eq!(
        wire["history"][0]["cause"],
        serde_json::json!({"type": "TRACK"})
    );
    assert!(wire["history"][0].get("from").is_none());
    assert_eq!(
        wire["history"][1]["cause"],
        serde_json::json!({"type": "CHALLENGE", "method": "EMAIL_OTP"})
    );
    assert_eq!(
        wire["history"][3]["cause"],
        serde_json::json!({"type": "REVIEW", "reviewer": "ops@bank.example", "note": "called the customer"})
    );
    assert!(wire["history"][3]["at"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn changes_emit_the_events_webhooks_and_the_review_queue_need() {
    use crate::actions::events::{Event, ReviewChange};
    let store = MemoryUserStore::new();
    let list = allowlist();
    let cfg = config("REVIEW");
    track(&store, input(keyed("k1"), Some(&cfg), &list, NOW)).unwrap();
    let review = Cause::Review {
        reviewer: "ops".into(),
        note: None,
    };
    update_state(
        &store,
        "withdraw-funds",
        "k1",
        ActionState::ReviewFailed,
        review,
        NOW + 5,
    )
    .unwrap();
    // A no-op and a refused change emit nothing.
    update_state(
        &store,
        "withdraw-funds",
        "k1",
        ActionState::ReviewFailed,
        Cause::Api,
        NOW + 6,
    )
    .unwrap();
    // The user directory hears of the new user; the rest is as before.
    let not_directory = |e: &Event| !matches!(e, Event::ProfileChanged { .. });
    let events: Vec<Event> = store.events().into_iter().filter(not_directory).collect();
    let types: Vec<_> = events.iter().map(Event::webhook_type).collect();
    assert_eq!(types, ["action.created", "action.state_changed"]);
    match events[0].review_change() {
        Some(ReviewChange::Enter {
            action_code,
            entered_at,
            ..
        }) => assert_eq!((action_code.as_str(), entered_at), ("withdraw-funds", NOW)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        events[1].review_change(),
        Some(ReviewChange::Leave { .. })
    ));
    let data = events[1].webhook_data("alice");
    assert_eq!(data["previousState"], "REVIEW_REQUIRED");
    assert_eq!(data["state"], "REVIEW_FAILED");
    assert_eq!(data["cause"]["reviewer"], "ops");
    assert_eq!(data["userId"], "alice");

    // Authenticators: created when verified, deleted; user deletion clears the queue.
    let a = enroll_authenticator(
        &store,
        "alice",
        EnrollAuthenticatorRequest {
            verification_method: VerificationMethod::EmailOtp,
            email: Some("a@b.example".into()),
            phone_number: None,
            is_default: None,
        },
        "auth-9".into(),
        NOW,
    )
    .unwrap();
    delete_authenticator(&store, &a.user_authenticator_id, NOW).unwrap();
    delete_user(&store, NOW).unwrap();
    let events: Vec<Event> = store.events().into_iter().filter(not_directory).collect();
    let types: Vec<_> = events.iter().map(Event::webhook_type).collect();
    assert_eq!(
        types[2..],
        [
            "authenticator.created",
            "authenticator.deleted",
            "user.deleted"
        ]
    );
    assert_eq!(events[4].review_change(), Some(ReviewChange::LeaveAll));
    assert!(!events[4].is_webhook());
    // What the directory was told, in order: the new user, the verified
    // address, the deletion's marker.
    let directory: Vec<_> = store
        .events()
        .iter()
        .filter_map(Event::directory_entry)
        .collect();
    assert_eq!(directory.len(), 3, "{directory:?}");
    assert_eq!(
        (directory[0].email.as_deref(), directory[0].deleted),
        (None, false)
    );
    assert_eq!(directory[1].email.as_deref(), Some("a@b.example"));
    assert!(directory[1].email_verified);
    assert!(directory[2].deleted);
    assert!(
        !store
            .events()
            .iter()
            .any(|e| matches!(e, Event::ProfileChanged { .. }) && e.is_webhook())
    );
}

#[test]
fn the_directory_hears_of_profile_changes_only_when_its_fields_change() {
    use crate::actions::events::Event;
    let store = MemoryUserStore::new();
    let count = |s: &MemoryUserStore| {
        s.events()
            .iter()
            .filter(|e| matches!(e, Event::ProfileChanged { .. }))
            .count()
    };
    let patch = |body: &[u8]| crate::error::parse_json::<crate::user::UserPatch>(body).unwrap();
    patch_user(&store, "bob", patch(br#"{"email":"bob@example.com"}"#), NOW).unwrap();
    assert_eq!(count(&store), 1);
    // Only the display name: nothing the directory holds.
    patch_user(&store, "bob", patch(br#"{"displayName":"Bob"}"#), NOW + 1).unwrap();
    assert_eq!(count(&store), 1);
    patch_user(&store, "bob", patch(br#"{"username":"bobby"}"#), NOW + 2).unwrap();
    assert_eq!(count(&store), 2);
    let last = store
        .events()
        .iter()
        .rev()
        .find_map(Event::directory_entry)
        .unwrap();
    assert_eq!(
        (
            last.email.as_deref(),
            last.username.as_deref(),
            last.updated_at
        ),
        (Some("bob@example.com"), Some("bobby"), NOW + 2)
    );
    // A returning user's track that fills nothing tells it nothing.
    track(&store, input(keyed("k1"), None, &allowlist(), NOW + 3)).unwrap();
    assert_eq!(count(&store), 2);
}
