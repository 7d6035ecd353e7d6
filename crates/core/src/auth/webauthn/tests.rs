//! Verification against ceremonies recorded from Chromium's virtual
//! authenticator (`tests/fixtures/webauthn/chromium.json`, made by
//! `record.mjs` next to it), and against a small software authenticator for
//! what Chromium does not produce (packed self-attestation, broken keys).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;
use super::{auth_data::*, ceremony::*, options::*, verify::*, wire::*};
use crate::auth::methods::VerificationMethod;
use crate::encoding::b64url;
use ciborium::value::Value as Cbor;
use coset::{CborSerializable, iana};
use serde_json::{Value, json};
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const FIXTURE: &str = include_str!("../../../tests/fixtures/webauthn/chromium.json");

struct Fixture {
    doc: Value,
}

impl Fixture {
    fn load() -> Self {
        Fixture {
            doc: serde_json::from_str(FIXTURE).unwrap(),
        }
    }
    fn rp(&self) -> RelyingParty {
        RelyingParty {
            id: self.doc["rpId"].as_str().unwrap().to_owned(),
            name: "ActionGate test".into(),
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
    fn reg_challenge(&self) -> Vec<u8> {
        decode(self.doc["registrationChallenge"].as_str().unwrap(), "c").unwrap()
    }
    fn auth_challenge(&self, i: usize) -> Vec<u8> {
        decode(
            self.doc["authenticationChallenges"][i].as_str().unwrap(),
            "c",
        )
        .unwrap()
    }
    fn registration(&self, name: &str) -> RegistrationResponse {
        serde_json::from_value(self.cred(name)["registration"].clone()).unwrap()
    }
    fn authentication(&self, name: &str, i: usize) -> AuthenticationResponse {
        serde_json::from_value(self.cred(name)["authentications"][i].clone()).unwrap()
    }
    fn user_handle(&self) -> Vec<u8> {
        decode(self.doc["userHandle"].as_str().unwrap(), "h").unwrap()
    }
    fn register(&self, name: &str, uv: UserVerification) -> StoredCredential {
        let rp = self.rp();
        let challenge = self.reg_challenge();
        verify_registration(
            &self.registration(name),
            &Expected {
                rp: &rp,
                challenge: &challenge,
                user_verification: uv,
            },
        )
        .unwrap()
    }
    fn sign_in(
        &self,
        name: &str,
        i: usize,
        stored: &StoredCredential,
        uv: UserVerification,
    ) -> Result<Assertion, WebAuthnError> {
        let rp = self.rp();
        let challenge = self.auth_challenge(i);
        verify_authentication(
            &self.authentication(name, i),
            &Expected {
                rp: &rp,
                challenge: &challenge,
                user_verification: uv,
            },
            stored,
            Some(&self.user_handle()),
        )
    }
}

#[test]
fn recorded_registrations_verify_for_every_algorithm() {
    let f = Fixture::load();
    for (name, alg) in [
        ("es256", ALG_ES256),
        ("eddsa", ALG_EDDSA),
        ("rs256", ALG_RS256),
    ] {
        let c = f.register(name, UserVerification::Required);
        assert_eq!(c.alg, alg, "{name}");
        assert_eq!(c.counter, 1);
        assert_eq!(c.attestation_format, "none");
        assert!(c.user_verified);
        assert!(!c.backup_eligible && !c.backup_state);
        assert_eq!(c.transports, ["internal"]);
        assert_eq!(c.authenticator_attachment.as_deref(), Some("platform"));
        assert_eq!(c.credential_id, f.registration(name).raw_id);
        assert_eq!(c.aaguid.len(), 36);
    }
}

#[test]
fn recorded_assertions_verify_and_count_up() {
    let f = Fixture::load();
    for name in ["es256", "eddsa", "rs256"] {
        let mut c = f.register(name, UserVerification::Required);
        let a = f.sign_in(name, 0, &c, UserVerification::Required).unwrap();
        assert_eq!(
            (a.counter, a.counter_regressed, a.user_verified),
            (2, false, true),
            "{name}"
        );
        c.counter = a.counter;
        let b = f.sign_in(name, 1, &c, UserVerification::Required).unwrap();
        assert_eq!((b.counter, b.counter_regressed), (3, false), "{name}");
    }
}

#[test]
fn wrong_origin_is_refused() {
    let f = Fixture::load();
    let mut rp = f.rp();
    rp.origins = vec!["https://bank.example".into()];
    let challenge = f.reg_challenge();
    let err = verify_registration(
        &f.registration("es256"),
        &Expected {
            rp: &rp,
            challenge: &challenge,
            user_verification: UserVerification::Preferred,
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, WebAuthnError::OriginNotAllowed(ref o) if o.starts_with("http://localhost:"))
    );
    let c = f.register("es256", UserVerification::Preferred);
    let challenge = f.auth_challenge(0);
    let err = verify_authentication(
        &f.authentication("es256", 0),
        &Expected {
            rp: &rp,
            challenge: &challenge,
            user_verification: UserVerification::Preferred,
        },
        &c,
        None,
    )
    .unwrap_err();
    assert!(matches!(err, WebAuthnError::OriginNotAllowed(_)));
}

#[test]
fn wrong_rp_id_is_refused() {
    let f = Fixture::load();
    let mut rp = f.rp();
    rp.id = "example.com".into();
    let challenge = f.reg_challenge();
    let err = verify_registration(
        &f.registration("eddsa"),
        &Expected {
            rp: &rp,
            challenge: &challenge,
            user_verification: UserVerification::Preferred,
        },
    )
    .unwrap_err();
    assert_eq!(err, WebAuthnError::RpIdMismatch("example.com".into()));
    let c = f.register("eddsa", UserVerification::Preferred);
    let challenge = f.auth_challenge(0);
    let err = verify_authentication(
        &f.authentication("eddsa", 0),
        &Expected {
            rp: &rp,
            challenge: &challenge,
            user_verification: UserVerification::Preferred,
        },
        &c,
        None,
    )
    .unwrap_err();
    assert_eq!(err, WebAuthnError::RpIdMismatch("example.com".into()));
}

#[test]
fn another_challenge_is_refused() {
    let f = Fixture::load();
    let c = f.register("es256", UserVerification::Preferred);
    let rp = f.rp();
    // The first assertion presented against the second challenge (a replay).
    let challenge = f.auth_challenge(1);
    let err = verify_authentication(
        &f.authentication("es256", 0),
        &Expected {
            rp: &rp,
            challenge: &challenge,
            user_verification: UserVerification::Preferred,
        },
        &c,
        None,
    )
    .unwrap_err();
    assert_eq!(err, WebAuthnError::ChallengeMismatch);
    // A registration answer is not an assertion.
    let err = verify_registration(
        &f.registration("es256"),
        &Expected {
            rp: &rp,
            challenge: &f.auth_challenge(0),
            user_verification: UserVerification::Preferred,
        },
    )
    .unwrap_err();
    assert_eq!(err, WebAuthnError::ChallengeMismatch);
}

fn flip_last_byte(b64: &str) -> String {
    let mut bytes = decode(b64, "x").unwrap();
    *bytes.last_mut().unwrap() ^= 0x01;
    b64url(&bytes)
}

#[test]
fn tampered_signatures_and_data_are_refused() {
    let f = Fixture::load();
    for name in ["es256", "eddsa", "rs256"] {
        let c = f.register(name, UserVerification::Preferred);
        let rp = f.rp();
        let challenge = f.auth_challenge(0);
        let exp = Expected {
            rp: &rp,
            challenge: &challenge,
            user_verification: UserVerification::Preferred,
        };
        let mut a = f.authentication(name, 0);
        a.response.signature = flip_last_byte(&a.response.signature);
        assert_eq!(
            verify_authentication(&a, &exp, &c, None).unwrap_err(),
            WebAuthnError::BadSignature,
            "{name}"
        );
        // A raised counter the authenticator never signed.
        let mut a = f.authentication(name, 0);
        a.response.authenticator_data = flip_last_byte(&a.response.authenticator_data);
        assert_eq!(
            verify_authentication(&a, &exp, &c, None).unwrap_err(),
            WebAuthnError::BadSignature,
            "{name}"
        );
    }
}

#[test]
fn unknown_or_foreign_credentials_are_refused() {
    let f = Fixture::load();
    let es = f.register("es256", UserVerification::Preferred);
    let rp = f.rp();
    let challenge = f.auth_challenge(0);
    let exp = Expected {
        rp: &rp,
        challenge: &challenge,
        user_verification: UserVerification::Preferred,
    };
    // An EdDSA assertion checked against the ES256 credential.
    assert_eq!(
        verify_authentication(&f.authentication("eddsa", 0), &exp, &es, None).unwrap_err(),
        WebAuthnError::CredentialMismatch
    );
    // The right credential, registered for another user handle.
    assert_eq!(
        verify_authentication(
            &f.authentication("es256", 0),
            &exp,
            &es,
            Some(b"someone-else")
        )
        .unwrap_err(),
        WebAuthnError::UserHandleMismatch
    );
}

#[test]
fn counter_regression_is_reported() {
    let f = Fixture::load();
    let mut c = f.register("es256", UserVerification::Preferred);
    c.counter = 7;
    let a = f
        .sign_in("es256", 1, &c, UserVerification::Preferred)
        .unwrap();
    assert!(a.counter_regressed);
    assert_eq!(a.counter, 3);
    // Equal is a regression too (only 0/0 means "no counter").
    c.counter = 3;
    assert!(
        f.sign_in("es256", 1, &c, UserVerification::Preferred)
            .unwrap()
            .counter_regressed
    );
}

#[test]
fn missing_user_verification_is_refused_when_required() {
    let f = Fixture::load();
    let rp = f.rp();
    let challenge = f.reg_challenge();
    let err = verify_registration(
        &f.registration("es256-no-uv"),
        &Expected {
            rp: &rp,
            challenge: &challenge,
            user_verification: UserVerification::Required,
        },
    )
    .unwrap_err();
    assert_eq!(err, WebAuthnError::UserNotVerified);
    let c = f.register("es256-no-uv", UserVerification::Preferred);
    assert!(!c.user_verified);
    assert_eq!(
        f.sign_in("es256-no-uv", 0, &c, UserVerification::Required)
            .unwrap_err(),
        WebAuthnError::UserNotVerified
    );
    let a = f
        .sign_in("es256-no-uv", 0, &c, UserVerification::Preferred)
        .unwrap();
    assert!(!a.user_verified);
}

#[test]
fn wrong_ceremony_type_is_refused() {
    let f = Fixture::load();
    let c = f.register("es256", UserVerification::Preferred);
    let reg = f.registration("es256");
    // A registration's clientDataJSON replayed into an assertion.
    let mut a = f.authentication("es256", 0);
    a.response.client_data_json = reg.response.client_data_json;
    let rp = f.rp();
    let err = verify_authentication(
        &a,
        &Expected {
            rp: &rp,
            challenge: &f.reg_challenge(),
            user_verification: UserVerification::Preferred,
        },
        &c,
        None,
    )
    .unwrap_err();
    assert!(matches!(
        err,
        WebAuthnError::WrongType {
            expected: "webauthn.get",
            ..
        }
    ));
}

#[test]
fn garbage_is_malformed_not_a_panic() {
    let f = Fixture::load();
    let rp = f.rp();
    let challenge = f.reg_challenge();
    let exp = Expected {
        rp: &rp,
        challenge: &challenge,
        user_verification: UserVerification::Preferred,
    };
    let base = f.registration("es256");
    let att = decode(&base.response.attestation_object, "a").unwrap();
    for cut in [0, 1, 10, 40, 100, att.len() - 1] {
        let mut r = base.clone();
        r.response.attestation_object = b64url(&att[..cut]);
        assert!(verify_registration(&r, &exp).is_err(), "cut at {cut}");
    }
    let mut r = base.clone();
    r.response.client_data_json = "!!".into();
    assert!(matches!(
        verify_registration(&r, &exp),
        Err(WebAuthnError::Malformed(_))
    ));
    let mut r = base;
    r.id = "AAAA".into();
    assert!(matches!(
        verify_registration(&r, &exp),
        Err(WebAuthnError::Malformed(_))
    ));
    let c = f.register("es256", UserVerification::Preferred);
    let mut a = f.authentication("es256", 0);
    a.response.authenticator_data = b64url(&[0u8; 20]);
    let exp = Expected {
        rp: &rp,
        challenge: &f.auth_challenge(0),
        user_verification: UserVerification::Preferred,
    };
    assert!(matches!(
        verify_authentication(&a, &exp, &c, None),
        Err(WebAuthnError::Malformed(_))
    ));
}

/// A software authenticator producing `packed` self-attestation with P-256.
struct SoftKey {
    key: p256::ecdsa::SigningKey,
    id: Vec<u8>,
}

impl SoftKey {
    fn new(seed: u8) -> Self {
        SoftKey {
            key: p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap(),
            id: vec![seed; 16],
        }
    }
    fn cose(&self) -> Vec<u8> {
        let point = self.key.verifying_key().to_sec1_bytes();
        coset::CoseKeyBuilder::new_ec2_pub_key(
            iana::EllipticCurve::P_256,
            point[1..33].to_vec(),
            point[33..65].to_vec(),
        )
        .algorithm(iana::Algorithm::ES256)
        .build()
        .to_vec()
        .unwrap()
    }
    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::Signer as _;
        let sig: p256::ecdsa::Signature = self.key.sign(msg);
        sig.to_der().as_bytes().to_vec()
    }
    fn client_data(kind: &str, challenge: &[u8], origin: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({"type": kind, "challenge": b64url(challenge), "origin": origin}))
            .unwrap()
    }
    fn register(
        &self,
        rp: &RelyingParty,
        challenge: &[u8],
        flags: u8,
        sig_alg: i64,
    ) -> RegistrationResponse {
        self.register_key(rp, challenge, flags, sig_alg, &self.cose())
    }
    /// A registration whose attested key is `cose`, as encoded.
    fn register_key(
        &self,
        rp: &RelyingParty,
        challenge: &[u8],
        flags: u8,
        sig_alg: i64,
        cose: &[u8],
    ) -> RegistrationResponse {
        let cd = Self::client_data("webauthn.create", challenge, &rp.origins[0]);
        let mut ad = sha256(rp.id.as_bytes()).to_vec();
        ad.push(flags | FLAG_AT);
        ad.extend_from_slice(&0u32.to_be_bytes());
        ad.extend_from_slice(&[0xaa; 16]);
        ad.extend_from_slice(&u16::try_from(self.id.len()).unwrap().to_be_bytes());
        ad.extend_from_slice(&self.id);
        ad.extend_from_slice(cose);
        let mut signed = ad.clone();
        signed.extend_from_slice(&sha256(&cd));
        let stmt = Cbor::Map(vec![
            (Cbor::Text("alg".into()), Cbor::Integer(sig_alg.into())),
            (Cbor::Text("sig".into()), Cbor::Bytes(self.sign(&signed))),
        ]);
        let obj = Cbor::Map(vec![
            (Cbor::Text("fmt".into()), Cbor::Text("packed".into())),
            (Cbor::Text("attStmt".into()), stmt),
            (Cbor::Text("authData".into()), Cbor::Bytes(ad)),
        ]);
        let mut att = Vec::new();
        ciborium::ser::into_writer(&obj, &mut att).unwrap();
        RegistrationResponse {
            id: b64url(&self.id),
            raw_id: b64url(&self.id),
            kind: "public-key".into(),
            response: AttestationResponse {
                client_data_json: b64url(&cd),
                attestation_object: b64url(&att),
                transports: vec!["usb".into()],
            },
            authenticator_attachment: Some("cross-platform".into()),
        }
    }
}

fn soft_rp() -> RelyingParty {
    RelyingParty {
        id: "bank.example".into(),
        name: "Bank".into(),
        origins: vec!["https://bank.example".into()],
    }
}

#[test]
fn packed_self_attestation_is_verified() {
    let rp = soft_rp();
    let key = SoftKey::new(7);
    let exp = Expected {
        rp: &rp,
        challenge: b"0123456789abcdef0123456789abcdef",
        user_verification: UserVerification::Required,
    };
    let c = verify_registration(
        &key.register(
            &rp,
            exp.challenge,
            FLAG_UP | FLAG_UV | FLAG_BE | FLAG_BS,
            ALG_ES256,
        ),
        &exp,
    )
    .unwrap();
    assert_eq!(c.attestation_format, "packed");
    assert_eq!(c.aaguid, "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa");
    assert!(c.backup_eligible && c.backup_state);
    // Signed by another key: refused.
    let mut forged = key.register(&rp, exp.challenge, FLAG_UP | FLAG_UV, ALG_ES256);
    let other = SoftKey::new(8).register(&rp, exp.challenge, FLAG_UP | FLAG_UV, ALG_ES256);
    let mut obj: Cbor = ciborium::de::from_reader(
        decode(&forged.response.attestation_object, "a")
            .unwrap()
            .as_slice(),
    )
    .unwrap();
    let other_obj: Cbor = ciborium::de::from_reader(
        decode(&other.response.attestation_object, "a")
            .unwrap()
            .as_slice(),
    )
    .unwrap();
    if let (Cbor::Map(m), Cbor::Map(o)) = (&mut obj, &other_obj) {
        m[1] = o[1].clone();
    }
    let mut att = Vec::new();
    ciborium::ser::into_writer(&obj, &mut att).unwrap();
    forged.response.attestation_object = b64url(&att);
    assert_eq!(
        verify_registration(&forged, &exp).unwrap_err(),
        WebAuthnError::BadAttestation
    );
    // The statement's algorithm must be the key's.
    assert_eq!(
        verify_registration(
            &key.register(&rp, exp.challenge, FLAG_UP | FLAG_UV, ALG_EDDSA),
            &exp
        )
        .unwrap_err(),
        WebAuthnError::BadAttestation
    );
    // No user presence: refused.
    assert_eq!(
        verify_registration(&key.register(&rp, exp.challenge, FLAG_UV, ALG_ES256), &exp)
            .unwrap_err(),
        WebAuthnError::UserNotPresent
    );
}

#[test]
fn ceremony_ids_are_sealed_and_expire() {
    let keys = CeremonyKeys::new(&[1u8; 32], None);
    let c = Ceremony {
        purpose: Purpose::Authentication,
        challenge: b64url(&[9u8; 32]),
        method: VerificationMethod::Passkey,
        user_verification: UserVerification::Required,
        user_id: None,
        action_code: Some("signIn".into()),
        idempotency_key: None,
        allowed_methods: None,
        rp_id: "bank.example".into(),
        user_name: None,
        display_name: None,
        expires_at: 1_000,
    };
    let id = keys.seal(&c);
    assert_eq!(keys.open(&id, 999).unwrap(), c);
    assert_eq!(
        keys.open(&id, 1_000).unwrap_err(),
        WebAuthnError::ChallengeExpired
    );
    // Another deployment's id, or an edited one, is refused.
    assert_eq!(
        CeremonyKeys::new(&[2u8; 32], None)
            .open(&id, 999)
            .unwrap_err(),
        WebAuthnError::InvalidChallengeId
    );
    let (payload, mac) = id.split_once('.').unwrap();
    let mut edited = c.clone();
    edited.expires_at = u64::MAX;
    let forged = format!(
        "{}.{mac}",
        b64url(serde_json::to_string(&edited).unwrap().as_bytes())
    );
    assert_ne!(payload, forged.split_once('.').unwrap().0);
    assert_eq!(
        keys.open(&forged, 999).unwrap_err(),
        WebAuthnError::InvalidChallengeId
    );
    assert_eq!(
        keys.open("nonsense", 0).unwrap_err(),
        WebAuthnError::InvalidChallengeId
    );
    // During a rotation the previous key still opens it.
    let rotated = CeremonyKeys::new(&[3u8; 32], Some(&[1u8; 32]));
    assert_eq!(rotated.open(&id, 999).unwrap(), c);
}

#[test]
fn options_offer_what_is_verified() {
    let rp = soft_rp();
    let existing = StoredCredential {
        credential_id: "AQID".into(),
        public_key: String::new(),
        alg: ALG_ES256,
        counter: 0,
        transports: vec!["usb".into()],
        aaguid: String::new(),
        backup_eligible: false,
        backup_state: false,
        user_verified: true,
        attestation_format: "none".into(),
        authenticator_attachment: None,
        counter_regressions: 0,
        username: None,
        display_name: None,
        user_agent: None,
    };
    let o = creation_options(
        &rp,
        &UserEntity {
            handle: b"user-1",
            name: "a@b.example",
            display_name: "A",
        },
        &[5u8; 32],
        &[&existing],
        UserVerification::Required,
        VerificationMethod::Passkey,
        Some("platform"),
    );
    assert_eq!(o["rp"]["id"], "bank.example");
    assert_eq!(o["user"]["id"], b64url(b"user-1"));
    assert_eq!(o["attestation"], "none");
    assert_eq!(o["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(o["authenticatorSelection"]["userVerification"], "required");
    assert_eq!(
        o["authenticatorSelection"]["authenticatorAttachment"],
        "platform"
    );
    assert_eq!(o["excludeCredentials"][0]["id"], "AQID");
    let algs: Vec<i64> = o["pubKeyCredParams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["alg"].as_i64().unwrap())
        .collect();
    assert_eq!(algs, SUPPORTED_ALGORITHMS);
    let k = creation_options(
        &rp,
        &UserEntity {
            handle: b"u",
            name: "u",
            display_name: "u",
        },
        &[5u8; 32],
        &[],
        UserVerification::Preferred,
        VerificationMethod::SecurityKey,
        Some("platform"),
    );
    assert_eq!(
        k["authenticatorSelection"]["authenticatorAttachment"],
        "cross-platform"
    );
    let r = request_options(&rp, &[6u8; 32], &[], UserVerification::Preferred);
    assert_eq!(r["allowCredentials"], json!([]));
    assert_eq!(r["rpId"], "bank.example");
}

#[test]
fn backup_eligibility_cannot_change() {
    let f = Fixture::load();
    let mut c = f.register("es256", UserVerification::Preferred);
    c.backup_eligible = true;
    assert!(matches!(
        f.sign_in("es256", 0, &c, UserVerification::Preferred),
        Err(WebAuthnError::Malformed(_))
    ));
}

/// The attestation object of `r`, re-encoded after `edit`.
fn edit_attestation(
    r: &RegistrationResponse,
    edit: impl FnOnce(&mut Vec<u8>),
) -> RegistrationResponse {
    let mut att = decode(&r.response.attestation_object, "a").unwrap();
    edit(&mut att);
    let mut r = r.clone();
    r.response.attestation_object = b64url(&att);
    r
}

fn encode(value: &Cbor) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).unwrap();
    out
}

#[test]
fn attestation_objects_are_read_strictly_but_tolerate_unknown_entries() {
    let rp = soft_rp();
    let key = SoftKey::new(9);
    let exp = Expected {
        rp: &rp,
        challenge: b"0123456789abcdef0123456789abcdef",
        user_verification: UserVerification::Preferred,
    };
    let good = key.register(&rp, exp.challenge, FLAG_UP, ALG_ES256);
    verify_registration(&good, &exp).unwrap();
    let entries = |att: &[u8]| match ciborium::de::from_reader::<Cbor, _>(att).unwrap() {
        Cbor::Map(m) => m,
        _ => unreachable!(),
    };
    // An entry this reader does not know is stepped over.
    let extra = edit_attestation(&good, |att| {
        let mut m = entries(att);
        m.insert(
            1,
            (Cbor::Text("ext".into()), Cbor::Array(vec![Cbor::Null; 3])),
        );
        *att = encode(&Cbor::Map(m));
    });
    verify_registration(&extra, &exp).unwrap();
    // A key twice: which one counts would be a parser's guess.
    let twice = edit_attestation(&good, |att| {
        let mut m = entries(att);
        m.push((Cbor::Text("fmt".into()), Cbor::Text("none".into())));
        *att = encode(&Cbor::Map(m));
    });
    // Indefinite length (not canonical CBOR), and bytes after the object.
    let indefinite = edit_attestation(&good, |att| {
        att[0] = 0xbf;
        att.push(0xff);
    });
    let trailing = edit_attestation(&good, |att| att.push(0));
    // A break byte standing for an unknown entry's value.
    let stray_break = edit_attestation(&good, |att| {
        assert_eq!(att[0], 0xa3);
        att[0] = 0xa4;
        att.extend(encode(&Cbor::Text("ext".into())));
        att.push(0xff);
    });
    // A key that is not text, and a missing authData.
    let not_text = edit_attestation(&good, |att| {
        let mut m = entries(att);
        m[0].0 = Cbor::Bytes(b"fmt".to_vec());
        *att = encode(&Cbor::Map(m));
    });
    let missing = edit_attestation(&good, |att| {
        let mut m = entries(att);
        m.retain(|(k, _)| k != &Cbor::Text("authData".into()));
        *att = encode(&Cbor::Map(m));
    });
    for (name, r) in [
        ("twice", twice),
        ("indefinite", indefinite),
        ("trailing", trailing),
        ("stray break", stray_break),
        ("not text", not_text),
        ("missing", missing),
    ] {
        assert!(
            matches!(
                verify_registration(&r, &exp),
                Err(WebAuthnError::Malformed(_))
            ),
            "{name}"
        );
    }
}

#[test]
fn cose_keys_are_read_strictly_and_agree_with_coset() {
    let rp = soft_rp();
    let key = SoftKey::new(11);
    let exp = Expected {
        rp: &rp,
        challenge: b"0123456789abcdef0123456789abcdef",
        user_verification: UserVerification::Preferred,
    };
    let point = key.key.verifying_key().to_sec1_bytes();
    let (x, y) = (point[1..33].to_vec(), point[33..65].to_vec());
    let int = |i: i64| Cbor::Integer(i.into());
    // An EC2 key (kty 2) of `alg` on curve `crv`, with `extra` entries.
    let key_with = |alg: i64, crv: i64, x: &[u8], extra: Vec<(Cbor, Cbor)>| {
        let mut m = vec![
            (int(1), int(2)),
            (int(3), int(alg)),
            (int(-1), int(crv)),
            (int(-2), Cbor::Bytes(x.to_vec())),
            (int(-3), Cbor::Bytes(y.clone())),
        ];
        m.extend(extra);
        encode(&Cbor::Map(m))
    };
    let cose = |extra: Vec<(Cbor, Cbor)>| key_with(ALG_ES256, 1, &x, extra);
    let register = |cose: &[u8]| {
        verify_registration(
            &key.register_key(&rp, exp.challenge, FLAG_UP, ALG_ES256, cose),
            &exp,
        )
    };
    // The same key as coset reads it; unknown labels, text ones too, are stepped over.
    let plain = register(&cose(vec![])).unwrap();
    let stored = decode(&plain.public_key, "k").unwrap();
    let by_coset = coset::CoseKey::from_slice(&stored).unwrap();
    assert_eq!(
        by_coset.alg,
        Some(coset::RegisteredLabelWithPrivate::Assigned(
            iana::Algorithm::ES256
        ))
    );
    assert_eq!(plain.alg, ALG_ES256);
    register(&cose(vec![
        (int(-70), Cbor::Map(vec![])),
        (Cbor::Text("note".into()), Cbor::Text("x".into())),
    ]))
    .unwrap();
    // Larger than any accepted key: refused before it is read.
    assert!(matches!(
        register(&cose(vec![(int(-70), Cbor::Bytes(vec![0; 1100]))])),
        Err(WebAuthnError::Malformed(_))
    ));
    // A label twice, a curve that is not P-256, a short coordinate, an
    // algorithm the key type does not have: refused.
    for (name, bad) in [
        ("twice", cose(vec![(int(-2), Cbor::Bytes(y.clone()))])),
        ("curve", key_with(ALG_ES256, 2, &x, vec![])),
        ("short", key_with(ALG_ES256, 1, &x[..31], vec![])),
        ("algorithm", key_with(ALG_RS256, 1, &x, vec![])),
        (
            "seventeen parameters",
            key_with(
                ALG_ES256,
                1,
                &x,
                (10..22).map(|l| (int(l), int(0))).collect(),
            ),
        ),
    ] {
        assert!(
            matches!(register(&bad), Err(WebAuthnError::UnsupportedKey(_))),
            "{name}: {:?}",
            register(&bad)
        );
    }
    // A break where a value should be is not CBOR at all: the key's extent
    // in authenticatorData cannot be found.
    let mut stray_break = cose(vec![]);
    assert_eq!(stray_break[0], 0xa5);
    stray_break[0] = 0xa6;
    // Label -70, then a break where its value should be.
    stray_break.extend([0x38, 0x45, 0xff]);
    assert!(
        matches!(register(&stray_break), Err(WebAuthnError::Malformed(_))),
        "{:?}",
        register(&stray_break)
    );
}
