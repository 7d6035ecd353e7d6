use super::*;
use crate::config::ActionConfigurationInput;
use crate::memory::MemoryUserStore;
use crate::model::UserPatch;
use crate::store::MAX_PAGE_SIZE;
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
        allowlist: list,
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
fn same_key_with_a_different_body_is_a_conflict() {
    let store = MemoryUserStore::new();
    let list = allowlist();
    track(&store, input(keyed("k1"), None, &list, NOW)).unwrap();
    let mut other = keyed("k1");
    other.custom = Some(serde_json::from_str(r#"{"amount": 1000}"#).unwrap());
    let err = track(&store, input(other, None, &list, NOW)).unwrap_err();
    assert!(matches!(err, CoreError::IdempotencyConflict(k) if k == "k1"));
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
    req.phone_number = Some("021 555".into());
    assert!(
        track(&store, input(req, None, &list, NOW))
            .unwrap_err()
            .to_string()
            .starts_with("phoneNumber: ")
    );
    assert_eq!(store.action_count(), 0);
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
        Actor::Api,
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
        Actor::Api,
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
        Actor::Api,
        NOW + 30,
    )
    .unwrap();
    assert_eq!(again.state_updated_at, NOW + 10);
}

#[test]
fn unknown_action_is_not_found() {
    let store = MemoryUserStore::new();
    assert_eq!(
        get_action(&store, "a", "b").unwrap_err(),
        CoreError::ActionNotFound
    );
    assert_eq!(
        update_state(&store, "a", "b", ActionState::Block, Actor::Api, NOW).unwrap_err(),
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
    delete_user(&store).unwrap();
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
    let cfg = config("CHALLENGE");
    let t = track(&store, input(keyed("k"), Some(&cfg), &list, NOW)).unwrap();
    assert_eq!(t.enrolled, [VerificationMethod::EmailOtp]);
    assert_eq!(
        t.record.default_verification_method,
        Some(VerificationMethod::EmailOtp)
    );
    delete_authenticator(&store, "auth-1").unwrap();
    assert_eq!(
        delete_authenticator(&store, "auth-1").unwrap_err(),
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
