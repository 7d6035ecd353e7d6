//! What the hosted challenge page shows: the action's contextual message
//! rendered from its template, and the enrollment QR code.
//!
//! Templates substitute `{{path}}` with values from the action's context
//! (`{{action.custom.amount}}`), optionally through a filter
//! (`{{action.custom.amount | currency: "NZD"}}`, `| number`, `| date`; see
//! [`render_template`]). Every value is HTML-escaped. If any path is
//! missing or `null`, no message is shown at all: a half-filled sentence
//! about money is worse than none.

mod pages;
pub use pages::{Lang, LinkPage, link_words, outcome_words, refusal_words};

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

/// Render a template against a context; `None` when any value is missing
/// or a filter does not apply to it.
///
/// A placeholder is `{{path}}` or `{{path | filter}}`, the filters being:
/// - `number`: digits grouped by thousands (`5000` → `5,000`, `1234.5` →
///   `1,234.5`);
/// - `currency: "NZD"`: two decimals, grouped, after the ISO 4217 code
///   (`NZD 5,000.00`);
/// - `date`: seconds since the epoch or an RFC 3339 time as a day
///   (`3 December 2026`, UTC).
pub fn render_template(template: &str, context: &Value) -> Option<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&escape(rest.get(..start)?));
        let after = rest.get(start + 2..)?;
        let end = after.find("}}")?;
        let (path, filter) = placeholder(after.get(..end)?)?;
        let mut v = context;
        for part in path.split('.') {
            v = v.get(part)?;
        }
        let text = match (v, filter) {
            (Value::Null | Value::Array(_) | Value::Object(_), _) => return None,
            (v, Some(f)) => apply_filter(v, f)?,
            (Value::String(s), None) => s.clone(),
            (Value::Number(n), None) => n.to_string(),
            (Value::Bool(b), None) => b.to_string(),
        };
        out.push_str(&escape(&text));
        rest = after.get(end + 2..)?;
    }
    out.push_str(&escape(rest));
    Some(out)
}

/// A filter of a placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Filter<'a> {
    Number,
    Currency(&'a str),
    Date,
}

/// The path and filter of a placeholder's inside (`action.custom.amount |
/// currency: "NZD"`); `None` when the filter is not one of ours.
fn placeholder(inside: &str) -> Option<(&str, Option<Filter<'_>>)> {
    let Some((path, filter)) = inside.split_once('|') else {
        return Some((inside.trim(), None));
    };
    let filter = filter.trim();
    let f = match filter.split_once(':') {
        None if filter == "number" => Filter::Number,
        None if filter == "date" => Filter::Date,
        Some((name, arg)) if name.trim() == "currency" => {
            let code = arg.trim().strip_prefix('"')?.strip_suffix('"')?;
            if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
                return None;
            }
            Filter::Currency(code)
        }
        _ => return None,
    };
    Some((path.trim(), Some(f)))
}

/// Problems with a template's placeholders (unclosed, or a filter that is
/// not `number`, `currency: "XYZ"` or `date`), for configuration checks.
pub fn template_problems(template: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = rest.get(start + 2..).unwrap_or("");
        let Some(end) = after.find("}}") else {
            problems.push("a {{ is not closed by }}".to_owned());
            break;
        };
        let inside = after.get(..end).unwrap_or("");
        if placeholder(inside).is_none() {
            problems.push(format!(
                "{{{{{}}}}}: unknown filter (use number, currency: \"NZD\" or date)",
                inside.trim()
            ));
        }
        rest = after.get(end + 2..).unwrap_or("");
    }
    problems
}

fn apply_filter(v: &Value, f: Filter<'_>) -> Option<String> {
    match f {
        Filter::Number => {
            let n = number_of(v)?;
            Some(group(&n))
        }
        Filter::Currency(code) => {
            // From the decimal text, never through a float: an amount is
            // shown exactly as sent, or not at all (more than two decimals).
            let text = number_of(v)?;
            let (sign, digits) = match text.strip_prefix('-') {
                Some(d) => ("-", d),
                None => ("", text.as_str()),
            };
            let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
            if frac.len() > 2 || int.len() > 15 {
                return None;
            }
            let int = int.trim_start_matches('0');
            let int = if int.is_empty() { "0" } else { int };
            let fixed = format!("{int}.{frac:0<2}");
            let sign = if fixed == "0.00" { "" } else { sign };
            Some(format!("{code} {sign}{}", group(&fixed)))
        }
        Filter::Date => {
            // Years 1 to 9999 only: anything else shows no message.
            const LAST_MS: f64 = 253_402_300_799_999.0;
            let ms = match v {
                Value::Number(n) => n
                    .as_f64()
                    .map(|s| s * 1000.0)
                    .filter(|ms| (-62_135_596_800_000.0..=LAST_MS).contains(ms))
                    .map(|ms| ms as crate::time::Millis)?,
                Value::String(s) => crate::time::parse_date(s, "date").ok()?,
                _ => return None,
            };
            let day = crate::time::to_rfc3339(ms);
            let (y, m, d) = (day.get(0..4)?, day.get(5..7)?, day.get(8..10)?);
            const MONTHS: [&str; 12] = [
                "January",
                "February",
                "March",
                "April",
                "May",
                "June",
                "July",
                "August",
                "September",
                "October",
                "November",
                "December",
            ];
            let month = MONTHS.get(m.parse::<usize>().ok()?.checked_sub(1)?)?;
            Some(format!("{} {month} {y}", d.trim_start_matches('0')))
        }
    }
}

/// A number's decimal text: a JSON number, or a string holding one.
fn number_of(v: &Value) -> Option<String> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        _ => return None,
    };
    let digits = text.strip_prefix('-').unwrap_or(&text);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    (!int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit()))
    .then_some(text)
}

/// Group a decimal's integer digits by thousands (`-1234567.5` →
/// `-1,234,567.5`).
fn group(text: &str) -> String {
    let (sign, digits) = match text.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", text),
    };
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let mut grouped = String::with_capacity(int.len() + int.len() / 3);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
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

/// The deployment's branding on the hosted page (variables `BRAND_NAME`,
/// `BRAND_LOGO_URL`, `BRAND_COLOR`, `SUPPORT_URL`): configuration, not code.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Branding {
    /// The name shown above the page (the bank's, the shop's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A logo: a path on this worker (`/__actiongate/brand/logo.svg`) or a
    /// `data:image/…` URI (the page's policy loads images from nowhere else).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    /// The primary colour, `#rrggbb`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// Where a person gets help: an `https://` or `mailto:` URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub support_url: Option<String>,
}

impl Branding {
    /// Branding from the variables' values (empty: not set). A value that
    /// is not of its kind is left out and named among the problems, so a
    /// typo shows in the log rather than on customers' pages.
    pub fn from_vars(name: &str, logo: &str, color: &str, support: &str) -> (Self, Vec<String>) {
        let mut problems = Vec::new();
        let mut keep = |var: &str, value: &str, ok: bool, what: &str| {
            let value = value.trim();
            if value.is_empty() {
                None
            } else if ok {
                Some(value.to_owned())
            } else {
                problems.push(format!("{var}: {what}"));
                None
            }
        };
        let name_ok = name.trim().chars().count() <= 60 && !name.contains(['<', '>']);
        let l = logo.trim();
        let logo_ok = ((l.starts_with('/') && !l.starts_with("//"))
            || l.starts_with("data:image/"))
            && !l.contains(['\\', '"', '<', '>', ' ']);
        let c = color.trim();
        let color_ok =
            c.len() == 7 && c.starts_with('#') && c.bytes().skip(1).all(|b| b.is_ascii_hexdigit());
        let s = support.trim();
        let support_ok = (s.starts_with("https://") || s.starts_with("mailto:"))
            && !s.contains(['"', '<', '>', ' ']);
        let b = Branding {
            name: keep(
                "BRAND_NAME",
                name,
                name_ok,
                "at most 60 characters, no < or >",
            ),
            logo_url: keep(
                "BRAND_LOGO_URL",
                logo,
                logo_ok,
                "a path on this worker (/…) or a data:image/ URI",
            ),
            color: keep("BRAND_COLOR", color, color_ok, "a colour such as #1a56db"),
            support_url: keep(
                "SUPPORT_URL",
                support,
                support_ok,
                "an https:// or mailto: URL",
            ),
        };
        (b, problems)
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
    fn filters_format_numbers_money_and_days() {
        let ctx = json!({"action": {"custom": {
            "amount": 5000, "big": 1234567.5, "text": "250000", "neg": -12.345,
            "at": 1_795_380_179, "iso": "2026-12-03T09:36:05Z", "word": "five",
            "neg2": -12.3, "exact": "4999.99", "far": 1e18
        }}});
        let r = |t: &str| render_template(t, &ctx);
        assert_eq!(
            r("{{action.custom.amount | number}}").as_deref(),
            Some("5,000")
        );
        assert_eq!(
            r("{{action.custom.big|number}}").as_deref(),
            Some("1,234,567.5")
        );
        assert_eq!(
            r("Withdraw {{ action.custom.amount | currency: \"NZD\" }}?").as_deref(),
            Some("Withdraw NZD 5,000.00?")
        );
        assert_eq!(
            r("{{action.custom.text | currency: \"USD\"}}").as_deref(),
            Some("USD 250,000.00")
        );
        assert_eq!(
            r("{{action.custom.neg | currency: \"EUR\"}}"),
            None,
            "three decimals are not money"
        );
        assert_eq!(
            r("{{action.custom.neg2 | currency: \"EUR\"}}").as_deref(),
            Some("EUR -12.30")
        );
        assert_eq!(
            r("{{action.custom.exact | currency: \"NZD\"}}").as_deref(),
            Some("NZD 4,999.99")
        );
        assert_eq!(
            r("{{action.custom.far | date}}"),
            None,
            "no 1970 for a date out of range"
        );
        assert_eq!(
            r("{{action.custom.at | date}}").as_deref(),
            Some("22 November 2026")
        );
        assert_eq!(
            r("{{action.custom.iso | date}}").as_deref(),
            Some("3 December 2026")
        );
        // A filter that does not apply, or is unknown: no message at all.
        assert_eq!(r("{{action.custom.word | number}}"), None);
        assert_eq!(r("{{action.custom.amount | money}}"), None);
        assert_eq!(r("{{action.custom.amount | currency: \"nzd\"}}"), None);
        assert!(
            template_problems("{{a | number}} {{b | currency: \"NZD\"}} {{c | date}} {{d}}")
                .is_empty()
        );
        assert_eq!(template_problems("{{a | money}}").len(), 1);
        assert_eq!(template_problems("{{a").len(), 1);
    }

    #[test]
    fn branding_keeps_what_is_of_its_kind() {
        let (b, p) = Branding::from_vars(
            "Demo Bank",
            "/__actiongate/brand/logo.svg",
            "#0b6e4f",
            "mailto:help@bank.example",
        );
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(b.name.as_deref(), Some("Demo Bank"));
        assert_eq!(b.color.as_deref(), Some("#0b6e4f"));
        let (b, p) = Branding::from_vars(
            "",
            "https://cdn.example/logo.png",
            "red",
            "javascript:alert(1)",
        );
        assert_eq!(b, Branding::default());
        assert_eq!(p.len(), 3, "{p:?}");
        let (b, _) = Branding::from_vars(" ", "//evil.example/x.svg", "", "");
        assert_eq!(b.logo_url, None, "a protocol-relative URL is another site");
        let (b, _) = Branding::from_vars("", "/\\evil.example/x.svg", "", "");
        assert_eq!(b.logo_url, None, "browsers read /\\ as //");
    }
}
