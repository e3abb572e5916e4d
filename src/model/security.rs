//! Security records: login sessions, managed ingest keys and audit events,
//! and the changes the writer applies to them. Only hashes of secrets
//! appear here: a session id or a key never leaves the request that made
//! it.

use super::UnixNanos;

/// A SHA-256 digest of a secret (a session id or an ingest key).
pub type SecretHash = [u8; 32];

named_enum! {
    /// Whether an audited action succeeded.
    AuditOutcome { Ok = "ok", Failed = "failed" }
}

/// One row of the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub time: UnixNanos,
    /// Who: `admin (session …)`, `admin (token)`, `anonymous`, `lookout`.
    pub actor: String,
    /// What, as `area.verb`: `auth.login`, `key.revoke`, …
    pub action: String,
    /// What it was done to (a rule id, a key's name), if anything.
    pub target: Option<String>,
    /// The peer address of the connection, for requests.
    pub remote_addr: Option<String>,
    pub outcome: AuditOutcome,
    /// A JSON object with whatever else matters (never a secret).
    pub details: serde_json::Value,
}

impl AuditEvent {
    /// An event at the current time with no target, address or details.
    pub fn new(actor: impl Into<String>, action: impl Into<String>) -> AuditEvent {
        AuditEvent {
            time: UnixNanos::now(),
            actor: actor.into(),
            action: action.into(),
            target: None,
            remote_addr: None,
            outcome: AuditOutcome::Ok,
            details: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn target(mut self, target: impl Into<String>) -> AuditEvent {
        self.target = Some(target.into());
        self
    }

    pub fn remote_addr(mut self, addr: Option<String>) -> AuditEvent {
        self.remote_addr = addr;
        self
    }

    pub fn failed(mut self) -> AuditEvent {
        self.outcome = AuditOutcome::Failed;
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> AuditEvent {
        self.details = details;
        self
    }
}

/// A stored audit event with its id.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAuditEvent {
    pub id: i64,
    pub event: AuditEvent,
}

/// Which audit events to list: newest first, before `before_id` when
/// paging.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    pub start: Option<UnixNanos>,
    pub end: Option<UnixNanos>,
    /// Exact action, or a prefix when it ends with `.`.
    pub action: Option<String>,
    pub actor: Option<String>,
    pub outcome: Option<AuditOutcome>,
    pub before_id: Option<i64>,
    pub limit: usize,
}

/// A login session as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSession {
    pub id_hash: SecretHash,
    pub created: UnixNanos,
    pub last_seen: UnixNanos,
    pub expires: UnixNanos,
}

/// A managed ingest key as stored (its hash, never the key).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredKey {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub hash: SecretHash,
    pub created: UnixNanos,
    pub last_used: Option<UnixNanos>,
}

/// What the server keeps in memory of the security tables, read at start.
#[derive(Debug, Clone, Default)]
pub struct SecurityState {
    pub password_hash: Option<String>,
    /// Sessions not expired.
    pub sessions: Vec<StoredSession>,
    /// Managed keys not revoked.
    pub keys: Vec<StoredKey>,
    /// Whether a managed key was ever created (revoked ones count): from
    /// then on ingest needs a key, so revoking the last one does not open
    /// it to everyone.
    pub keys_ever_created: bool,
}

/// A change the writer applies to the security tables.
#[derive(Debug, Clone, PartialEq)]
pub enum SecurityChange {
    /// Store a new admin password hash; every session ends with it.
    SetPassword {
        hash: String,
        at: UnixNanos,
    },
    CreateSession(StoredSession),
    /// End one session (logout, expiry).
    DeleteSessions(Vec<SecretHash>),
    /// Last-use times of sessions and keys, batched.
    Touch {
        sessions: Vec<(SecretHash, UnixNanos)>,
        keys: Vec<(i64, UnixNanos)>,
    },
    /// A new key; answered with its id.
    CreateKey {
        name: String,
        prefix: String,
        hash: SecretHash,
        at: UnixNanos,
    },
    /// Revoke a key; answered with whether it existed unrevoked.
    RevokeKey {
        id: i64,
        at: UnixNanos,
    },
    /// Nothing but the audit rows that travel with every change.
    AuditOnly,
    /// Delete audit rows older than the cutoff.
    ExpireAudit(UnixNanos),
}
