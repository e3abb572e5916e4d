//! The log query language of `/api/logs?q=` and `log_count` alert rules.
//!
//! ```text
//! timeout                      word in the body (words are ANDed)
//! "disk full"                  phrase
//! a OR b, a AND b              OR binds looser than AND
//! NOT a, -a                    negation
//! (a OR b) c                   grouping
//! service:checkout             exact service
//! level:warn, severity:error   minimum level (warn and above)
//! trace_id:…, span_id:…        hex ids
//! attributes.http.method:GET   attribute value (also attr.<key>, resource.<key>)
//! attr.status:>=500            numeric comparison (>, >=, <, <=)
//! attr.status:[500 TO 599]     numeric range, inclusive; * is open
//! attr.user:"Ann Lee"          quoted value
//! ```
//!
//! [`parse`] turns text into an [`Expr`] or a [`ParseError`] that names the
//! problem and its byte position (a 400 on the API, never a 500);
//! [`to_query`] compiles an [`Expr`] into the tantivy query the log indexes
//! run, and [`matches()`] evaluates it on one record in memory (live tail).
//! The two must agree; a property test checks the index against
//! [`matches()`] on random records and queries.

mod ast;
mod fields;
mod lexer;
mod lower;
mod matcher;
mod parser;

pub use ast::{AttrSource, AttrTest, Comparison, Expr, Number, ParseError};
pub use lower::to_query;
pub use matcher::matches;
pub use parser::{parse, MAX_DEPTH, MAX_QUERY_BYTES, MAX_TERMS};
