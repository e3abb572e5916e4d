//! Who may do what: the admin token and password, login sessions, managed
//! ingest keys and the failed-login limiter.
//!
//! Sessions and keys live in memory while the server runs (loaded from
//! SQLite at start), so checking a request costs a hash and a map lookup,
//! never a query. Every change is written through the writer first and
//! applied here only once it committed; last-use times are kept here and
//! written in batches by [`Security::flush_usage`]. This module knows
//! neither HTTP nor SQL.

pub mod password;
pub mod rate_limit;
pub mod secrets;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use crate::model::security::{AuditEvent, SecretHash, SecurityChange, StoredKey, StoredSession};
use crate::model::UnixNanos;
use crate::pipeline::{WriteError, WriterHandle};
use crate::query::{QueryError, ReadSide};
use rate_limit::{Blocked, LoginLimiter};

/// Prefix of managed ingest keys.
pub const KEY_PREFIX: &str = "lk_";

/// How sessions and the audit log are kept.
#[derive(Debug, Clone)]
pub struct SecurityOptions {
    /// A session ends after this long unused.
    pub session_idle: Duration,
    /// And at the latest this long after login.
    pub session_max_age: Duration,
    /// Audit rows older than this are deleted.
    pub audit_retention: Duration,
    /// Mark the session cookie `Secure` (the public URL is https).
    pub secure_cookie: bool,
}

impl Default for SecurityOptions {
    fn default() -> Self {
        SecurityOptions {
            session_idle: Duration::from_secs(12 * 3600),
            session_max_age: Duration::from_secs(7 * 24 * 3600),
            audit_retention: Duration::from_secs(90 * 24 * 3600),
            secure_cookie: false,
        }
    }
}

/// How a request proved it may use the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Auth is off.
    Open,
    Token,
    Session(SecretHash),
    /// A command on the same machine (`lookout backup`), through the token
    /// of the data directory's control file; accepted by `/api/admin` only.
    Local,
}

impl Principal {
    /// The actor named in audit rows.
    pub fn actor(&self) -> String {
        match self {
            Principal::Open => "anonymous".into(),
            Principal::Token => "admin (token)".into(),
            Principal::Local => "local (command line)".into(),
            Principal::Session(hash) => format!("admin (session {})", secrets::short_hex(hash)),
        }
    }

    pub fn via(&self) -> &'static str {
        match self {
            Principal::Open => "open",
            Principal::Token => "token",
            Principal::Session(_) => "session",
            Principal::Local => "local",
        }
    }
}

/// Why a request may not use the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No valid credentials: 401.
    Unauthenticated,
    /// Valid credentials of the wrong kind (an ingest key): 403.
    WrongKind,
}

struct LiveSession {
    expires: UnixNanos,
    last_seen: AtomicI64,
    dirty: AtomicBool,
}

struct LiveKey {
    stored: StoredKey,
    last_used: AtomicI64,
    dirty: AtomicBool,
}

/// A new session: the id for the cookie (shown once) and when it ends.
pub struct NewSession {
    pub id: String,
    pub hash: SecretHash,
    pub expires: UnixNanos,
}

/// A new managed key: the key itself (shown once) and what is stored.
pub struct NewKey {
    pub key: String,
    pub stored: StoredKey,
}

#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("{0}")]
    Write(#[from] WriteError),
    #[error("{0}")]
    Read(#[from] QueryError),
    #[error("no random numbers: {0}")]
    Random(String),
    #[error("{0}")]
    Password(#[from] password::PasswordError),
}

pub struct Security {
    options: SecurityOptions,
    admin_token: Option<String>,
    /// `--api-key` keys.
    static_keys: Vec<String>,
    password_hash: RwLock<Option<String>>,
    sessions: RwLock<HashMap<SecretHash, LiveSession>>,
    keys: RwLock<Vec<LiveKey>>,
    /// Set once a managed key exists and never cleared: revoking the last
    /// key must refuse its holder, not open ingest to everyone.
    managed_keys_in_use: AtomicBool,
    limiter: Mutex<LoginLimiter>,
    /// The control file's token (see `store::control`), hashed.
    local_token: RwLock<Option<SecretHash>>,
}

impl Security {
    /// Loads the password, live sessions and keys from the store.
    pub fn load(
        options: SecurityOptions,
        admin_token: Option<String>,
        static_keys: Vec<String>,
        read: &ReadSide,
    ) -> Result<Security, SecurityError> {
        let state = read.security_state(UnixNanos::now())?;
        let security = Security {
            options,
            admin_token,
            static_keys,
            password_hash: RwLock::new(state.password_hash),
            sessions: RwLock::new(HashMap::new()),
            keys: RwLock::new(Vec::new()),
            managed_keys_in_use: AtomicBool::new(state.keys_ever_created),
            limiter: Mutex::new(LoginLimiter::default()),
            local_token: RwLock::new(None),
        };
        for session in state.sessions {
            security.insert_session(&session);
        }
        for key in state.keys {
            security.insert_key(key);
        }
        Ok(security)
    }

    pub fn options(&self) -> &SecurityOptions {
        &self.options
    }

    pub fn password_set(&self) -> bool {
        self.password_hash.read().is_some()
    }

    pub fn token_set(&self) -> bool {
        self.admin_token.is_some()
    }

    /// Whether the admin API needs credentials.
    pub fn auth_required(&self) -> bool {
        self.token_set() || self.password_set()
    }

    /// A new token for commands on this machine, replacing any earlier
    /// one; only its hash is kept.
    pub fn issue_local_token(&self) -> Result<String, SecurityError> {
        let token =
            secrets::random_secret().map_err(|error| SecurityError::Random(error.to_string()))?;
        *self.local_token.write() = Some(secrets::sha256(&token));
        Ok(token)
    }

    /// Whether `presented` is the token of [`Security::issue_local_token`].
    pub fn is_local_token(&self, presented: &str) -> bool {
        let wanted = secrets::sha256(presented);
        self.local_token
            .read()
            .as_ref()
            .is_some_and(|hash| secrets::equal(hash, &wanted))
    }

    fn is_admin_token(&self, presented: &str) -> bool {
        self.admin_token
            .as_deref()
            .is_some_and(|token| secrets::equal(presented.as_bytes(), token.as_bytes()))
    }

    /// Checks a request to the admin API: its bearer token and its session
    /// cookie, in that order.
    pub fn check_admin(
        &self,
        bearer: Option<&str>,
        session: Option<&str>,
        now: UnixNanos,
    ) -> Result<Principal, Refusal> {
        if let Some(token) = bearer {
            if self.is_admin_token(token) {
                return Ok(Principal::Token);
            }
        }
        if let Some(id) = session {
            if let Some(hash) = self.touch_session(id, now) {
                return Ok(Principal::Session(hash));
            }
        }
        if !self.auth_required() {
            return Ok(Principal::Open);
        }
        if bearer.is_some_and(|token| self.ingest_key_matches(token, now)) {
            return Err(Refusal::WrongKind);
        }
        Err(Refusal::Unauthenticated)
    }

    /// The session an id belongs to, if it is live; records its use.
    pub fn touch_session(&self, id: &str, now: UnixNanos) -> Option<SecretHash> {
        let hash = secrets::sha256(id);
        let sessions = self.sessions.read();
        let session = sessions.get(&hash)?;
        let idle_limit = self.options.session_idle.as_nanos() as i64;
        if now >= session.expires || now.0 - session.last_seen.load(Ordering::Relaxed) >= idle_limit
        {
            return None;
        }
        session.last_seen.fetch_max(now.0, Ordering::Relaxed);
        session.dirty.store(true, Ordering::Relaxed);
        Some(hash)
    }

    /// When a session ends (absolute expiry or idle limit, whichever is
    /// first), if it is live.
    pub fn session_expiry(&self, hash: &SecretHash) -> Option<UnixNanos> {
        let sessions = self.sessions.read();
        let session = sessions.get(hash)?;
        let idle_end =
            session.last_seen.load(Ordering::Relaxed) + self.options.session_idle.as_nanos() as i64;
        Some(UnixNanos(session.expires.0.min(idle_end)))
    }

    /// Whether ingest needs a key: some `--api-key`, or managed keys in
    /// use (one was ever created, even if all are revoked now).
    pub fn ingest_keys_required(&self) -> bool {
        !self.static_keys.is_empty() || self.managed_keys_in_use.load(Ordering::Relaxed)
    }

    /// Whether a request may ingest with the key it presented.
    pub fn check_ingest(&self, presented: Option<&str>, now: UnixNanos) -> bool {
        if !self.ingest_keys_required() {
            return true;
        }
        let Some(presented) = presented else {
            return false;
        };
        self.is_admin_token(presented) || self.ingest_key_matches(presented, now)
    }

    /// Compares against every static key and every managed key's hash, so
    /// the time taken does not tell which matched.
    fn ingest_key_matches(&self, presented: &str, now: UnixNanos) -> bool {
        let static_match = self.static_keys.iter().fold(false, |found, key| {
            secrets::equal(presented.as_bytes(), key.as_bytes()) | found
        });
        let hash = secrets::sha256(presented);
        let keys = self.keys.read();
        let managed = secrets::find_hash(&hash, keys.iter().map(|key| &key.stored.hash));
        if let Some(index) = managed {
            let key = &keys[index];
            key.last_used.fetch_max(now.0, Ordering::Relaxed);
            key.dirty.store(true, Ordering::Relaxed);
        }
        static_match || managed.is_some()
    }

    /// Whether the password or token presented at login is right. The
    /// password check is slow on purpose (argon2id): call it off the async
    /// runtime.
    pub fn verify_login(&self, password: Option<&str>, token: Option<&str>) -> bool {
        let token_ok = token.is_some_and(|token| self.is_admin_token(token));
        let password_ok = match (password, self.password_hash.read().clone()) {
            (Some(password), Some(stored)) => password::verify(password, &stored),
            _ => false,
        };
        token_ok || password_ok
    }

    /// Whether the current password is `password` (true when none is set).
    pub fn verify_current_password(&self, password: Option<&str>) -> bool {
        match self.password_hash.read().clone() {
            None => true,
            Some(stored) => password.is_some_and(|given| password::verify(given, &stored)),
        }
    }

    /// `Err` while logins from this address are blocked.
    pub fn login_allowed(&self, addr: Option<IpAddr>) -> Result<(), Blocked> {
        match addr {
            Some(addr) => self.limiter.lock().check(addr, Instant::now()),
            None => Ok(()),
        }
    }

    pub fn login_failed(&self, addr: Option<IpAddr>) {
        if let Some(addr) = addr {
            self.limiter.lock().failure(addr, Instant::now());
        }
    }

    pub fn login_succeeded(&self, addr: Option<IpAddr>) {
        if let Some(addr) = addr {
            self.limiter.lock().success(addr);
        }
    }

    /// Creates a session through the writer; usable once it committed.
    pub async fn create_session(
        &self,
        writer: &WriterHandle,
        audit: Vec<AuditEvent>,
    ) -> Result<NewSession, SecurityError> {
        let id = secrets::random_secret().map_err(|e| SecurityError::Random(e.to_string()))?;
        let now = UnixNanos::now();
        let stored = StoredSession {
            id_hash: secrets::sha256(&id),
            created: now,
            last_seen: now,
            expires: UnixNanos(now.0 + self.options.session_max_age.as_nanos() as i64),
        };
        writer
            .write_security(SecurityChange::CreateSession(stored.clone()), audit)
            .await?;
        self.insert_session(&stored);
        Ok(NewSession {
            id,
            hash: stored.id_hash,
            expires: self
                .session_expiry(&stored.id_hash)
                .unwrap_or(stored.expires),
        })
    }

    fn insert_session(&self, stored: &StoredSession) {
        self.sessions.write().insert(
            stored.id_hash,
            LiveSession {
                expires: stored.expires,
                last_seen: AtomicI64::new(stored.last_seen.0),
                dirty: AtomicBool::new(false),
            },
        );
    }

    /// Ends a session (logout).
    pub async fn end_session(
        &self,
        writer: &WriterHandle,
        hash: SecretHash,
        audit: Vec<AuditEvent>,
    ) -> Result<(), SecurityError> {
        // Refused from now on, even before the delete commits.
        self.sessions.write().remove(&hash);
        writer
            .write_security(SecurityChange::DeleteSessions(vec![hash]), audit)
            .await?;
        Ok(())
    }

    /// Sets the admin password; every session ends.
    pub async fn set_password(
        &self,
        writer: &WriterHandle,
        new_password: String,
        audit: Vec<AuditEvent>,
    ) -> Result<(), SecurityError> {
        let hash = tokio::task::spawn_blocking(move || password::hash(&new_password))
            .await
            .map_err(|e| SecurityError::Random(e.to_string()))??;
        let change = SecurityChange::SetPassword {
            hash: hash.clone(),
            at: UnixNanos::now(),
        };
        writer.write_security(change, audit).await?;
        *self.password_hash.write() = Some(hash);
        self.sessions.write().clear();
        Ok(())
    }

    /// Creates a managed key through the writer; it works once committed.
    pub async fn create_key(
        &self,
        writer: &WriterHandle,
        name: String,
        audit: Vec<AuditEvent>,
    ) -> Result<NewKey, SecurityError> {
        let secret = secrets::random_secret().map_err(|e| SecurityError::Random(e.to_string()))?;
        let key = format!("{KEY_PREFIX}{secret}");
        let prefix: String = key.chars().take(KEY_PREFIX.len() + 8).collect();
        let hash = secrets::sha256(&key);
        let at = UnixNanos::now();
        let change = SecurityChange::CreateKey {
            name: name.clone(),
            prefix: prefix.clone(),
            hash,
            at,
        };
        let id = writer.write_security(change, audit).await?;
        let stored = StoredKey {
            id,
            name,
            prefix,
            hash,
            created: at,
            last_used: None,
        };
        self.insert_key(stored.clone());
        Ok(NewKey { key, stored })
    }

    fn insert_key(&self, stored: StoredKey) {
        let last_used = stored.last_used.map_or(0, |t| t.0);
        self.managed_keys_in_use.store(true, Ordering::Relaxed);
        let mut keys = self.keys.write();
        keys.push(LiveKey {
            stored,
            last_used: AtomicI64::new(last_used),
            dirty: AtomicBool::new(false),
        });
        keys.sort_by_key(|key| std::cmp::Reverse(key.stored.id));
    }

    /// Revokes a key: refused at once, then written. `Ok(false)` for an
    /// unknown or already revoked key.
    pub async fn revoke_key(
        &self,
        writer: &WriterHandle,
        id: i64,
        audit: Vec<AuditEvent>,
    ) -> Result<bool, SecurityError> {
        let removed = {
            let mut keys = self.keys.write();
            let before = keys.len();
            keys.retain(|key| key.stored.id != id);
            before != keys.len()
        };
        if !removed {
            return Ok(false);
        }
        let change = SecurityChange::RevokeKey {
            id,
            at: UnixNanos::now(),
        };
        Ok(writer.write_security(change, audit).await? > 0)
    }

    /// The managed keys, newest first, with their last use as known now.
    pub fn keys(&self) -> Vec<StoredKey> {
        self.keys
            .read()
            .iter()
            .map(|key| {
                let last_used = key.last_used.load(Ordering::Relaxed);
                StoredKey {
                    last_used: (last_used > 0).then_some(UnixNanos(last_used)),
                    ..key.stored.clone()
                }
            })
            .collect()
    }

    /// The change that writes last-use times recorded since the previous
    /// call and ends sessions that expired; `None` when there is nothing
    /// to write. Expired sessions leave memory at once.
    pub fn usage_change(&self, now: UnixNanos) -> (Option<SecurityChange>, Vec<SecretHash>) {
        let idle_limit = self.options.session_idle.as_nanos() as i64;
        let mut touched_sessions = Vec::new();
        let mut expired = Vec::new();
        {
            let mut sessions = self.sessions.write();
            sessions.retain(|hash, session| {
                let last_seen = session.last_seen.load(Ordering::Relaxed);
                let live = now < session.expires && now.0 - last_seen < idle_limit;
                if !live {
                    expired.push(*hash);
                } else if session.dirty.swap(false, Ordering::Relaxed) {
                    touched_sessions.push((*hash, UnixNanos(last_seen)));
                }
                live
            });
        }
        let touched_keys: Vec<(i64, UnixNanos)> = self
            .keys
            .read()
            .iter()
            .filter(|key| key.dirty.swap(false, Ordering::Relaxed))
            .map(|key| {
                (
                    key.stored.id,
                    UnixNanos(key.last_used.load(Ordering::Relaxed)),
                )
            })
            .collect();
        let change = (!touched_sessions.is_empty() || !touched_keys.is_empty()).then_some(
            SecurityChange::Touch {
                sessions: touched_sessions,
                keys: touched_keys,
            },
        );
        (change, expired)
    }

    /// Writes what [`Security::usage_change`] collected, ends expired
    /// sessions and deletes audit rows past their retention. Runs every
    /// 30 s and once at shutdown.
    pub fn flush_usage(&self, writer: &WriterHandle) -> Result<(), WriteError> {
        let now = UnixNanos::now();
        let (touch, expired) = self.usage_change(now);
        if let Some(change) = touch {
            writer.write_security_blocking(change, Vec::new())?;
        }
        if !expired.is_empty() {
            writer.write_security_blocking(SecurityChange::DeleteSessions(expired), Vec::new())?;
        }
        let cutoff = UnixNanos(now.0 - self.options.audit_retention.as_nanos() as i64);
        writer.write_security_blocking(SecurityChange::ExpireAudit(cutoff), Vec::new())?;
        Ok(())
    }
}
