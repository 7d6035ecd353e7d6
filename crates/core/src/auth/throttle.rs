//! Guessing stops per user: wrong codes counted across every challenge and
//! method, with a wait that doubles and a lock.
//!
//! One wrong code fails nothing by itself, and a challenge fails after
//! [`crate::auth::otp::MAX_FAILED_ATTEMPTS`]; but a new track is a new challenge,
//! so without this an attacker could guess without end. The counts live in
//! the user's Durable Object (exact, one writer) as one setting:
//!
//! - every wrong code (authenticator app, email, SMS) counts, in any action;
//! - every [`PER_WAIT`] wrong codes in a row (without a right one) start a
//!   wait: the first is [`FIRST_WAIT`], each following one twice the one
//!   before, at most [`MAX_WAIT`]; during a wait every verification for
//!   the user is refused (429 with `Retry-After`) before any code is looked
//!   at. Counting in a row rather than per window means no pace of guessing
//!   avoids the waits;
//! - after [`LOCK_AFTER`] wrong codes in a row (NIST SP 800-63B §5.2.2: at
//!   most 100), verification is locked until the app's server lifts it
//!   (`DELETE /v1/users/{userId}/lockout`);
//! - a right code clears everything.
//!
//! With these numbers 100 guesses take at least 15 min + 30 min + … (nine
//! waits), about 80 hours; an authenticator-app guess matches one of three
//! time steps, so the odds of guessing a six-digit code stay near 3 in
//! 10,000. The same numbers let someone holding the session lock the user's
//! code verification in those 80 hours, which a lockout cannot avoid; the
//! app lifts it after helping the user.

use serde::{Deserialize, Serialize};

use crate::time::Millis;

/// Wrong codes in a row that start a wait.
pub const PER_WAIT: u32 = 10;
/// The first wait.
pub const FIRST_WAIT: Millis = 15 * 60_000;
/// The longest wait.
pub const MAX_WAIT: Millis = 24 * 3_600_000;
/// Wrong codes without a right one in between that lock verification.
pub const LOCK_AFTER: u32 = 100;

/// A user's wrong codes (the stored setting).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Guesses {
    /// Wrong codes since the last right one.
    #[serde(default)]
    pub consecutive: u32,
    /// Waits imposed since the last right code.
    #[serde(default)]
    pub waits: u32,
    /// No verification before this time.
    #[serde(default)]
    pub blocked_until: Millis,
}

/// Why a verification is refused before its code is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Wait this many seconds.
    Wait(u64),
    /// Locked until the app lifts it.
    Locked,
}

impl Guesses {
    /// Whether a verification may be judged at `now`.
    ///
    /// # Errors
    /// The [`Refusal`].
    pub fn check(&self, now: Millis) -> Result<(), Refusal> {
        if self.consecutive >= LOCK_AFTER {
            return Err(Refusal::Locked);
        }
        if now < self.blocked_until {
            let ms = self.blocked_until.saturating_sub(now);
            return Err(Refusal::Wait(
                u64::try_from(ms.saturating_add(999) / 1000).unwrap_or(1),
            ));
        }
        Ok(())
    }

    /// Count a wrong code at `now`.
    pub fn failed(&mut self, now: Millis) {
        self.consecutive = self.consecutive.saturating_add(1);
        if self.consecutive.is_multiple_of(PER_WAIT) {
            let wait = FIRST_WAIT
                .saturating_mul(1_i64.checked_shl(self.waits.min(20)).unwrap_or(i64::MAX))
                .min(MAX_WAIT);
            self.waits = self.waits.saturating_add(1);
            self.blocked_until = now.saturating_add(wait);
        }
    }

    /// Whether anything is counted (a right code then clears it).
    pub fn is_clear(&self) -> bool {
        *self == Guesses::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const T0: Millis = 1_795_380_179_000;
    const MIN: Millis = 60_000;

    #[test]
    fn ten_wrong_codes_start_a_wait_that_doubles() {
        let mut g = Guesses::default();
        for i in 0..PER_WAIT {
            assert_eq!(g.check(T0 + Millis::from(i)), Ok(()));
            g.failed(T0 + Millis::from(i));
        }
        let at = T0 + 9;
        assert_eq!(g.check(at), Err(Refusal::Wait(15 * 60)));
        assert_eq!(g.check(at + 15 * MIN - 1), Err(Refusal::Wait(1)));
        assert_eq!(g.check(at + 15 * MIN), Ok(()));
        // Ten more after the wait: thirty minutes, then an hour.
        let mut now = at + 15 * MIN;
        for _ in 0..PER_WAIT {
            g.failed(now);
        }
        assert_eq!(g.check(now), Err(Refusal::Wait(30 * 60)));
        now += 30 * MIN;
        for _ in 0..PER_WAIT {
            g.failed(now);
        }
        assert_eq!(g.check(now), Err(Refusal::Wait(60 * 60)));
        assert_eq!(g.consecutive, 30);
    }

    #[test]
    fn no_pace_avoids_the_waits_and_the_lock_comes_at_one_hundred() {
        let mut g = Guesses::default();
        let mut now = T0;
        // Nine wrong codes a day: the tenth still waits.
        for _ in 0..9 {
            g.failed(now);
            now += 24 * 60 * MIN;
        }
        assert_eq!(g.check(now), Ok(()));
        g.failed(now);
        assert_eq!(g.check(now), Err(Refusal::Wait(15 * 60)));
        // Waiting out every wait, the 100th wrong code locks.
        while g.consecutive < LOCK_AFTER {
            if let Err(Refusal::Wait(s)) = g.check(now) {
                now += Millis::try_from(s).unwrap() * 1000;
            }
            assert_eq!(g.check(now), Ok(()));
            g.failed(now);
        }
        assert_eq!(g.check(now), Err(Refusal::Locked));
        assert_eq!(g.check(now + 365 * 24 * 60 * MIN), Err(Refusal::Locked));
    }

    #[test]
    fn waits_stop_growing_at_a_day() {
        let mut g = Guesses::default();
        let mut now = T0;
        let mut waits = Vec::new();
        for _ in 0..9 {
            for _ in 0..PER_WAIT {
                g.failed(now);
            }
            let Err(Refusal::Wait(s)) = g.check(now) else {
                panic!("{g:?}")
            };
            waits.push(s / 60);
            now += Millis::try_from(s).unwrap() * 1000;
        }
        assert_eq!(waits, [15, 30, 60, 120, 240, 480, 960, 1440, 1440]);
        assert_eq!(g.consecutive, 90);
        assert_eq!(g.check(now), Ok(()));
    }
}
