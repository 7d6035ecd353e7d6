//! Analytics per action code and UTC day: tracks by outcome, challenges
//! succeeded and failed, and how long challenges took.
//!
//! Counts come from the same events as webhooks ([`crate::actions::events::Event`]).
//! Each user object adds them up in its own counters and sends the sums to
//! its shard in numbered batches. Tracks write nothing for it on the request
//! path: the stored actions are counted when a batch is made
//! ([`count_tracks`]); challenge outcomes add to a counter as they happen. They are
//! kept in a fixed number of shard objects (a user's events always go to
//! the same shard, [`shard_of`]), so no single object sees every track;
//! reading sums the shards. Durations are kept as a histogram with
//! power-of-two buckets, from which the median is estimated; its error is at
//! most half a bucket (a bucket spans a factor of two).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::actions::events::Event;
use crate::actions::model::Cause;
use crate::actions::state::ActionState;
use crate::time::Millis;

/// How many shard objects hold the counts.
pub const SHARDS: u32 = 16;
/// Histogram buckets: bucket `b` holds durations in
/// `[250·2^b, 250·2^(b+1))` ms, bucket 0 everything under 500 ms.
pub const BUCKETS: u32 = 22;
const BUCKET_BASE_MS: i64 = 250;

/// What one event adds to the counts: one object tagged by `kind`, read
/// through a flat form (see [`crate::actions::model::Cause`] for why).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Metric {
    /// A track, by the state it started in.
    Tracked {
        /// Action code.
        action_code: String,
        /// UTC day, `YYYY-MM-DD`.
        day: String,
        /// `allow`, `challenge`, `review` or `block`.
        outcome: String,
    },
    /// A challenge completed, after this long.
    ChallengeSucceeded {
        /// Action code.
        action_code: String,
        /// UTC day.
        day: String,
        /// Its histogram bucket.
        bucket: u32,
    },
    /// A challenge failed (too many wrong codes, or vetoed by the app).
    ChallengeFailed {
        /// Action code.
        action_code: String,
        /// UTC day.
        day: String,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
enum MetricKind {
    Tracked,
    ChallengeSucceeded,
    ChallengeFailed,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetricFields {
    kind: MetricKind,
    action_code: String,
    day: String,
    outcome: Option<String>,
    bucket: Option<u32>,
}

impl<'de> Deserialize<'de> for Metric {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use crate::encoding::required;
        let f = MetricFields::deserialize(d)?;
        let (action_code, day) = (f.action_code, f.day);
        Ok(match f.kind {
            MetricKind::Tracked => Metric::Tracked {
                action_code,
                day,
                outcome: required(f.outcome, "outcome")?,
            },
            MetricKind::ChallengeSucceeded => Metric::ChallengeSucceeded {
                action_code,
                day,
                bucket: required(f.bucket, "bucket")?,
            },
            MetricKind::ChallengeFailed => Metric::ChallengeFailed { action_code, day },
        })
    }
}

/// The UTC day of a time, `YYYY-MM-DD`.
pub fn day(ms: Millis) -> String {
    crate::time::to_rfc3339(ms).chars().take(10).collect()
}

/// The bucket of a duration.
pub fn bucket(ms: Millis) -> u32 {
    let mut b = 0;
    let mut upper = BUCKET_BASE_MS * 2;
    while ms >= upper && b + 1 < BUCKETS {
        b += 1;
        upper = upper.saturating_mul(2);
    }
    b
}

/// The shard that counts a user's events.
pub fn shard_of(user_id: &str) -> u32 {
    let h = hmac_sha256::Hash::hash(user_id.as_bytes());
    u32::from_be_bytes([h[0], h[1], h[2], h[3]]) % SHARDS
}

impl Metric {
    /// What `event` counts for, if anything.
    pub fn of(event: &Event) -> Option<Self> {
        match event {
            Event::ActionCreated {
                action_code,
                state,
                at,
                ..
            } => Some(Metric::Tracked {
                action_code: action_code.clone(),
                day: day(*at),
                outcome: outcome(*state)?.to_owned(),
            }),
            Event::ActionStateChanged {
                action_code,
                from,
                to,
                at,
                cause,
                created_at,
                ..
            } => match (from, to, cause) {
                (
                    ActionState::ChallengeRequired,
                    ActionState::ChallengeSucceeded | ActionState::ReviewRequired,
                    Cause::Challenge { .. },
                ) => Some(Metric::ChallengeSucceeded {
                    action_code: action_code.clone(),
                    day: day(*at),
                    bucket: bucket(at.saturating_sub(*created_at)),
                }),
                // Cancelled: counted as never completed, not as failed.
                (_, ActionState::ChallengeFailed, Cause::Abandoned) => None,
                (_, ActionState::ChallengeFailed, _) => Some(Metric::ChallengeFailed {
                    action_code: action_code.clone(),
                    day: day(*at),
                }),
                _ => None,
            },
            _ => None,
        }
    }
}

/// The counter a track moves, by the state it started in (`None` for a
/// state no track starts in).
pub fn outcome(state: ActionState) -> Option<&'static str> {
    match state {
        ActionState::Allow => Some("allow"),
        ActionState::ChallengeRequired => Some("challenge"),
        ActionState::ReviewRequired => Some("review"),
        ActionState::Block => Some("block"),
        _ => None,
    }
}

/// Stored tracks, each as (created at, action code, the state it started
/// in), summed into counts per day, code and outcome (in that order).
pub fn count_tracks<'a>(
    tracks: impl IntoIterator<Item = (Millis, &'a str, ActionState)>,
) -> Vec<Count> {
    let mut sums: std::collections::BTreeMap<(String, &'a str, &'static str), i64> =
        std::collections::BTreeMap::new();
    for (at, code, state) in tracks {
        if let Some(kind) = outcome(state) {
            *sums.entry((day(at), code, kind)).or_default() += 1;
        }
    }
    sums.into_iter()
        .map(|((day, code, kind), n)| Count {
            day,
            action_code: code.to_owned(),
            kind: kind.to_owned(),
            bucket: -1,
            n,
        })
        .collect()
}

/// What a user object sends its shard: how many times one counter moved
/// since its last batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    /// UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// Action code.
    pub action_code: String,
    /// `allow`, `challenge`, `review`, `block`, `succeeded` or `failed`.
    pub kind: String,
    /// The duration bucket of a `succeeded` count; -1 for the others.
    pub bucket: i64,
    /// How many.
    pub n: i64,
}

/// The counter kinds, the columns of a shard's daily row.
pub const KINDS: [&str; 6] = [
    "allow",
    "challenge",
    "review",
    "block",
    "succeeded",
    "failed",
];

impl Metric {
    /// The counter this metric adds one to: `(day, action code, kind,
    /// bucket)`, the bucket -1 except for a completed challenge.
    pub fn counter(&self) -> Option<(&str, &str, &'static str, i64)> {
        match self {
            Metric::Tracked {
                action_code,
                day,
                outcome,
            } => KINDS[..4]
                .iter()
                .find(|k| **k == outcome.as_str())
                .map(|k| (day.as_str(), action_code.as_str(), *k, -1)),
            Metric::ChallengeSucceeded {
                action_code,
                day,
                bucket,
            } => Some((
                day.as_str(),
                action_code.as_str(),
                "succeeded",
                i64::from((*bucket).min(BUCKETS - 1)),
            )),
            Metric::ChallengeFailed { action_code, day } => {
                Some((day.as_str(), action_code.as_str(), "failed", -1))
            }
        }
    }
}

/// One day of one action, summed over shards.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DayCounts {
    /// Tracks that were allowed.
    pub allow: u64,
    /// Tracks that were challenged.
    pub challenge: u64,
    /// Tracks held for review.
    pub review: u64,
    /// Tracks blocked.
    pub block: u64,
    /// Challenges completed.
    pub succeeded: u64,
    /// Challenges failed.
    pub failed: u64,
    /// Duration histogram (count per bucket).
    pub buckets: Vec<u64>,
}

impl DayCounts {
    /// Add another shard's counts.
    pub fn add(&mut self, o: &DayCounts) {
        self.allow += o.allow;
        self.challenge += o.challenge;
        self.review += o.review;
        self.block += o.block;
        self.succeeded += o.succeeded;
        self.failed += o.failed;
        if self.buckets.len() < o.buckets.len() {
            self.buckets.resize(o.buckets.len(), 0);
        }
        for (a, b) in self.buckets.iter_mut().zip(&o.buckets) {
            *a += b;
        }
    }

    /// The median challenge duration in seconds, estimated from the
    /// histogram (linear within the bucket); `None` without samples.
    pub fn median_seconds(&self) -> Option<f64> {
        let n: u64 = self.buckets.iter().sum();
        if n == 0 {
            return None;
        }
        let half = n as f64 / 2.0;
        let mut seen = 0.0;
        for (b, count) in self.buckets.iter().enumerate() {
            let c = *count as f64;
            if c > 0.0 && seen + c >= half {
                let b = i32::try_from(b).unwrap_or(0);
                let (lo, hi) = if b == 0 {
                    (0.0, (BUCKET_BASE_MS * 2) as f64)
                } else {
                    let lo = BUCKET_BASE_MS as f64 * 2f64.powi(b);
                    (lo, lo * 2.0)
                };
                let ms = lo + (hi - lo) * ((half - seen) / c);
                return Some((ms / 100.0).round() / 10.0);
            }
            seen += c;
        }
        None
    }

    /// The API form.
    pub fn to_wire(&self, day: &str, action_code: &str) -> Value {
        let tracks = self.allow + self.challenge + self.review + self.block;
        // Of the challenges issued that day: the ones neither passed nor
        // failed (cancelled, left, or still open) count against the rate.
        let finished = self.succeeded + self.failed;
        let issued = self.challenge.max(finished);
        json!({
            "day": day,
            "actionCode": action_code,
            "tracks": tracks,
            "byOutcome": {"ALLOW": self.allow, "CHALLENGE": self.challenge, "REVIEW": self.review, "BLOCK": self.block},
            "challengesSucceeded": self.succeeded,
            "challengesFailed": self.failed,
            "challengesAbandoned": issued - finished,
            "challengeSuccessRate": (issued > 0).then(|| self.succeeded as f64 / issued as f64),
            "medianChallengeSeconds": self.median_seconds(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn every_metric_reads_back_what_it_writes() {
        let (a, d) = (String::from("pay"), String::from("2026-12-04"));
        for m in [
            Metric::Tracked {
                action_code: a.clone(),
                day: d.clone(),
                outcome: "allow".into(),
            },
            Metric::ChallengeSucceeded {
                action_code: a.clone(),
                day: d.clone(),
                bucket: 3,
            },
            Metric::ChallengeFailed {
                action_code: a,
                day: d,
            },
        ] {
            let text = serde_json::to_string(&m).unwrap();
            assert_eq!(crate::encoding::from_json::<Metric>(&text).unwrap(), m);
        }
        for bad in [
            r#"{"kind":"tracked","actionCode":"a","day":"d"}"#,
            r#"{"kind":"challengeSucceeded","actionCode":"a","day":"d"}"#,
            r#"{"kind":"other","actionCode":"a","day":"d"}"#,
            r#"{"actionCode":"a","day":"d","outcome":"allow"}"#,
        ] {
            assert!(crate::encoding::from_json::<Metric>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn buckets_double() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(499), 0);
        assert_eq!(bucket(500), 1);
        assert_eq!(bucket(999), 1);
        assert_eq!(bucket(1000), 2);
        assert_eq!(bucket(i64::MAX), BUCKETS - 1);
    }

    #[test]
    fn the_median_comes_from_the_histogram() {
        let mut d = DayCounts {
            buckets: vec![0; BUCKETS as usize],
            ..DayCounts::default()
        };
        assert_eq!(d.median_seconds(), None);
        // Three challenges of ~3 s, 5 s and 20 s: the median is in 5 s's bucket.
        for ms in [3_000, 5_000, 20_000] {
            d.buckets[bucket(ms) as usize] += 1;
        }
        let m = d.median_seconds().unwrap();
        assert!((4.0..8.0).contains(&m), "{m}");
        // Adding a shard sums everything.
        let mut total = DayCounts::default();
        total.add(&d);
        total.add(&d);
        assert_eq!(total.buckets.iter().sum::<u64>(), 6);
        assert_eq!(total.median_seconds(), d.median_seconds());
    }

    #[test]
    fn events_count_for_the_right_thing() {
        let created = Event::ActionCreated {
            action_code: "withdraw".into(),
            idempotency_key: "k".into(),
            state: ActionState::ChallengeRequired,
            at: 1_795_380_179_000,
            rule_ids: vec![],
            custom: None,
        };
        assert_eq!(
            Metric::of(&created),
            Some(Metric::Tracked {
                action_code: "withdraw".into(),
                day: "2026-11-22".into(),
                outcome: "challenge".into()
            })
        );
        let done = Event::ActionStateChanged {
            action_code: "withdraw".into(),
            idempotency_key: "k".into(),
            from: ActionState::ChallengeRequired,
            to: ActionState::ChallengeSucceeded,
            at: 1_795_380_179_000 + 12_000,
            cause: Cause::Challenge {
                method: crate::auth::methods::VerificationMethod::Passkey,
            },
            created_at: 1_795_380_179_000,
            rule_ids: vec![],
            custom: None,
            replay: false,
        };
        assert_eq!(
            Metric::of(&done),
            Some(Metric::ChallengeSucceeded {
                action_code: "withdraw".into(),
                day: "2026-11-22".into(),
                bucket: bucket(12_000)
            })
        );
        assert_eq!(
            Metric::of(&created).unwrap().counter(),
            Some(("2026-11-22", "withdraw", "challenge", -1))
        );
        assert_eq!(
            Metric::of(&done).unwrap().counter(),
            Some((
                "2026-11-22",
                "withdraw",
                "succeeded",
                i64::from(bucket(12_000))
            ))
        );
        let odd = Metric::Tracked {
            action_code: "withdraw".into(),
            day: "2026-11-22".into(),
            outcome: "allow = 1; --".into(),
        };
        assert_eq!(odd.counter(), None);
        assert!(shard_of("alice") < SHARDS);
        assert_eq!(shard_of("alice"), shard_of("alice"));
    }

    #[test]
    fn stored_tracks_sum_per_day_code_and_outcome() {
        const DAY_MS: Millis = 86_400_000;
        let t = 1_795_380_179_000; // 2026-11-22
        let counts = count_tracks([
            (t, "withdraw", ActionState::ChallengeRequired),
            (t + 1, "withdraw", ActionState::ChallengeRequired),
            (t + 2, "withdraw", ActionState::Allow),
            (t + DAY_MS, "withdraw", ActionState::Allow),
            (t, "login", ActionState::Block),
            // No track starts here: not counted.
            (t, "login", ActionState::ChallengeSucceeded),
        ]);
        let got: Vec<(&str, &str, &str, i64, i64)> = counts
            .iter()
            .map(|c| {
                (
                    c.day.as_str(),
                    c.action_code.as_str(),
                    c.kind.as_str(),
                    c.bucket,
                    c.n,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("2026-11-22", "login", "block", -1, 1),
                ("2026-11-22", "withdraw", "allow", -1, 1),
                ("2026-11-22", "withdraw", "challenge", -1, 2),
                ("2026-11-23", "withdraw", "allow", -1, 1),
            ]
        );
        // The same outcome as a track's event counts for.
        let created = Event::ActionCreated {
            action_code: "withdraw".into(),
            idempotency_key: "k".into(),
            state: ActionState::ReviewRequired,
            at: t,
            rule_ids: vec![],
            custom: None,
        };
        assert_eq!(
            Metric::of(&created).unwrap().counter(),
            Some(("2026-11-22", "withdraw", "review", -1))
        );
        assert_eq!(
            count_tracks([(t, "withdraw", ActionState::ReviewRequired)])[0].kind,
            "review"
        );
    }
}
