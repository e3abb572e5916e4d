//! [`Expr`] → tantivy query on the log index schema.
//!
//! The semantics each construct gets here are the language's definition;
//! the property test at the bottom checks them against a plain in-memory
//! evaluator over the same records.

use std::ops::Bound;

use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, EnableScoring, Explanation, Occur, PhrasePrefixQuery,
    PhraseQuery, Query, RangeQuery, Scorer, TermQuery, Weight,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, DocSet, Score, SegmentReader, Term};

use super::ast::{AttrSource, AttrTest, Comparison, Expr, Number};
use crate::store::logs::LogSchema;

/// Compiles a parsed query for [`crate::store::logs::LogFilter::query`].
pub fn to_query(expr: &Expr) -> Box<dyn Query> {
    let schema = LogSchema::get();
    match expr {
        Expr::And(items) => {
            let mut clauses: Vec<(Occur, Box<dyn Query>)> = items
                .iter()
                .map(|item| match item {
                    Expr::Not(inner) => (Occur::MustNot, excluded(inner)),
                    other => (Occur::Must, to_query(other)),
                })
                .collect();
            // tantivy matches nothing when a boolean query only excludes.
            if !clauses.iter().any(|(occur, _)| *occur == Occur::Must) {
                clauses.push((Occur::Must, Box::new(AllQuery)));
            }
            Box::new(BooleanQuery::new(clauses))
        }
        Expr::Or(items) => Box::new(BooleanQuery::new(
            items
                .iter()
                .map(|item| (Occur::Should, to_query(item)))
                .collect(),
        )),
        Expr::Not(inner) => Box::new(BooleanQuery::new(vec![
            (Occur::Must, Box::new(AllQuery)),
            (Occur::MustNot, excluded(inner)),
        ])),
        Expr::Text(text) => text_query(schema, text),
        Expr::TextPrefix(stem) => text_prefix_query(schema, stem),
        Expr::Service(service) => term_query(Term::from_field_text(schema.service, service)),
        Expr::ServicePrefix(stem) => prefix_query(Term::from_field_text(schema.service, stem)),
        Expr::MinSeverity(number) => Box::new(RangeQuery::new(
            Bound::Included(Term::from_field_i64(
                schema.severity_number,
                i64::from(*number),
            )),
            Bound::Unbounded,
        )),
        Expr::TraceId(trace_id) => schema.trace_id_query(*trace_id),
        Expr::SpanId(span_id) => schema.span_id_query(*span_id),
        Expr::Attribute { source, key, test } => {
            let (field, numbers) = match source {
                AttrSource::Record => (schema.attributes, schema.attribute_numbers),
                AttrSource::Resource => (schema.resource, schema.resource_numbers),
            };
            attribute_query(field, numbers, key, test)
        }
    }
}

/// The query for a `MustNot` clause; see [`Excluded`].
fn excluded(expr: &Expr) -> Box<dyn Query> {
    Box::new(Excluded(to_query(expr)))
}

/// Runs a query as an exclusion with plain `seek`.
///
/// tantivy probes excluded docsets with `seek_danger` at every candidate,
/// also once they are exhausted; its phrase scorer asserts (in debug
/// builds) that it is never probed below its current document, which an
/// exhausted scorer always is. Hiding the inner scorer's `seek_danger`
/// makes exclusion use `DocSet`'s default, which is built on `seek` and
/// never moves backwards. Results are the same either way.
#[derive(Debug)]
struct Excluded(Box<dyn Query>);

impl Clone for Excluded {
    fn clone(&self) -> Self {
        Excluded(self.0.box_clone())
    }
}

impl Query for Excluded {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(ExcludedWeight(self.0.weight(enable_scoring)?)))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        self.0.query_terms(visitor);
    }
}

struct ExcludedWeight(Box<dyn Weight>);

impl Weight for ExcludedWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(Box::new(PlainSeek(self.0.scorer(reader, boost)?)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.0.explain(reader, doc)
    }
}

/// Forwards everything but `seek_danger`.
struct PlainSeek(Box<dyn Scorer>);

impl DocSet for PlainSeek {
    fn advance(&mut self) -> DocId {
        self.0.advance()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        self.0.seek(target)
    }

    fn doc(&self) -> DocId {
        self.0.doc()
    }

    fn size_hint(&self) -> u32 {
        self.0.size_hint()
    }

    fn cost(&self) -> u64 {
        self.0.cost()
    }
}

impl Scorer for PlainSeek {
    fn score(&mut self) -> Score {
        self.0.score()
    }
}

fn term_query(term: Term) -> Box<dyn Query> {
    Box::new(TermQuery::new(term, IndexRecordOption::Basic))
}

/// Words and phrases go through the body tokenizer. Several tokens must
/// appear at the same relative positions as in the query text; a text whose
/// every token is too long to be indexed can match nothing.
fn text_query(schema: &LogSchema, text: &str) -> Box<dyn Query> {
    let tokens = schema.body_tokens(text);
    match tokens.as_slice() {
        [] => Box::new(EmptyQuery),
        [(_, token)] => term_query(Term::from_field_text(schema.body, token)),
        [(first, _), ..] => Box::new(PhraseQuery::new_with_offset(
            tokens
                .iter()
                .map(|(position, token)| {
                    (position - first, Term::from_field_text(schema.body, token))
                })
                .collect(),
        )),
    }
}

/// `stem*`: body tokens starting with the stem's one token (the parser
/// allows only one; a stem the tokenizer drops as too long matches
/// nothing, in the index as in the matcher).
fn text_prefix_query(schema: &LogSchema, stem: &str) -> Box<dyn Query> {
    match schema.body_tokens(stem).as_slice() {
        [(_, token)] => prefix_query(Term::from_field_text(schema.body, token)),
        _ => Box::new(EmptyQuery),
    }
}

/// The documents holding a term that starts with `prefix`. A one-term
/// phrase prefix is a scan of that range of the term dictionary; every
/// term in it counts (tantivy stops at 50 by default), so the answer is
/// exact, as the in-memory matcher's is.
fn prefix_query(prefix: Term) -> Box<dyn Query> {
    let mut query = PhrasePrefixQuery::new(vec![prefix]);
    query.set_max_expansions(u32::MAX);
    Box::new(query)
}

/// Attribute values are JSON: strings match exactly, numbers and booleans
/// by value (terms of `field`). Comparisons and ranges read the fast
/// column of the path in `numbers`, so they match numbers only.
fn attribute_query(field: Field, numbers: Field, key: &str, test: &AttrTest) -> Box<dyn Query> {
    // Dots in keys are path separators (`expand_dots`), like nesting.
    let path = Term::from_field_json_path(field, key, true);
    let number_path = Term::from_field_json_path(numbers, key, true);
    match test {
        AttrTest::Equals(value) => {
            let mut terms = Vec::with_capacity(3);
            let mut text = path.clone();
            text.append_type_and_str(value);
            terms.push(text);
            if let Some(number) = Number::parse(value) {
                let mut numeric = path.clone();
                append_normalized(&mut numeric, number);
                terms.push(numeric);
            }
            if let Ok(flag) = value.parse::<bool>() {
                let mut boolean = path.clone();
                boolean.append_type_and_fast_value(flag);
                terms.push(boolean);
            }
            if terms.len() == 1 {
                term_query(terms.remove(0))
            } else {
                Box::new(BooleanQuery::new_multiterms_query(terms))
            }
        }
        AttrTest::Compare(comparison, number) => {
            let bound = bound_term(&number_path, *number);
            let (low, high) = match comparison {
                Comparison::Gt => (Bound::Excluded(bound), Bound::Unbounded),
                Comparison::Ge => (Bound::Included(bound), Bound::Unbounded),
                Comparison::Lt => (Bound::Unbounded, Bound::Excluded(bound)),
                Comparison::Le => (Bound::Unbounded, Bound::Included(bound)),
            };
            Box::new(RangeQuery::new(low, high))
        }
        AttrTest::Range { low, high } => {
            // tantivy reads both bounds as the type of the first one, so an
            // integer bound next to a float bound becomes a float too.
            let mixed = matches!(
                (low, high),
                (Some(Number::Int(_)), Some(Number::Float(_)))
                    | (Some(Number::Float(_)), Some(Number::Int(_)))
            );
            let bound = |number: &Option<Number>| match number {
                Some(number) if mixed => {
                    Bound::Included(bound_term(&number_path, Number::Float(number.as_f64())))
                }
                Some(number) => Bound::Included(bound_term(&number_path, *number)),
                None => Bound::Unbounded,
            };
            if low.is_none() && high.is_none() {
                // The parser rejects `[* TO *]`; an unbounded range would
                // match every record, with or without the attribute.
                return Box::new(EmptyQuery);
            }
            Box::new(RangeQuery::new(bound(low), bound(high)))
        }
    }
}

/// Numbers are indexed in canonical form (an integral float is an integer),
/// so an exact-match term must be normalized the same way.
fn append_normalized(term: &mut Term, number: Number) {
    match number {
        Number::Int(int) => term.append_type_and_fast_value(int),
        Number::Float(float) => {
            let integral = float.fract() == 0.0;
            if integral && float >= i64::MIN as f64 && float <= i64::MAX as f64 {
                term.append_type_and_fast_value(float as i64);
            } else if integral && float >= 0.0 && float <= u64::MAX as f64 {
                term.append_type_and_fast_value(float as u64);
            } else {
                term.append_type_and_fast_value(float);
            }
        }
    }
}

/// A range bound. Floats are clamped to the i64 range: tantivy maps a bound
/// beyond it onto an integer column as "unbounded", which would turn
/// `< -1e30` into "any value".
fn bound_term(path: &Term, number: Number) -> Term {
    let mut term = path.clone();
    match number {
        Number::Int(int) => term.append_type_and_fast_value(int),
        Number::Float(float) => {
            term.append_type_and_fast_value(float.clamp(i64::MIN as f64, i64::MAX as f64))
        }
    }
    term
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    // The in-memory evaluator is the reference the index must agree with.
    use super::super::matcher::matches as naive;
    use super::super::parser::parse;
    use super::*;
    use crate::model::{AttrValue, Attributes, LogBody, LogRecord, SpanId, TraceId, UnixNanos};
    use crate::store::logs::{LogFilter, LogIndexOptions, LogIndexes, PageRequest, SortOrder};

    const DAY: i64 = 86_400_000_000_000;
    /// 2025-11-21T00:00:00Z
    const BASE: i64 = 1_763_683_200_000_000_000;
    const WORDS: [&str; 8] = [
        "alpha", "Beta", "gamma", "error", "timeout", "user", "paid", "disk",
    ];
    const SERVICES: [&str; 3] = ["checkout", "frontend", "cart"];
    const TRACES: [TraceId; 2] = [TraceId([1; 16]), TraceId([2; 16])];

    // ---- rendering an AST back to query text --------------------------------

    fn render_number(number: &Number) -> String {
        match number {
            Number::Int(int) => int.to_string(),
            Number::Float(float) => format!("{float:?}"),
        }
    }

    fn render_value(value: &str) -> String {
        if value.contains(' ') {
            format!("\"{value}\"")
        } else {
            value.to_string()
        }
    }

    /// Terms and parenthesized groups can stand after `NOT` or inside AND.
    fn render_operand(expr: &Expr) -> String {
        match expr {
            Expr::And(_) | Expr::Or(_) => format!("({})", render(expr)),
            _ => render(expr),
        }
    }

    fn render(expr: &Expr) -> String {
        match expr {
            Expr::And(items) => items
                .iter()
                .map(render_operand)
                .collect::<Vec<_>>()
                .join(" "),
            Expr::Or(items) => items
                .iter()
                .map(render_operand)
                .collect::<Vec<_>>()
                .join(" OR "),
            Expr::Not(inner) => match inner.as_ref() {
                Expr::Text(_) => format!("-{}", render_operand(inner)),
                _ => format!("NOT {}", render_operand(inner)),
            },
            Expr::Text(text) => render_value(text),
            Expr::TextPrefix(stem) => format!("{stem}*"),
            Expr::Service(service) => format!("service:{}", render_value(service)),
            Expr::ServicePrefix(stem) => format!("service:{stem}*"),
            Expr::MinSeverity(number) => match crate::model::Severity::from_number(*number) {
                Some(severity) if severity.min_number() == *number => {
                    format!("level:{}", severity.as_str().to_lowercase())
                }
                _ => format!("severity:{number}"),
            },
            Expr::TraceId(trace_id) => format!("trace_id:{trace_id}"),
            Expr::SpanId(span_id) => format!("span_id:{span_id}"),
            Expr::Attribute { source, key, test } => {
                let prefix = match source {
                    AttrSource::Record if key.len() % 2 == 0 => "attributes.",
                    AttrSource::Record => "attr.",
                    AttrSource::Resource => "resource.",
                };
                let value = match test {
                    AttrTest::Equals(value) => render_value(value),
                    AttrTest::Compare(comparison, number) => {
                        format!("{}{}", comparison.as_str(), render_number(number))
                    }
                    AttrTest::Range { low, high } => format!(
                        "[{} TO {}]",
                        low.as_ref().map_or("*".to_string(), render_number),
                        high.as_ref().map_or("*".to_string(), render_number)
                    ),
                };
                format!("{prefix}{key}:{value}")
            }
        }
    }

    // ---- generators -----------------------------------------------------------

    fn record_strategy() -> impl Strategy<Value = LogRecord> {
        let status = prop_oneof![
            Just(AttrValue::Int(200)),
            Just(AttrValue::Int(404)),
            Just(AttrValue::Int(500)),
            Just(AttrValue::Double(500.0)),
            Just(AttrValue::Double(499.5)),
            Just(AttrValue::String("500".into())),
        ];
        let user = prop_oneof![Just("ann"), Just("Ann"), Just("bob"), Just("ann lee")]
            .prop_map(|user| AttrValue::String(user.into()));
        let latency =
            prop_oneof![Just(0.5), Just(1.5), Just(3.0), Just(12.25)].prop_map(AttrValue::Double);
        let rows = (0i64..4)
            .prop_map(|rows| AttrValue::KvList(vec![("rows".into(), AttrValue::Int(rows))]));
        let attributes = (
            proptest::option::of(status),
            proptest::option::of(user),
            proptest::option::of(any::<bool>().prop_map(AttrValue::Bool)),
            proptest::option::of(latency),
            proptest::option::of(rows),
        )
            .prop_map(|(status, user, retry, latency, db)| {
                let mut attributes: Attributes = Vec::new();
                for (key, value) in [
                    ("http.status", status),
                    ("user", user),
                    ("retry", retry),
                    ("latency", latency),
                    ("db", db),
                ] {
                    if let Some(value) = value {
                        attributes.push((key.to_string(), value));
                    }
                }
                attributes
            });
        let resource = proptest::option::of(prop_oneof![Just("a"), Just("b")]).prop_map(|host| {
            host.map(|host| vec![("host".to_string(), AttrValue::String(host.into()))])
                .unwrap_or_default()
        });
        (
            (0i64..3, 0i64..86_400, 0i64..3),
            proptest::collection::vec(proptest::sample::select(WORDS.to_vec()), 1..6),
            prop_oneof![Just(" "), Just("-"), Just(", ")],
            any::<bool>(),
            (0i32..25, proptest::sample::select(SERVICES.to_vec())),
            attributes,
            resource,
            proptest::option::of(proptest::sample::select(TRACES.to_vec())),
        )
            .prop_map(
                |(
                    (day, second, nanos),
                    words,
                    separator,
                    structured,
                    (severity, service),
                    attributes,
                    resource,
                    trace_id,
                )| {
                    let message = words.join(separator);
                    let body = if structured {
                        LogBody::Json(serde_json::json!({"msg": message, "code": second % 7}))
                    } else {
                        LogBody::Text(message)
                    };
                    let mut record = LogRecord {
                        timestamp: UnixNanos(BASE + day * DAY + second * 1_000_000_000 + nanos),
                        severity_number: severity,
                        service: service.to_string(),
                        body,
                        trace_id,
                        span_id: trace_id.map(|_| SpanId([3; 8])),
                        attributes,
                        resource,
                        ..LogRecord::default()
                    };
                    record.normalize();
                    record
                },
            )
    }

    fn leaf_strategy() -> impl Strategy<Value = Expr> {
        let word = proptest::sample::select(WORDS.to_vec());
        let number = prop_oneof![
            Just(Number::Int(200)),
            Just(Number::Int(404)),
            Just(Number::Int(499)),
            Just(Number::Int(500)),
            Just(Number::Float(499.5)),
            Just(Number::Float(1.5)),
            Just(Number::Int(2)),
        ];
        let comparison = prop_oneof![
            Just(Comparison::Gt),
            Just(Comparison::Ge),
            Just(Comparison::Lt),
            Just(Comparison::Le),
        ];
        let attribute = |source, key: &'static str, test: AttrTest| Expr::Attribute {
            source,
            key: key.to_string(),
            test,
        };
        prop_oneof![
            4 => word.clone().prop_map(|word| Expr::Text(word.to_string())),
            2 => (word.clone(), word).prop_map(|(a, b)| Expr::Text(format!("{a} {b}"))),
            1 => prop_oneof![Just("checkout"), Just("cart"), Just("nosuch")]
                .prop_map(|service| Expr::Service(service.to_string())),
            2 => prop_oneof![Just("al"), Just("gam"), Just("erro"), Just("timeout"), Just("zz"), Just("Be"), Just("pa")]
                .prop_map(|stem| Expr::TextPrefix(stem.to_string())),
            1 => prop_oneof![Just("ch"), Just("car"), Just("cart"), Just("fr"), Just("no")]
                .prop_map(|stem| Expr::ServicePrefix(stem.to_string())),
            1 => prop_oneof![Just(1), Just(5), Just(9), Just(13), Just(17), Just(21), Just(11)]
                .prop_map(Expr::MinSeverity),
            1 => proptest::sample::select(TRACES.to_vec()).prop_map(Expr::TraceId),
            1 => Just(Expr::SpanId(SpanId([3; 8]))),
            2 => prop_oneof![Just("500"), Just("200"), Just("500.0"), Just("499.5"), Just("x")]
                .prop_map(move |value| attribute(AttrSource::Record, "http.status", AttrTest::Equals(value.to_string()))),
            1 => prop_oneof![Just("ann"), Just("Ann"), Just("bob"), Just("ann lee")]
                .prop_map(move |value| attribute(AttrSource::Record, "user", AttrTest::Equals(value.to_string()))),
            1 => prop_oneof![Just("true"), Just("false")]
                .prop_map(move |value| attribute(AttrSource::Record, "retry", AttrTest::Equals(value.to_string()))),
            2 => (comparison.clone(), number.clone())
                .prop_map(move |(comparison, number)| attribute(AttrSource::Record, "http.status", AttrTest::Compare(comparison, number))),
            1 => (comparison, number.clone())
                .prop_map(move |(comparison, number)| attribute(AttrSource::Record, "db.rows", AttrTest::Compare(comparison, number))),
            1 => (proptest::option::of(number.clone()), proptest::option::of(number))
                .prop_filter("one bound", |(low, high)| low.is_some() || high.is_some())
                .prop_map(move |(low, high)| attribute(AttrSource::Record, "latency", AttrTest::Range { low, high })),
            1 => prop_oneof![Just("a"), Just("b")]
                .prop_map(move |host| attribute(AttrSource::Resource, "host", AttrTest::Equals(host.to_string()))),
        ]
    }

    fn expr_strategy() -> impl Strategy<Value = Expr> {
        leaf_strategy().prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
                proptest::collection::vec(inner.clone(), 2..4).prop_map(Expr::Or),
                inner.prop_map(|expr| Expr::Not(Box::new(expr))),
            ]
        })
    }

    /// A query with the filters the API adds around it.
    #[derive(Debug, Clone)]
    struct Search {
        expr: Expr,
        service: Option<&'static str>,
        min_severity: Option<i32>,
        start: i64,
        end: i64,
        order: SortOrder,
    }

    fn search_strategy() -> impl Strategy<Value = Search> {
        (
            expr_strategy(),
            proptest::option::weighted(0.2, proptest::sample::select(SERVICES.to_vec())),
            proptest::option::weighted(0.2, prop_oneof![Just(9), Just(13)]),
            prop_oneof![
                3 => Just((BASE - DAY, BASE + 4 * DAY)),
                1 => (0i64..8, 1i64..8).prop_map(|(start, length)| {
                    (BASE + start * DAY / 2, BASE + (start + length) * DAY / 2)
                }),
            ],
            prop_oneof![Just(SortOrder::Desc), Just(SortOrder::Asc)],
        )
            .prop_map(
                |(expr, service, min_severity, (start, end), order)| Search {
                    expr,
                    service,
                    min_severity,
                    start,
                    end,
                    order,
                },
            )
    }

    fn expected_ids(records: &[(u64, LogRecord)], search: &Search, expr: &Expr) -> Vec<u64> {
        let mut keyed: Vec<(i64, u64)> = records
            .iter()
            .filter(|(_, record)| {
                naive(expr, record)
                    && search
                        .service
                        .is_none_or(|service| record.service == service)
                    && search
                        .min_severity
                        .is_none_or(|min| record.severity_number >= min)
                    && (search.start..search.end).contains(&record.timestamp.0)
            })
            .map(|(id, record)| (record.timestamp.0, *id))
            .collect();
        keyed.sort_unstable();
        if search.order == SortOrder::Desc {
            keyed.reverse();
        }
        keyed.into_iter().map(|(_, id)| id).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        #[test]
        fn the_index_agrees_with_a_naive_filter(
            corpus in proptest::collection::vec(record_strategy(), 20..60),
            searches in proptest::collection::vec(search_strategy(), 12),
        ) {
            let dir = tempfile::tempdir().expect("tempdir");
            let indexes = LogIndexes::open(dir.path(), LogIndexOptions::default()).expect("open");
            let records: Vec<(u64, LogRecord)> =
                corpus.into_iter().enumerate().map(|(i, record)| (i as u64 + 1, record)).collect();
            {
                let mut writer = indexes.writer().expect("writer");
                for (id, record) in &records {
                    writer.add(*id, record).expect("add");
                }
                writer.commit().expect("commit");
            }
            for search in searches {
                let text = render(&search.expr);
                let parsed = match parse(&text) {
                    Ok(Some(parsed)) => parsed,
                    other => return Err(TestCaseError::fail(format!("{text:?} parsed as {other:?}"))),
                };
                let expected = expected_ids(&records, &search, &search.expr);
                // The parsed form means the same as the generated one...
                prop_assert_eq!(&expected_ids(&records, &search, &parsed), &expected, "parse changed {}", text);
                // ...and the index finds exactly what the naive filter finds.
                let filter = LogFilter {
                    query: Some(to_query(&parsed)),
                    service: search.service.map(str::to_string),
                    min_severity: search.min_severity,
                    trace_id: None,
                    start: UnixNanos(search.start),
                    end: UnixNanos(search.end),
                };
                let page = indexes
                    .search(&filter, &PageRequest { order: search.order, limit: 1000, after: None })
                    .expect("search");
                let found: Vec<u64> = page.hits.iter().map(|hit| hit.id).collect();
                prop_assert_eq!(&found, &expected, "query {}", text);
                prop_assert_eq!(page.total, expected.len() as u64, "total of {}", text);
            }
        }
    }

    // ---- single constructs --------------------------------------------------

    fn one_record_index(record: LogRecord) -> (tempfile::TempDir, LogIndexes) {
        let dir = tempfile::tempdir().expect("tempdir");
        let indexes = LogIndexes::open(dir.path(), LogIndexOptions::default()).expect("open");
        let mut writer = indexes.writer().expect("writer");
        writer.add(1, &record).expect("add");
        writer.commit().expect("commit");
        drop(writer);
        (dir, indexes)
    }

    fn matches(indexes: &LogIndexes, query: &str) -> bool {
        let expr = parse(query).expect("valid").expect("not blank");
        let mut filter = LogFilter::new(UnixNanos(BASE - DAY), UnixNanos(BASE + DAY));
        filter.query = Some(to_query(&expr));
        indexes.count(&filter).expect("count") == 1
    }

    #[test]
    fn words_and_phrases_match_alike_in_the_index_and_in_memory() {
        let long = "z".repeat(45);
        let record = LogRecord {
            timestamp: UnixNanos(BASE),
            body: LogBody::Text(format!("Disk {long} FULL on node-7, retry later")),
            ..LogRecord::default()
        };
        let (_dir, indexes) = one_record_index(record.clone());
        for (query, expected) in [
            ("disk", true),
            ("\"disk full\"", false),
            (&format!("\"disk {long} full\"") as &str, true),
            (&long, false),
            (&format!("-{long}"), true),
            ("\"node 7 retry\"", true),
            ("node-7", true),
            ("\"7 node\"", false),
            ("later retry", true),
        ] {
            let expr = parse(query).expect("valid").expect("not blank");
            assert_eq!(matches(&indexes, query), expected, "index: {query}");
            assert_eq!(naive(&expr, &record), expected, "in memory: {query}");
        }
    }

    #[test]
    fn attribute_values_match_by_type() {
        let record = LogRecord {
            timestamp: UnixNanos(BASE),
            body: LogBody::Text("GET /api/orders/42 took 1.5s".into()),
            attributes: vec![
                ("http.method".into(), AttrValue::String("GET".into())),
                (
                    "when".into(),
                    AttrValue::String("2025-11-21T10:00:00Z".into()),
                ),
                ("code".into(), AttrValue::Int(500)),
                ("ratio".into(), AttrValue::Double(0.25)),
                (
                    "tags".into(),
                    AttrValue::Array(vec![AttrValue::String("x".into()), AttrValue::Int(7)]),
                ),
                (
                    "db".into(),
                    AttrValue::KvList(vec![("rows".into(), AttrValue::Int(3))]),
                ),
                ("big".into(), AttrValue::Int(-5)),
            ],
            resource: vec![
                ("service.version".into(), AttrValue::String("1.0".into())),
                ("process.pid".into(), AttrValue::Int(4242)),
            ],
            ..LogRecord::default()
        };
        let (_dir, indexes) = one_record_index(record);
        for (query, expected) in [
            ("attr.http.method:GET", true),
            ("attr.http.method:get", false),
            ("attributes.when:\"2025-11-21T10:00:00Z\"", true),
            ("attr.code:500", true),
            ("attr.code:500.0", true),
            ("attr.code:50", false),
            ("attr.code:>=500", true),
            ("attr.code:>500", false),
            ("attr.code:[400 TO 599]", true),
            ("attr.code:[499.5 TO 500.5]", true),
            ("attr.code:[400 TO 500.5]", true),
            ("attr.code:[500.5 TO 600]", false),
            ("attr.ratio:<0.3", true),
            ("attr.ratio:0.25", true),
            ("attr.tags:x", true),
            ("attr.tags:7", true),
            ("attr.db.rows:3", true),
            ("attr.db.rows:>2", true),
            ("attr.big:<-1e300", false),
            ("attr.big:>-1e300", true),
            ("attr.missing:1", false),
            ("resource.service.version:1.0", true),
            ("resource.service.version:1", false),
            ("resource.process.pid:>4000", true),
            ("resource.process.pid:[1 TO 100]", false),
            ("attr.tags:>5", true),
            ("attr.http.method:>1", false),
            ("NOT attr.code:404", true),
            ("orders 42", true),
            ("\"orders 42\"", true),
            ("\"42 orders\"", false),
            ("api/orders", true),
            ("-took", false),
            ("GET OR nothing", true),
            ("nothing OR (-nothing)", true),
            ("1.5s", true),
            ("15s", false),
        ] {
            assert_eq!(matches(&indexes, query), expected, "{query}");
        }
    }
}
