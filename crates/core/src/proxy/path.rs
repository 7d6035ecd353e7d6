//! Path patterns of protected routes and how a request's path is matched
//! against them: leniently, the way app routers read paths, so that no
//! spelling of a protected path slips past (see [`PathPattern::matches`]).

use std::collections::BTreeMap;

/// A compiled path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    segments: Vec<Segment>,
    rest: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

impl PathPattern {
    /// Parse `/a/:b/*`.
    ///
    /// # Errors
    /// A sentence saying what is wrong.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let Some(body) = pattern.strip_prefix('/') else {
            return Err("must start with /".into());
        };
        let mut segments = Vec::new();
        let mut rest = false;
        let parts: Vec<&str> = if body.is_empty() {
            Vec::new()
        } else {
            body.split('/').collect()
        };
        for (i, part) in parts.iter().enumerate() {
            if *part == "*" {
                if i + 1 != parts.len() {
                    return Err("* may only end a pattern".into());
                }
                rest = true;
            } else if let Some(name) = part.strip_prefix(':') {
                if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                {
                    return Err(format!("bad parameter name {part:?}"));
                }
                segments.push(Segment::Param(name.to_owned()));
            } else if part.is_empty() && i + 1 != parts.len() {
                return Err("empty segment".into());
            } else if !part.is_empty() {
                // A trailing `/` is no segment: `/a/` is `/a`.
                segments.push(Segment::Literal((*part).to_owned()));
            }
        }
        Ok(PathPattern { segments, rest })
    }

    pub(crate) fn params(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param(n) => Some(n.as_str()),
            Segment::Literal(_) => None,
        })
    }

    /// The path parameters when `path` (as the client sent it) matches.
    ///
    /// Matching is deliberately lenient, so that no spelling of a path that
    /// an app might route to a protected handler slips through: see
    /// [`normal_segments`]; literal segments compare without regard to ASCII
    /// case. `/API//withdraw/`, `/%61pi/withdraw`, `/./api/withdraw` and
    /// `/api/withdraw;x=1` all match `/api/withdraw`, and so does
    /// `/api/withdraw.json`: a final literal also matches with a format
    /// suffix, which Rails (and Spring's suffix matching) route to the same
    /// handler. Paths whose segments an app could split differently (an
    /// encoded `/`, `\` or NUL) are refused before matching
    /// ([`ambiguous_path`]).
    pub fn matches(&self, path: &str) -> Option<BTreeMap<String, String>> {
        if !path.starts_with('/') {
            return None;
        }
        self.matches_parts(&normal_segments(path))
    }

    /// [`Self::matches`] for a path already split by [`normal_segments`].
    pub(crate) fn matches_parts(&self, parts: &[String]) -> Option<BTreeMap<String, String>> {
        if parts.len() < self.segments.len() || (!self.rest && parts.len() != self.segments.len()) {
            return None;
        }
        let last = self.segments.len().checked_sub(1).filter(|_| !self.rest);
        let mut params = BTreeMap::new();
        for (i, (seg, part)) in self.segments.iter().zip(parts).enumerate() {
            match seg {
                Segment::Literal(l) => {
                    let same = l.eq_ignore_ascii_case(part)
                        || (Some(i) == last && format_suffixed(l, part));
                    if !same {
                        return None;
                    }
                }
                Segment::Param(n) => {
                    params.insert(n.clone(), part.clone());
                }
            }
        }
        Some(params)
    }
}

/// Whether `part` is `literal` followed by a format suffix (`withdraw.json`,
/// any text after the dot): apps that route by format send it to the
/// literal's handler.
fn format_suffixed(literal: &str, part: &str) -> bool {
    part.get(..literal.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(literal))
        && part
            .get(literal.len()..)
            .and_then(|rest| rest.strip_prefix('.'))
            .is_some_and(|ext| !ext.is_empty())
}

/// A path's segments as route matching sees them, the way lenient app
/// routers do: the raw path split on `/` (and `\`), each segment's
/// `;parameters` dropped, then percent-decoded; empty and `.` segments
/// dropped and `..` resolved.
pub fn normal_segments(path: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for raw in path.split(['/', '\\']) {
        let bare = raw.split(';').next().unwrap_or("");
        let seg = percent_encoding::percent_decode_str(bare).decode_utf8_lossy();
        match seg.as_ref() {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s.to_owned()),
        }
    }
    out
}

/// Whether a raw path has a segment that decodes to a `/`, `\` or NUL, or
/// does so when decoded twice (`%252F`, for an app behind a layer that
/// decodes once more): apps differ on whether such a segment is one
/// segment or several, so the route it belongs to cannot be told. The edge
/// proxy refuses these.
pub fn ambiguous_path(path: &str) -> bool {
    let separator = |b: u8| b == b'/' || b == b'\\' || b == 0;
    path.split(['/', '\\']).any(|raw| {
        let once: Vec<u8> = percent_encoding::percent_decode_str(raw).collect();
        once.iter().any(|b| separator(*b)) || percent_encoding::percent_decode(&once).any(separator)
    })
}
