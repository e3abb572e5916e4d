//! Error groups: occurrences folded into groups by the writer (in the
//! transaction that stores their spans or log records), the status a user
//! gives a group, retention, and the reads of the errors API and the
//! `error_group` alert kind.
//!
//! A group is one row per (service, fingerprint) with its newest
//! occurrence as the sample; counts are kept per minute and per
//! (release, environment), so a range's count is a range scan.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row, Transaction};

use super::StoreError;
use crate::model::error_group::{
    ErrorAction, ErrorFilter, ErrorGroup, ErrorGroupCount, ErrorGroupDetail, ErrorOccurrence,
    ErrorSample, ErrorSort, ErrorSource, ErrorStatus, ReleaseCount, MAX_ERROR_GROUPS,
    OVERFLOW_FINGERPRINT, OVERFLOW_TYPE,
};
use crate::model::{SpanId, TraceId, UnixNanos};

const NANOS_PER_MINUTE: i64 = 60_000_000_000;
/// Parts of a list's range that a group's sparkline has.
pub const SPARKLINE_POINTS: usize = 24;

fn minute_of(time: UnixNanos) -> i64 {
    time.0.div_euclid(NANOS_PER_MINUTE)
}

/// What the writer knows between groups: how many error groups exist
/// (read once, then counted as it inserts). Forgotten when a transaction
/// fails or retention deletes groups.
#[derive(Default)]
pub(super) struct ErrorGroupCache {
    groups: Option<u64>,
}

impl ErrorGroupCache {
    pub(super) fn forget(&mut self) {
        self.groups = None;
    }
}

/// One group's occurrences in a written group of records.
struct Folded<'a> {
    type_name: &'a str,
    message: String,
    count: i64,
    first: &'a ErrorOccurrence,
    newest: &'a ErrorOccurrence,
    minutes: BTreeMap<i64, i64>,
    /// (release, environment) → (count, first seen, last seen)
    releases: BTreeMap<(&'a str, &'a str), (i64, i64, i64)>,
}

impl<'a> Folded<'a> {
    fn new(occurrence: &'a ErrorOccurrence, overflow: bool) -> Folded<'a> {
        Folded {
            type_name: if overflow {
                OVERFLOW_TYPE
            } else {
                &occurrence.type_name
            },
            message: if overflow {
                String::new()
            } else {
                occurrence.normalised_message()
            },
            count: 0,
            first: occurrence,
            newest: occurrence,
            minutes: BTreeMap::new(),
            releases: BTreeMap::new(),
        }
    }

    fn add(&mut self, occurrence: &'a ErrorOccurrence) {
        self.count += 1;
        if occurrence.time < self.first.time {
            self.first = occurrence;
        }
        if occurrence.time >= self.newest.time {
            self.newest = occurrence;
        }
        *self.minutes.entry(minute_of(occurrence.time)).or_default() += 1;
        let time = occurrence.time.0;
        let entry = self
            .releases
            .entry((&occurrence.release, &occurrence.environment))
            .or_insert((0, time, time));
        entry.0 += 1;
        entry.1 = entry.1.min(time);
        entry.2 = entry.2.max(time);
    }
}

fn group_exists(
    tx: &Transaction<'_>,
    service: &str,
    fingerprint: &str,
) -> Result<bool, StoreError> {
    Ok(tx
        .prepare_cached("SELECT 1 FROM error_groups WHERE service = ?1 AND fingerprint = ?2")?
        .query_row(params![service, fingerprint], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Folds `occurrences` into their groups. Returns how many went into an
/// overflow group because [`MAX_ERROR_GROUPS`] groups exist.
pub(super) fn record(
    tx: &Transaction<'_>,
    cache: &mut ErrorGroupCache,
    occurrences: &[&ErrorOccurrence],
) -> Result<u64, StoreError> {
    if occurrences.is_empty() {
        return Ok(0);
    }
    let mut known = match cache.groups {
        Some(known) => known,
        None => tx.query_row("SELECT COUNT(*) FROM error_groups", [], |row| {
            row.get::<_, i64>(0)
        })? as u64,
    };
    let mut overflowed = 0u64;
    let mut folded: BTreeMap<(&str, &str), Folded<'_>> = BTreeMap::new();
    let mut planned_new = 0u64;
    for occurrence in occurrences {
        let key = (occurrence.service.as_str(), occurrence.fingerprint.as_str());
        let fits = folded.contains_key(&key) || {
            let room = known + planned_new < MAX_ERROR_GROUPS;
            planned_new += u64::from(room);
            room || group_exists(tx, key.0, key.1)?
        };
        let target = if fits {
            key
        } else {
            overflowed += 1;
            (key.0, OVERFLOW_FINGERPRINT)
        };
        folded
            .entry(target)
            .or_insert_with(|| Folded::new(occurrence, !fits))
            .add(occurrence);
    }

    let mut upsert = tx.prepare_cached(
        "INSERT INTO error_groups (service, fingerprint, type, message, status, first_seen_unix_nano,
             last_seen_unix_nano, total_count, first_release, sample_unix_nano, sample_trace_id,
             sample_span_id, sample_message, sample_stacktrace, sample_source)
         VALUES (?1, ?2, ?3, ?4, 'open', ?5, ?6, ?7, ?8, ?6, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT (service, fingerprint) DO UPDATE SET
             total_count = total_count + excluded.total_count,
             first_release = CASE WHEN excluded.first_seen_unix_nano < first_seen_unix_nano
                 THEN excluded.first_release ELSE first_release END,
             first_seen_unix_nano = MIN(first_seen_unix_nano, excluded.first_seen_unix_nano),
             last_seen_unix_nano = MAX(last_seen_unix_nano, excluded.last_seen_unix_nano),
             status = CASE WHEN status = 'resolved' AND excluded.last_seen_unix_nano > resolved_unix_nano
                 THEN 'regressed' ELSE status END,
             sample_trace_id = CASE WHEN excluded.sample_unix_nano >= sample_unix_nano
                 THEN excluded.sample_trace_id ELSE sample_trace_id END,
             sample_span_id = CASE WHEN excluded.sample_unix_nano >= sample_unix_nano
                 THEN excluded.sample_span_id ELSE sample_span_id END,
             sample_message = CASE WHEN excluded.sample_unix_nano >= sample_unix_nano
                 THEN excluded.sample_message ELSE sample_message END,
             sample_stacktrace = CASE WHEN excluded.sample_unix_nano >= sample_unix_nano
                 THEN excluded.sample_stacktrace ELSE sample_stacktrace END,
             sample_source = CASE WHEN excluded.sample_unix_nano >= sample_unix_nano
                 THEN excluded.sample_source ELSE sample_source END,
             sample_unix_nano = MAX(sample_unix_nano, excluded.sample_unix_nano)
         RETURNING id, total_count",
    )?;
    let mut minutes = tx.prepare_cached(
        "INSERT INTO error_group_minutes (group_id, minute, count) VALUES (?1, ?2, ?3)
         ON CONFLICT (group_id, minute) DO UPDATE SET count = count + excluded.count",
    )?;
    let mut releases = tx.prepare_cached(
        "INSERT INTO error_group_releases (group_id, release, environment, count,
             first_seen_unix_nano, last_seen_unix_nano)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (group_id, release, environment) DO UPDATE SET
             count = count + excluded.count,
             first_seen_unix_nano = MIN(first_seen_unix_nano, excluded.first_seen_unix_nano),
             last_seen_unix_nano = MAX(last_seen_unix_nano, excluded.last_seen_unix_nano)",
    )?;
    for ((service, fingerprint), group) in &folded {
        let newest = group.newest;
        let (id, total): (i64, i64) = upsert.query_row(
            params![
                service,
                fingerprint,
                group.type_name,
                group.message,
                group.first.time.0,
                newest.time.0,
                group.count,
                group.first.release,
                newest.trace_id.map(|id| id.0.to_vec()),
                newest.span_id.map(|id| id.0.to_vec()),
                newest.message,
                newest.stacktrace,
                newest.source.as_str(),
            ],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        if total == group.count {
            known += 1;
        }
        for (minute, count) in &group.minutes {
            minutes.execute(params![id, minute, count])?;
        }
        for ((release, environment), (count, first, last)) in &group.releases {
            releases.execute(params![id, release, environment, count, first, last])?;
        }
    }
    cache.groups = Some(known);
    Ok(overflowed)
}

/// Applies a user's action to a group at `now`. Returns whether the group
/// exists.
pub(super) fn apply_action(
    tx: &Transaction<'_>,
    id: i64,
    action: ErrorAction,
    now: UnixNanos,
) -> Result<bool, StoreError> {
    let status = action.status();
    let resolved_at = (status == ErrorStatus::Resolved).then_some(now.0);
    let changed = tx
        .prepare_cached(
            "UPDATE error_groups SET status = ?1, resolved_unix_nano = ?2 WHERE id = ?3",
        )?
        .execute(params![status.as_str(), resolved_at, id])?;
    Ok(changed > 0)
}

/// Deletes counts older than `cutoff` (taking them out of the totals) and
/// groups not seen since. Returns the groups deleted.
pub(super) fn delete_before(tx: &Transaction<'_>, cutoff: UnixNanos) -> Result<u64, StoreError> {
    let minute = minute_of(cutoff);
    tx.prepare_cached(
        "UPDATE error_groups SET total_count = total_count - (
             SELECT SUM(count) FROM error_group_minutes m
             WHERE m.group_id = error_groups.id AND m.minute < ?1)
         WHERE id IN (SELECT group_id FROM error_group_minutes WHERE minute < ?1)",
    )?
    .execute(params![minute])?;
    tx.prepare_cached("DELETE FROM error_group_minutes WHERE minute < ?1")?
        .execute(params![minute])?;
    tx.prepare_cached("DELETE FROM error_group_releases WHERE last_seen_unix_nano < ?1")?
        .execute(params![cutoff.0])?;
    let deleted = tx
        .prepare_cached("DELETE FROM error_groups WHERE last_seen_unix_nano < ?1")?
        .execute(params![cutoff.0])?;
    Ok(deleted as u64)
}

// ---- reads ----

const GROUP_COLUMNS: &str = "id, fingerprint, type, message, service, total_count,
    first_seen_unix_nano, last_seen_unix_nano, first_release, status, resolved_unix_nano,
    sample_unix_nano, sample_trace_id, sample_span_id, sample_message, sample_stacktrace,
    sample_source";

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("error group: unknown {what} {value:?}"))
}

fn group_row(row: &Row<'_>) -> rusqlite::Result<(ErrorGroup, String, String)> {
    let trace_id: Option<Vec<u8>> = row.get(12)?;
    let span_id: Option<Vec<u8>> = row.get(13)?;
    let status: String = row.get(9)?;
    let source: String = row.get(16)?;
    let group = ErrorGroup {
        id: row.get(0)?,
        fingerprint: row.get(1)?,
        type_name: row.get(2)?,
        message: row.get(3)?,
        service: row.get(4)?,
        count: 0,
        total_count: row.get::<_, i64>(5)?.max(0) as u64,
        first_seen: UnixNanos(row.get(6)?),
        last_seen: UnixNanos(row.get(7)?),
        releases: Vec::new(),
        environments: Vec::new(),
        first_release: row.get(8)?,
        new_in_release: false,
        status: ErrorStatus::Open,
        resolved_at: row.get::<_, Option<i64>>(10)?.map(UnixNanos),
        sample: ErrorSample {
            time: UnixNanos(row.get(11)?),
            trace_id: trace_id.and_then(|bytes| TraceId::from_bytes(&bytes).ok()),
            span_id: span_id.and_then(|bytes| SpanId::from_bytes(&bytes).ok()),
            message: row.get(14)?,
            stacktrace: row.get(15)?,
            source: ErrorSource::Span,
        },
        sparkline: Vec::new(),
    };
    Ok((group, status, source))
}

fn to_group(
    (mut group, status, source): (ErrorGroup, String, String),
) -> Result<ErrorGroup, StoreError> {
    group.status = ErrorStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?;
    group.sample.source = ErrorSource::parse(&source).ok_or_else(|| corrupt("source", &source))?;
    Ok(group)
}

/// Occurrences per group in [start, end], by minute.
fn counts_in_range(
    conn: &Connection,
    start: UnixNanos,
    end: UnixNanos,
) -> Result<HashMap<i64, u64>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT group_id, SUM(count) FROM error_group_minutes
         WHERE minute >= ?1 AND minute <= ?2 GROUP BY group_id",
    )?;
    let rows = stmt.query_map(params![minute_of(start), minute_of(end)], |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?.max(0) as u64))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A group's counts per minute in [start, end].
fn minute_counts(
    conn: &Connection,
    id: i64,
    start: UnixNanos,
    end: UnixNanos,
) -> Result<Vec<(i64, u64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT minute, count FROM error_group_minutes
         WHERE group_id = ?1 AND minute >= ?2 AND minute <= ?3 ORDER BY minute",
    )?;
    let rows = stmt.query_map(params![id, minute_of(start), minute_of(end)], |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?.max(0) as u64))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Counts of equal parts of [start, end] (`parts` of them).
fn bucketed(counts: &[(i64, u64)], start: UnixNanos, end: UnixNanos, parts: usize) -> Vec<u64> {
    let mut out = vec![0u64; parts.max(1)];
    let first = minute_of(start);
    let span = (minute_of(end) - first + 1).max(1);
    for (minute, count) in counts {
        let index = ((minute - first) * out.len() as i64 / span).clamp(0, out.len() as i64 - 1);
        out[index as usize] += count;
    }
    out
}

/// A group's releases: every (release, environment) seen, by first seen.
pub fn release_counts(conn: &Connection, id: i64) -> Result<Vec<ReleaseCount>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT release, environment, count, first_seen_unix_nano, last_seen_unix_nano
         FROM error_group_releases WHERE group_id = ?1 ORDER BY first_seen_unix_nano, release",
    )?;
    let rows = stmt.query_map(params![id], |row| {
        Ok(ReleaseCount {
            release: row.get(0)?,
            environment: row.get(1)?,
            count: row.get::<_, i64>(2)?.max(0) as u64,
            first_seen: UnixNanos(row.get(3)?),
            last_seen: UnixNanos(row.get(4)?),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The newest release in which `service` had errors, if it had errors in
/// more than one.
fn newest_release(conn: &Connection, service: &str) -> Result<Option<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.release FROM error_group_releases r JOIN error_groups g ON g.id = r.group_id
         WHERE g.service = ?1 AND r.release != ''
         GROUP BY r.release ORDER BY MIN(r.first_seen_unix_nano) DESC LIMIT 2",
    )?;
    let releases: Vec<String> = stmt
        .query_map(params![service], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    Ok((releases.len() == 2).then(|| releases[0].clone()))
}

/// Fills what a group shows beyond its row: releases, environments, the
/// new-in-release mark and the range's count and sparkline.
fn complete(
    conn: &Connection,
    group: &mut ErrorGroup,
    newest_releases: &mut HashMap<String, Option<String>>,
    (start, end): (UnixNanos, UnixNanos),
) -> Result<Vec<ReleaseCount>, StoreError> {
    let detail = release_counts(conn, group.id)?;
    let mut releases: Vec<String> = Vec::new();
    let mut environments: Vec<String> = Vec::new();
    for row in &detail {
        if !row.release.is_empty() && !releases.contains(&row.release) {
            releases.push(row.release.clone());
        }
        if !row.environment.is_empty() && !environments.contains(&row.environment) {
            environments.push(row.environment.clone());
        }
    }
    group.releases = releases;
    group.environments = environments;
    if !newest_releases.contains_key(&group.service) {
        let newest = newest_release(conn, &group.service)?;
        newest_releases.insert(group.service.clone(), newest);
    }
    group.new_in_release = !group.first_release.is_empty()
        && newest_releases
            .get(&group.service)
            .and_then(Option::as_ref)
            .is_some_and(|newest| *newest == group.first_release);
    let counts = minute_counts(conn, group.id, start, end)?;
    group.count = counts.iter().map(|(_, count)| count).sum();
    group.sparkline = bucketed(&counts, start, end, SPARKLINE_POINTS);
    Ok(detail)
}

/// One page of the groups with an occurrence in the filter's range, and
/// whether more follow.
pub fn list_groups(
    conn: &Connection,
    filter: &ErrorFilter,
) -> Result<(Vec<ErrorGroup>, bool), StoreError> {
    let counts = counts_in_range(conn, filter.start, filter.end)?;
    let mut sql = format!(
        "SELECT {GROUP_COLUMNS} FROM error_groups WHERE last_seen_unix_nano >= ?1 AND first_seen_unix_nano <= ?2"
    );
    let mut values: Vec<rusqlite::types::Value> = vec![filter.start.0.into(), filter.end.0.into()];
    if let Some(service) = &filter.service {
        values.push(service.clone().into());
        sql.push_str(&format!(" AND service = ?{}", values.len()));
    }
    if let Some(release) = &filter.release {
        values.push(release.clone().into());
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM error_group_releases r WHERE r.group_id = error_groups.id AND r.release = ?{})",
            values.len()
        ));
    }
    if let Some(environment) = &filter.environment {
        values.push(environment.clone().into());
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM error_group_releases r WHERE r.group_id = error_groups.id AND r.environment = ?{})",
            values.len()
        ));
    }
    if !filter.statuses.is_empty() {
        let mut names = Vec::new();
        for status in &filter.statuses {
            values.push(status.as_str().to_string().into());
            names.push(format!("?{}", values.len()));
        }
        sql.push_str(&format!(" AND status IN ({})", names.join(", ")));
    }
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(values), group_row)?;
    let mut groups = Vec::new();
    for row in rows {
        let mut group = to_group(row?)?;
        let Some(count) = counts.get(&group.id) else {
            continue; // no occurrence in the range
        };
        group.count = *count;
        groups.push(group);
    }
    match filter.sort {
        ErrorSort::LastSeen => groups.sort_by_key(|g| std::cmp::Reverse((g.last_seen, g.id))),
        ErrorSort::Count => groups.sort_by_key(|g| std::cmp::Reverse((g.count, g.last_seen, g.id))),
    }
    let more = groups.len() > filter.offset + filter.limit;
    let mut page: Vec<ErrorGroup> = groups
        .into_iter()
        .skip(filter.offset)
        .take(filter.limit)
        .collect();
    let mut newest = HashMap::new();
    for group in &mut page {
        complete(conn, group, &mut newest, (filter.start, filter.end))?;
    }
    Ok((page, more))
}

/// A group with what its page shows: counts per `step_minutes` over
/// [start, end] and its releases.
pub fn find_group(
    conn: &Connection,
    id: i64,
    (start, end): (UnixNanos, UnixNanos),
    step_minutes: i64,
) -> Result<Option<ErrorGroupDetail>, StoreError> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {GROUP_COLUMNS} FROM error_groups WHERE id = ?1"
        ))?
        .query_row(params![id], group_row)
        .optional()?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut group = to_group(row)?;
    let detail = complete(conn, &mut group, &mut HashMap::new(), (start, end))?;
    let step = step_minutes.max(1);
    let first = minute_of(start).div_euclid(step) * step;
    let last = minute_of(end);
    let mut series: Vec<(UnixNanos, u64)> = Vec::new();
    let mut at = first;
    while at <= last {
        series.push((UnixNanos(at * NANOS_PER_MINUTE), 0));
        at += step;
    }
    for (minute, count) in minute_counts(conn, id, start, end)? {
        let index = ((minute - first) / step) as usize;
        if let Some(point) = series.get_mut(index) {
            point.1 += count;
        }
    }
    Ok(Some(ErrorGroupDetail {
        group,
        series,
        releases: detail,
    }))
}

/// Occurrences in [start, end] of every open or regressed group (of
/// `service`, if given), for the `error_group` alert kind.
pub fn window_counts(
    conn: &Connection,
    service: Option<&str>,
    (start, end): (UnixNanos, UnixNanos),
) -> Result<Vec<ErrorGroupCount>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT g.id, g.service, g.type, g.message, SUM(m.count),
                g.first_seen_unix_nano >= ?1
                OR (g.status = 'regressed' AND COALESCE(g.resolved_unix_nano, 0) >= ?1)
         FROM error_group_minutes m JOIN error_groups g ON g.id = m.group_id
         WHERE m.minute >= ?3 AND m.minute <= ?4 AND g.status IN ('open', 'regressed')
           AND (?5 IS NULL OR g.service = ?5)
         GROUP BY g.id ORDER BY g.id",
    )?;
    let rows = stmt.query_map(
        params![start.0, end.0, minute_of(start), minute_of(end), service],
        |row| {
            Ok(ErrorGroupCount {
                id: row.get(0)?,
                service: row.get(1)?,
                type_name: row.get(2)?,
                message: row.get(3)?,
                count: row.get::<_, i64>(4)?.max(0) as u64,
                new_in_window: row.get(5)?,
            })
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_parts_cover_the_range() {
        let start = UnixNanos(0);
        let end = UnixNanos(24 * NANOS_PER_MINUTE - 1);
        let counts = [(0, 1), (1, 2), (23, 5)];
        let parts = bucketed(&counts, start, end, 24);
        assert_eq!(parts.len(), 24);
        assert_eq!((parts[0], parts[1], parts[23]), (1, 2, 5));
        assert_eq!(parts.iter().sum::<u64>(), 8);
    }
}
