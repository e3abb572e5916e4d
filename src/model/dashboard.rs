//! A dashboard as the store keeps it: its document (JSON, checked by
//! `dashboards` before it gets here) and its times.

use super::UnixNanos;

#[derive(Debug, Clone, PartialEq)]
pub struct StoredDashboard {
    pub id: String,
    pub title: String,
    /// The dashboard's JSON document.
    pub body: String,
    pub created_at: UnixNanos,
    pub updated_at: UnixNanos,
}

/// A change the writer applies to the stored dashboards.
#[derive(Debug, Clone, PartialEq)]
pub enum DashboardChange {
    /// Insert, or replace the document of, a dashboard.
    Put {
        id: String,
        title: String,
        body: String,
        at: UnixNanos,
    },
    Delete {
        id: String,
    },
}
