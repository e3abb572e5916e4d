//! The parsed form of a log query: what [`super::parse`] produces and
//! both [`super::to_query`] and [`super::matches()`] consume.

use crate::model::{SpanId, TraceId};

/// Why a query was rejected, and where: `position` is a byte offset into
/// the query text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at position {position})")]
pub struct ParseError {
    pub message: String,
    pub position: usize,
}

impl ParseError {
    pub(super) fn new(message: impl Into<String>, position: usize) -> ParseError {
        ParseError {
            message: message.into(),
            position,
        }
    }
}

/// A parsed log query.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// All must match (adjacent terms, or `AND`).
    And(Vec<Expr>),
    /// At least one must match.
    Or(Vec<Expr>),
    /// `NOT x` or `-x`.
    Not(Box<Expr>),
    /// A word or `"quoted phrase"`, searched in the body. Several tokens
    /// (`"disk full"`, or a word like `order-42`) must appear in sequence.
    Text(String),
    /// `declin*`: a body word starting with this (one word of letters and
    /// digits).
    TextPrefix(String),
    /// `service:name`, exact.
    Service(String),
    /// `service:pay*`: a service whose name starts with this.
    ServicePrefix(String),
    /// `level:warn`: this OTLP severity number or above.
    MinSeverity(i32),
    TraceId(TraceId),
    SpanId(SpanId),
    /// `attributes.<key>:…`, `attr.<key>:…` or `resource.<key>:…`. Dotted
    /// keys also address nested values (`attr.http.status` finds
    /// `{"http": {"status": 500}}`).
    Attribute {
        source: AttrSource,
        key: String,
        test: AttrTest,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrSource {
    /// The record's own attributes.
    Record,
    /// The attributes of the resource that emitted it.
    Resource,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AttrTest {
    /// The value is this string exactly, or (when the text is a number or
    /// `true`/`false`) a number or boolean equal to it.
    Equals(String),
    /// A numeric value compared with a bound.
    Compare(Comparison, Number),
    /// A numeric value within inclusive bounds; `None` is open (`*`).
    Range {
        low: Option<Number>,
        high: Option<Number>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Gt,
    Ge,
    Lt,
    Le,
}

impl Comparison {
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::Gt => ">",
            Comparison::Ge => ">=",
            Comparison::Lt => "<",
            Comparison::Le => "<=",
        }
    }
}

/// A number in a query: integers stay exact, anything else is a finite
/// float.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    /// Integers first (exact), then finite floats (`1.5`, `2e3`).
    pub fn parse(text: &str) -> Option<Number> {
        if let Ok(int) = text.parse::<i64>() {
            return Some(Number::Int(int));
        }
        text.parse::<f64>()
            .ok()
            .filter(|float| float.is_finite())
            .map(Number::Float)
    }

    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(int) => int as f64,
            Number::Float(float) => float,
        }
    }
}
