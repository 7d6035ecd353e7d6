#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use super::*;
use crate::encoding::sha256_hex;
use crate::error::CoreError;
use jwt_simple::prelude::*;
use serde_json::Value;
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
    let one = |method: &str, path: &str, o: &[&str]| {
        let o: Vec<String> = o.iter().map(|s| (*s).to_owned()).collect();
        match c.select(method, path, &o) {
            Selection::One(r, _) => Some(r.action.clone()),
            Selection::None => None,
            Selection::Ambiguous => Some("ambiguous".into()),
        }
    };
    assert_eq!(
        one("GET", "/api/withdraw", &["POST"]).as_deref(),
        Some("withdraw-funds")
    );
    assert_eq!(one("GET", "/api/withdraw", &[]), None);
    let del = parse_proxy(json!({
        "originUrl": "http://127.0.0.1:8788",
        "identity": {"jwt": {"cookie": "session", "algorithm": "HS256", "secretEnv": "APP_SESSION_SECRET"}},
        "routes": [
            {"method": "DELETE", "path": "/accounts/:id", "action": "close-account"},
            {"method": "POST", "path": "/close", "action": "close-now"},
            {"method": "GET", "path": "/close", "action": "close-preview"},
            {"method": "POST", "path": "/upload", "action": "upload", "ignoreMethodOverride": true},
            {"method": "DELETE", "path": "/upload", "action": "delete-upload"}
        ]
    }))
    .unwrap();
    let sel = |method: &str, path: &str, o: &[&str]| {
        let o: Vec<String> = o.iter().map(|s| (*s).to_owned()).collect();
        match del.select(method, path, &o) {
            Selection::One(r, _) => r.action.clone(),
            Selection::None => "none".into(),
            Selection::Ambiguous => "ambiguous".into(),
        }
    };
    // A POST with no override is not the DELETE route, but its body may name
    // DELETE: it is read before it is classified.
    assert_eq!(sel("POST", "/accounts/7", &[]), "none");
    assert!(del.body_may_override("POST", "/accounts/7", &[]));
    assert!(!del.body_may_override("GET", "/accounts/7", &[]));
    assert!(!del.body_may_override("POST", "/elsewhere", &[]));
    assert_eq!(sel("POST", "/accounts/7", &["DELETE"]), "close-account");
    // Two protected routes named at once: which one the app runs is unknown.
    assert_eq!(sel("POST", "/close", &["GET"]), "ambiguous");
    assert_eq!(sel("POST", "/close", &["POST"]), "close-now");
    assert_eq!(sel("GET", "/close", &[]), "close-preview");
    // An override naming no route leaves the request's own route.
    assert_eq!(sel("POST", "/close", &["PROPFIND"]), "close-now");
    // A route that opts out decides alone, and no override selects it.
    assert_eq!(sel("POST", "/upload", &["DELETE"]), "upload");
    assert!(!del.body_may_override("POST", "/upload", &[]));
    assert_eq!(sel("PUT", "/upload", &["POST"]), "none");
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
    let got = read_custom(
        r,
        &RequestParts {
            query: "note=rent&x=1",
            body,
            content_type: "application/json; charset=utf-8",
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        Value::Object(got),
        json!({"amount": 2500.5, "destinationAccount": "NZ-1", "note": "rent"})
    );

    let (r, _) = c.route("POST", "/withdraw").unwrap();
    let got = read_custom(
        r,
        &RequestParts {
            body: b"amount=1200&to=GB-1234-999",
            content_type: "application/x-www-form-urlencoded",
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        Value::Object(got),
        json!({"amount": 1200, "destinationAccount": "GB-1234-999"})
    );

    let (r, params) = c.route("POST", "/accounts/a1/close").unwrap();
    let got = read_custom(
        r,
        &RequestParts {
            headers: vec![("x-client".into(), "ios".into())],
            params,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        Value::Object(got),
        json!({"accountId": "a1", "client": "ios"})
    );
}

fn refusal(r: &RouteConfig, body: &[u8], content_type: &str, query: &str) -> (String, String) {
    let e = read_custom(
        r,
        &RequestParts {
            body,
            content_type,
            query,
            ..Default::default()
        },
    )
    .unwrap_err();
    (e.code().to_owned(), e.to_string())
}

#[test]
fn a_request_the_app_could_read_otherwise_is_refused() {
    let c = config();
    let (json_route, _) = c.route("POST", "/api/withdraw").unwrap();
    let (form_route, _) = c.route("POST", "/withdraw").unwrap();
    let json_ok = br#"{"amount": 1, "to": {"account": "NZ-1"}}"#;
    for (route, body, ctype, query, code) in [
        // Repeated fields: the app takes the last, the first, or a list.
        (
            form_route,
            &b"amount=1&to=NZ-1&amount=250000"[..],
            "application/x-www-form-urlencoded",
            "",
            "ambiguous_request",
        ),
        (
            form_route,
            b"amount=1&to=NZ-1&to=GB-666",
            "application/x-www-form-urlencoded",
            "",
            "ambiguous_request",
        ),
        (
            form_route,
            b"amount=1&%74o=NZ-1&to=GB-666",
            "application/x-www-form-urlencoded",
            "",
            "ambiguous_request",
        ),
        (
            json_route,
            br#"{"amount": 1, "amount": 250000, "to": {"account": "NZ-1"}}"#,
            "application/json",
            "note=a",
            "ambiguous_request",
        ),
        (
            json_route,
            br#"{"amount": 1, "to": {"account": "NZ-1", "account": "GB"}}"#,
            "application/json",
            "note=a",
            "ambiguous_request",
        ),
        (
            json_route,
            json_ok,
            "application/json",
            "note=a&note=b",
            "ambiguous_request",
        ),
        // JSON as anything but JSON, or no type at all.
        (
            json_route,
            json_ok,
            "text/plain",
            "note=a",
            "unsupported_media_type",
        ),
        (json_route, json_ok, "", "note=a", "unsupported_media_type"),
        (
            json_route,
            json_ok,
            "application/x-www-form-urlencoded",
            "note=a",
            "unsupported_media_type",
        ),
        (
            json_route,
            json_ok,
            "application/json; charset=utf-16",
            "note=a",
            "unsupported_media_type",
        ),
        (
            form_route,
            b"amount=1&to=NZ-1",
            "text/plain",
            "",
            "unsupported_media_type",
        ),
        (
            form_route,
            b"amount=1&to=NZ-1",
            "multipart/form-data; boundary=x",
            "",
            "unsupported_media_type",
        ),
        (
            form_route,
            br#"{"amount":5000000,"x":"&amount=1&to=NZ-1"}"#,
            "application/x-www-form-urlencoded",
            "",
            "ambiguous_request",
        ),
        // Bodies that do not parse.
        (
            json_route,
            b"{not json",
            "application/json",
            "note=a",
            "invalid_request",
        ),
        (
            json_route,
            br#"{"amount": 1e400}"#,
            "application/json",
            "note=a",
            "invalid_request",
        ),
        // Absent attributes are required unless optional.
        (
            json_route,
            br#"{"to": {"account": "NZ-1"}}"#,
            "application/json",
            "note=a",
            "missing_attribute",
        ),
        (
            json_route,
            br#"{"amount": null, "to": {"account": "NZ-1"}}"#,
            "application/json",
            "note=a",
            "missing_attribute",
        ),
        (
            json_route,
            b"",
            "application/json",
            "note=a",
            "missing_attribute",
        ),
        (
            form_route,
            b"to=NZ-1",
            "application/x-www-form-urlencoded",
            "",
            "missing_attribute",
        ),
    ] {
        let (got, text) = refusal(route, body, ctype, query);
        assert_eq!(
            got,
            code,
            "{} as {ctype:?}: {text}",
            String::from_utf8_lossy(body)
        );
    }
    let (_, text) = refusal(
        form_route,
        b"to=NZ-1",
        "application/x-www-form-urlencoded",
        "",
    );
    assert!(text.contains("\"amount\""), "{text}");
}

#[test]
fn typed_attributes_convert_only_from_spellings_every_parser_reads_alike() {
    let c = config();
    let (r, _) = c.route("POST", "/withdraw").unwrap();
    let amount = |v: &str| {
        let body = format!(
            "amount={}&to=NZ-1",
            url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
        );
        read_custom(
            r,
            &RequestParts {
                body: body.as_bytes(),
                content_type: "application/x-www-form-urlencoded",
                ..Default::default()
            },
        )
        .map(|m| m["amount"].clone())
        .map_err(|e| e.code())
    };
    for (text, value) in [
        ("5000", json!(5000)),
        ("0", json!(0)),
        ("-12", json!(-12)),
        ("99.95", json!(99.95)),
        ("0.5", json!(0.5)),
    ] {
        assert_eq!(amount(text), Ok(value), "{text}");
    }
    for bad in [
        "0x3D0900",
        "1e400",
        "1e3",
        "12,5",
        "1_000",
        "NaN",
        "Infinity",
        "+5",
        "",
        " 5",
        "5 ",
        "007",
        ".5",
        "5.",
        "1234567890123456",
        "５０００",
        "-",
        "0b101",
        "0o7",
    ] {
        assert_eq!(amount(bad), Err("invalid_attribute"), "{bad:?}");
    }
    assert_eq!(
        strict_number("123456789012345"),
        Some(123_456_789_012_345_i64.into())
    );
}

#[test]
fn optional_attributes_are_null_when_absent() {
    let c = parse_proxy(json!({
        "originUrl": "http://127.0.0.1:8788",
        "identity": {"jwt": {"cookie": "session", "algorithm": "HS256", "secretEnv": "APP_SESSION_SECRET"}},
        "routes": [{"method": "POST", "path": "/w", "action": "w", "custom": {
            "amount": {"from": "form:amount", "type": "number"},
            "addedAt": {"from": "form:addedAt", "type": "number", "optional": true},
            "flag": {"from": "query:flag", "type": "boolean", "optional": true}
        }}]
    }))
    .unwrap();
    let (r, _) = c.route("POST", "/w").unwrap();
    let got = read_custom(
        r,
        &RequestParts {
            body: b"amount=5",
            content_type: "application/x-www-form-urlencoded",
            query: "flag=true",
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        Value::Object(got),
        json!({"amount": 5, "addedAt": null, "flag": true})
    );
    let e = read_custom(
        r,
        &RequestParts {
            body: b"amount=5",
            content_type: "application/x-www-form-urlencoded",
            query: "flag=1",
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.code(), "invalid_attribute");
}

#[test]
fn a_body_names_its_method_every_way_an_app_reads_it() {
    let form = "application/x-www-form-urlencoded";
    assert_eq!(
        body_method_overrides(b"_method=delete&a=1", form),
        vec!["DELETE"]
    );
    assert_eq!(body_method_overrides(b"_method=delete", ""), vec!["DELETE"]);
    assert_eq!(
        body_method_overrides(br#"{"_method": "get"}"#, "text/plain"),
        vec!["GET"]
    );
    assert_eq!(body_method_overrides(b"a=1", form), Vec::<String>::new());
    let multipart =
        b"--x\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nDELETE\r\n--x--";
    assert_eq!(
        body_method_overrides(multipart, "multipart/form-data; boundary=x").len(),
        METHODS.len()
    );
}

#[test]
fn our_headers_and_cookies_are_recognised_in_every_spelling() {
    for name in [
        "X-ActionGate-User-Id",
        "x-actiongate-state",
        "X_ActionGate_User_Id",
        "x_actiongate-signature",
    ] {
        assert!(is_our_header(name), "{name}");
    }
    for name in ["X-ActionGate", "X-Other", "X-ActionGatekeeper"] {
        assert!(!is_our_header(name), "{name}");
    }
    // The same rule as the JavaScript entry's regular expression.
    assert_eq!(our_header_pattern(), "^x[-_]actiongate[-_]");
    assert_eq!(
        without_our_cookies("session=abc; ag_admin=x.y; __Host-ag_admin=z; __as_aid=d; theme=dark")
            .as_deref(),
        Some("session=abc; __as_aid=d; theme=dark")
    );
    assert_eq!(without_our_cookies("ag_admin=x"), None);
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
    // Without `exp`: refused, unless the configuration accepts it.
    let mut forever = Claims::create(Duration::from_secs(3600));
    forever.expires_at = None;
    forever.issued_at = Some(Duration::from_secs(now));
    forever.invalid_before = Some(Duration::from_secs(now));
    forever.subject = Some("alice".into());
    let never_expires = key.authenticate(forever).unwrap();
    assert_eq!(
        verify_session_jwt(&never_expires, &cfg, SessionKeys::Secret(secret), now),
        Err(IdentityError::Invalid(
            "the session token has no expiry (exp)".into()
        ))
    );
    let lenient = JwtIdentity {
        allow_missing_exp: true,
        ..cfg.clone()
    };
    assert_eq!(
        verify_session_jwt(&never_expires, &lenient, SessionKeys::Secret(secret), now),
        Ok("alice".into())
    );
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
        host: "bank.example:8443",
        path_and_query: "/api/withdraw?x=1",
        body_sha256: &sha256_hex(b"amount=5"),
        action: ActionFacts {
            user_id: "alice",
            action: "withdraw-funds",
            state: "ALLOW",
            idempotency_key: "k1",
        },
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
    assert_eq!(sig, &format!("v2={b64}"));
    assert_eq!(
        f.canonical(),
        "v2\n1795380179\nPOST\nbank.example:8443\n/api/withdraw?x=1\n\
         c19468ef21bab648faed64ef4f54f3526e9277ccd42347b9d5a3475e876dfb42\n\
         alice\nwithdraw-funds\nALLOW\nk1"
    );
    // Another body, host or path signs differently.
    let other = ForwardFacts {
        body_sha256: &sha256_hex(b"amount=500000"),
        ..f
    };
    assert_ne!(other.headers(b"origin-key"), headers);
    let other = ForwardFacts {
        host: "evil.example",
        ..f
    };
    assert_ne!(other.headers(b"origin-key"), headers);
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
        allow_missing_exp: false,
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
        (
            json!({"originUrl": "https://bücher.example", "identity": identity}),
            "xn-- (punycode)",
        ),
    ] {
        let err = parse_proxy(doc).unwrap_err().to_string();
        assert!(err.contains(needle), "{needle} not in {err}");
    }
}

#[test]
fn attribute_sources_are_a_string_or_an_object_and_say_so_otherwise() {
    let with = |source: Value| {
        parse_proxy(json!({
            "originUrl": "http://127.0.0.1:8788",
            "identity": {"jwt": {"cookie": "session", "algorithm": "HS256", "secretEnv": "APP_SESSION_SECRET"}},
            "routes": [{"method": "POST", "path": "/p", "action": "p", "custom": {"to": source}}]
        }))
    };
    let source = |c: ProxyConfig| c.routes[0].custom["to"].clone();
    assert_eq!(
        source(with(json!("body:/to")).unwrap()),
        AttributeSource::Plain("body:/to".into())
    );
    assert_eq!(
        source(with(json!({"from": "body:/to", "optional": true})).unwrap()),
        AttributeSource::Typed(TypedSource {
            from: "body:/to".into(),
            kind: None,
            optional: true
        })
    );
    for (bad, needle) in [
        (json!(5), "an object with from, type and optional"),
        (
            json!(["body:/to"]),
            "an object with from, type and optional",
        ),
        (
            json!({"from": "body:/to", "typ": "number"}),
            "unknown field `typ`",
        ),
        (json!({"type": "number"}), "missing field `from`"),
        (
            json!({"from": "body:/to", "type": "date"}),
            "unknown variant `date`",
        ),
    ] {
        let err = with(bad.clone()).unwrap_err().to_string();
        assert!(err.contains(needle), "{bad}: {needle} not in {err}");
        assert!(err.contains("custom.to"), "{bad}: no path in {err}");
    }
}

/// A route reading `to` from the JSON body as a string.
fn string_attribute_route() -> ProxyConfig {
    parse_proxy(json!({
        "originUrl": "http://127.0.0.1:8788",
        "identity": {"jwt": {"cookie": "session", "algorithm": "HS256", "secretEnv": "APP_SESSION_SECRET"}},
        "routes": [{"method": "POST", "path": "/p", "action": "p", "custom": {"to": {"from": "body:/to", "type": "string"}}}]
    }))
    .unwrap()
}

/// Readings an attacker's review found before they were refused.
#[test]
fn spellings_other_parsers_read_differently_are_refused() {
    let c = config();
    let (form_route, _) = c.route("POST", "/withdraw").unwrap();
    let (json_route, _) = c.route("POST", "/api/withdraw").unwrap();
    let form = "application/x-www-form-urlencoded";
    for (route, body, ctype, query, code) in [
        // JSON that JavaScript reads and serde_json refuses (a lone surrogate).
        (
            form_route,
            &br#"{"amount":250000,"to":"GB","p":"\ud800","x":"&amount=1&to=NZ-1&"}"#[..],
            form,
            "",
            "ambiguous_request",
        ),
        // A byte order mark, or a leading `?` that URLSearchParams drops.
        (
            form_route,
            b"\xEF\xBB\xBFamount=1&to=NZ-1",
            form,
            "",
            "ambiguous_request",
        ),
        (
            form_route,
            b"?amount=250000&amount=1&to=NZ-1",
            form,
            "",
            "ambiguous_request",
        ),
        // Names parsers fold onto the same one.
        (
            form_route,
            b"amount=1&amount[]=250000&to=NZ-1",
            form,
            "",
            "ambiguous_request",
        ),
        (
            form_route,
            b"amount=1&to=NZ-1&to[x]=1",
            form,
            "",
            "ambiguous_request",
        ),
        (
            form_route,
            b"amount=1&to=NZ-1&+to=GB",
            form,
            "",
            "ambiguous_request",
        ),
        // The same name in the query and the body.
        (
            form_route,
            b"amount=1&to=NZ-1",
            form,
            "amount=250000",
            "ambiguous_request",
        ),
        (
            form_route,
            b"amount=1&to=NZ-1",
            form,
            "to[]=GB",
            "ambiguous_request",
        ),
        (
            json_route,
            br#"{"amount": 1, "to": {"account": "NZ-1"}}"#,
            "application/json",
            "note=a&to=GB",
            "ambiguous_request",
        ),
        (
            json_route,
            br#"{"amount": 1, "to": {"account": "NZ-1"}, "note": "x"}"#,
            "application/json",
            "note=a",
            "ambiguous_request",
        ),
    ] {
        let (got, text) = refusal(route, body, ctype, query);
        assert_eq!(
            got,
            code,
            "{} as {ctype:?} ?{query}: {text}",
            String::from_utf8_lossy(body)
        );
    }
    // Headers in the spelling CGI servers fold onto the same variable.
    let (r, params) = c.route("POST", "/accounts/a1/close").unwrap();
    for headers in [
        vec![("x_client".to_owned(), "web".to_owned())],
        vec![
            ("x-client".to_owned(), "ios".to_owned()),
            ("x_client".to_owned(), "web".to_owned()),
        ],
    ] {
        let e = read_custom(
            r,
            &RequestParts {
                headers,
                params: params.clone(),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(e.code(), "ambiguous_request");
    }
    // A string attribute from a JSON number reads as JavaScript writes it.
    let strict = string_attribute_route();
    let (r, _) = strict.route("POST", "/p").unwrap();
    let to = |body: &[u8]| {
        read_custom(
            r,
            &RequestParts {
                body,
                content_type: "application/json",
                ..Default::default()
            },
        )
        .map(|m| m["to"].clone())
        .map_err(|e| e.code())
    };
    assert_eq!(to(br#"{"to": 12345.0}"#), Ok(json!("12345")));
    assert_eq!(to(br#"{"to": -0.0}"#), Ok(json!("0")));
    assert_eq!(to(br#"{"to": 12.5}"#), Ok(json!("12.5")));
    assert_eq!(to(br#"{"to": 1e300}"#), Err("invalid_attribute"));
}

#[test]
fn every_method_counts_where_a_body_could_name_one_unseen() {
    let all = METHODS.len();
    for (body, ctype) in [
        (
            &br#"{"_method":"DELETE","p":"\ud800"}"#[..],
            "application/json",
        ),
        (br#"{"_method":["DELETE"]}"#, "application/json"),
        (
            br#"{"_method":"GET","_method":"DELETE"}"#,
            "application/json",
        ),
        (b"_method[]=DELETE", "application/x-www-form-urlencoded"),
        (b".method=DELETE", ""),
    ] {
        assert_eq!(
            body_method_overrides(body, ctype).len(),
            all,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    assert_eq!(
        body_method_overrides(b"?_method=delete", "text/plain"),
        vec!["DELETE"]
    );
    assert_eq!(
        body_method_overrides(b"\xEF\xBB\xBF_method=put", "text/plain"),
        vec!["PUT"]
    );
    assert_eq!(
        body_method_overrides(b"_METHOD=patch", "text/plain"),
        vec!["PATCH"]
    );
}

/// An HS256 session read from `cookie` or the bearer header.
fn cookie_and_bearer(cookie: &str) -> JwtIdentity {
    JwtIdentity {
        cookie: Some(cookie.into()),
        bearer: true,
        algorithm: JwtAlgorithm::HS256,
        secret_env: Some("S".into()),
        jwks_url: None,
        user_id_claim: "sub".into(),
        issuer: None,
        audience: None,
        allow_missing_exp: false,
    }
}

#[test]
fn one_session_per_request_read_as_apps_read_it() {
    let jwt = cookie_and_bearer("session");
    let token = |c: Option<&str>, a: Option<&str>| session_token(&jwt, c, a);
    assert_eq!(token(Some("a=1; session=V"), None), Ok(Some("V".into())));
    assert_eq!(
        token(Some("session =V"), None),
        Ok(Some("V".into())),
        "names are trimmed"
    );
    assert_eq!(
        token(None, Some("bearer  T ")),
        Ok(Some("T".into())),
        "any case"
    );
    assert_eq!(
        token(Some("session=T"), Some("Bearer T")),
        Ok(Some("T".into()))
    );
    for (c, a) in [
        (Some("session=A; session=V"), None),
        (Some("session =V; session=A"), None),
        (Some("session=V"), Some("Bearer A")),
        (Some("session=V"), Some("BEARER A")),
    ] {
        assert!(
            matches!(token(c, a), Err(IdentityError::Ambiguous(_))),
            "{c:?} {a:?}"
        );
    }
    assert_eq!(token(None, Some("Basic eA==")), Ok(None));
}

#[test]
fn keys_case_insensitive_readers_take_for_another_are_refused() {
    let c = config();
    let (json_route, _) = c.route("POST", "/api/withdraw").unwrap();
    for body in [
        &br#"{"amount": 5, "Amount": 50000, "to": {"account": "NZ-1"}}"#[..],
        br#"{"Amount": 50000, "to": {"account": "NZ-1"}}"#,
        br#"{"amount": 5, "to": {"account": "NZ-1", "ACCOUNT": "GB"}}"#,
        "{\"amount\": 5, \"to\": {\"account\": \"NZ-1\"}, \"x\": {\"k\": 1, \"\u{212A}\": 2}}"
            .as_bytes(),
    ] {
        let (code, text) = refusal(json_route, body, "application/json", "note=a");
        assert_eq!(
            code,
            "ambiguous_request",
            "{}: {text}",
            String::from_utf8_lossy(body)
        );
    }
    // Past 2^53 JavaScript reads another integer: a string attribute refuses it.
    let strict = string_attribute_route();
    let (r, _) = strict.route("POST", "/p").unwrap();
    let (code, _) = refusal(r, br#"{"to": 9007199254740993}"#, "application/json", "");
    assert_eq!(code, "invalid_attribute");
    let ok = read_custom(
        r,
        &RequestParts {
            body: br#"{"to": 9007199254740992}"#,
            content_type: "application/json",
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(ok["to"], json!("9007199254740992"));
}

#[test]
fn sessions_other_readers_see_differently_are_refused() {
    let jwt = cookie_and_bearer("access_token");
    let token = |c: Option<&str>, a: Option<&str>| session_token(&jwt, c, a);
    assert_eq!(token(None, Some("Bearer\tT.a.b")), Ok(Some("T.a.b".into())));
    for (c, a) in [
        (Some("access.token=V.a.b; access_token=A.a.b"), None),
        (Some("access_token=A.a.b"), Some("V.a.b")),
        (Some("access_token=A.a.b"), Some("Token V.a.b")),
    ] {
        assert!(
            matches!(token(c, a), Err(IdentityError::Ambiguous(_))),
            "{c:?} {a:?}"
        );
    }
    // A Basic header beside a cookie session is no session of its own.
    assert_eq!(
        token(Some("access_token=A.a.b"), Some("Basic dXNlcjpwYXNz")),
        Ok(Some("A.a.b".into()))
    );
}
