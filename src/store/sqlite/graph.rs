//! The service graph, written by the writer in the same transaction as the
//! spans (see `schema/0004_service_edges.sql`).
//!
//! A call is a (parent, child) span pair in different services. It is
//! counted once, when the later of the two is written: a new child counts
//! the pair if its parent is stored (or new in the same group); a new parent
//! counts its children that were stored before. The spans table is the
//! store of unmatched halves, so a pair matches however late its second
//! half arrives, within retention.
//!
//! A new client or producer span with a virtual-node attribute and no child
//! in another service counts as a call to that node and is remembered in
//! `virtual_calls`; a child arriving later moves the call to the real edge.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension as _};

use super::rollups::bucket_start;
use super::write::NewSpan;
use crate::model::{AttrValue, DurationHistogram, Span, SpanId, SpanKind, StatusCode, UnixNanos};
use crate::store::StoreError;

/// Seconds per service-graph bucket: minutes, and hours for long ranges.
pub const RESOLUTIONS: [i64; 2] = [60, 3600];

/// Attributes naming the other side of an uninstrumented call, in order of
/// preference, and whether that side may still send a span of its own (a
/// database does not; a peer service or a message consumer may).
/// `db.system.name` is the current semantic conventions' name of
/// `db.system`.
pub const VIRTUAL_NODE_ATTRIBUTES: [(&str, bool); 5] = [
    ("peer.service", true),
    ("db.system.name", false),
    ("db.system", false),
    ("messaging.system", true),
    ("server.address", true),
];

/// The parts of a span the graph reads, new or stored.
#[derive(Debug, Clone)]
struct Half {
    span_id: SpanId,
    parent: Option<SpanId>,
    service_id: i64,
    kind: i32,
    start: i64,
    duration: i64,
    error: bool,
    /// Only for new spans: the virtual node a client span would call, and
    /// whether a span of that node may still arrive.
    virtual_node: Option<(String, bool)>,
    is_new: bool,
}

/// (resolution, bucket start, parent service id, child, virtual).
type EdgeKey = (i64, i64, i64, String, bool);

/// The child side of a call while a group is counted: a service by id (no
/// name to allocate per call) or a virtual node by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Child {
    Service(i64),
    Node(String),
}

/// (resolution, bucket start, parent service id, child).
type DeltaKey = (i64, i64, i64, Child);

/// Entries the edge cache may hold before it starts over.
pub(super) const CACHE_LIMIT: usize = 20_000;

/// The stored state of recently written edge rows, so adding to them needs
/// no read; reset with the writer's other dictionaries when a transaction
/// fails, and after retention.
#[derive(Debug, Default)]
pub(super) struct EdgeCache {
    rows: HashMap<EdgeKey, (i64, i64, i64, DurationHistogram)>,
    service_names: HashMap<i64, String>,
}

impl EdgeCache {
    /// Edge rows cached, for `/metrics`.
    pub(super) fn entries(&self) -> usize {
        self.rows.len()
    }

    /// Forgets the cached rows [`delete_before`] deleted at `cutoff`.
    pub(super) fn forget_rows_before(&mut self, cutoff: UnixNanos) {
        let cutoff_seconds = cutoff.0.div_euclid(1_000_000_000);
        self.rows
            .retain(|(resolution, start, ..), _| *start > cutoff_seconds - resolution);
    }
}

#[derive(Debug, Default)]
struct EdgeDelta {
    calls: i64,
    errors: i64,
    duration_sum: i64,
    added: DurationHistogram,
    removed: Vec<i64>,
}

/// The edge changes of one group, applied at the end.
#[derive(Debug, Default)]
pub(super) struct GraphChanges {
    edges: HashMap<DeltaKey, EdgeDelta>,
}

fn virtual_node(span: &Span) -> Option<(String, bool)> {
    if !matches!(span.kind, SpanKind::Client | SpanKind::Producer) {
        return None;
    }
    VIRTUAL_NODE_ATTRIBUTES
        .iter()
        .find_map(|(key, may_arrive)| {
            span.attributes
                .iter()
                .find_map(|(name, value)| match value {
                    AttrValue::String(text) if name == key && !text.is_empty() => {
                        Some((text.clone(), *may_arrive))
                    }
                    _ => None,
                })
        })
}

impl GraphChanges {
    fn count(&mut self, parent: &Half, child: Child, error: bool, sign: i64) {
        for resolution in RESOLUTIONS {
            let key = (
                resolution,
                bucket_start(UnixNanos(parent.start), resolution),
                parent.service_id,
                child.clone(),
            );
            let delta = self.edges.entry(key).or_default();
            delta.calls += sign;
            delta.errors += sign * i64::from(error);
            delta.duration_sum += sign * parent.duration;
            if sign > 0 {
                delta.added.record(parent.duration);
            } else {
                delta.removed.push(parent.duration);
            }
        }
    }

    /// Finds the calls that the new spans of one trace complete.
    /// `existed` says whether the trace had stored spans before this group.
    pub(super) fn add_trace(
        &mut self,
        tx: &Connection,
        trace_rowid: i64,
        existed: bool,
        new_spans: &[NewSpan<'_>],
    ) -> Result<(), StoreError> {
        let mut halves: Vec<Half> = new_spans
            .iter()
            .map(|new| {
                let span = new.span;
                Half {
                    span_id: span.span_id,
                    parent: span.parent_span_id,
                    service_id: new.service_id,
                    kind: span.kind as i32,
                    start: span.start.0,
                    duration: span.duration_nanos(),
                    error: span.status_code == StatusCode::Error,
                    virtual_node: virtual_node(span),
                    is_new: true,
                }
            })
            .collect();
        let mut index: HashMap<SpanId, usize> = halves
            .iter()
            .enumerate()
            .map(|(at, half)| (half.span_id, at))
            .collect();
        if existed {
            let mut stmt = tx.prepare_cached(
                "SELECT s.span_id, s.parent_span_id, o.service_id, o.kind,
                        s.start_offset_nano + COALESCE(t.span_base_unix_nano, 0), s.duration_nano, s.status_code
                 FROM spans s JOIN operations o ON o.id = s.operation_id JOIN traces t ON t.id = s.trace_rowid
                 WHERE s.trace_rowid = ?1",
            )?;
            let rows = stmt.query_map(params![trace_rowid], |row| {
                Ok((
                    row.get::<_, Vec<u8>>(0)?,
                    row.get::<_, Option<Vec<u8>>>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i32>(3)?,
                    row.get::<_, i64>(4)?,
                    row.get::<_, i64>(5)?,
                    row.get::<_, i32>(6)?,
                ))
            })?;
            for row in rows {
                let (id, parent, service_id, kind, start, duration, status) = row?;
                let Some(span_id) = span_id_of(&id) else {
                    continue;
                };
                if index.contains_key(&span_id) {
                    continue;
                }
                index.insert(span_id, halves.len());
                halves.push(Half {
                    span_id,
                    parent: parent.as_deref().and_then(span_id_of),
                    service_id,
                    kind,
                    start,
                    duration,
                    error: status == StatusCode::Error as i32,
                    virtual_node: None,
                    is_new: false,
                });
            }
        }
        // Parents with a child in another service (new or stored).
        let mut has_remote_child = vec![false; halves.len()];
        let mut calls: Vec<(usize, usize)> = Vec::new();
        for (child_at, child) in halves.iter().enumerate() {
            let Some(&parent_at) = child.parent.and_then(|id| index.get(&id)) else {
                continue;
            };
            let parent = &halves[parent_at];
            if parent.service_id == child.service_id {
                continue;
            }
            has_remote_child[parent_at] = true;
            // Counted by the later half: here, when either is new.
            if child.is_new || parent.is_new {
                calls.push((parent_at, child_at));
            }
        }
        for (parent_at, child_at) in calls {
            let (parent, child) = (&halves[parent_at], &halves[child_at]);
            self.count(
                parent,
                Child::Service(child.service_id),
                parent.error || child.error,
                1,
            );
            // A stored client span counted as a virtual call: move it.
            if !parent.is_new && is_outgoing(parent.kind) {
                self.unvirtualize(tx, trace_rowid, parent)?;
            }
        }
        for (at, half) in halves.iter().enumerate() {
            let Some((node, may_arrive)) = half.virtual_node.as_ref() else {
                continue;
            };
            if has_remote_child[at] {
                continue;
            }
            self.count(half, Child::Node(node.clone()), half.error, 1);
            // Only a call whose other side may still send a span needs
            // remembering: a database never will.
            if *may_arrive {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO virtual_calls (trace_rowid, span_id, node) \
                     VALUES (?1, ?2, ?3)",
                )?
                .execute(params![trace_rowid, &half.span_id.0[..], node])?;
            }
        }
        Ok(())
    }

    fn unvirtualize(
        &mut self,
        tx: &Connection,
        trace_rowid: i64,
        parent: &Half,
    ) -> Result<(), StoreError> {
        let node: Option<String> = tx
            .prepare_cached(
                "SELECT node FROM virtual_calls WHERE trace_rowid = ?1 AND span_id = ?2",
            )?
            .query_row(params![trace_rowid, &parent.span_id.0[..]], |row| {
                row.get(0)
            })
            .optional()?;
        if let Some(node) = node {
            self.count(parent, Child::Node(node), parent.error, -1);
            tx.prepare_cached("DELETE FROM virtual_calls WHERE trace_rowid = ?1 AND span_id = ?2")?
                .execute(params![trace_rowid, &parent.span_id.0[..]])?;
        }
        Ok(())
    }

    /// Writes the group's edge changes.
    pub(super) fn apply(self, tx: &Connection, cache: &mut EdgeCache) -> Result<(), StoreError> {
        if cache.rows.len() + self.edges.len() > CACHE_LIMIT {
            cache.rows.clear();
            cache.service_names.clear();
        }
        let mut select = tx.prepare_cached(
            "SELECT call_count, error_count, duration_sum_nano, histogram FROM service_edges
             WHERE resolution = ?1 AND bucket_start = ?2 AND parent_service_id = ?3
               AND child = ?4 AND virtual = ?5",
        )?;
        let mut upsert = tx.prepare_cached(
            "INSERT OR REPLACE INTO service_edges (resolution, bucket_start, parent_service_id,
                 child, virtual, call_count, error_count, duration_sum_nano, histogram)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        let mut delete = tx.prepare_cached(
            "DELETE FROM service_edges WHERE resolution = ?1 AND bucket_start = ?2
               AND parent_service_id = ?3 AND child = ?4 AND virtual = ?5",
        )?;
        for ((resolution, start, parent, child), delta) in self.edges {
            let (child, is_virtual) = match child {
                Child::Service(id) => (service_name(tx, cache, id)?, false),
                Child::Node(name) => (name, true),
            };
            let edge_key = (resolution, start, parent, child, is_virtual);
            let key = params![resolution, start, parent, edge_key.3, is_virtual];
            let stored = match cache.rows.remove(&edge_key) {
                Some(row) => Some(row),
                None => select
                    .query_row(key, |row| {
                        Ok((
                            row.get::<_, i64>(0)?,
                            row.get::<_, i64>(1)?,
                            row.get::<_, i64>(2)?,
                            row.get::<_, Vec<u8>>(3)?,
                        ))
                    })
                    .optional()?
                    .map(|(calls, errors, sum, bytes)| {
                        DurationHistogram::from_bytes(&bytes)
                            .map(|histogram| (calls, errors, sum, histogram))
                            .ok_or_else(|| {
                                StoreError::Corrupt(format!(
                                    "service edge {parent}→{} at {start}",
                                    edge_key.3
                                ))
                            })
                    })
                    .transpose()?,
            };
            let (mut calls, mut errors, mut sum, mut histogram) =
                stored.unwrap_or((0, 0, 0, DurationHistogram::default()));
            calls += delta.calls;
            errors += delta.errors;
            sum += delta.duration_sum;
            histogram.merge(&delta.added);
            for nanos in &delta.removed {
                histogram.remove(*nanos);
            }
            if calls <= 0 {
                delete.execute(key)?;
            } else {
                upsert.execute(params![
                    resolution,
                    start,
                    parent,
                    edge_key.3,
                    is_virtual,
                    calls,
                    errors.max(0),
                    sum,
                    histogram.to_bytes()
                ])?;
                cache.rows.insert(edge_key, (calls, errors, sum, histogram));
            }
        }
        Ok(())
    }
}

fn service_name(tx: &Connection, cache: &mut EdgeCache, id: i64) -> Result<String, StoreError> {
    if let Some(name) = cache.service_names.get(&id) {
        return Ok(name.clone());
    }
    let name: String = tx
        .prepare_cached("SELECT name FROM services WHERE id = ?1")?
        .query_row(params![id], |row| row.get(0))?;
    cache.service_names.insert(id, name.clone());
    Ok(name)
}

fn is_outgoing(kind: i32) -> bool {
    kind == SpanKind::Client as i32 || kind == SpanKind::Producer as i32
}

fn span_id_of(bytes: &[u8]) -> Option<SpanId> {
    <[u8; 8]>::try_from(bytes).ok().map(SpanId)
}

/// Deletes edge buckets that ended at or before `cutoff`.
pub(super) fn delete_before(tx: &Connection, cutoff: UnixNanos) -> Result<(), StoreError> {
    let cutoff_seconds = cutoff.0.div_euclid(1_000_000_000);
    let mut delete = tx
        .prepare_cached("DELETE FROM service_edges WHERE resolution = ?1 AND bucket_start <= ?2")?;
    for resolution in RESOLUTIONS {
        delete.execute(params![resolution, cutoff_seconds - resolution])?;
    }
    Ok(())
}

/// Deletes the virtual calls of one trace being deleted.
pub(super) fn delete_trace(tx: &Connection, trace_rowid: i64) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM virtual_calls WHERE trace_rowid = ?1")?
        .execute(params![trace_rowid])?;
    Ok(())
}
