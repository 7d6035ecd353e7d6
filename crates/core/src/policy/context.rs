//! The data rules see: one JSON document per track, built from the track
//! request, the stored user, the user's history (devices, countries, last
//! location, recent actions) and what the edge knows about the connection.
//!
//! | variable | meaning |
//! | --- | --- |
//! | `action.code` | the action code |
//! | `action.custom.*` | track's `custom` |
//! | `user.*` | stored profile: `email`, `emailVerified`, `phoneNumber`, `phoneNumberVerified`, `username`, `displayName`, `locale`, `isEnrolled`, `custom.*` |
//! | `device.id`, `device.count` | track's `deviceId`; distinct devices seen before |
//! | `device.isNew` | the user never **proved** themselves from this device (see below) |
//! | `device.isSeen`, `device.firstSeenAt` | the device was seen on any earlier track, and since when (seconds) |
//! | `ip.address`, `ip.countryCode`, `ip.asn` | the edge's `request.cf` when the worker sees the user, else track's `ipAddress` and `geo` |
//! | `ip.isNewCountry` | the user never **proved** themselves from this country |
//! | `ip.isSeenCountry` | the country was seen on any earlier track |
//! | `ip.impossibleTravel` | speed from the user's last **proved** location above [`IMPOSSIBLE_TRAVEL_KMH`] |
//! | `request.userAgent`, `ua.isBot` | the user agent; whether it looks automated |
//! | `velocity.actionsLastHour`, `velocity.actionsLastDay` | earlier tracks of this code by this user |
//! | `now` | seconds since the epoch |
//!
//! Anything unknown is `null`: a rule over missing data does not match
//! (comparisons with `null` are false), it never crashes.
//!
//! **Known only after proof.** Someone holding a stolen session can send
//! any request, and repeat it. So a device, a country and a location become
//! *known* for a user only when an action from there was proved: its
//! challenge succeeded, or a reviewer approved it. A track alone (allowed,
//! challenged, pending, blocked or failed) makes them only *seen*, the
//! weaker facts `device.isSeen` and `ip.isSeenCountry` for rules that want
//! them. Otherwise repeating a challenged request, or a harmless allowed
//! one, would turn `device.isNew` false for the next.

use serde::Serialize;
use serde_json::{Value, json};

use crate::actions::model::TrackRequest;
use crate::geo::{EdgeInfo, Fix, Geo};
use crate::time::{DAY, HOUR, Millis};
use crate::user::UserRecord;

/// Above this speed between two located actions, travel is impossible.
pub const IMPOSSIBLE_TRAVEL_KMH: f64 = 1_000.0;

/// What the user's store knows before this action.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Whether this device id was seen on an earlier track (None without a
    /// device id).
    pub device_seen: Option<bool>,
    /// Whether the user proved themselves from this device (None without a
    /// device id).
    pub device_known: Option<bool>,
    /// When this device was first seen, if it was.
    pub device_first_seen: Option<Millis>,
    /// Distinct devices seen before.
    pub device_count: u64,
    /// Whether this country was seen on an earlier track (None without a
    /// country).
    pub country_seen: Option<bool>,
    /// Whether the user proved themselves from this country.
    pub country_known: Option<bool>,
    /// The user's last proved location.
    pub last_fix: Option<Fix>,
    /// Tracks of this action code in the last hour.
    pub actions_last_hour: u64,
    /// Tracks of this action code in the last 24 hours.
    pub actions_last_day: u64,
    /// Whether the user has an authenticator.
    pub is_enrolled: bool,
}

impl History {
    /// A history that knows only the tracks of the action code, from their
    /// creation times (see [`crate::store::TrackSnapshot::track_times`]).
    pub fn counted(track_times: &[Millis], now: Millis) -> Self {
        let since = |window: Millis| {
            let from = now.saturating_sub(window);
            track_times.iter().filter(|t| **t >= from).count() as u64
        };
        History {
            actions_last_hour: since(HOUR),
            actions_last_day: since(DAY),
            ..History::default()
        }
    }
}

/// The connection facts that matter, merged from the edge and the request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signals {
    /// IP address.
    pub ip: Option<String>,
    /// Location.
    pub geo: Geo,
    /// User agent.
    pub user_agent: Option<String>,
    /// Device id.
    pub device_id: Option<String>,
}

impl Signals {
    /// The edge's view wins over what the app reported; the app fills gaps.
    pub fn merge(req: &TrackRequest, edge: Option<&EdgeInfo>) -> Self {
        let eg = edge.map(|e| &e.geo);
        let rg = req.geo.as_ref();
        Signals {
            ip: edge
                .and_then(|e| e.ip.clone())
                .or_else(|| req.ip_address.clone()),
            geo: Geo {
                country_code: eg
                    .and_then(|g| g.country_code.clone())
                    .or_else(|| rg.and_then(|g| g.country_code.clone()))
                    .map(|c| c.to_ascii_uppercase()),
                asn: eg.and_then(|g| g.asn).or_else(|| rg.and_then(|g| g.asn)),
                latitude: eg
                    .and_then(|g| g.latitude)
                    .or_else(|| rg.and_then(|g| g.latitude)),
                longitude: eg
                    .and_then(|g| g.longitude)
                    .or_else(|| rg.and_then(|g| g.longitude)),
            },
            user_agent: edge
                .and_then(|e| e.user_agent.clone())
                .or_else(|| req.user_agent.clone()),
            device_id: req.device_id.clone(),
        }
    }

    /// This action's location, if both coordinates are known and valid.
    pub fn fix(&self, now: Millis) -> Option<Fix> {
        match (self.geo.latitude, self.geo.longitude) {
            (Some(la), Some(lo))
                if (-90.0..=90.0).contains(&la) && (-180.0..=180.0).contains(&lo) =>
            {
                Some(Fix {
                    latitude: la,
                    longitude: lo,
                    at: now,
                })
            }
            _ => None,
        }
    }
}

/// Great-circle distance in kilometres (haversine, mean Earth radius).
pub fn distance_km(a: &Fix, b: &Fix) -> f64 {
    let r = 6_371.0_f64;
    let (la1, la2) = (a.latitude.to_radians(), b.latitude.to_radians());
    let dla = la2 - la1;
    let dlo = (b.longitude - a.longitude).to_radians();
    let h = (dla / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlo / 2.0).sin().powi(2);
    2.0 * r * h.sqrt().min(1.0).asin()
}

/// Whether going from `prev` to `now` needs more than [`IMPOSSIBLE_TRAVEL_KMH`].
/// Under 50 km is never impossible (city-level geolocation is that coarse).
pub fn impossible_travel(prev: &Fix, now: &Fix) -> bool {
    let km = distance_km(prev, now);
    if km < 50.0 {
        return false;
    }
    let hours = (now.at - prev.at) as f64 / 3_600_000.0;
    hours <= 0.0 || km / hours > IMPOSSIBLE_TRAVEL_KMH
}

/// Substrings (lower case) of user agents that belong to automation.
const BOT_MARKERS: &[&str] = &[
    "bot",
    "crawler",
    "spider",
    "slurp",
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "go-http-client",
    "java/",
    "okhttp",
    "libwww-perl",
    "httpclient",
    "headlesschrome",
    "phantomjs",
    "selenium",
    "puppeteer",
    "playwright",
    "scrapy",
    "node-fetch",
    "axios/",
    "postman",
];

/// Whether a user agent looks automated (`None` without one).
pub fn looks_like_bot(user_agent: Option<&str>) -> Option<bool> {
    let ua = user_agent?.trim();
    if ua.is_empty() {
        return Some(true);
    }
    let lower = ua.to_ascii_lowercase();
    Some(BOT_MARKERS.iter().any(|m| lower.contains(m)))
}

fn opt<T: Serialize>(v: Option<T>) -> Value {
    v.map_or(Value::Null, |v| {
        serde_json::to_value(v).unwrap_or(Value::Null)
    })
}

/// Build the context document rules are evaluated against.
pub fn build(
    action_code: &str,
    req: &TrackRequest,
    user: &UserRecord,
    history: &History,
    signals: &Signals,
    now: Millis,
) -> Value {
    let here = signals.fix(now);
    let travel = match (history.last_fix, here) {
        (Some(prev), Some(cur)) => Value::Bool(impossible_travel(&prev, &cur)),
        _ => Value::Null,
    };
    json!({
        "action": {
            "code": action_code,
            "custom": Value::Object(req.custom.clone().unwrap_or_default()),
        },
        "user": {
            "email": opt(user.email.as_ref()),
            "emailVerified": user.email_verified,
            "phoneNumber": opt(user.phone_number.as_ref()),
            "phoneNumberVerified": user.phone_number_verified,
            "username": opt(user.username.as_ref()),
            "displayName": opt(user.display_name.as_ref()),
            "locale": opt(user.locale.as_ref()),
            "isEnrolled": history.is_enrolled,
            "custom": Value::Object(user.custom.clone().unwrap_or_default()),
        },
        "device": {
            "id": opt(signals.device_id.as_ref()),
            "isNew": opt(history.device_known.map(|k| !k)),
            "isSeen": opt(history.device_seen),
            "firstSeenAt": opt(history.device_first_seen.map(|t| t.div_euclid(1000))),
            "count": history.device_count,
        },
        "ip": {
            "address": opt(signals.ip.as_ref()),
            "countryCode": opt(signals.geo.country_code.as_ref()),
            "asn": opt(signals.geo.asn),
            "isNewCountry": opt(history.country_known.map(|k| !k)),
            "isSeenCountry": opt(history.country_seen),
            "impossibleTravel": travel,
        },
        "request": { "userAgent": opt(signals.user_agent.as_ref()) },
        "ua": { "isBot": opt(looks_like_bot(signals.user_agent.as_deref())) },
        "velocity": {
            "actionsLastHour": history.actions_last_hour,
            "actionsLastDay": history.actions_last_day,
        },
        "now": now.div_euclid(1000),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const NOW: Millis = 1_795_380_179_000;

    fn req(v: Value) -> TrackRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn every_data_point_has_its_documented_name() {
        let r = req(
            json!({"custom": {"amount": 250}, "deviceId": "dev-1", "ipAddress": "203.0.113.7",
            "userAgent": "Mozilla/5.0 (iPhone)", "geo": {"countryCode": "nz", "asn": 9500, "latitude": -36.85, "longitude": 174.76}}),
        );
        let user = UserRecord {
            email: Some("a@example.com".into()),
            custom: Some(serde_json::from_value(json!({"tier": "gold"})).unwrap()),
            ..UserRecord::default()
        };
        let history = History {
            device_seen: Some(true),
            device_known: Some(false),
            device_first_seen: Some(NOW - 2 * HOUR),
            device_count: 2,
            country_seen: Some(true),
            country_known: Some(true),
            last_fix: Some(Fix {
                latitude: 51.5,
                longitude: -0.12,
                at: NOW - HOUR,
            }),
            actions_last_hour: 3,
            actions_last_day: 7,
            is_enrolled: true,
        };
        let signals = Signals::merge(&r, None);
        let c = build("withdraw-funds", &r, &user, &history, &signals, NOW);
        assert_eq!(c["action"]["code"], "withdraw-funds");
        assert_eq!(c["action"]["custom"]["amount"], 250);
        assert_eq!(c["user"]["email"], "a@example.com");
        assert_eq!(c["user"]["custom"]["tier"], "gold");
        assert_eq!(c["user"]["isEnrolled"], true);
        assert_eq!(c["device"]["id"], "dev-1");
        assert_eq!(c["device"]["isNew"], true, "seen is not known");
        assert_eq!(c["device"]["isSeen"], true);
        assert_eq!(c["device"]["firstSeenAt"], (NOW - 2 * HOUR) / 1000);
        assert_eq!(c["device"]["count"], 2);
        assert_eq!(c["ip"]["address"], "203.0.113.7");
        assert_eq!(c["ip"]["countryCode"], "NZ");
        assert_eq!(c["ip"]["asn"], 9500);
        assert_eq!(c["ip"]["isNewCountry"], false);
        assert_eq!(c["ip"]["isSeenCountry"], true);
        // London to Auckland in an hour.
        assert_eq!(c["ip"]["impossibleTravel"], true);
        assert_eq!(c["request"]["userAgent"], "Mozilla/5.0 (iPhone)");
        assert_eq!(c["ua"]["isBot"], false);
        assert_eq!(c["velocity"]["actionsLastHour"], 3);
        assert_eq!(c["velocity"]["actionsLastDay"], 7);
        assert_eq!(c["now"], 1_795_380_179);
        // Every fixed variable the validator accepts exists in the document.
        for path in crate::policy::rules::FIXED_VARIABLES {
            let mut v = &c;
            for part in path.split('.') {
                v = v.get(part).unwrap_or_else(|| panic!("{path} missing"));
            }
        }
    }

    /// The context of a track that says nothing, for a user with nothing.
    fn empty_context() -> Value {
        let r = req(json!({}));
        build(
            "login",
            &r,
            &UserRecord::default(),
            &History::default(),
            &Signals::merge(&r, None),
            NOW,
        )
    }

    #[test]
    fn missing_data_is_null() {
        let c = empty_context();
        for (root, key) in [
            ("device", "id"),
            ("device", "isNew"),
            ("device", "isSeen"),
            ("device", "firstSeenAt"),
            ("ip", "address"),
            ("ip", "countryCode"),
            ("ip", "asn"),
            ("ip", "isNewCountry"),
            ("ip", "isSeenCountry"),
            ("ip", "impossibleTravel"),
            ("request", "userAgent"),
            ("ua", "isBot"),
            ("user", "email"),
        ] {
            assert_eq!(c[root][key], Value::Null, "{root}.{key}");
        }
        assert_eq!(c["action"]["custom"], json!({}));
    }

    #[test]
    fn rules_may_read_exactly_what_the_context_holds() {
        use crate::policy::rules::{FIXED_VARIABLES, OPEN_PREFIXES};
        fn leaves(v: &Value, at: String, out: &mut Vec<String>) {
            match v {
                Value::Object(m) if !OPEN_PREFIXES.contains(&at.as_str()) => {
                    for (k, x) in m {
                        let next = if at.is_empty() {
                            k.clone()
                        } else {
                            format!("{at}.{k}")
                        };
                        leaves(x, next, out);
                    }
                }
                _ => out.push(at),
            }
        }
        let c = empty_context();
        let mut held = Vec::new();
        leaves(&c, String::new(), &mut held);
        let mut readable: Vec<String> = FIXED_VARIABLES
            .iter()
            .chain(OPEN_PREFIXES)
            .map(|s| (*s).to_owned())
            .collect();
        held.sort_unstable();
        readable.sort_unstable();
        assert_eq!(
            held, readable,
            "the context's data points and the validator's"
        );
    }

    #[test]
    fn the_edge_wins_over_what_the_app_reports() {
        let r = req(
            json!({"ipAddress": "10.0.0.1", "userAgent": "app says", "geo": {"countryCode": "US", "asn": 1}}),
        );
        let edge = EdgeInfo {
            ip: Some("198.51.100.9".into()),
            geo: Geo {
                country_code: Some("DE".into()),
                asn: None,
                latitude: None,
                longitude: None,
            },
            user_agent: Some("edge says".into()),
        };
        let s = Signals::merge(&r, Some(&edge));
        assert_eq!(s.ip.as_deref(), Some("198.51.100.9"));
        assert_eq!(s.geo.country_code.as_deref(), Some("DE"));
        assert_eq!(s.geo.asn, Some(1), "the app fills what the edge lacks");
        assert_eq!(s.user_agent.as_deref(), Some("edge says"));
    }

    #[test]
    fn travel_speed_decides_impossible_travel() {
        let auckland = Fix {
            latitude: -36.85,
            longitude: 174.76,
            at: NOW,
        };
        let wellington = Fix {
            latitude: -41.29,
            longitude: 174.78,
            at: NOW + HOUR,
        };
        let london_soon = Fix {
            latitude: 51.5,
            longitude: -0.12,
            at: NOW + 2 * HOUR,
        };
        let london_later = Fix {
            latitude: 51.5,
            longitude: -0.12,
            at: NOW + 30 * HOUR,
        };
        let dist = distance_km(&auckland, &wellington);
        assert!((480.0..500.0).contains(&dist), "{dist}");
        assert!(!impossible_travel(&auckland, &wellington), "~490 km/h");
        assert!(impossible_travel(&auckland, &london_soon));
        assert!(!impossible_travel(&auckland, &london_later), "~610 km/h");
        let same_place_same_time = Fix {
            at: NOW,
            ..auckland
        };
        assert!(!impossible_travel(&auckland, &same_place_same_time));
    }

    #[test]
    fn bots_by_user_agent() {
        assert_eq!(looks_like_bot(None), None);
        assert_eq!(looks_like_bot(Some("")), Some(true));
        assert_eq!(looks_like_bot(Some("curl/8.5.0")), Some(true));
        assert_eq!(
            looks_like_bot(Some("Mozilla/5.0 (compatible; Googlebot/2.1)")),
            Some(true)
        );
        assert_eq!(
            looks_like_bot(Some("Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/120.0")),
            Some(true)
        );
        assert_eq!(
            looks_like_bot(Some(
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) Safari/605.1.15"
            )),
            Some(false)
        );
    }

    #[test]
    fn invalid_coordinates_are_no_location() {
        let r = req(json!({"geo": {"latitude": 123.0, "longitude": 10.0}}));
        assert_eq!(Signals::merge(&r, None).fix(NOW), None);
    }
}
