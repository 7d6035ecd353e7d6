//! A `User-Agent` string read into browser, engine, operating system,
//! device and CPU, in the shape Authsignal returns as a passkey's
//! `parsedUserAgent` (the shape of ua-parser-js, which its SDKs type as
//! `UserAgent`).
//!
//! It knows the browsers and systems that create passkeys today (Chrome,
//! Edge, Firefox, Safari, Opera, Samsung Internet; Windows, macOS, iOS,
//! iPadOS, Android, ChromeOS, Linux) by their product tokens, and leaves out
//! what it cannot tell rather than guessing. The general parsers (`woothee`,
//! `uaparser`) carry a regular-expression engine and a pattern database that
//! would cost the upload far more than this does; the raw string is always
//! returned as `ua` for anyone who needs more.

use serde::Serialize;

/// At most this many bytes of a user agent are kept.
pub const MAX_LEN: usize = 512;

/// What a user agent says about its browser and system.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UserAgent {
    /// The string as received.
    pub ua: String,
    /// Browser name, version and major version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub browser: Option<Browser>,
    /// Device model, type and vendor, as far as known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<Device>,
    /// Rendering engine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<Named>,
    /// Operating system.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<Named>,
    /// Processor architecture.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Cpu>,
}

/// A browser.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Browser {
    /// Its name (`Chrome`, `Mobile Safari`, …).
    pub name: String,
    /// Its full version.
    pub version: String,
    /// The version's first number.
    pub major: String,
}

/// A device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Device {
    /// Model (`iPhone`, `Pixel 8`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `mobile` or `tablet` (absent for a computer, as ua-parser-js does).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Maker (`Apple`, `Samsung`, `Google`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
}

/// A name with a version (engine, operating system).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Named {
    /// Name.
    pub name: String,
    /// Version (empty when not given).
    pub version: String,
}

/// A processor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Cpu {
    /// `amd64`, `arm64`, `ia32` or `armhf`.
    pub architecture: String,
}

/// The version that follows `token` (`Chrome/` → `120.0.6099.71`).
fn version_after<'a>(ua: &'a str, token: &str) -> Option<&'a str> {
    let start = ua.find(token)? + token.len();
    let rest = ua.get(start..)?;
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
        .unwrap_or(rest.len());
    rest.get(..end).filter(|v| !v.is_empty())
}

fn major(version: &str) -> String {
    version.split('.').next().unwrap_or_default().to_owned()
}

fn browser(ua: &str) -> Option<Browser> {
    // Most specific first: Edge, Opera and Samsung Internet also say Chrome;
    // every iOS browser also says Safari.
    const TOKENS: [(&str, &str); 10] = [
        ("EdgiOS/", "Edge"),
        ("EdgA/", "Edge"),
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("SamsungBrowser/", "Samsung Internet"),
        ("FxiOS/", "Mobile Firefox"),
        ("Firefox/", "Firefox"),
        ("CriOS/", "Mobile Chrome"),
        ("HeadlessChrome/", "Chrome Headless"),
        ("Chrome/", "Chrome"),
    ];
    let found = TOKENS
        .iter()
        .find_map(|(token, name)| version_after(ua, token).map(|v| (*name, v)));
    let (name, version) = match found {
        Some(("Chrome", v)) if ua.contains("Android") && ua.contains("Mobile") => {
            ("Mobile Chrome", v)
        }
        Some(("Firefox", v)) if ua.contains("Mobile") => ("Mobile Firefox", v),
        Some(f) => f,
        None if ua.contains("Safari/") => {
            let name = if ua.contains("Mobile/") {
                "Mobile Safari"
            } else {
                "Safari"
            };
            (name, version_after(ua, "Version/")?)
        }
        None => return None,
    };
    Some(Browser {
        name: name.to_owned(),
        version: version.to_owned(),
        major: major(version),
    })
}

fn engine(ua: &str, ios: bool) -> Option<Named> {
    // On iOS every browser is WebKit, whatever it calls itself.
    let (name, version) = if !ios && (ua.contains("Chrome/") || ua.contains("Chromium/")) {
        (
            "Blink",
            version_after(ua, "Chrome/").or_else(|| version_after(ua, "Chromium/")),
        )
    } else if let Some(v) = version_after(ua, "AppleWebKit/") {
        ("WebKit", Some(v))
    } else if ua.contains("Gecko/") {
        ("Gecko", version_after(ua, "rv:"))
    } else {
        return None;
    };
    Some(Named {
        name: name.to_owned(),
        version: version.unwrap_or_default().to_owned(),
    })
}

fn os(ua: &str) -> Option<Named> {
    let dotted = |v: &str| v.replace('_', ".");
    let (name, version) = if let Some(v) = version_after(ua, "iPhone OS ") {
        ("iOS", dotted(v))
    } else if ua.contains("iPad") || ua.contains("iPhone") {
        (
            "iOS",
            version_after(ua, "CPU OS ").map(dotted).unwrap_or_default(),
        )
    } else if let Some(v) = version_after(ua, "Android ") {
        ("Android", v.to_owned())
    } else if ua.contains("Android") {
        ("Android", String::new())
    } else if let Some(nt) = version_after(ua, "Windows NT ") {
        let v = match nt {
            "10.0" => "10",
            "6.3" => "8.1",
            "6.2" => "8",
            "6.1" => "7",
            other => other,
        };
        ("Windows", v.to_owned())
    } else if ua.contains("Windows") {
        ("Windows", String::new())
    } else if ua.contains("CrOS") {
        ("Chrome OS", String::new())
    } else if let Some(v) = version_after(ua, "Mac OS X ") {
        ("macOS", dotted(v))
    } else if ua.contains("Macintosh") {
        ("macOS", String::new())
    } else if ua.contains("Linux") {
        ("Linux", String::new())
    } else {
        return None;
    };
    Some(Named {
        name: name.to_owned(),
        version,
    })
}

/// The model an Android browser names: `(Linux; Android 14; Pixel 8)` or
/// `…; SM-S911B Build/UP1A…)`. Since Chrome's reduced user agent this is
/// often just `K`, which says nothing and is left out.
fn android_model(ua: &str) -> Option<&str> {
    let start = ua.find("Android")?;
    let inside = ua.get(start..)?;
    let inside = inside.get(..inside.find(')')?)?;
    let last = inside.rsplit(';').next()?.trim();
    let model = last.split(" Build/").next()?.trim();
    (!model.is_empty() && model != "K" && !model.starts_with("Android")).then_some(model)
}

fn device(ua: &str) -> Option<Device> {
    let apple = |model: &str, kind: Option<&str>| Device {
        model: Some(model.to_owned()),
        kind: kind.map(str::to_owned),
        vendor: Some("Apple".to_owned()),
    };
    if ua.contains("iPhone") {
        return Some(apple("iPhone", Some("mobile")));
    }
    if ua.contains("iPad") {
        return Some(apple("iPad", Some("tablet")));
    }
    if ua.contains("Android") {
        let model = android_model(ua);
        let vendor = model.and_then(|m| {
            if m.starts_with("SM-") || m.starts_with("Galaxy") {
                Some("Samsung")
            } else if m.starts_with("Pixel") {
                Some("Google")
            } else {
                None
            }
        });
        let kind = if ua.contains("Mobile") {
            "mobile"
        } else {
            "tablet"
        };
        return Some(Device {
            model: model.map(str::to_owned),
            kind: Some(kind.to_owned()),
            vendor: vendor.map(str::to_owned),
        });
    }
    if ua.contains("Macintosh") {
        return Some(apple("Macintosh", None));
    }
    None
}

fn cpu(ua: &str) -> Option<Cpu> {
    let architecture = if ["x86_64", "Win64", "WOW64", "x64;", "amd64"]
        .iter()
        .any(|t| ua.contains(t))
    {
        "amd64"
    } else if ua.contains("aarch64") || ua.contains("arm64") {
        "arm64"
    } else if ua.contains("armv7") {
        "armhf"
    } else if ua.contains("i686") || ua.contains("i386") {
        "ia32"
    } else {
        return None;
    };
    Some(Cpu {
        architecture: architecture.to_owned(),
    })
}

/// The first [`MAX_LEN`] bytes of a user agent (at a character boundary).
pub fn truncated(ua: &str) -> &str {
    let mut end = ua.len().min(MAX_LEN);
    while !ua.is_char_boundary(end) {
        end -= 1;
    }
    ua.get(..end).unwrap_or_default()
}

/// Read a user agent.
pub fn parse(ua: &str) -> UserAgent {
    let ua = truncated(ua);
    let os = os(ua);
    let ios = os.as_ref().is_some_and(|o| o.name == "iOS");
    UserAgent {
        ua: ua.to_owned(),
        browser: browser(ua),
        device: device(ua),
        engine: engine(ua, ios),
        os,
        cpu: cpu(ua),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn summary(ua: &str) -> String {
        let p = parse(ua);
        let b = p
            .browser
            .map(|b| format!("{} {} ({})", b.name, b.version, b.major));
        let e = p.engine.map(|e| format!("{} {}", e.name, e.version));
        let o = p.os.map(|o| format!("{} {}", o.name, o.version));
        let d = p.device.map(|d| {
            format!(
                "{}/{}/{}",
                d.vendor.unwrap_or_default(),
                d.model.unwrap_or_default(),
                d.kind.unwrap_or_default()
            )
        });
        let c = p.cpu.map(|c| c.architecture);
        format!("{b:?} | {e:?} | {o:?} | {d:?} | {c:?}")
    }

    #[test]
    fn reads_the_browsers_that_make_passkeys() {
        let cases = [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                r#"Some("Chrome 120.0.0.0 (120)") | Some("Blink 120.0.0.0") | Some("Windows 10") | None | Some("amd64")"#,
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
                r#"Some("Edge 120.0.2210.91 (120)") | Some("Blink 120.0.0.0") | Some("Windows 10") | None | Some("amd64")"#,
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
                r#"Some("Safari 17.2 (17)") | Some("WebKit 605.1.15") | Some("macOS 10.15.7") | Some("Apple/Macintosh/") | None"#,
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
                r#"Some("Mobile Safari 17.2 (17)") | Some("WebKit 605.1.15") | Some("iOS 17.2") | Some("Apple/iPhone/mobile") | None"#,
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
                r#"Some("Mobile Chrome 120.0.6099.119 (120)") | Some("WebKit 605.1.15") | Some("iOS 17.2") | Some("Apple/iPhone/mobile") | None"#,
            ),
            (
                "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
                r#"Some("Mobile Safari 16.6 (16)") | Some("WebKit 605.1.15") | Some("iOS 16.6") | Some("Apple/iPad/tablet") | None"#,
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36",
                r#"Some("Mobile Chrome 120.0.6099.144 (120)") | Some("Blink 120.0.6099.144") | Some("Android 14") | Some("Google/Pixel 8/mobile") | None"#,
            ),
            (
                "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
                r#"Some("Samsung Internet 23.0 (23)") | Some("Blink 115.0.0.0") | Some("Android 10") | Some("//mobile") | None"#,
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
                r#"Some("Firefox 121.0 (121)") | Some("Gecko 121.0") | Some("Linux ") | None | Some("amd64")"#,
            ),
            (
                "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                r#"Some("Chrome 120.0.0.0 (120)") | Some("Blink 120.0.0.0") | Some("Chrome OS ") | None | Some("amd64")"#,
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0",
                r#"Some("Opera 106.0.0.0 (106)") | Some("Blink 120.0.0.0") | Some("Windows 10") | None | Some("amd64")"#,
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
                r#"Some("Chrome Headless 131.0.0.0 (131)") | Some("Blink 131.0.0.0") | Some("Linux ") | None | Some("amd64")"#,
            ),
        ];
        for (ua, want) in cases {
            assert_eq!(summary(ua), want, "{ua}");
        }
    }

    #[test]
    fn says_nothing_it_cannot_tell() {
        assert_eq!(summary("curl/8.5.0"), "None | None | None | None | None");
        assert_eq!(summary(""), "None | None | None | None | None");
        let json = serde_json::to_value(parse("curl/8.5.0")).unwrap();
        assert_eq!(json, serde_json::json!({"ua": "curl/8.5.0"}));
    }

    #[test]
    fn keeps_a_bounded_prefix_at_a_character_boundary() {
        let long = "é".repeat(MAX_LEN);
        let kept = parse(&long).ua;
        assert!(kept.len() <= MAX_LEN);
        assert!(kept.chars().all(|c| c == 'é'));
    }
}
