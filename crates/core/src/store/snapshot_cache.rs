//! A user object's memory of what a track reads, so that a track of an
//! object that is already awake reads nothing from storage.
//!
//! Every track reads the user's profile, authenticators and history
//! ([`UserStore::track_snapshot`]) before it decides. [`Cached`] wraps a
//! store and answers that read from a [`SnapshotCache`] when it knows every
//! fact asked for, asking the store (and keeping the answer) otherwise.
//!
//! It stays exact because every write of the request goes through the same
//! wrapper: a write updates the facts it changes (an action's creation
//! time, the profile, a device or country it was asked about, the last
//! location), and where it cannot tell the new value (an authenticator
//! added or removed, a device it was never asked about, a deletion) it
//! forgets everything. A Durable Object is the only writer of its storage,
//! so nothing else can make it stale; when a write fails to commit, the
//! runtime discards the object, memory included. What the memory holds is
//! bounded: past [`MAX_KEYS`] devices, countries or action codes, or
//! [`MAX_TIMES`] creation times of one code, it starts again.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::actions::model::ActionRecord;
use crate::error::CoreError;
use crate::geo::Fix;
use crate::policy::context::History;
use crate::store::{ActionQuery, TrackSnapshot, UserStore};
use crate::time::DAY;
use crate::time::Millis;
use crate::user::{Authenticator, UserRecord};

/// Most devices, countries or action codes remembered.
pub const MAX_KEYS: usize = 256;
/// Most creation times remembered for one action code.
pub const MAX_TIMES: usize = 10_000;

/// What one user object knows of its user (kept across requests).
#[derive(Debug, Default)]
pub struct SnapshotCache(RefCell<Option<Known>>);

#[derive(Debug, Clone)]
struct Known {
    user: Option<UserRecord>,
    authenticators: Vec<Authenticator>,
    device_count: u64,
    /// Devices asked about, and what is known of each.
    devices: HashMap<String, DeviceFacts>,
    /// Countries asked about: whether each was seen, and proved.
    countries: HashMap<String, (bool, bool)>,
    last_fix: Option<Fix>,
    /// Per action code asked about: the time from which its creation
    /// times are all known, and those times, oldest first.
    tracks: HashMap<String, (Millis, Vec<Millis>)>,
}

/// What a snapshot says of one device.
#[derive(Debug, Clone, Copy)]
struct DeviceFacts {
    seen: bool,
    known: bool,
    first_seen: Option<Millis>,
}

impl SnapshotCache {
    /// An empty memory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forget everything.
    pub fn clear(&self) {
        *self.0.borrow_mut() = None;
    }

    /// Whether anything is remembered.
    pub fn is_warm(&self) -> bool {
        self.0.borrow().is_some()
    }

    /// The snapshot, if every fact it needs is known.
    fn answer(
        &self,
        code: &str,
        device_id: Option<&str>,
        country: Option<&str>,
        now: Millis,
    ) -> Option<TrackSnapshot> {
        let mut slot = self.0.borrow_mut();
        let known = slot.as_mut()?;
        let device = match device_id {
            Some(d) => Some(*known.devices.get(d)?),
            None => None,
        };
        let country_facts = match country {
            Some(c) => Some(*known.countries.get(c)?),
            None => None,
        };
        let (from, times) = known.tracks.get_mut(code)?;
        let since = now.saturating_sub(DAY);
        if *from > since {
            return None;
        }
        // Older times can no longer count.
        let old = times.partition_point(|t| *t < since);
        times.drain(..old);
        *from = since;
        Some(TrackSnapshot {
            authenticators: known.authenticators.clone(),
            user: known.user.clone(),
            history: History {
                device_seen: device.map(|f| f.seen),
                device_known: device.map(|f| f.known),
                device_first_seen: device.and_then(|f| f.first_seen),
                device_count: known.device_count,
                country_seen: country_facts.map(|(seen, _)| seen),
                country_known: country_facts.map(|(_, proved)| proved),
                last_fix: known.last_fix,
                ..History::counted(times, now)
            },
            track_times: times.clone(),
        })
    }

    /// Keep a snapshot the store answered.
    fn learn(
        &self,
        code: &str,
        device_id: Option<&str>,
        country: Option<&str>,
        now: Millis,
        snapshot: &TrackSnapshot,
    ) {
        let mut slot = self.0.borrow_mut();
        let known = slot.get_or_insert_with(|| Known {
            user: None,
            authenticators: Vec::new(),
            device_count: 0,
            devices: HashMap::new(),
            countries: HashMap::new(),
            last_fix: None,
            tracks: HashMap::new(),
        });
        if known.devices.len() >= MAX_KEYS
            || known.countries.len() >= MAX_KEYS
            || known.tracks.len() >= MAX_KEYS
        {
            known.devices.clear();
            known.countries.clear();
            known.tracks.clear();
        }
        known.user.clone_from(&snapshot.user);
        known.authenticators.clone_from(&snapshot.authenticators);
        known.device_count = snapshot.history.device_count;
        known.last_fix = snapshot.history.last_fix;
        let h = &snapshot.history;
        if let (Some(d), Some(seen), Some(proved)) = (device_id, h.device_seen, h.device_known) {
            let facts = DeviceFacts {
                seen,
                known: proved,
                first_seen: h.device_first_seen,
            };
            known.devices.insert(d.to_owned(), facts);
        }
        if let (Some(c), Some(seen), Some(proved)) = (country, h.country_seen, h.country_known) {
            known.countries.insert(c.to_owned(), (seen, proved));
        }
        if snapshot.track_times.len() < MAX_TIMES {
            known.tracks.insert(
                code.to_owned(),
                (now.saturating_sub(DAY), snapshot.track_times.clone()),
            );
        } else {
            known.tracks.remove(code);
        }
    }

    /// Whether the device and the country (each when given) are known to
    /// have been seen already.
    fn seen_already(&self, device_id: Option<&str>, country: Option<&str>) -> bool {
        self.0.borrow().as_ref().is_some_and(|k| {
            device_id.is_none_or(|d| k.devices.get(d).is_some_and(|f| f.seen))
                && country.is_none_or(|c| k.countries.get(c).is_some_and(|(seen, _)| *seen))
        })
    }

    /// Change what is known, when anything is; `false` from `f` forgets all.
    fn update(&self, f: impl FnOnce(&mut Known) -> bool) {
        let mut slot = self.0.borrow_mut();
        if let Some(known) = slot.as_mut()
            && !f(known)
        {
            *slot = None;
        }
    }
}

/// A store whose track reads are answered from a [`SnapshotCache`] when it
/// can, and whose writes keep the cache exact.
pub struct Cached<'a, S> {
    store: S,
    cache: &'a SnapshotCache,
}

impl<'a, S: UserStore> Cached<'a, S> {
    /// Wrap `store`, remembering in `cache`.
    pub fn new(store: S, cache: &'a SnapshotCache) -> Self {
        Cached { store, cache }
    }

    /// The wrapped store, for what a snapshot does not read (its writes
    /// bypass the cache).
    pub fn inner(&self) -> &S {
        &self.store
    }
}

impl<S: UserStore> UserStore for Cached<'_, S> {
    fn get_action(&self, code: &str, key: &str) -> Result<Option<ActionRecord>, CoreError> {
        self.store.get_action(code, key)
    }

    fn insert_action(&self, record: &ActionRecord) -> Result<(), CoreError> {
        self.store.insert_action(record)?;
        self.cache.update(|k| {
            if let Some((_, times)) = k.tracks.get_mut(&record.action_code) {
                let at = times.partition_point(|t| *t <= record.created_at);
                times.insert(at, record.created_at);
                if times.len() >= MAX_TIMES {
                    k.tracks.remove(&record.action_code);
                }
            }
            true
        });
        Ok(())
    }

    fn update_action(&self, record: &ActionRecord) -> Result<(), CoreError> {
        // States are not part of a snapshot; creation times never change.
        self.store.update_action(record)
    }

    fn query_actions(&self, query: &ActionQuery) -> Result<Vec<ActionRecord>, CoreError> {
        self.store.query_actions(query)
    }

    fn get_user(&self) -> Result<Option<UserRecord>, CoreError> {
        self.store.get_user()
    }

    fn put_user(&self, user: &UserRecord) -> Result<(), CoreError> {
        self.store.put_user(user)?;
        self.cache.update(|k| {
            k.user = Some(user.clone());
            true
        });
        Ok(())
    }

    fn list_authenticators(&self) -> Result<Vec<Authenticator>, CoreError> {
        self.store.list_authenticators()
    }

    fn put_authenticator(&self, authenticator: &Authenticator) -> Result<(), CoreError> {
        self.cache.clear();
        self.store.put_authenticator(authenticator)
    }

    fn delete_authenticator(&self, id: &str) -> Result<bool, CoreError> {
        self.cache.clear();
        self.store.delete_authenticator(id)
    }

    fn history(
        &self,
        code: &str,
        device_id: Option<&str>,
        country: Option<&str>,
        now: Millis,
    ) -> Result<History, CoreError> {
        self.store.history(code, device_id, country, now)
    }

    fn track_snapshot(
        &self,
        code: &str,
        device_id: Option<&str>,
        country: Option<&str>,
        now: Millis,
    ) -> Result<TrackSnapshot, CoreError> {
        if let Some(known) = self.cache.answer(code, device_id, country, now) {
            return Ok(known);
        }
        let snapshot = self.store.track_snapshot(code, device_id, country, now)?;
        self.cache.learn(code, device_id, country, now, &snapshot);
        Ok(snapshot)
    }

    fn remember(
        &self,
        device_id: Option<&str>,
        country: Option<&str>,
        fix: Option<Fix>,
        proved: bool,
        now: Millis,
    ) -> Result<(), CoreError> {
        // Seen again, proving nothing: the store has both already, and a
        // location is only kept when proved. Nothing is written (a warm
        // object's protected request with its device cookie writes only
        // its action).
        if !proved && self.cache.seen_already(device_id, country) {
            return Ok(());
        }
        self.store.remember(device_id, country, fix, proved, now)?;
        self.cache.update(|k| {
            if let Some(d) = device_id {
                match k.devices.get_mut(d) {
                    Some(f) => {
                        if !f.seen {
                            f.seen = true;
                            f.first_seen = Some(now);
                            k.device_count += 1;
                        }
                        f.known |= proved;
                    }
                    // Whether it is new, and so the count, is unknown.
                    None => return false,
                }
            }
            if let Some(c) = country {
                match k.countries.get_mut(c) {
                    Some((seen, known)) => {
                        *seen = true;
                        *known |= proved;
                    }
                    None => return false,
                }
            }
            if proved && fix.is_some() {
                k.last_fix = fix;
            }
            true
        });
        Ok(())
    }

    fn consume_challenge(
        &self,
        challenge: &str,
        expires_at: Millis,
        now: Millis,
    ) -> Result<bool, CoreError> {
        self.store.consume_challenge(challenge, expires_at, now)
    }

    fn is_consumed(&self, challenge: &str, now: Millis) -> Result<bool, CoreError> {
        self.store.is_consumed(challenge, now)
    }

    fn get_session(
        &self,
        id: &str,
    ) -> Result<Option<crate::auth::session::SessionRecord>, CoreError> {
        self.store.get_session(id)
    }

    fn put_session(
        &self,
        session: &crate::auth::session::SessionRecord,
        now: Millis,
    ) -> Result<(), CoreError> {
        self.store.put_session(session, now)
    }

    fn list_sessions(&self) -> Result<Vec<crate::auth::session::SessionRecord>, CoreError> {
        self.store.list_sessions()
    }

    fn get_server_challenge(
        &self,
        id: &str,
    ) -> Result<Option<crate::auth::server_challenge::ServerChallenge>, CoreError> {
        self.store.get_server_challenge(id)
    }

    fn put_server_challenge(
        &self,
        c: &crate::auth::server_challenge::ServerChallenge,
        now: Millis,
    ) -> Result<(), CoreError> {
        self.store.put_server_challenge(c, now)
    }

    fn list_server_challenges(
        &self,
    ) -> Result<Vec<crate::auth::server_challenge::ServerChallenge>, CoreError> {
        self.store.list_server_challenges()
    }

    fn get_setting(&self, key: &str) -> Result<Option<String>, CoreError> {
        self.store.get_setting(key)
    }

    fn put_setting(&self, key: &str, value: &str) -> Result<(), CoreError> {
        self.store.put_setting(key, value)
    }

    fn emit(&self, event: crate::actions::events::Event) -> Result<(), CoreError> {
        self.store.emit(event)
    }

    fn delete_all(&self) -> Result<(), CoreError> {
        self.cache.clear();
        self.store.delete_all()
    }
}

#[cfg(test)]
mod tests;
