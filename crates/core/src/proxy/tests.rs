#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use super::*;
use serde_json::json;

fn config() -> ProxyConfig {
    parse_proxy(json!({
        "originUrl": "http://127.0.0.1:8788",
        "identity": {
            "jwt": {"cookie": "session", "algorithm": "HS256", "secretEnv": "APP_SESSION_SECRET"},
            "trustedHeader": {"header": "X-User-Id", "secretHeader": "X-Upstream-Secret", "secretEnv": "UPSTREAM_SECRET"},
            "loginUrl": "/login"
        },
        "routes": [
            {"method": "POST", "path": "/api/withdraw", "action": "withdraw-funds",
             "custom": {"amount": "body:/amount", "destinationAccount": "body:/to/account", "note": "query:note"}},
            {"method": "POST", "path": "/withdraw", "action": "withdraw-funds",
             "custom": {"amount": {"from": "form:amount", "type": "number"}, "destinationAccount": "form:to"}},
            {"method": "POST", "path": "/accounts/:accountId/close", "action": "close-account",
             "custom": {"accountId": "param:accountId", "client": "header:X-Client"}},
            {"method": "GET", "path": "/export/*", "action": "export-data"}
        ]
    }))
    .unwrap()
}

#[test]
fn routes_match_by_method_and_pattern() {
    let c = config();
    assert_eq!(
        c.route("POST", "/api/withdraw").unwrap().0.action,
        "withdraw-funds"
    );
    assert!(c.route("GET", "/api/withdraw").is_none(), "method matters");
    assert!(c.route("POST", "/api/withdraw/extra").is_none());
    let (r, params) = c.route("post", "/accounts/acc%2042/close").unwrap();
    assert_eq!(r.action, "close-account");
    assert_eq!(params["accountId"], "acc 42");
    assert!(c.route("POST", "/accounts//close").is_none());
    assert_eq!(
        c.route("GET", "/export/2026/all.csv").unwrap().0.action,
        "export-data"
    );
    assert!(c.route("GET", "/").is_none());
}

#[test]
fn every_spelling_an_app_may_route_to_a_protected_path_matches_it() {
    let c = config();
    for path in [
        "/api/withdraw/",
        "/API/Withdraw",
        "//api///withdraw",
        "/%61pi/withdraw",
        "/api\\withdraw",
        "/x/../api/withdraw",
        "/x/%2e%2e/api/withdraw",
        "/./api/./withdraw",
        "/api/withdraw;jsessionid=1",
        "/api;x/withdraw;%2F..",
        "/api/withdraw.json",
        "/api/Withdraw.XML;v=1",
        "/api/withdraw.tar.gz",
    ] {
        assert_eq!(
            c.route("POST", path).map(|(r, _)| r.action.as_str()),
            Some("withdraw-funds"),
            "{path}"
        );
    }
    // A format suffix counts on the final literal only, and only after a dot.
    for path in [
        "/api.json/withdraw",
        "/api/withdrawals",
        "/api/withdraw.",
        "/api/withdraw-json",
    ] {
        assert!(c.route("POST", path).is_none(), "{path}");
    }
    // Parameters keep their text (without `;parameters`); literals around
    // them still match leniently.
    let (_, params) = c.route("POST", "/Accounts/AbC%2042;v=1/CLOSE/").unwrap();
    assert_eq!(params["accountId"], "AbC 42");
    // A segment that decodes to a separator could be split either way.
    for path in [
        "/api%2Fwithdraw",
        "/accounts/42%2Fx/close",
        "/api%5Cwithdraw",
        "/a%00b",
        "/api%252Fwithdraw",
        "/api%255cwithdraw",
        "/a%2500b",
    ] {
        assert!(ambiguous_path(path), "{path}");
    }
    // Other encodings, once or twice, are ordinary text.
    for path in [
        "/api/with%2520drawal",
        "/a%25b",
        "/%61pi/withdraw",
        "/a/b%3Bc",
    ] {
        assert!(!ambiguous_path(path), "{path}");
    }
    for path in ["/api/withdraw", "/accounts/acc%2042/close", "/a%2525b"] {
        assert!(!ambiguous_path(path), "{path}");
    }
    // HEAD is answered by GET handlers.
    assert_eq!(
        c.route("HEAD", "/export/all.csv").unwrap().0.action,
        "export-data"
    );
    assert!(c.route("HEAD", "/api/withdraw").is_none());
    // Method overrides, as apps read them.
    let post = |o: &[&str], form: bool| {
        let o: Vec<String> = o.iter().map(|s| (*s).to_owned()).collect();
        c.route_for("GET", "/api/withdraw", &o, form)
            .map(|(r, _)| r.action.clone())
    };
    assert_eq!(post(&["POST"], false).as_deref(), Some("withdraw-funds"));
    assert_eq!(post(&[], false), None);
    let del = parse_proxy(json!({
        "originUrl": "http://127.0.0.1:8788",
        "identity": {"jwt": {"cookie": "session", "algorithm": "HS256", "secretEnv": "APP_SESSION_SECRET"}},
        "routes": [{"method": "DELETE", "path": "/accounts/:id", "action": "close-account"}]
    }))
    .unwrap();
    assert!(
        del.route_for("POST", "/accounts/7", &[], true).is_some(),
        "a form POST may carry _method=DELETE"
    );
    assert!(del.route_for("POST", "/accounts/7", &[], false).is_none());
    assert!(
        del.route_for("POST", "/accounts/7", &["DELETE".into()], false)
            .is_some()
    );
    // Other paths stay other paths.
    for path in [
        "/api/withdraws",
        "/api",
        "/api/withdraw/x",
        "/../withdraw/x",
    ] {
        assert!(c.route("POST", path).is_none(), "{path}");
    }
    assert_eq!(
        normal_segments("/a//b/./c/../d/"),
        vec!["a".to_owned(), "b".to_owned(), "d".to_owned()]
    );
    // A pattern's trailing slash is no segment.
    assert!(
        PathPattern::parse("/a/b/")
            .unwrap()
            .matches("/a/b")
            .is_some()
    );
}

#[test]
fn attributes_come_from_json_form_query_header_and_params() {
    let c = config();
    let (r, _) = c.route("POST", "/api/withdraw").unwrap();
    let body = br#"{"amount": 2500.5, "to": {"account": "NZ-1"}}"#;
    let got = extract_custom(
        r,
        &RequestParts {
            query: "note=rent&x=1",
            body,
            content_type: "application/json",
            ..Default::default()
        },
    );
    assert_eq!(
        Value::Object(got),
        json!({"amount": 2500.5, "destinationAccount": "NZ-1", "note": "rent"})
    );

    let (r, _) = c.route("POST", "/withdraw").unwrap();
    let got = extract_custom(
        r,
        &RequestParts {
            body: b"amount=1200&to=GB-1234-999",
            content_type: "application/x-www-form-urlencoded",
            ..Default::default()
        },
    );
    assert_eq!(
        Value::Object(got),
        json!({"amount": 1200, "destinationAccount": "GB-1234-999"})
    );

    let (r, params) = c.route("POST", "/accounts/a1/close").unwrap();
    let got = extract_custom(
        r,
        &RequestParts {
            headers: vec![("x-client".into(), "ios".into())],
            params,
            ..Default::default()
        },
    );
    assert_eq!(
        Value::Object(got),
        json!({"accountId": "a1", "client": "ios"})
    );
}

#[test]
fn absent_or_unparseable_sources_are_null() {
    let c = config();
    let (r, _) = c.route("POST", "/api/withdraw").unwrap();
    let got = extract_custom(
        r,
        &RequestParts {
            body: b"{not json",
            content_type: "application/json",
            ..Default::default()
        },
    );
    assert_eq!(
        Value::Object(got),
        json!({"amount": null, "destinationAccount": null, "note": null})
    );
    let (r, _) = c.route("POST", "/withdraw").unwrap();
    let got = extract_custom(
        r,
        &RequestParts {
            body: b"amount=lots",
            content_type: "application/x-www-form-urlencoded",
            ..Default::default()
        },
    );
    assert_eq!(
        got["amount"],
        Value::Null,
        "a number that does not parse is null"
    );
}

#[test]
fn configuration_problems_are_located() {
    let err = parse_proxy(json!({
        "originUrl": "ftp://x/y",
        "identity": {"jwt": {"algorithm": "HS256", "secretEnv": "lower", "bearer": false}, "loginUrl": "https://evil.example"},
        "routes": [
            {"method": "FETCH", "path": "no-slash", "action": "bad code"},
            {"method": "POST", "path": "/a/:id", "action": "ok", "custom": {"x": "cookie:y", "y": "param:other"}}
        ]
    }))
    .unwrap_err();
    let CoreError::Invalid(p) = err else {
        panic!("{err:?}")
    };
    let all = p.join("\n");
    for needle in [
        "proxy.originUrl:",
        "proxy.identity.jwt: read a cookie",
        "proxy.identity.jwt.secretEnv:",
        "proxy.identity.loginUrl:",
        "proxy.routes[0].method:",
        "proxy.routes[0].path: must start with /",
        "proxy.routes[0].action:",
        "proxy.routes[1].custom.x:",
        "proxy.routes[1].custom.y:",
    ] {
        assert!(all.contains(needle), "{needle} not in\n{all}");
    }
    let err =
        parse_proxy(json!({"originUrl": "http://x", "identity": {}, "routes": [], "extra": 1}))
            .unwrap_err();
    assert!(err.to_string().contains("extra"), "{err}");
}

#[test]
fn session_jwts_are_verified_with_their_claim() {
    let secret = b"app-session-secret-0123456789abcdef";
    let key = HS256Key::from_bytes(secret);
    let now = 1_795_380_179u64;
    let mut claims = Claims::with_custom_claims(
        json!({"uid": "u-42"}).as_object().unwrap().clone(),
        Duration::from_secs(3600),
    );
    claims.issued_at = Some(Duration::from_secs(now));
    claims.expires_at = Some(Duration::from_secs(now + 3600));
    claims.subject = Some("alice".into());
    claims.invalid_before = Some(Duration::from_secs(now));
    let token = key.authenticate(claims).unwrap();
    let cfg = config().identity.jwt.unwrap();
    assert_eq!(
        verify_session_jwt(&token, &cfg, SessionKeys::Secret(secret), now + 10),
        Ok("alice".into())
    );
    let by_uid = JwtIdentity {
        user_id_claim: "uid".into(),
        ..cfg.clone()
    };
    assert_eq!(
        verify_session_jwt(&token, &by_uid, SessionKeys::Secret(secret), now + 10),
        Ok("u-42".into())
    );
    assert_eq!(
        verify_session_jwt(&token, &cfg, SessionKeys::Secret(secret), now + 7200),
        Err(IdentityError::Invalid("the session has expired".into()))
    );
    assert!(matches!(
        verify_session_jwt(
            &token,
            &cfg,
            SessionKeys::Secret(b"another-secret-0123456789abcdef!"),
            now
        ),
        Err(IdentityError::Invalid(_))
    ));
    let with_issuer = JwtIdentity {
        issuer: Some("https://app.example.com".into()),
        ..cfg.clone()
    };
    assert!(
        verify_session_jwt(&token, &with_issuer, SessionKeys::Secret(secret), now).is_err(),
        "issuer required"
    );
    assert!(verify_session_jwt("garbage", &cfg, SessionKeys::Secret(secret), now).is_err());
}

#[test]
fn cookies_are_found_by_name() {
    let h = "theme=dark; session=abc.def.ghi; __as_aid=dev-1";
    assert_eq!(cookie(h, "session"), Some("abc.def.ghi"));
    assert_eq!(cookie(h, DEVICE_COOKIE), Some("dev-1"));
    assert_eq!(cookie(h, "sess"), None);
}

#[test]
fn forwarded_headers_carry_a_verifiable_signature() {
    let f = ForwardFacts {
        timestamp: 1_795_380_179,
        method: "POST",
        path_and_query: "/api/withdraw?x=1",
        user_id: "alice",
        action: "withdraw-funds",
        state: "ALLOW",
        idempotency_key: "k1",
    };
    let headers = f.headers(b"origin-key");
    let sig = &headers
        .iter()
        .find(|(k, _)| *k == "X-ActionGate-Signature")
        .unwrap()
        .1;
    let expected = hmac_sha256::HMAC::mac(f.canonical().as_bytes(), b"origin-key");
    let mut buf = [0u8; 64];
    let b64 = <ct_codecs::Base64UrlSafeNoPadding as ct_codecs::Encoder>::encode_to_str(
        &mut buf, expected,
    )
    .unwrap();
    assert_eq!(sig, &format!("v1={b64}"));
    assert_eq!(
        f.canonical(),
        "v1\n1795380179\nPOST\n/api/withdraw?x=1\nalice\nwithdraw-funds\nALLOW\nk1"
    );
}

#[test]
fn es256_and_rs256_sessions_verify_against_a_jwks() {
    let now = 1_795_380_179u64;
    let claims = || {
        let mut c = Claims::create(Duration::from_secs(3600));
        c.issued_at = Some(Duration::from_secs(now));
        c.invalid_before = Some(Duration::from_secs(now));
        c.expires_at = Some(Duration::from_secs(now + 3600));
        c.subject = Some("carol".into());
        c
    };
    let es = ES256KeyPair::generate().with_key_id("es-1");
    let other = ES256KeyPair::generate().with_key_id("es-2");
    let jwks_json = format!(
        r#"{{"keys":[{},{}]}}"#,
        add_kid(&es.public_key().to_jwk(), "es-1", "ES256"),
        r#"{"kty":"oct","k":"c2VjcmV0"}"#
    );
    let jwks = Jwks::parse(&jwks_json).unwrap();
    assert_eq!(jwks.len(), 1, "only usable signing keys are kept");
    assert!(jwks.has_kid("es-1"));
    let es_cfg = JwtIdentity {
        cookie: Some("session".into()),
        bearer: true,
        algorithm: JwtAlgorithm::ES256,
        secret_env: None,
        jwks_url: Some("https://app.example.com/.well-known/jwks.json".into()),
        user_id_claim: "sub".into(),
        issuer: None,
        audience: None,
    };
    let good = es.sign(claims()).unwrap();
    assert_eq!(
        verify_session_jwt(&good, &es_cfg, SessionKeys::Jwks(&jwks), now),
        Ok("carol".into())
    );
    let foreign = other.sign(claims()).unwrap();
    assert!(
        verify_session_jwt(&foreign, &es_cfg, SessionKeys::Jwks(&jwks), now).is_err(),
        "kid not in the JWKS"
    );
    // An HS256 token is refused even if someone signs it with the public key bytes.
    let hs = HS256Key::from_bytes(b"0123456789abcdef0123456789abcdef")
        .authenticate(claims())
        .unwrap();
    assert_eq!(
        verify_session_jwt(&hs, &es_cfg, SessionKeys::Jwks(&jwks), now),
        Err(IdentityError::Invalid(
            "the session token's algorithm is not accepted".into()
        ))
    );

    // A fixed test key (generating one is slow in debug and wasm builds).
    let rs = RS256KeyPair::from_pem(include_str!("rsa-test-key.pem"))
        .unwrap()
        .with_key_id("rs-1");
    let jwks = Jwks::parse(&format!(
        r#"{{"keys":[{}]}}"#,
        add_kid(&rs.public_key().to_jwk(), "rs-1", "RS256")
    ))
    .unwrap();
    let rs_cfg = JwtIdentity {
        algorithm: JwtAlgorithm::RS256,
        ..es_cfg.clone()
    };
    let token = rs.sign(claims()).unwrap();
    assert_eq!(
        verify_session_jwt(&token, &rs_cfg, SessionKeys::Jwks(&jwks), now),
        Ok("carol".into())
    );
    assert!(
        verify_session_jwt(&token, &rs_cfg, SessionKeys::Jwks(&jwks), now + 7200).is_err(),
        "expired"
    );
}

fn add_kid(jwk: &str, kid: &str, alg: &str) -> String {
    let mut v: Value = serde_json::from_str(jwk).unwrap();
    v["kid"] = json!(kid);
    v["alg"] = json!(alg);
    v["use"] = json!("sig");
    v.to_string()
}

#[test]
fn the_app_is_a_url_or_a_service_binding_not_both() {
    let identity = json!({"trustedHeader": {"header": "X-User", "secretHeader": "X-S", "secretEnv": "API_SECRET_KEY"}});
    let ok = parse_proxy(json!({"originService": "APP", "identity": identity})).unwrap();
    assert_eq!(ok.origin_service.as_deref(), Some("APP"));
    assert!(ok.origin_url.is_empty());
    for (doc, needle) in [
        (
            json!({"originService": "APP", "originUrl": "https://app.example", "identity": identity}),
            "not both",
        ),
        (
            json!({"originService": "app-binding", "identity": identity}),
            "binding name",
        ),
        (json!({"identity": identity}), "proxy.originUrl:"),
    ] {
        let err = parse_proxy(doc).unwrap_err().to_string();
        assert!(err.contains(needle), "{needle} not in {err}");
    }
}
