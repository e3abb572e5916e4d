//! Search, count and histogram against sorted reference answers.

use super::super::tests::record_at;
use super::super::{LogDay, LogIndexOptions};
use super::ranking::rank;
use super::*;
use crate::model::{LogBody, LogRecord, SpanId, TraceId};

const DAY: i64 = super::super::day::NANOS_PER_DAY;
/// 2025-11-21T00:00:00Z
const BASE: i64 = 1_763_683_200_000_000_000;

fn open(dir: &tempfile::TempDir) -> LogIndexes {
    LogIndexes::open(dir.path(), LogIndexOptions::default()).expect("open")
}

fn body_term(word: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(LogSchema::get().body, word),
        IndexRecordOption::Basic,
    ))
}

/// `count` records spread over `days` days, several per timestamp so the
/// journal id has to break ties. Returns (id, record) in journal order.
fn corpus(count: u64, days: i64) -> Vec<(u64, LogRecord)> {
    (1..=count)
        .map(|id| {
            let slot = (id * 7919) % (count / 3 + 1);
            let nanos = BASE + (slot as i64 * days * DAY) / (count as i64 / 3 + 1);
            let word = if id % 3 == 0 { "fizz" } else { "plain" };
            let mut record = record_at(nanos, &format!("{word} record {id}"));
            record.severity_number = [5, 9, 13, 17][(id % 4) as usize];
            record.severity_text.clear();
            record.normalize_severity();
            record.service = if id % 2 == 0 { "even" } else { "odd" }.into();
            (id, record)
        })
        .collect()
}

fn index(indexes: &LogIndexes, records: &[(u64, LogRecord)]) {
    let mut writer = indexes.writer().expect("writer");
    for (id, record) in records {
        writer.add(*id, record).expect("add");
    }
    writer.commit().expect("commit");
}

fn sorted_ids(records: &[(u64, LogRecord)], order: SortOrder) -> Vec<u64> {
    let mut keyed: Vec<(i64, u64)> = records
        .iter()
        .map(|(id, record)| (record.timestamp.0, *id))
        .collect();
    keyed.sort();
    if order == SortOrder::Desc {
        keyed.reverse();
    }
    keyed.into_iter().map(|(_, id)| id).collect()
}

fn all_time() -> LogFilter {
    LogFilter::new(UnixNanos(BASE - DAY), UnixNanos(BASE + 10 * DAY))
}

#[test]
fn keyset_pages_cover_every_record_once_in_both_orders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let indexes = open(&dir);
    let records = corpus(3000, 3);
    index(&indexes, &records);
    for order in [SortOrder::Desc, SortOrder::Asc] {
        let filter = all_time();
        let mut page = PageRequest {
            order,
            limit: 97,
            after: None,
        };
        let mut seen = Vec::new();
        loop {
            let result = indexes.search(&filter, &page).expect("search");
            assert_eq!(result.total, 3000);
            assert!(result.hits.len() <= 97);
            seen.extend(result.hits.iter().map(|hit| hit.id));
            match result.next_cursor {
                Some(cursor) => page.after = Some(cursor),
                None => break,
            }
        }
        assert_eq!(seen, sorted_ids(&records, order), "{order:?}");
    }
}

#[test]
fn many_segments_and_partial_days_page_and_count_like_a_sort() {
    // Shuffled in time, segments overlap; in time order (as records
    // usually arrive) they are disjoint and ranking skips most.
    let shuffled = corpus(2400, 3);
    let mut in_order: Vec<LogRecord> = shuffled.iter().map(|(_, record)| record.clone()).collect();
    in_order.sort_by_key(|record| record.timestamp);
    let in_order: Vec<(u64, LogRecord)> = (1..).zip(in_order).collect();
    segments_page_and_count_like_a_sort(&shuffled);
    segments_page_and_count_like_a_sort(&in_order);
}

fn segments_page_and_count_like_a_sort(records: &[(u64, LogRecord)]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let indexes = open(&dir);
    // A commit per 150 records: many segments per day.
    let mut writer = indexes.writer().expect("writer");
    for chunk in records.chunks(150) {
        for (id, record) in chunk {
            writer.add(*id, record).expect("add");
        }
        writer.commit().expect("commit");
    }
    drop(writer);
    let start = UnixNanos(BASE + DAY / 2);
    let end = UnixNanos(BASE + 2 * DAY + DAY / 3);
    for query in [None, Some("fizz")] {
        let mut filter = LogFilter::new(start, end);
        filter.query = query.map(body_term);
        let wanted = |record: &LogRecord| {
            record.timestamp >= start
                && record.timestamp < end
                && (query.is_none() || record.body.search_text().starts_with("fizz"))
        };
        let matching: Vec<(u64, LogRecord)> = records
            .iter()
            .filter(|(_, record)| wanted(record))
            .cloned()
            .collect();
        assert_eq!(
            indexes.count(&filter).expect("count"),
            matching.len() as u64,
            "{query:?}"
        );
        for order in [SortOrder::Desc, SortOrder::Asc] {
            let mut page = PageRequest {
                order,
                limit: 41,
                after: None,
            };
            let mut seen = Vec::new();
            loop {
                let result = indexes.search(&filter, &page).expect("search");
                assert_eq!(result.total, matching.len() as u64);
                seen.extend(result.hits.iter().map(|hit| hit.id));
                match result.next_cursor {
                    Some(cursor) => page.after = Some(cursor),
                    None => break,
                }
            }
            assert_eq!(seen, sorted_ids(&matching, order), "{query:?} {order:?}");
        }
    }
}

#[test]
fn filtered_pages_have_exact_totals_and_stop_early() {
    let dir = tempfile::tempdir().expect("tempdir");
    let indexes = open(&dir);
    let records = corpus(600, 3);
    index(&indexes, &records);
    let mut filter = all_time();
    filter.query = Some(body_term("fizz"));
    filter.service = Some("even".into());
    filter.min_severity = Some(13);
    let expected: Vec<u64> = sorted_ids(&records, SortOrder::Desc)
        .into_iter()
        .filter(|id| id % 3 == 0 && id % 2 == 0 && id % 4 >= 2)
        .collect();
    let page = indexes
        .search(
            &filter,
            &PageRequest {
                limit: 5,
                ..PageRequest::default()
            },
        )
        .expect("search");
    assert_eq!(page.total, expected.len() as u64);
    assert_eq!(
        indexes.count(&filter).expect("count"),
        expected.len() as u64
    );
    assert_eq!(
        page.hits.iter().map(|hit| hit.id).collect::<Vec<_>>(),
        expected[..5]
    );
    // The newest day fills a page of 5, so older days are only counted.
    assert_eq!(page.days_ranked, 1);
    let whole = indexes
        .search(
            &filter,
            &PageRequest {
                limit: 10_000,
                ..PageRequest::default()
            },
        )
        .expect("search");
    assert_eq!(whole.hits.len(), expected.len());
    assert_eq!(whole.next_cursor, None);
    assert_eq!(whole.days_ranked, 3);
}

#[test]
fn a_time_range_opens_only_the_days_it_touches() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let indexes = open(&dir);
        index(&indexes, &corpus(90, 5));
    }
    let indexes = open(&dir);
    assert_eq!(indexes.days().len(), 5);
    assert!(indexes.opened_days().is_empty());
    // From the middle of day 2 to the middle of day 3.
    let filter = LogFilter::new(
        UnixNanos(BASE + DAY + DAY / 2),
        UnixNanos(BASE + 2 * DAY + DAY / 2),
    );
    let page = indexes
        .search(&filter, &PageRequest::default())
        .expect("search");
    let opened: Vec<String> = indexes
        .opened_days()
        .into_iter()
        .map(LogDay::dir_name)
        .collect();
    assert_eq!(opened, ["2025-11-22", "2025-11-23"]);
    assert!(page.total > 0);
    for hit in &page.hits {
        assert!(hit.record.timestamp >= filter.start && hit.record.timestamp < filter.end);
    }
}

#[test]
fn histogram_counts_add_up_to_the_total() {
    let dir = tempfile::tempdir().expect("tempdir");
    let indexes = open(&dir);
    let mut records = corpus(500, 3);
    records[0].1.severity_number = 0;
    records[0].1.severity_text.clear();
    index(&indexes, &records);
    let mut filter = LogFilter::new(UnixNanos(BASE + DAY / 3), UnixNanos(BASE + 2 * DAY + 17));
    let total = indexes.count(&filter).expect("count");
    let buckets = indexes.histogram(&filter, 60).expect("histogram");
    assert_eq!(buckets.len(), 60);
    assert_eq!(buckets[0].start, filter.start);
    assert_eq!(buckets[59].end, filter.end);
    assert!(buckets.windows(2).all(|pair| pair[0].end == pair[1].start));
    let sum: u64 = buckets.iter().flat_map(|b| b.counts.values()).sum();
    assert_eq!(sum, total);
    let errors: u64 = buckets.iter().filter_map(|b| b.counts.get("ERROR")).sum();
    filter.min_severity = Some(17);
    assert_eq!(errors, indexes.count(&filter).expect("count"));

    let whole = all_time();
    let buckets = indexes.histogram(&whole, 7).expect("histogram");
    let unset: u64 = buckets
        .iter()
        .filter_map(|b| b.counts.get("UNSPECIFIED"))
        .sum();
    assert_eq!(unset, 1);
    let sum: u64 = buckets.iter().flat_map(|b| b.counts.values()).sum();
    assert_eq!(sum, 500);
    // A range shorter than the bucket count gets one bucket per nanosecond.
    let tiny = LogFilter::new(UnixNanos(BASE), UnixNanos(BASE + 3));
    assert_eq!(indexes.histogram(&tiny, 60).expect("histogram").len(), 3);
}

#[test]
fn hits_carry_the_stored_record_and_trace_filters_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let indexes = open(&dir);
    let mut record = record_at(BASE + 5, "payment declined");
    record.trace_id = Some(TraceId([3; 16]));
    record.span_id = Some(SpanId([4; 8]));
    record.body = LogBody::Json(serde_json::json!({"msg": "payment declined", "code": 51}));
    let other = record_at(BASE + 6, "payment accepted");
    index(&indexes, &[(1, record.clone()), (2, other)]);
    let mut filter = all_time();
    filter.trace_id = Some(TraceId([3; 16]));
    let page = indexes
        .search(&filter, &PageRequest::default())
        .expect("search");
    assert_eq!(page.total, 1);
    assert_eq!(page.hits, [LogHit { id: 1, record }]);
    let mut filter = all_time();
    filter.query = Some(LogSchema::get().span_id_query(SpanId([4; 8])));
    assert_eq!(indexes.count(&filter).expect("count"), 1);
    // Structured bodies are searchable by their JSON text.
    let mut filter = all_time();
    filter.query = Some(body_term("51"));
    assert_eq!(indexes.count(&filter).expect("count"), 1);
}

/// A day index written by earlier builds holds version 1 records, which
/// carry their own event time; records added after an upgrade are stored
/// without it. Both come back whole, in both orders.
#[test]
fn records_stored_before_and_after_the_time_left_the_record_read_alike() {
    let dir = tempfile::tempdir().expect("tempdir");
    let indexes = open(&dir);
    let records: Vec<(u64, LogRecord)> = (1..=6)
        .map(|id| {
            let mut record = record_at(BASE + id as i64 * 1_000, &format!("mixed record {id}"));
            record.observed_timestamp = UnixNanos(BASE + 7_000_000 - id as i64);
            (id, record)
        })
        .collect();
    let mut writer = indexes.writer().expect("writer");
    for (id, record) in &records {
        let encoded = if id % 2 == 1 {
            crate::store::log_codec::encode_version_1(record)
        } else {
            crate::store::log_codec::encode_record(record).0
        };
        writer.add_encoded(*id, record, &encoded).expect("add");
    }
    writer.commit().expect("commit");
    for order in [SortOrder::Desc, SortOrder::Asc] {
        let page = indexes
            .search(
                &all_time(),
                &PageRequest {
                    order,
                    ..PageRequest::default()
                },
            )
            .expect("search");
        let mut expected: Vec<LogHit> = records
            .iter()
            .map(|(id, record)| LogHit {
                id: *id,
                record: record.clone(),
            })
            .collect();
        if order == SortOrder::Desc {
            expected.reverse();
        }
        assert_eq!(page.hits, expected, "{order:?}");
    }
}

/// Earlier builds indexed ids as hex, stored the journal id in each
/// document and records in version 1; their days still answer id filters
/// and return whole records.
#[test]
fn ids_indexed_as_hex_by_earlier_builds_are_still_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let schema = LogSchema::get();
    let mut record = record_at(BASE + 5, "written before");
    record.trace_id = Some(TraceId([0xab; 16]));
    record.span_id = Some(SpanId([0xcd; 8]));
    let day = dir.path().join(LogDay::of(record.timestamp).dir_name());
    std::fs::create_dir_all(&day).expect("mkdir");
    let index = tantivy::Index::builder()
        .schema(super::super::schema::with_stored_journal_id(
            schema.schema(),
        ))
        .create_in_dir(&day)
        .expect("day");
    schema.register_tokenizers(&index);
    let mut writer: tantivy::IndexWriter<TantivyDocument> =
        index.writer(15_000_000).expect("writer");
    let mut doc = TantivyDocument::new();
    doc.add_i64(schema.timestamp, record.timestamp.0);
    doc.add_i64(schema.severity_number, 9);
    doc.add_text(schema.service, &record.service);
    doc.add_text(schema.trace_id, TraceId([0xab; 16]).to_hex());
    doc.add_text(schema.span_id, SpanId([0xcd; 8]).to_hex());
    doc.add_text(schema.body, "written before");
    doc.add_u64(schema.journal_id, 1);
    doc.add_bytes(
        schema.record,
        &crate::store::log_codec::encode_version_1(&record),
    );
    writer.add_document(doc).expect("add");
    writer.commit().expect("commit");
    drop(writer);

    let indexes = open(&dir);
    let mut filter = all_time();
    filter.trace_id = Some(TraceId([0xab; 16]));
    let page = indexes
        .search(&filter, &PageRequest::default())
        .expect("search");
    assert_eq!(page.hits, [LogHit { id: 1, record }]);
    let mut filter = all_time();
    filter.query = Some(schema.span_id_query(SpanId([0xcd; 8])));
    assert_eq!(indexes.count(&filter).expect("count"), 1);
    filter.query = Some(schema.span_id_query(SpanId([0xce; 8])));
    assert_eq!(indexes.count(&filter).expect("count"), 0);
}

#[test]
fn searches_see_only_committed_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let indexes = open(&dir);
    let mut writer = indexes.writer().expect("writer");
    writer.add(1, &record_at(BASE, "one")).expect("add");
    writer.commit().expect("commit");
    writer.add(2, &record_at(BASE + 1, "two")).expect("add");
    assert_eq!(indexes.count(&all_time()).expect("count"), 1);
    writer.commit().expect("commit");
    assert_eq!(indexes.count(&all_time()).expect("count"), 2);
}

#[test]
fn empty_ranges_and_missing_days_find_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let indexes = open(&dir);
    let page = indexes
        .search(&all_time(), &PageRequest::default())
        .expect("search");
    assert_eq!(
        (page.total, page.hits.len(), page.next_cursor),
        (0, 0, None)
    );
    let backwards = LogFilter::new(UnixNanos(BASE), UnixNanos(BASE - 1));
    assert!(indexes
        .histogram(&backwards, 10)
        .expect("histogram")
        .is_empty());
}

#[test]
fn ranks_order_keys_in_both_directions() {
    let key = |timestamp: i64, journal_id: u64| LogCursor {
        timestamp: UnixNanos(timestamp),
        journal_id,
    };
    let desc = |c| rank(c, SortOrder::Desc);
    assert!(desc(key(5, 1)) > desc(key(4, 9)));
    assert!(desc(key(5, 2)) > desc(key(5, 1)));
    assert!(desc(key(0, 0)) > desc(key(-1, u64::MAX)));
    assert!(desc(key(i64::MIN, 0)) < desc(key(i64::MIN, 1)));
    let asc = |c| rank(c, SortOrder::Asc);
    assert!(asc(key(4, 9)) > asc(key(5, 1)));
    assert!(asc(key(-1, 3)) > asc(key(0, 0)));
}
