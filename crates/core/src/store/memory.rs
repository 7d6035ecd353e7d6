//! An in-memory [`UserStore`] for tests and tools.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use crate::actions::model::ActionRecord;
use crate::auth::server_challenge::ServerChallenge;
use crate::auth::session::SessionRecord;
use crate::error::CoreError;
use crate::geo::Fix;
use crate::policy::context::History;
use crate::store::{ActionQuery, MAX_PAGE_SIZE, TrackSnapshot, UserStore};
use crate::time::Millis;
use crate::time::{DAY, HOUR};
use crate::user::{Authenticator, UserRecord};

/// One user's data in memory.
#[derive(Debug, Default)]
pub struct MemoryUserStore {
    actions: RefCell<Vec<ActionRecord>>,
    user: RefCell<Option<UserRecord>>,
    authenticators: RefCell<Vec<Authenticator>>,
    /// Devices seen: when first, and whether proved.
    devices: RefCell<BTreeMap<String, (Millis, bool)>>,
    /// Countries seen, and whether proved.
    countries: RefCell<BTreeMap<String, bool>>,
    last_fix: Cell<Option<Fix>>,
    used_challenges: RefCell<BTreeMap<String, Millis>>,
    settings: RefCell<BTreeMap<String, String>>,
    sessions: RefCell<BTreeMap<String, SessionRecord>>,
    server_challenges: RefCell<Vec<ServerChallenge>>,
    events: RefCell<Vec<crate::actions::events::Event>>,
    /// How many times `remember` was asked to write.
    remembered: Cell<usize>,
}

impl MemoryUserStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many times [`UserStore::remember`] was called: the device and
    /// country writes a real store would make.
    pub fn remember_calls(&self) -> usize {
        self.remembered.get()
    }

    /// The events emitted so far, oldest first.
    pub fn events(&self) -> Vec<crate::actions::events::Event> {
        self.events.borrow().clone()
    }

    /// How many actions are stored.
    pub fn action_count(&self) -> usize {
        self.actions.borrow().len()
    }
}

impl UserStore for MemoryUserStore {
    fn get_action(&self, code: &str, key: &str) -> Result<Option<ActionRecord>, CoreError> {
        Ok(self
            .actions
            .borrow()
            .iter()
            .find(|a| a.action_code == code && a.idempotency_key == key)
            .cloned())
    }

    fn insert_action(&self, record: &ActionRecord) -> Result<(), CoreError> {
        if self
            .get_action(&record.action_code, &record.idempotency_key)?
            .is_some()
        {
            return Err(CoreError::Internal("duplicate action".into()));
        }
        self.actions.borrow_mut().push(record.clone());
        Ok(())
    }

    fn update_action(&self, record: &ActionRecord) -> Result<(), CoreError> {
        let mut actions = self.actions.borrow_mut();
        match actions.iter_mut().find(|a| {
            a.action_code == record.action_code && a.idempotency_key == record.idempotency_key
        }) {
            Some(slot) => {
                *slot = record.clone();
                Ok(())
            }
            None => Err(CoreError::Internal("update of a missing action".into())),
        }
    }

    fn query_actions(&self, q: &ActionQuery) -> Result<Vec<ActionRecord>, CoreError> {
        let mut out: Vec<ActionRecord> = self
            .actions
            .borrow()
            .iter()
            .filter(|a| q.from.is_none_or(|f| a.created_at >= f))
            .filter(|a| q.codes.is_empty() || q.codes.contains(&a.action_code))
            .filter(|a| q.state.is_none_or(|s| a.state == s))
            .cloned()
            .collect();
        // Newest first; insertion order breaks ties (later insert first).
        out.reverse();
        out.sort_by_key(|a| std::cmp::Reverse(a.created_at));
        out.truncate(q.limit.min(MAX_PAGE_SIZE));
        Ok(out)
    }

    fn get_user(&self) -> Result<Option<UserRecord>, CoreError> {
        Ok(self.user.borrow().clone())
    }

    fn put_user(&self, user: &UserRecord) -> Result<(), CoreError> {
        *self.user.borrow_mut() = Some(user.clone());
        Ok(())
    }

    fn list_authenticators(&self) -> Result<Vec<Authenticator>, CoreError> {
        Ok(self.authenticators.borrow().clone())
    }

    fn put_authenticator(&self, authenticator: &Authenticator) -> Result<(), CoreError> {
        let mut list = self.authenticators.borrow_mut();
        match list
            .iter_mut()
            .find(|a| a.user_authenticator_id == authenticator.user_authenticator_id)
        {
            Some(slot) => *slot = authenticator.clone(),
            None => list.push(authenticator.clone()),
        }
        Ok(())
    }

    fn delete_authenticator(&self, id: &str) -> Result<bool, CoreError> {
        let mut list = self.authenticators.borrow_mut();
        let before = list.len();
        list.retain(|a| a.user_authenticator_id != id);
        Ok(list.len() != before)
    }

    fn history(
        &self,
        code: &str,
        device_id: Option<&str>,
        country: Option<&str>,
        now: Millis,
    ) -> Result<History, CoreError> {
        let since = |ms: Millis| {
            self.actions
                .borrow()
                .iter()
                .filter(|a| a.action_code == code && a.created_at >= now - ms)
                .count() as u64
        };
        Ok(History {
            device_seen: device_id.map(|d| self.devices.borrow().contains_key(d)),
            device_known: device_id.map(|d| self.devices.borrow().get(d).is_some_and(|(_, p)| *p)),
            device_first_seen: device_id
                .and_then(|d| self.devices.borrow().get(d).map(|(t, _)| *t)),
            device_count: self.devices.borrow().len() as u64,
            country_seen: country.map(|c| self.countries.borrow().contains_key(c)),
            country_known: country
                .map(|c| self.countries.borrow().get(c).copied().unwrap_or(false)),
            last_fix: self.last_fix.get(),
            actions_last_hour: since(HOUR),
            actions_last_day: since(24 * HOUR),
            is_enrolled: false,
        })
    }

    fn track_snapshot(
        &self,
        code: &str,
        device_id: Option<&str>,
        country: Option<&str>,
        now: Millis,
    ) -> Result<TrackSnapshot, CoreError> {
        let mut track_times: Vec<Millis> = self
            .actions
            .borrow()
            .iter()
            .filter(|a| a.action_code == code && a.created_at >= now.saturating_sub(DAY))
            .map(|a| a.created_at)
            .collect();
        track_times.sort_unstable();
        Ok(TrackSnapshot {
            authenticators: self.list_authenticators()?,
            user: self.get_user()?,
            history: self.history(code, device_id, country, now)?,
            track_times,
        })
    }

    fn remember(
        &self,
        device_id: Option<&str>,
        country: Option<&str>,
        fix: Option<Fix>,
        proved: bool,
        now: Millis,
    ) -> Result<(), CoreError> {
        self.remembered.set(self.remembered.get() + 1);
        if let Some(d) = device_id {
            let mut devices = self.devices.borrow_mut();
            let entry = devices.entry(d.to_owned()).or_insert((now, false));
            entry.1 |= proved;
        }
        if let Some(c) = country {
            *self
                .countries
                .borrow_mut()
                .entry(c.to_owned())
                .or_insert(false) |= proved;
        }
        if proved && fix.is_some() {
            self.last_fix.set(fix);
        }
        Ok(())
    }

    fn consume_challenge(
        &self,
        challenge: &str,
        expires_at: Millis,
        now: Millis,
    ) -> Result<bool, CoreError> {
        let mut used = self.used_challenges.borrow_mut();
        used.retain(|_, exp| *exp >= now);
        Ok(used.insert(challenge.to_owned(), expires_at).is_none())
    }

    fn is_consumed(&self, challenge: &str, now: Millis) -> Result<bool, CoreError> {
        Ok(self
            .used_challenges
            .borrow()
            .get(challenge)
            .is_some_and(|exp| *exp >= now))
    }

    fn get_session(&self, id: &str) -> Result<Option<SessionRecord>, CoreError> {
        Ok(self.sessions.borrow().get(id).cloned())
    }

    fn put_session(&self, session: &SessionRecord, now: Millis) -> Result<(), CoreError> {
        let mut all = self.sessions.borrow_mut();
        all.retain(|_, s| s.refresh_expires_at >= now);
        all.insert(session.id.clone(), session.clone());
        Ok(())
    }

    fn list_sessions(&self) -> Result<Vec<SessionRecord>, CoreError> {
        Ok(self.sessions.borrow().values().cloned().collect())
    }

    fn get_server_challenge(&self, id: &str) -> Result<Option<ServerChallenge>, CoreError> {
        Ok(self
            .server_challenges
            .borrow()
            .iter()
            .find(|c| c.id == id)
            .cloned())
    }

    fn put_server_challenge(&self, c: &ServerChallenge, now: Millis) -> Result<(), CoreError> {
        let mut all = self.server_challenges.borrow_mut();
        all.retain(|x| x.keep_until() >= now && x.id != c.id);
        all.push(c.clone());
        Ok(())
    }

    fn list_server_challenges(&self) -> Result<Vec<ServerChallenge>, CoreError> {
        let mut all = self.server_challenges.borrow().clone();
        all.sort_by_key(|c| std::cmp::Reverse(c.created_at));
        Ok(all)
    }

    fn get_setting(&self, key: &str) -> Result<Option<String>, CoreError> {
        Ok(self.settings.borrow().get(key).cloned())
    }

    fn put_setting(&self, key: &str, value: &str) -> Result<(), CoreError> {
        self.settings
            .borrow_mut()
            .insert(key.to_owned(), value.to_owned());
        Ok(())
    }

    fn emit(&self, event: crate::actions::events::Event) -> Result<(), CoreError> {
        self.events.borrow_mut().push(event);
        Ok(())
    }

    fn delete_all(&self) -> Result<(), CoreError> {
        self.used_challenges.borrow_mut().clear();
        self.sessions.borrow_mut().clear();
        self.server_challenges.borrow_mut().clear();
        self.settings.borrow_mut().clear();
        self.devices.borrow_mut().clear();
        self.countries.borrow_mut().clear();
        self.last_fix.set(None);
        self.actions.borrow_mut().clear();
        *self.user.borrow_mut() = None;
        self.authenticators.borrow_mut().clear();
        Ok(())
    }
}
