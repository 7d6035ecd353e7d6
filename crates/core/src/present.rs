//! What the hosted challenge page shows: the action's contextual message
//! rendered from its template, and the enrollment QR code.
//!
//! Templates substitute `{{path}}` with values from the action's context
//! (`{{action.custom.amount}}`). Every value is HTML-escaped. If any path is
//! missing or `null`, no message is shown at all: a half-filled sentence
//! about money is worse than none.

use qrcodegen::{QrCode, QrCodeEcc};
use serde_json::Value;

/// The template for `locale` among `templates` (keyed by locale tag): the
/// exact tag, else its language (`en-GB` → `en`), else English.
pub fn template_for<'a, T>(
    templates: &'a std::collections::BTreeMap<String, T>,
    locale: Option<&str>,
) -> Option<&'a T> {
    let locale = locale.unwrap_or("en");
    templates
        .get(locale)
        .or_else(|| templates.get(locale.split('-').next().unwrap_or("en")))
        .or_else(|| templates.get("en"))
}

/// Render a template against a context; `None` when any value is missing.
pub fn render_template(template: &str, context: &Value) -> Option<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&escape(rest.get(..start)?));
        let after = rest.get(start + 2..)?;
        let end = after.find("}}")?;
        let path = after.get(..end)?.trim();
        let mut v = context;
        for part in path.split('.') {
            v = v.get(part)?;
        }
        let text = match v {
            Value::Null => return None,
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Array(_) | Value::Object(_) => return None,
        };
        out.push_str(&escape(&text));
        rest = after.get(end + 2..)?;
    }
    out.push_str(&escape(rest));
    Some(out)
}

/// HTML-escape text for element content and quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A wait in plain words, rounded up: "45 seconds", "1 minute",
/// "15 minutes", "2 hours".
pub fn wait_text(secs: u64) -> String {
    let (n, unit) = if secs < 60 {
        (secs.max(1), "second")
    } else if secs < 3600 {
        (secs.div_ceil(60), "minute")
    } else {
        (secs.div_ceil(3600), "hour")
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// An SVG QR code (error correction M, 4-module quiet zone) for `text`.
pub fn qr_svg(text: &str) -> Option<String> {
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium).ok()?;
    let size = qr.size();
    let border = 4;
    let dim = size + border * 2;
    let mut path = String::new();
    for y in 0..size {
        for x in 0..size {
            if qr.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + border, y + border));
            }
        }
    }
    Some(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {dim} {dim}\" shape-rendering=\"crispEdges\" role=\"img\" aria-label=\"QR code\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>"
    ))
}

/// What a customer reads when the edge proxy refuses a browser's request
/// (never the developer text of the API error): a title and a sentence, by
/// the error's code. Every page also links back to the app.
pub fn refusal_words(code: &str) -> (&'static str, &'static str) {
    match code {
        "token_already_used" => (
            "Already done",
            "This request was already completed. Go back to the app to see where things stand.",
        ),
        "challenge_not_completed" => (
            "Not verified yet",
            "This request has not been verified yet. Go back to the app and try again.",
        ),
        "invalid_token" | "expired_token" | "request_mismatch" => (
            "This link no longer works",
            "The link has expired or belongs to another request. Go back to the app and start again.",
        ),
        "unauthenticated" => (
            "Please sign in",
            "Your session has ended. Sign in to the app again, then repeat what you were doing.",
        ),
        "service_unavailable" | "origin_unreachable" => (
            "Please try again shortly",
            "We could not complete this request just now, and nothing was carried out. Try again in a few minutes.",
        ),
        "payload_too_large" => (
            "Request too large",
            "This request is larger than we accept. Go back to the app and try again with less.",
        ),
        _ => (
            "Request not accepted",
            "We could not accept this request as it was sent, and nothing was carried out. Go back to the app and try again.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn waits_in_plain_words() {
        assert_eq!(wait_text(0), "1 second");
        assert_eq!(wait_text(45), "45 seconds");
        assert_eq!(wait_text(60), "1 minute");
        assert_eq!(wait_text(61), "2 minutes");
        assert_eq!(wait_text(900), "15 minutes");
        assert_eq!(wait_text(3600), "1 hour");
        assert_eq!(wait_text(86_400), "24 hours");
    }

    #[test]
    fn renders_and_escapes() {
        let ctx = json!({"action": {"custom": {"amount": 250, "to": "<b>NZ</b> & co"}}});
        assert_eq!(
            render_template(
                "Confirm {{action.custom.amount}} to {{ action.custom.to }}.",
                &ctx
            )
            .as_deref(),
            Some("Confirm 250 to &lt;b&gt;NZ&lt;/b&gt; &amp; co.")
        );
        assert_eq!(
            render_template("<i>plain</i>", &ctx).as_deref(),
            Some("&lt;i&gt;plain&lt;/i&gt;")
        );
    }

    #[test]
    fn missing_data_shows_no_message() {
        let ctx = json!({"action": {"custom": {"amount": null}}});
        assert_eq!(
            render_template("Confirm {{action.custom.amount}}", &ctx),
            None
        );
        assert_eq!(
            render_template("Confirm {{action.custom.nothing}}", &ctx),
            None
        );
        assert_eq!(render_template("Broken {{action.custom.amount", &ctx), None);
    }

    #[test]
    fn qr_code_is_an_svg() {
        let svg =
            qr_svg("otpauth://totp/ActionGate:alice?secret=JBSWY3DPEHPK3PXP&issuer=ActionGate")
                .unwrap();
        assert!(svg.starts_with("<svg "));
        assert!(svg.contains("<path d=\"M"));
    }

    #[test]
    fn the_template_of_a_locale_else_its_language_else_english() {
        let t: std::collections::BTreeMap<String, &str> =
            [("en", "E"), ("fr", "F"), ("fr-CA", "FC")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
        assert_eq!(template_for(&t, Some("fr-CA")), Some(&"FC"));
        assert_eq!(template_for(&t, Some("fr-BE")), Some(&"F"));
        assert_eq!(template_for(&t, Some("de")), Some(&"E"));
        assert_eq!(template_for(&t, None), Some(&"E"));
        let none: std::collections::BTreeMap<String, &str> = std::collections::BTreeMap::new();
        assert_eq!(template_for(&none, Some("en")), None);
    }

    #[test]
    fn refusals_speak_to_customers() {
        for code in [
            "token_already_used",
            "challenge_not_completed",
            "invalid_token",
            "expired_token",
            "request_mismatch",
            "unauthenticated",
            "service_unavailable",
            "origin_unreachable",
            "payload_too_large",
            "ambiguous_request",
            "method_not_allowed",
            "something_new",
        ] {
            let (title, text) = refusal_words(code);
            assert!(!title.is_empty() && text.ends_with('.'), "{code}");
            // No developer words: codes, headers, tokens.
            for word in ["_", "X-ActionGate", "header", "JSON"] {
                assert!(
                    !text.contains(word) && !title.contains(word),
                    "{code}: {word}"
                );
            }
        }
        assert_eq!(refusal_words("token_already_used").0, "Already done");
    }
}
