//! Passkey flows over the in-memory store, with ceremonies recorded from
//! Chromium (`tests/fixtures/webauthn/chromium.json`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;
use crate::actions::model::TrackRequest;
use crate::auth::webauthn::CeremonyKeys;
use crate::policy::config::{ActionConfiguration, ActionConfigurationInput};
use crate::redirect::RedirectAllowlist;
use crate::service::track::{TrackInput, track};
use crate::store::memory::MemoryUserStore;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const FIXTURE: &str = include_str!("../../../tests/fixtures/webauthn/chromium.json");
const NOW: Millis = 1_795_380_179_000;
/// The user handle the fixtures were recorded with.
const USER: &str = "user-fixture-1";
/// The browser the fixtures' registrations are said to come from.
const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

struct F {
    doc: Value,
    store: MemoryUserStore,
}

/// What a token-less sign-in for `code` is decided as (no configuration:
/// the default, ALLOW, unless `cfg`).
fn sign_in_track<'a>(
    code: &'a str,
    key: &str,
    cfg: Option<&'a ActionConfiguration>,
    list: &'a RedirectAllowlist,
) -> Option<TrackInput<'a>> {
    Some(TrackInput {
        fresh_key: key.into(),
        ..TrackInput::new(USER, code, TrackRequest::default(), (cfg, None), list, NOW)
    })
}

fn config(code: &str, input: &str) -> ActionConfiguration {
    ActionConfiguration {
        action_code: code.into(),
        input: ActionConfigurationInput::parse(input.as_bytes()).unwrap(),
        rules: Vec::new(),
        created_at: 0,
        updated_at: 0,
    }
}

fn b64(s: &Value) -> Vec<u8> {
    use ct_codecs::{Base64UrlSafeNoPadding, Decoder as _};
    Base64UrlSafeNoPadding::decode_to_vec(s.as_str().unwrap(), None).unwrap()
}

impl F {
    fn new() -> Self {
        F {
            doc: serde_json::from_str(FIXTURE).unwrap(),
            store: MemoryUserStore::new(),
        }
    }
    fn rp(&self) -> RelyingParty {
        RelyingParty {
            id: "localhost".into(),
            name: "Test".into(),
            origins: vec![self.doc["origin"].as_str().unwrap().to_owned()],
        }
    }
    fn cred(&self, name: &str) -> &Value {
        self.doc["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()
    }
    fn registration(&self, name: &str) -> RegistrationResponse {
        serde_json::from_value(self.cred(name)["registration"].clone()).unwrap()
    }
    fn assertion(&self, name: &str, i: usize) -> AuthenticationResponse {
        serde_json::from_value(self.cred(name)["authentications"][i].clone()).unwrap()
    }
    /// Track `key` for an action that challenges with `methods`.
    fn track(&self, key: &str, methods: &str, prompt: &str) {
        self.track_scoped(key, methods, prompt, None);
    }
    /// The same, tracked with a token `scope`.
    fn track_scoped(&self, key: &str, methods: &str, prompt: &str, scope: Option<&str>) {
        let cfg = ActionConfiguration {
            action_code: "withdraw".into(),
            input: ActionConfigurationInput::parse(
                format!(r#"{{"defaultUserActionResult":"CHALLENGE","verificationMethods":{methods},"promptToEnrollVerificationMethods":{prompt}}}"#)
                    .as_bytes(),
            )
            .unwrap(),
            rules: Vec::new(),
            created_at: 0,
            updated_at: 0,
        };
        let list = RedirectAllowlist::parse("https://app.example.com").unwrap();
        track(
            &self.store,
            TrackInput {
                user_id: USER,
                action_code: "withdraw",
                request: TrackRequest {
                    idempotency_key: Some(key.into()),
                    scope: scope.map(str::to_owned),
                    ..TrackRequest::default()
                },
                config: Some(&cfg),
                rules: None,
                edge: None,
                pending: None,
                allowlist: &list,
                origin: None,
                now: NOW,
                fresh_key: String::new(),
            },
        )
        .unwrap();
    }
    fn action(key: &str) -> ActionRef<'_> {
        ActionRef {
            user_id: USER,
            code: "withdraw",
            key,
            // The client that passed the challenge; `track_token` is the other.
            proved: true,
        }
    }
    fn register(&self, key: &str, name: &str) -> Result<Registered, CoreError> {
        self.register_at(key, name, NOW)
    }
    /// All fixtures share one registration challenge: a second
    /// registration must come after the first one's ceremony expired.
    fn register_at(&self, key: &str, name: &str, now: Millis) -> Result<Registered, CoreError> {
        let rp = self.rp();
        let begun = begin_registration(
            &self.store,
            Self::action(key),
            VerificationMethod::Passkey,
            None,
            None,
            UserVerification::Required,
            &rp,
            &b64(&self.doc["registrationChallenge"]),
            now,
        )?;
        finish_registration(
            &self.store,
            Self::action(key),
            &begun.ceremony,
            &self.registration(name),
            &rp,
            NewCredential {
                id: &format!("auth-{name}"),
                user_agent: Some(UA),
            },
            now,
        )
    }
    fn sign_in(
        &self,
        key: &str,
        name: &str,
        i: usize,
        policy: CounterPolicy,
    ) -> Result<SignedIn, CoreError> {
        let rp = self.rp();
        let begun = begin_authentication(
            &self.store,
            Self::action(key),
            UserVerification::Required,
            &rp,
            &b64(&self.doc["authenticationChallenges"][i]),
            NOW,
        )?;
        finish_authentication(
            &self.store,
            USER,
            &begun.ceremony,
            &self.assertion(name, i),
            &rp,
            policy,
            None,
            NOW,
        )
    }
    fn state(&self, key: &str) -> ActionState {
        get_action(&self.store, "withdraw", key).unwrap().state
    }
}

#[test]
fn first_passkey_registration_completes_the_challenge() {
    let f = F::new();
    f.track("a1", r#"["PASSKEY"]"#, "[]");
    let r = f.register("a1", "es256").unwrap();
    assert_eq!(r.record.state, ActionState::ChallengeSucceeded);
    assert_eq!(
        r.record.verification_method,
        Some(VerificationMethod::Passkey)
    );
    let view = &r.authenticator;
    assert_eq!(view.verification_method, VerificationMethod::Passkey);
    let wc = view.webauthn_credential.as_ref().unwrap();
    assert_eq!(wc["credentialId"], f.registration("es256").raw_id.as_str());
    assert_eq!(wc["credentialDeviceType"], "singleDevice");
    assert_eq!(wc["signCount"], 1);
    assert_eq!(wc["transports"], serde_json::json!(["internal"]));
    // The browser that registered it, read as Authsignal's `parsedUserAgent`.
    let ua = &wc["parsedUserAgent"];
    assert_eq!(ua["ua"], UA);
    assert_eq!(ua["browser"]["name"], "Chrome");
    assert_eq!(ua["os"]["name"], "Linux");
    // The view carries no key material.
    assert!(!serde_json::to_string(view).unwrap().contains("publicKey"));
}

#[test]
fn a_registration_cannot_be_replayed() {
    let f = F::new();
    // The scope lets the replay reach the ceremony check once the first
    // registration made the user enrolled.
    f.track_scoped("a1", r#"["PASSKEY"]"#, "[]", Some("add:authenticators"));
    let rp = f.rp();
    let begun = begin_registration(
        &f.store,
        F::action("a1"),
        VerificationMethod::Passkey,
        None,
        None,
        UserVerification::Required,
        &rp,
        &b64(&f.doc["registrationChallenge"]),
        NOW,
    )
    .unwrap();
    let finish = || {
        finish_registration(
            &f.store,
            F::action("a1"),
            &begun.ceremony,
            &f.registration("es256"),
            &rp,
            NewCredential {
                id: "x",
                user_agent: None,
            },
            NOW,
        )
    };
    finish().unwrap();
    assert_eq!(
        finish().unwrap_err(),
        CoreError::WebAuthn(WebAuthnError::ChallengeReused)
    );
}

#[test]
fn sign_in_completes_a_pending_challenge_and_moves_the_counter() {
    let f = F::new();
    f.track("a1", r#"["PASSKEY"]"#, "[]");
    f.register("a1", "rs256").unwrap();
    f.track("a2", r#"["PASSKEY","EMAIL_OTP"]"#, "[]");
    assert_eq!(f.state("a2"), ActionState::ChallengeRequired);
    let s = f.sign_in("a2", "rs256", 0, CounterPolicy::Reject).unwrap();
    assert_eq!(s.record.state, ActionState::ChallengeSucceeded);
    assert_eq!(
        s.record.verification_method,
        Some(VerificationMethod::Passkey)
    );
    assert_eq!(s.authenticator.webauthn_credential.unwrap()["signCount"], 2);
    assert!(s.authenticator.last_verified_at.is_some());
    assert_eq!(f.state("a2"), ActionState::ChallengeSucceeded);
}

#[test]
fn a_replayed_assertion_is_refused() {
    let f = F::new();
    f.track("a1", r#"["PASSKEY"]"#, "[]");
    f.register("a1", "es256").unwrap();
    f.track("a2", r#"["PASSKEY"]"#, "[]");
    f.sign_in("a2", "es256", 0, CounterPolicy::Report).unwrap();
    // The same signed challenge, presented for another pending action.
    f.track("a3", r#"["PASSKEY"]"#, "[]");
    assert_eq!(
        f.sign_in("a3", "es256", 0, CounterPolicy::Report)
            .unwrap_err(),
        CoreError::WebAuthn(WebAuthnError::ChallengeReused)
    );
    assert_eq!(f.state("a3"), ActionState::ChallengeRequired);
}

#[test]
fn an_unregistered_passkey_is_refused() {
    let f = F::new();
    f.track("a1", r#"["PASSKEY"]"#, "[]");
    f.register("a1", "es256").unwrap();
    f.track("a2", r#"["PASSKEY"]"#, "[]");
    assert_eq!(
        f.sign_in("a2", "eddsa", 0, CounterPolicy::Reject)
            .unwrap_err(),
        CoreError::WebAuthn(WebAuthnError::UnknownCredential)
    );
    assert_eq!(f.state("a2"), ActionState::ChallengeRequired);
}

fn set_counter(f: &F, counter: u32) {
    let mut a = f.store.list_authenticators().unwrap().remove(0);
    let mut c = credential(&a).unwrap();
    c.counter = counter;
    a.secret = Some(serde_json::to_value(&c).unwrap());
    f.store.put_authenticator(&a).unwrap();
}

#[test]
fn a_counter_regression_is_recorded_and_rejected_by_policy() {
    let f = F::new();
    f.track("a1", r#"["PASSKEY"]"#, "[]");
    f.register("a1", "eddsa").unwrap();
    set_counter(&f, 9);
    f.track("a2", r#"["PASSKEY"]"#, "[]");
    assert_eq!(
        f.sign_in("a2", "eddsa", 0, CounterPolicy::Reject)
            .unwrap_err(),
        CoreError::WebAuthn(WebAuthnError::CounterRegression {
            stored: 9,
            received: 2
        })
    );
    assert_eq!(f.state("a2"), ActionState::ChallengeRequired);
    let a = f.store.list_authenticators().unwrap().remove(0);
    assert_eq!(credential(&a).unwrap().counter_regressions, 1);
    // Under the reporting policy the next sign-in passes and is counted.
    f.track("a3", r#"["PASSKEY"]"#, "[]");
    let s = f.sign_in("a3", "eddsa", 1, CounterPolicy::Report).unwrap();
    assert_eq!(s.record.state, ActionState::ChallengeSucceeded);
    let wc = s.authenticator.webauthn_credential.unwrap();
    assert_eq!(wc["counterRegressions"], 2);
    assert_eq!(wc["signCount"], 9);
}

#[test]
fn user_verification_is_enforced_when_the_action_requires_it() {
    let f = F::new();
    f.track("a1", r#"["PASSKEY"]"#, "[]");
    // Registration asked UV required; this authenticator cannot verify.
    assert_eq!(
        f.register("a1", "es256-no-uv").unwrap_err(),
        CoreError::WebAuthn(WebAuthnError::UserNotVerified)
    );
    assert!(f.store.list_authenticators().unwrap().is_empty());
    assert_eq!(f.state("a1"), ActionState::ChallengeRequired);
}

#[test]
fn sign_in_without_a_token_is_decided_as_a_track() {
    let f = F::new();
    let list = RedirectAllowlist::parse("https://app.example.com").unwrap();
    f.track("a1", r#"["PASSKEY"]"#, "[]");
    f.register("a1", "es256").unwrap();
    let rp = f.rp();
    let keys = CeremonyKeys::new(&[4u8; 32], None);
    let begun = begin_discoverable(
        Some("login"),
        vec![VerificationMethod::Passkey],
        UserVerification::Preferred,
        &rp,
        &b64(&f.doc["authenticationChallenges"][0]),
        NOW,
    );
    assert_eq!(begun.options["allowCredentials"], serde_json::json!([]));
    // Through a sealed challengeId, as the worker does.
    let ceremony = keys
        .open(
            &keys.seal(&begun.ceremony),
            u64::try_from(NOW / 1000).unwrap(),
        )
        .unwrap();
    let s = finish_authentication(
        &f.store,
        USER,
        &ceremony,
        &f.assertion("es256", 0),
        &rp,
        CounterPolicy::Reject,
        sign_in_track("login", "k-login", None, &list),
        NOW,
    )
    .unwrap();
    assert_eq!(s.record.action_code, "login");
    assert_eq!(s.record.idempotency_key, "k-login");
    // Unconfigured, the action is allowed: the passkey it used is recorded.
    assert_eq!(s.record.state, ActionState::Allow);
    assert_eq!(
        s.record.verification_method,
        Some(VerificationMethod::Passkey)
    );
    assert!(get_action(&f.store, "login", "k-login").is_ok());
    // Claimed by another user: the handle in the assertion does not match.
    let other = MemoryUserStore::new();
    let err = finish_authentication(
        &other,
        "someone-else",
        &begin_discoverable(
            None,
            vec![VerificationMethod::Passkey],
            UserVerification::Preferred,
            &rp,
            &b64(&f.doc["authenticationChallenges"][1]),
            NOW,
        )
        .ceremony,
        &f.assertion("es256", 1),
        &rp,
        CounterPolicy::Reject,
        None,
        NOW,
    )
    .unwrap_err();
    assert_eq!(err, CoreError::WebAuthn(WebAuthnError::UnknownCredential));
}

/// A token-less sign-in for a configured action: its default outcome and
/// its rules decide, as for a track; the passkey is the challenge.
#[test]
fn a_sign_in_without_a_token_obeys_the_action_configuration_and_rules() {
    // A fresh user each time: the fixture's assertions share one challenge.
    let sign_in = |code: &str,
                   cfg: &ActionConfiguration,
                   rules: Option<&crate::policy::rules::CompiledRules>| {
        let f = F::new();
        f.track("a1", r#"["PASSKEY"]"#, "[]");
        f.register("a1", "es256").unwrap();
        let rp = f.rp();
        let list = RedirectAllowlist::parse("https://app.example.com").unwrap();
        let begun = begin_discoverable(
            Some(code),
            vec![VerificationMethod::Passkey, VerificationMethod::SecurityKey],
            UserVerification::Preferred,
            &rp,
            &b64(&f.doc["authenticationChallenges"][0]),
            NOW,
        );
        let key = format!("k-{code}");
        let mut input = sign_in_track(code, &key, Some(cfg), &list);
        if let Some(i) = input.as_mut() {
            i.rules = rules;
        }
        let r = finish_authentication(
            &f.store,
            USER,
            &begun.ceremony,
            &f.assertion("es256", 0),
            &rp,
            CounterPolicy::Reject,
            input,
            NOW,
        );
        (r, get_action(&f.store, code, &key).ok().map(|a| a.state))
    };
    // REVIEW by default: the passkey does not approve it.
    let review = config(
        "add-payee",
        r#"{"defaultUserActionResult":"REVIEW","verificationMethods":["PASSKEY"]}"#,
    );
    let (r, stored) = sign_in("add-payee", &review, None);
    assert_eq!(r.unwrap().record.state, ActionState::ReviewRequired);
    assert_eq!(stored, Some(ActionState::ReviewRequired));
    // CHALLENGE that allows passkeys: passed.
    let challenge = config(
        "pay",
        r#"{"defaultUserActionResult":"CHALLENGE","verificationMethods":["PASSKEY"]}"#,
    );
    let (r, _) = sign_in("pay", &challenge, None);
    let record = r.unwrap().record;
    assert_eq!(record.state, ActionState::ChallengeSucceeded);
    assert_eq!(
        record.verification_method,
        Some(VerificationMethod::Passkey)
    );
    // A rule that blocks: refused, and stored as blocked.
    let block = crate::policy::rules::Rule {
        rule_id: "always".into(),
        input: serde_json::from_value(serde_json::json!({"name": "always", "priority": 0, "type": "BLOCK", "conditions": true})).unwrap(),
    };
    let compiled =
        crate::policy::rules::CompiledRules::compile(&[block], Default::default()).unwrap();
    let (r, stored) = sign_in("pay", &challenge, Some(&compiled));
    assert!(matches!(r.unwrap_err(), CoreError::Blocked(_)));
    assert_eq!(stored, Some(ActionState::Block));
    // A rule that challenges with security keys only: a passkey is refused.
    let keys_only = crate::policy::rules::Rule {
        rule_id: "keys".into(),
        input: serde_json::from_value(serde_json::json!({"name": "keys", "priority": 0, "type": "CHALLENGE", "conditions": true, "verificationMethods": ["SECURITY_KEY"]})).unwrap(),
    };
    let compiled =
        crate::policy::rules::CompiledRules::compile(&[keys_only], Default::default()).unwrap();
    let both = config(
        "wire",
        r#"{"defaultUserActionResult":"CHALLENGE","verificationMethods":["PASSKEY","SECURITY_KEY"]}"#,
    );
    let (r, stored) = sign_in("wire", &both, Some(&compiled));
    assert!(
        matches!(r.unwrap_err(), CoreError::InvalidField { ref field, .. } if field == "verificationMethod")
    );
    assert_eq!(stored, Some(ActionState::ChallengeRequired));
    // A challenge-and-review rule: passed, then review.
    let both_rule = crate::policy::rules::Rule {
        rule_id: "review-too".into(),
        input: serde_json::from_value(serde_json::json!({"name": "r", "priority": 0, "type": "CHALLENGE", "conditions": true, "reviewAfterChallenge": true})).unwrap(),
    };
    let compiled =
        crate::policy::rules::CompiledRules::compile(&[both_rule], Default::default()).unwrap();
    let (r, _) = sign_in(
        "payee-2",
        &config(
            "payee-2",
            r#"{"defaultUserActionResult":"ALLOW","verificationMethods":["PASSKEY"]}"#,
        ),
        Some(&compiled),
    );
    assert_eq!(r.unwrap().record.state, ActionState::ReviewRequired);
}

#[test]
fn an_enrolled_user_adds_a_passkey_only_after_the_challenge() {
    let f = F::new();
    f.track("a1", r#"["PASSKEY"]"#, "[]");
    f.register("a1", "es256").unwrap();
    // A second passkey during a pending challenge: refused.
    f.track("a2", r#"["PASSKEY"]"#, "[]");
    let err = f.register("a2", "eddsa").unwrap_err();
    assert!(matches!(err, CoreError::InvalidField { ref field, .. } if field == "token"));
    // After passing it, without `scope: "add:authenticators"` (or a
    // prompt for passkeys): refused, even to the client that passed it.
    f.sign_in("a2", "es256", 0, CounterPolicy::Reject).unwrap();
    let err = f.register_at("a2", "eddsa", NOW + 400_000).unwrap_err();
    assert!(matches!(err, CoreError::InvalidField { ref field, .. } if field == "scope"));
    // Tracked with the scope: the track token still adds nothing; the
    // access token of the client that passed the challenge does, and that
    // does not change the action.
    f.track_scoped("a4", r#"["PASSKEY"]"#, "[]", Some("add:authenticators"));
    f.sign_in("a4", "es256", 1, CounterPolicy::Reject).unwrap();
    let rp = f.rp();
    let track_token = ActionRef {
        proved: false,
        ..F::action("a4")
    };
    let err = begin_registration(
        &f.store,
        track_token,
        VerificationMethod::Passkey,
        None,
        None,
        UserVerification::Required,
        &rp,
        &b64(&f.doc["registrationChallenge"]),
        NOW + 400_000,
    )
    .unwrap_err();
    assert!(
        matches!(err, CoreError::InvalidField { ref field, ref message } if field == "token" && message.contains("accessToken")),
        "{err:?}"
    );
    assert_eq!(f.store.list_authenticators().unwrap().len(), 1);
    let r = f.register_at("a4", "eddsa", NOW + 400_000).unwrap();
    assert_eq!(r.record.state, ActionState::ChallengeSucceeded);
    assert_eq!(f.store.list_authenticators().unwrap().len(), 2);
    // The same credential twice: refused.
    f.track_scoped("a3", r#"["PASSKEY"]"#, "[]", Some("add:authenticators"));
    f.sign_in("a3", "eddsa", 0, CounterPolicy::Reject).unwrap();
    let rp = f.rp();
    let begun = begin_registration(
        &f.store,
        F::action("a3"),
        VerificationMethod::Passkey,
        None,
        None,
        UserVerification::Preferred,
        &rp,
        &b64(&f.doc["registrationChallenge"]),
        NOW + 1,
    )
    .unwrap();
    // The excluded credentials are the ones registered.
    assert_eq!(
        begun.options["excludeCredentials"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn passkeys_must_be_allowed_for_the_action() {
    let f = F::new();
    f.track("a1", r#"["EMAIL_OTP"]"#, "[]");
    let err = f.register("a1", "es256").unwrap_err();
    assert!(
        matches!(err, CoreError::InvalidField { ref field, .. } if field == "verificationMethod")
    );
    let err = begin_authentication(
        &f.store,
        F::action("a1"),
        UserVerification::Preferred,
        &f.rp(),
        &[1u8; 32],
        NOW,
    )
    .unwrap_err();
    assert!(
        matches!(err, CoreError::InvalidField { ref field, .. } if field == "verificationMethod")
    );
}

#[test]
fn long_user_ids_cannot_carry_a_passkey() {
    let store = MemoryUserStore::new();
    let long = "u".repeat(65);
    assert!(user_handle(&long).is_err());
    assert!(user_handle(USER).is_ok());
    drop(store);
}

#[test]
fn the_prompt_shows_until_snoozed_or_a_passkey_exists() {
    let f = F::new();
    // The user has an email authenticator and passed the challenge with it.
    f.store
        .put_authenticator(&Authenticator {
            user_authenticator_id: "e".into(),
            verification_method: VerificationMethod::EmailOtp,
            created_at: NOW,
            verified_at: Some(NOW),
            last_verified_at: None,
            email: Some("a@b.example".into()),
            phone_number: None,
            is_default: true,
            secret: None,
        })
        .unwrap();
    f.track("a1", r#"["EMAIL_OTP","PASSKEY"]"#, r#"["PASSKEY"]"#);
    let pending = get_action(&f.store, "withdraw", "a1").unwrap();
    assert!(!should_prompt(&f.store, &pending, NOW).unwrap());
    let done = complete_challenge(
        &f.store,
        "withdraw",
        "a1",
        VerificationMethod::EmailOtp,
        NOW,
    )
    .unwrap();
    assert!(should_prompt(&f.store, &done, NOW).unwrap());
    let until = snooze_prompt(&f.store, 30, NOW).unwrap();
    assert!(!should_prompt(&f.store, &done, NOW + 1).unwrap());
    assert!(should_prompt(&f.store, &done, until).unwrap());
    // Accepting the prompt: registering after the challenge.
    f.register("a1", "es256").unwrap();
    assert!(!should_prompt(&f.store, &done, until).unwrap());
    // An action that does not ask never prompts.
    f.track("a2", r#"["EMAIL_OTP"]"#, "[]");
    let other = complete_challenge(
        &f.store,
        "withdraw",
        "a2",
        VerificationMethod::EmailOtp,
        NOW,
    )
    .unwrap();
    let g = F::new();
    assert!(!should_prompt(&g.store, &other, NOW).unwrap());
}

fn verified_email(f: &F) {
    f.store
        .put_authenticator(&Authenticator {
            user_authenticator_id: "email".into(),
            verification_method: VerificationMethod::EmailOtp,
            created_at: NOW,
            verified_at: Some(NOW),
            last_verified_at: None,
            email: Some("a@b.example".into()),
            phone_number: None,
            is_default: true,
            secret: None,
        })
        .unwrap();
}

#[test]
fn a_passkey_only_action_lets_an_enrolled_user_add_one_after_proving_another_method() {
    use crate::auth::otp::Channel;
    use crate::service::codes::{CodeCheck, issue_code, verify_code};
    let f = F::new();
    verified_email(&f);
    f.track("a1", r#"["PASSKEY"]"#, "[]");
    // Not before the user proved themselves.
    let err = f.register("a1", "es256").unwrap_err();
    assert!(matches!(err, CoreError::InvalidField { ref field, .. } if field == "token"));
    // The email the user has, though the action does not allow it.
    let sent = issue_code(
        &f.store,
        "withdraw",
        "a1",
        Channel::Email,
        None,
        "n".into(),
        "123456".into(),
        "salt".into(),
        false,
        NOW,
    )
    .unwrap();
    assert_eq!(sent.to, "a@b.example");
    let check = verify_code(
        &f.store,
        USER,
        "withdraw",
        "a1",
        Channel::Email,
        "123456",
        NOW,
    )
    .unwrap();
    let CodeCheck::Verified { record, .. } = check else {
        panic!("{check:?}")
    };
    // That completes nothing.
    assert_eq!(record.state, ActionState::ChallengeRequired);
    assert_eq!(
        record.enrollment_unlocked_by,
        Some(VerificationMethod::EmailOtp)
    );
    // Now the passkey can be added; it still has to sign in.
    let r = f.register("a1", "es256").unwrap();
    assert_eq!(r.record.state, ActionState::ChallengeRequired);
    let s = f.sign_in("a1", "es256", 0, CounterPolicy::Reject).unwrap();
    assert_eq!(s.record.state, ActionState::ChallengeSucceeded);
    assert_eq!(
        s.record.verification_method,
        Some(VerificationMethod::Passkey)
    );
}

#[test]
fn another_method_never_completes_a_passkey_only_challenge() {
    use crate::auth::otp::Channel;
    use crate::service::codes::issue_code;
    let f = F::new();
    verified_email(&f);
    f.track("a1", r#"["PASSKEY"]"#, "[]");
    // Enrolling a new address is not proving an existing one.
    let err = issue_code(
        &f.store,
        "withdraw",
        "a1",
        Channel::Email,
        Some("new@b.example"),
        "n".into(),
        "123456".into(),
        "salt".into(),
        false,
        NOW,
    )
    .unwrap_err();
    assert!(
        matches!(err, CoreError::InvalidField { ref field, .. } if field == "verificationMethod")
    );
    // And completing the challenge by any route checks the method.
    let err = complete_challenge(
        &f.store,
        "withdraw",
        "a1",
        VerificationMethod::EmailOtp,
        NOW,
    )
    .unwrap_err();
    assert!(
        matches!(err, CoreError::InvalidField { ref field, .. } if field == "verificationMethod")
    );
    assert_eq!(f.state("a1"), ActionState::ChallengeRequired);
    // Once the user has a passkey, other methods unlock nothing.
    f.track("a2", r#"["PASSKEY"]"#, "[]");
    f.store
        .put_authenticator(&Authenticator {
            verification_method: VerificationMethod::Passkey,
            user_authenticator_id: "pk".into(),
            email: None,
            ..f.store.list_authenticators().unwrap().remove(0)
        })
        .unwrap();
    let record = get_action(&f.store, "withdraw", "a2").unwrap();
    assert!(!crate::service::enroll::unlocks_enrollment(
        &record,
        &f.store.list_authenticators().unwrap(),
        VerificationMethod::EmailOtp
    ));
}

#[test]
fn a_sign_in_without_a_token_obeys_the_methods_sealed_into_its_ceremony() {
    let f = F::new();
    let list = RedirectAllowlist::parse("https://app.example.com").unwrap();
    let wire = config(
        "wire",
        r#"{"defaultUserActionResult":"CHALLENGE","verificationMethods":["PASSKEY"]}"#,
    );
    f.track("a1", r#"["PASSKEY"]"#, "[]");
    f.register("a1", "es256").unwrap();
    let rp = f.rp();
    // The named action allows security keys only: a passkey cannot sign in for it.
    let begun = begin_discoverable(
        Some("wire"),
        vec![VerificationMethod::SecurityKey],
        UserVerification::Preferred,
        &rp,
        &b64(&f.doc["authenticationChallenges"][0]),
        NOW,
    );
    let before = f.store.list_authenticators().unwrap();
    let err = finish_authentication(
        &f.store,
        USER,
        &begun.ceremony,
        &f.assertion("es256", 0),
        &rp,
        CounterPolicy::Reject,
        sign_in_track("wire", "k", None, &list),
        NOW,
    )
    .unwrap_err();
    assert!(
        matches!(err, CoreError::InvalidField { ref field, .. } if field == "verificationMethod")
    );
    // Nothing was written: not the counter, not the challenge.
    assert_eq!(f.store.list_authenticators().unwrap(), before);
    assert!(get_action(&f.store, "wire", "k").is_err());
    let ok = begin_discoverable(
        Some("wire"),
        vec![VerificationMethod::Passkey],
        UserVerification::Preferred,
        &rp,
        &b64(&f.doc["authenticationChallenges"][0]),
        NOW,
    );
    let s = finish_authentication(
        &f.store,
        USER,
        &ok.ceremony,
        &f.assertion("es256", 0),
        &rp,
        CounterPolicy::Reject,
        sign_in_track("wire", "k", Some(&wire), &list),
        NOW,
    )
    .unwrap();
    assert_eq!(
        s.record.allowed_verification_methods,
        [VerificationMethod::Passkey]
    );
    // A ceremony started for another relying party id does not verify here.
    let mut other = ok.ceremony.clone();
    other.rp_id = "elsewhere.example".into();
    let err = finish_authentication(
        &f.store,
        USER,
        &other,
        &f.assertion("es256", 1),
        &rp,
        CounterPolicy::Reject,
        sign_in_track("wire", "k2", None, &list),
        NOW,
    )
    .unwrap_err();
    assert_eq!(err, CoreError::WebAuthn(WebAuthnError::InvalidChallengeId));
}

#[test]
fn a_used_challenge_is_remembered_past_its_expiry() {
    let f = F::new();
    f.track("a1", r#"["PASSKEY"]"#, "[]");
    f.register("a1", "es256").unwrap();
    let rp = f.rp();
    let begun = begin_discoverable(
        None,
        vec![VerificationMethod::Passkey],
        UserVerification::Preferred,
        &rp,
        &b64(&f.doc["authenticationChallenges"][0]),
        NOW,
    );
    let list = RedirectAllowlist::parse("https://app.example.com").unwrap();
    let at = |now: Millis, key: &str| {
        let mut input = sign_in_track(DEFAULT_SIGN_IN_ACTION, key, None, &list);
        if let Some(i) = input.as_mut() {
            i.now = now;
        }
        finish_authentication(
            &f.store,
            USER,
            &begun.ceremony,
            &f.assertion("es256", 0),
            &rp,
            CounterPolicy::Report,
            input,
            now,
        )
    };
    let expiry_ms = i64::try_from(begun.ceremony.expires_at).unwrap() * 1000;
    at(expiry_ms - 1, "first").unwrap();
    // Just past expiry (a caller with a lagging clock): still used.
    assert_eq!(
        at(expiry_ms + 500, "second").unwrap_err(),
        CoreError::WebAuthn(WebAuthnError::ChallengeReused)
    );
}

#[test]
fn once_a_passkey_exists_the_unlock_adds_no_more() {
    use crate::auth::otp::Channel;
    use crate::service::codes::{issue_code, verify_code};
    let f = F::new();
    verified_email(&f);
    f.track("a1", r#"["PASSKEY"]"#, "[]");
    issue_code(
        &f.store,
        "withdraw",
        "a1",
        Channel::Email,
        None,
        "n".into(),
        "123456".into(),
        "salt".into(),
        false,
        NOW,
    )
    .unwrap();
    verify_code(
        &f.store,
        USER,
        "withdraw",
        "a1",
        Channel::Email,
        "123456",
        NOW,
    )
    .unwrap();
    f.register("a1", "es256").unwrap();
    // The challenge is still pending; a second passkey is not what the unlock was for.
    let err = f.register_at("a1", "eddsa", NOW + 301_000).unwrap_err();
    assert!(matches!(err, CoreError::InvalidField { ref field, .. } if field == "token"));
}
