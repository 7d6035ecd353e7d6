use super::*;
use crate::actions::model::TrackRequest;
use crate::auth::methods::VerificationMethod;
use crate::geo::{EdgeInfo, Geo};
use crate::redirect::RedirectAllowlist;
use crate::service;
use crate::service::track::TrackInput;
use crate::store::memory::MemoryUserStore;
use crate::time::HOUR;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const NOW: Millis = 1_795_380_179_000;

/// A small deterministic generator (xorshift64*), so failures replay.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
    fn pick<'a>(&mut self, of: &[&'a str]) -> Option<&'a str> {
        let i = self.below(of.len() as u64 + 1) as usize;
        of.get(i).copied()
    }
}

fn authenticator(id: &str, at: Millis) -> Authenticator {
    Authenticator {
        user_authenticator_id: id.into(),
        verification_method: VerificationMethod::EmailOtp,
        created_at: at,
        verified_at: Some(at),
        last_verified_at: None,
        email: Some("a@example.com".into()),
        phone_number: None,
        is_default: false,
        secret: None,
    }
}

/// Track through the real service, from a device and a place.
fn track<S: UserStore>(
    store: &S,
    code: &str,
    device: Option<&str>,
    country: Option<&str>,
    located: bool,
    now: Millis,
    n: u64,
) -> service::Tracked {
    let edge = EdgeInfo {
        ip: None,
        geo: Geo {
            country_code: country.map(str::to_owned),
            latitude: located.then_some(-36.8),
            longitude: located.then_some(174.7),
            ..Geo::default()
        },
        user_agent: None,
    };
    let list = RedirectAllowlist::parse("").unwrap();
    service::track(
        store,
        TrackInput {
            user_id: "alice",
            action_code: code,
            request: TrackRequest {
                device_id: device.map(str::to_owned),
                email: n.is_multiple_of(7).then(|| format!("u{n}@example.com")),
                ..TrackRequest::default()
            },
            config: None,
            rules: None,
            edge: Some(&edge),
            pending: None,
            allowlist: &list,
            origin: None,
            now,
            fresh_key: format!("key-{n}"),
        },
    )
    .unwrap()
}

#[test]
fn a_warm_cache_answers_what_the_store_would_through_any_sequence_of_writes() {
    for seed in 1..=40u64 {
        let plain = MemoryUserStore::new();
        let cache = SnapshotCache::new();
        let cached = Cached::new(MemoryUserStore::new(), &cache);
        let mut dice = Dice(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut now = NOW;
        let (mut hits, mut tracks) = (0, 0);
        for n in 0..400u64 {
            match dice.below(20) {
                // Mostly tracks, from few devices and places.
                0..=13 => {
                    let code = dice.pick(&["withdraw", "login"]).unwrap_or("transfer");
                    let device = dice.pick(&["d1", "d2", "d3"]);
                    let country = dice.pick(&["NZ", "AU"]);
                    let located = dice.below(3) == 0;
                    hits += usize::from(cache.is_warm());
                    tracks += 1;
                    let a = track(&plain, code, device, country, located, now, n);
                    let b = track(&cached, code, device, country, located, now, n);
                    assert_eq!(a.record, b.record, "seed {seed}, step {n}: {code}");
                    assert_eq!(a.enrolled, b.enrolled, "seed {seed}, step {n}");
                }
                14 => {
                    let a = authenticator(&format!("auth-{}", dice.below(3)), now);
                    plain.put_authenticator(&a).unwrap();
                    cached.put_authenticator(&a).unwrap();
                }
                15 => {
                    let id = format!("auth-{}", dice.below(3));
                    assert_eq!(
                        plain.delete_authenticator(&id).unwrap(),
                        cached.delete_authenticator(&id).unwrap()
                    );
                }
                16 => {
                    // A device and a country no track asked about.
                    let d = format!("other-{}", dice.below(4));
                    let proved = dice.below(2) == 0;
                    plain
                        .remember(Some(&d), Some("FR"), None, proved, now)
                        .unwrap();
                    cached
                        .remember(Some(&d), Some("FR"), None, proved, now)
                        .unwrap();
                }
                17 => {
                    let mut u = plain.get_user().unwrap().unwrap_or_default();
                    u.display_name = Some(format!("Alice {n}"));
                    plain.put_user(&u).unwrap();
                    cached.put_user(&u).unwrap();
                }
                18 if dice.below(10) == 0 => {
                    plain.delete_all().unwrap();
                    cached.delete_all().unwrap();
                }
                19 => {
                    // The user proves themselves from a device, a country
                    // and a place tracks ask about (a challenge passed).
                    let device = dice.pick(&["d1", "d2", "d3"]);
                    let country = dice.pick(&["NZ", "AU"]);
                    let fix = (dice.below(2) == 0).then_some(crate::geo::Fix {
                        latitude: -36.8,
                        longitude: 174.7,
                        at: now,
                    });
                    plain.remember(device, country, fix, true, now).unwrap();
                    cached.remember(device, country, fix, true, now).unwrap();
                }
                _ => {}
            }
            // Time moves on by seconds to hours, and now and then back a little.
            now = match dice.below(10) {
                0 => now + dice.below(5) as Millis * HOUR,
                1 => now - 1_000,
                _ => now + 1 + dice.below(60_000) as Millis,
            };
        }
        assert!(
            hits * 2 > tracks,
            "seed {seed}: the cache answered {hits} of {tracks} tracks"
        );
    }
}

#[test]
fn a_cold_cache_asks_the_store_once_then_answers_itself() {
    let cache = SnapshotCache::new();
    let store = Cached::new(MemoryUserStore::new(), &cache);
    assert!(!cache.is_warm());
    let first = track(&store, "withdraw", Some("d1"), Some("NZ"), false, NOW, 1);
    assert!(cache.is_warm());
    let ctx = first.record.context.unwrap();
    assert_eq!(ctx["device"]["isNew"], true);
    assert_eq!(ctx["velocity"]["actionsLastHour"], 0);
    // The second track's facts come from memory, updated by the first's writes.
    let second = track(
        &store,
        "withdraw",
        Some("d1"),
        Some("NZ"),
        false,
        NOW + 1,
        2,
    );
    let ctx = second.record.context.unwrap();
    assert_eq!(ctx["device"]["isNew"], true, "a track alone proves nothing");
    assert_eq!(ctx["device"]["isSeen"], true);
    assert_eq!(ctx["device"]["firstSeenAt"], NOW / 1000);
    assert_eq!(ctx["device"]["count"], 1);
    assert_eq!(ctx["ip"]["isNewCountry"], true);
    assert_eq!(ctx["ip"]["isSeenCountry"], true);
    assert_eq!(ctx["velocity"]["actionsLastHour"], 1);
    assert_eq!(ctx["velocity"]["actionsLastDay"], 1);
    // Proved (a challenge passed from there): known from memory too.
    store
        .remember(Some("d1"), Some("NZ"), None, true, NOW + 1)
        .unwrap();
    assert!(cache.is_warm());
    // Tracks age out of the windows.
    let later = track(
        &store,
        "withdraw",
        Some("d1"),
        None,
        false,
        NOW + 2 * HOUR,
        3,
    );
    let ctx = later.record.context.unwrap();
    assert_eq!(ctx["device"]["isNew"], false);
    assert_eq!(ctx["velocity"]["actionsLastHour"], 0);
    assert_eq!(ctx["velocity"]["actionsLastDay"], 2);
}

#[test]
fn a_device_and_country_seen_again_are_not_written_again() {
    let cache = SnapshotCache::new();
    let store = Cached::new(MemoryUserStore::new(), &cache);
    track(&store, "withdraw", Some("d1"), Some("NZ"), false, NOW, 1);
    let writes = store.inner().remember_calls();
    assert_eq!(writes, 1);
    // Warm, both seen: the track writes its action and nothing else.
    let again = track(
        &store,
        "withdraw",
        Some("d1"),
        Some("NZ"),
        false,
        NOW + 1,
        2,
    );
    assert_eq!(store.inner().remember_calls(), writes);
    assert_eq!(again.record.context.unwrap()["device"]["isSeen"], true);
    // A new country is written, and so is proof.
    track(
        &store,
        "withdraw",
        Some("d1"),
        Some("AU"),
        false,
        NOW + 2,
        3,
    );
    assert_eq!(store.inner().remember_calls(), writes + 1);
    store
        .remember(Some("d1"), Some("NZ"), None, true, NOW + 3)
        .unwrap();
    assert_eq!(store.inner().remember_calls(), writes + 2);
    let proved = track(
        &store,
        "withdraw",
        Some("d1"),
        Some("NZ"),
        false,
        NOW + 4,
        4,
    );
    assert_eq!(proved.record.context.unwrap()["device"]["isNew"], false);
    // A cold memory learns from the store first: seen, so not written.
    cache.clear();
    track(
        &store,
        "withdraw",
        Some("d1"),
        Some("NZ"),
        false,
        NOW + 5,
        5,
    );
    assert_eq!(store.inner().remember_calls(), writes + 2);
    // A device it was never told of is.
    track(
        &store,
        "withdraw",
        Some("d2"),
        Some("NZ"),
        false,
        NOW + 6,
        6,
    );
    assert_eq!(store.inner().remember_calls(), writes + 3);
}

#[test]
fn writes_it_cannot_follow_make_it_forget() {
    let cache = SnapshotCache::new();
    let store = Cached::new(MemoryUserStore::new(), &cache);
    track(&store, "withdraw", Some("d1"), None, false, NOW, 1);
    assert!(cache.is_warm());
    store.put_authenticator(&authenticator("a1", NOW)).unwrap();
    assert!(!cache.is_warm());
    let t = track(&store, "withdraw", Some("d1"), None, false, NOW + 1, 2);
    assert_eq!(t.enrolled, vec![VerificationMethod::EmailOtp]);
    store
        .remember(Some("never-asked"), None, None, false, NOW + 2)
        .unwrap();
    assert!(!cache.is_warm());
    track(&store, "withdraw", None, None, false, NOW + 3, 3);
    store.delete_all().unwrap();
    assert!(!cache.is_warm());
    let fresh = track(&store, "withdraw", Some("d1"), None, false, NOW + 4, 4);
    let ctx = fresh.record.context.unwrap();
    assert_eq!(ctx["device"]["isNew"], true);
    assert_eq!(ctx["velocity"]["actionsLastDay"], 0);
}

#[test]
fn memory_stays_bounded() {
    let cache = SnapshotCache::new();
    let store = Cached::new(MemoryUserStore::new(), &cache);
    for n in 0..(MAX_KEYS as u64 + 10) {
        let device = format!("d{n}");
        track(
            &store,
            "withdraw",
            Some(&device),
            None,
            false,
            NOW + n as Millis,
            n,
        );
    }
    let known = cache.0.borrow();
    let known = known.as_ref().unwrap();
    assert!(known.devices.len() <= MAX_KEYS);
    assert!(known.tracks.len() <= MAX_KEYS);
}
