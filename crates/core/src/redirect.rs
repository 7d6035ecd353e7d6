//! The `redirectUrl` allowlist: where the hosted challenge page may send a
//! user back to. Without it the worker would be an open redirect.
//!
//! An entry is an absolute `http(s)` URL, optionally with a path prefix, or a
//! host wildcard of the form `https://*.example.com`. A redirect URL matches
//! an entry when scheme, host and port are equal (for a wildcard: the host is
//! a subdomain of it) and its path starts with the entry's path at a segment
//! boundary. URLs with user info (`https://a@b`) never match.

use url::Url;

use crate::error::CoreError;

/// The two forms of a URL ActionGate sends a browser to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowserUrl {
    /// A path on this site (`/login`): never another host.
    Path,
    /// An absolute `http(s)` URL without user info.
    Absolute,
}

/// Check a URL that ActionGate sends a browser to (`loginUrl`,
/// `redirectUrl`, the redirect allowlist's entries): the one rule for all
/// of them, so that no spelling a browser reads as another host slips by.
/// Refused: ASCII control characters and spaces (raw or percent-encoded), a
/// backslash (raw or `%5C`: browsers read `/\evil.example` as
/// `//evil.example`), for a path anything but a single leading `/`
/// (`//evil`, `/\evil`), for an absolute URL any scheme but http(s)
/// (`javascript:`), no host, or user info.
///
/// # Errors
/// A sentence saying what is wrong, for the caller to locate.
pub fn check_browser_url(url: &str, form: BrowserUrl) -> Result<(), String> {
    if url.chars().any(|c| c.is_ascii_control() || c == ' ') {
        return Err("must not contain spaces or control characters".into());
    }
    let lower = url.to_ascii_lowercase();
    let encoded_control = lower.match_indices('%').any(|(i, _)| {
        let hex = lower.get(i + 1..i + 3).unwrap_or("");
        matches!(hex.as_bytes().first(), Some(b'0' | b'1')) && hex.len() == 2
            || hex == "7f"
            || hex == "20"
            || hex == "5c"
    });
    if url.contains('\\') || encoded_control {
        return Err(
            "must not contain a backslash, or an encoded backslash, space or control character"
                .into(),
        );
    }
    match form {
        BrowserUrl::Path => {
            if !url.starts_with('/') || url.starts_with("//") {
                return Err("must be a path on this site, starting with a single /".into());
            }
        }
        BrowserUrl::Absolute => {
            if !(lower.starts_with("https://") || lower.starts_with("http://")) {
                return Err("must be an absolute http(s) URL".into());
            }
            // Hosts are read ASCII-only (the URL parser carries no Unicode
            // tables): a domain name in another script is written as punycode.
            let authority = url.split_once("://").map_or("", |(_, rest)| {
                rest.split(['/', '?', '#']).next().unwrap_or("")
            });
            if !authority.is_ascii() {
                return Err(
                    "has a host that is not ASCII: write an internationalised domain name in its xn-- (punycode) form"
                        .into(),
                );
            }
            let u = Url::parse(url).map_err(|_| "is not an absolute URL".to_owned())?;
            if u.host_str().is_none_or(str::is_empty) {
                return Err("has no host".into());
            }
            if !u.username().is_empty() || u.password().is_some() {
                return Err("must not contain user info".into());
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    scheme: String,
    /// Lower-case host; for a wildcard, the suffix after `*.`.
    host: String,
    wildcard: bool,
    port: Option<u16>,
    path: String,
}

/// A parsed allowlist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedirectAllowlist {
    entries: Vec<Entry>,
}

impl RedirectAllowlist {
    /// Parse a comma- or whitespace-separated list of entries.
    ///
    /// # Errors
    /// [`CoreError::Invalid`] listing every entry that is not an absolute
    /// http(s) URL without query, fragment or user info.
    pub fn parse(spec: &str) -> Result<Self, CoreError> {
        let mut entries = Vec::new();
        let mut problems = Vec::new();
        for raw in spec.split(|c: char| c == ',' || c.is_whitespace()) {
            let raw = raw.trim();
            if raw.is_empty() {
                continue;
            }
            let (wildcard, candidate) = match raw.split_once("://*.") {
                Some((scheme, rest)) => (true, format!("{scheme}://{rest}")),
                None => (false, raw.to_owned()),
            };
            let checked = check_browser_url(&candidate, BrowserUrl::Absolute);
            match Url::parse(&candidate) {
                Ok(u)
                    if checked.is_ok()
                        && matches!(u.scheme(), "http" | "https")
                        && u.host_str().is_some()
                        && u.username().is_empty()
                        && u.password().is_none()
                        && u.query().is_none()
                        && u.fragment().is_none() =>
                {
                    entries.push(Entry {
                        scheme: u.scheme().to_owned(),
                        host: u.host_str().unwrap_or_default().to_ascii_lowercase(),
                        wildcard,
                        port: u.port_or_known_default(),
                        path: u.path().to_owned(),
                    });
                }
                _ => problems.push(match checked {
                    // Its own words (a host not in ASCII says how to write it).
                    Err(why) => format!("REDIRECT_URL_ALLOWLIST: {raw:?} {why}"),
                    Ok(()) => format!(
                        "REDIRECT_URL_ALLOWLIST: {raw:?} is not an absolute http(s) URL without query, fragment or user info"
                    ),
                }),
            }
        }
        if problems.is_empty() {
            Ok(RedirectAllowlist { entries })
        } else {
            Err(CoreError::Invalid(problems))
        }
    }

    /// Whether the list has no entries (every redirect URL is refused).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Like [`Self::check`], but a URL on `origin` (the worker's own, as
    /// `scheme://host[:port]`) is always allowed.
    ///
    /// # Errors
    /// As [`Self::check`].
    pub fn check_or_same_origin(
        &self,
        redirect_url: &str,
        origin: Option<&str>,
    ) -> Result<(), CoreError> {
        if let (Some(o), Ok(u)) = (origin, Url::parse(redirect_url))
            && check_browser_url(redirect_url, BrowserUrl::Absolute).is_ok()
            && u.origin().ascii_serialization() == o
            && u.username().is_empty()
            && u.password().is_none()
        {
            return Ok(());
        }
        self.check(redirect_url)
    }

    /// Check a caller's `redirectUrl`.
    ///
    /// # Errors
    /// [`CoreError::InvalidField`] naming `redirectUrl` when it does not parse
    /// or matches no entry.
    pub fn check(&self, redirect_url: &str) -> Result<(), CoreError> {
        let refuse = |why: &str| {
            Err(CoreError::field(
                "redirectUrl",
                format!("{redirect_url:?} {why}"),
            ))
        };
        if let Err(why) = check_browser_url(redirect_url, BrowserUrl::Absolute) {
            return refuse(&why);
        }
        let Ok(u) = Url::parse(redirect_url) else {
            return refuse("is not an absolute URL");
        };
        let Some(host) = u.host_str() else {
            return refuse("has no host");
        };
        let path = u.path();
        let hit = self
            .entries_for(&u, &host.to_ascii_lowercase())
            .any(|e| path_within(path, &e.path));
        if hit {
            Ok(())
        } else {
            refuse("is not on the redirect allowlist (REDIRECT_URL_ALLOWLIST)")
        }
    }

    /// Whether some entry allows URLs on `origin` (`scheme://host[:port]`),
    /// whatever their path: the origins the app's pages are served from.
    pub fn allows_origin(&self, origin: &str) -> bool {
        let Ok(u) = Url::parse(origin) else {
            return false;
        };
        if !u.username().is_empty()
            || u.password().is_some()
            || u.origin().ascii_serialization() != origin.trim_end_matches('/')
        {
            return false;
        }
        let Some(host) = u.host_str() else {
            return false;
        };
        self.entries_for(&u, &host.to_ascii_lowercase())
            .next()
            .is_some()
    }

    /// The entries whose scheme, host and port admit `u` (host lower-cased).
    fn entries_for<'a>(&'a self, u: &'a Url, host: &'a str) -> impl Iterator<Item = &'a Entry> {
        let port = u.port_or_known_default();
        self.entries.iter().filter(move |e| {
            e.scheme == u.scheme()
                && e.port == port
                && if e.wildcard {
                    host.len() > e.host.len() + 1
                        && host.ends_with(&e.host)
                        && host.as_bytes().get(host.len() - e.host.len() - 1) == Some(&b'.')
                } else {
                    host == e.host
                }
        })
    }
}

fn path_within(path: &str, prefix: &str) -> bool {
    if prefix == "/" || prefix.is_empty() {
        return true;
    }
    let prefix = prefix.strip_suffix('/').unwrap_or(prefix);
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn list() -> RedirectAllowlist {
        RedirectAllowlist::parse(
            "https://app.example.com, http://localhost:8788 https://*.shop.example/account",
        )
        .unwrap()
    }

    #[test]
    fn urls_sent_to_browsers_follow_one_rule() {
        for bad in [
            "/\\evil.example",
            "\\\\evil.example",
            "//evil",
            "/%5Cevil",
            "/%5cevil",
            "javascript:alert(1)",
            "/login\nLocation: x",
            "/a\tb",
            "/a%0d%0ab",
            "https://evil.example",
            "login",
            "/ x",
        ] {
            assert!(check_browser_url(bad, BrowserUrl::Path).is_err(), "{bad:?}");
        }
        for good in ["/login", "/login?next=%2Fhome", "/a/b"] {
            assert!(
                check_browser_url(good, BrowserUrl::Path).is_ok(),
                "{good:?}"
            );
        }
        for bad in [
            "javascript:alert(1)",
            "JAVASCRIPT://x",
            "https://a@evil.example/",
            "https:/\\evil.example",
            "https://app.example/%5C",
            "//app.example/",
            "data:text/html,x",
            "https://app.example/\t",
        ] {
            assert!(
                check_browser_url(bad, BrowserUrl::Absolute).is_err(),
                "{bad:?}"
            );
        }
        assert!(check_browser_url("https://app.example/done?x=1", BrowserUrl::Absolute).is_ok());
        let list = RedirectAllowlist::parse("https://app.example").unwrap();
        assert!(
            list.check("https://app.example/%5C%5Cevil.example")
                .is_err()
        );
        assert!(
            list.check_or_same_origin("https://app.example/\\x", Some("https://app.example"))
                .is_err()
        );
    }

    #[test]
    fn internationalised_hosts_are_written_as_punycode() {
        let refused = RedirectAllowlist::parse("https://bücher.example").unwrap_err();
        assert!(refused.to_string().contains("xn-- (punycode)"), "{refused}");
        let l = RedirectAllowlist::parse("https://xn--bcher-kva.example").unwrap();
        assert!(l.check("https://xn--bcher-kva.example/done").is_ok());
        let err = l
            .check("https://bücher.example/done")
            .unwrap_err()
            .to_string();
        assert!(err.contains("xn-- (punycode)"), "{err}");
        assert!(RedirectAllowlist::parse("https://bücher.example").is_err());
    }

    #[test]
    fn origins_are_allowed_whatever_the_entry_path() {
        let list = RedirectAllowlist::parse(
            "https://app.example/account https://*.shop.example http://localhost:8799",
        )
        .unwrap();
        for o in [
            "https://app.example",
            "https://eu.shop.example",
            "http://localhost:8799",
        ] {
            assert!(list.allows_origin(o), "{o}");
        }
        for o in [
            "https://evil.example",
            "http://app.example",
            "https://app.example:8443",
            "https://shop.example",
            "https://app.example/account",
            "https://user@app.example",
            "null",
        ] {
            assert!(!list.allows_origin(o), "{o}");
        }
    }

    #[test]
    fn accepts_listed_origins_and_prefixes() {
        let l = list();
        for ok in [
            "https://app.example.com/",
            "https://app.example.com/withdraw?x=1#y",
            "https://APP.example.com:443/x",
            "http://localhost:8788/done",
            "https://eu.shop.example/account",
            "https://eu.shop.example/account/orders",
        ] {
            assert!(l.check(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        let l = list();
        for bad in [
            "https://evil.example.com/",
            "https://app.example.com.evil.com/",
            "http://app.example.com/",
            "https://app.example.com:8443/",
            "https://user@app.example.com/",
            "http://localhost:8789/",
            "https://shop.example/account",
            "https://eu.shop.example/accounts",
            "https://eu.shop.example/",
            "javascript:alert(1)",
            "//app.example.com/",
            "/relative",
        ] {
            let err = l.check(bad).unwrap_err();
            assert!(err.to_string().starts_with("redirectUrl: "), "{bad}");
        }
    }

    #[test]
    fn empty_list_refuses_all() {
        let l = RedirectAllowlist::parse("").unwrap();
        assert!(l.is_empty());
        assert!(l.check("https://app.example.com/").is_err());
    }

    #[test]
    fn bad_entries_are_all_reported() {
        let err = RedirectAllowlist::parse("ftp://x, https://ok.example, https://a.example/?q=1")
            .unwrap_err();
        match err {
            CoreError::Invalid(p) => assert_eq!(p.len(), 2),
            other => panic!("{other:?}"),
        }
    }
}
