//! Text → [`Expr`]: a lexer that knows the field syntax, and a recursive
//! descent parser for `OR` < implicit/explicit `AND` < `NOT`/`-`.
//!
//! Every error carries the byte offset where the problem starts, and the
//! parser is bounded in length, term count and nesting so that no input can
//! make it (or the query built from it) expensive or overflow the stack.

use crate::model::{Severity, SpanId, TraceId};

/// Longest query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 4096;
/// Most words, phrases and field filters in one query.
pub const MAX_TERMS: usize = 100;
/// Deepest nesting of parentheses and negations.
pub const MAX_DEPTH: usize = 32;

/// Why a query was rejected, and where: `position` is a byte offset into
/// the query text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at position {position})")]
pub struct ParseError {
    pub message: String,
    pub position: usize,
}

impl ParseError {
    fn new(message: impl Into<String>, position: usize) -> ParseError {
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
    /// `service:name`, exact.
    Service(String),
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

/// Parses a log query. Blank text is `Ok(None)`: no condition at all.
pub fn parse(text: &str) -> Result<Option<Expr>, ParseError> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(ParseError::new(
            format!("the query is longer than {MAX_QUERY_BYTES} bytes"),
            MAX_QUERY_BYTES,
        ));
    }
    let tokens = Lexer { text, pos: 0 }.tokens()?;
    if tokens.is_empty() {
        return Ok(None);
    }
    let mut parser = Parser {
        tokens,
        next: 0,
        terms: 0,
    };
    let expr = parser.or_expr(0)?;
    if let Some(token) = parser.tokens.get(parser.next) {
        // `or_expr` stops only at the end or at a `)`.
        return Err(ParseError::new(
            "unbalanced parenthesis: this `)` has no `(`",
            token.pos,
        ));
    }
    Ok(Some(expr))
}

#[derive(Debug)]
enum Tok {
    LParen,
    RParen,
    /// `-` directly before a term.
    Minus,
    And,
    Or,
    Not,
    /// A word, a phrase, or a field filter, already checked.
    Term(Expr),
}

#[derive(Debug)]
struct Token {
    tok: Tok,
    pos: usize,
}

/// What follows `field:`.
enum FieldValue {
    Text(String),
    Compare(Comparison, String, usize),
    Range(Option<String>, Option<String>),
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

/// Characters that end a word: they are syntax of their own.
fn ends_word(c: char) -> bool {
    c.is_whitespace() || c == '(' || c == ')' || c == '"'
}

fn is_field_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/' | '@')
}

const FIELD_HELP: &str = "fields are service, level, severity, trace_id, span_id, \
                          attributes.<key>, attr.<key> and resource.<key>; \
                          put text containing a colon in quotes";

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn bump(&mut self) {
        if let Some(c) = self.peek() {
            self.pos += c.len_utf8();
        }
    }

    fn tokens(mut self) -> Result<Vec<Token>, ParseError> {
        let mut tokens = Vec::new();
        loop {
            while self.peek().is_some_and(char::is_whitespace) {
                self.bump();
            }
            let pos = self.pos;
            let Some(c) = self.peek() else {
                return Ok(tokens);
            };
            let tok = match c {
                '(' => {
                    self.bump();
                    Tok::LParen
                }
                ')' => {
                    self.bump();
                    Tok::RParen
                }
                '"' => {
                    let phrase = self.quoted()?;
                    Tok::Term(text_term(phrase, pos)?)
                }
                '-' => {
                    self.bump();
                    match self.peek() {
                        Some(next) if !next.is_whitespace() && next != ')' => Tok::Minus,
                        _ => {
                            return Err(ParseError::new(
                                "`-` must be followed by the term to exclude",
                                pos,
                            ))
                        }
                    }
                }
                _ => match self.field_name() {
                    Some(name) => Tok::Term(self.field(name, pos)?),
                    None => match self.word() {
                        "AND" => Tok::And,
                        "OR" => Tok::Or,
                        "NOT" => Tok::Not,
                        word => Tok::Term(text_term(word.to_string(), pos)?),
                    },
                },
            };
            tokens.push(Token { tok, pos });
        }
    }

    /// Reads up to the next word boundary.
    fn word(&mut self) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(|c| !ends_word(c)) {
            self.bump();
        }
        &self.text[start..self.pos]
    }

    /// A `"…"` string starting at the current `"`; `\"` and `\\` escape.
    fn quoted(&mut self) -> Result<String, ParseError> {
        let open = self.pos;
        self.bump();
        let mut value = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(ParseError::new(
                        "unbalanced quote: this `\"` is never closed",
                        open,
                    ))
                }
                Some('"') => {
                    self.bump();
                    return Ok(value);
                }
                Some('\\') => {
                    self.bump();
                    match self.peek() {
                        Some(escaped @ ('"' | '\\')) => {
                            value.push(escaped);
                            self.bump();
                        }
                        _ => value.push('\\'),
                    }
                }
                Some(c) => {
                    value.push(c);
                    self.bump();
                }
            }
        }
    }

    /// If the text here is `name:` (a name starting with a letter, and not
    /// a URL's `scheme://`), consumes it and returns the name.
    fn field_name(&mut self) -> Option<&'a str> {
        let rest = &self.text[self.pos..];
        if !rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            return None;
        }
        let name_len = rest.find(|c: char| !is_field_char(c)).unwrap_or(rest.len());
        let after = &rest[name_len..];
        if !after.starts_with(':') || after.starts_with("://") {
            return None;
        }
        let start = self.pos;
        self.pos += name_len + 1;
        Some(&self.text[start..start + name_len])
    }

    fn field(&mut self, name: &str, name_pos: usize) -> Result<Expr, ParseError> {
        let value_pos = self.pos;
        let value = match self.peek() {
            Some('"') => FieldValue::Text(self.quoted()?),
            Some('[') => self.range()?,
            Some('>' | '<') => {
                let rest = &self.text[self.pos..];
                let comparison = if rest.starts_with(">=") {
                    Comparison::Ge
                } else if rest.starts_with("<=") {
                    Comparison::Le
                } else if rest.starts_with('>') {
                    Comparison::Gt
                } else {
                    Comparison::Lt
                };
                self.pos += comparison.as_str().len();
                let number_pos = self.pos;
                let number = self.word().to_string();
                if number.is_empty() {
                    return Err(ParseError::new(
                        format!("`{}` must be followed by a number", comparison.as_str()),
                        value_pos,
                    ));
                }
                FieldValue::Compare(comparison, number, number_pos)
            }
            _ => {
                let word = self.word();
                if word.is_empty() {
                    return Err(ParseError::new(
                        format!("`{name}:` needs a value"),
                        value_pos,
                    ));
                }
                FieldValue::Text(word.to_string())
            }
        };
        field_expr(name, name_pos, value, value_pos)
    }

    /// `[low TO high]` starting at the current `[`; `*` is an open bound.
    fn range(&mut self) -> Result<FieldValue, ParseError> {
        let open = self.pos;
        let rest = &self.text[open..];
        let Some(close) = rest.find(']') else {
            return Err(ParseError::new(
                "unbalanced bracket: this `[` is never closed",
                open,
            ));
        };
        let inner = &rest[1..close];
        self.pos = open + close + 1;
        let parts: Vec<&str> = inner.split_whitespace().collect();
        let [low, to, high] = parts[..] else {
            return Err(ParseError::new("a range is written [low TO high]", open));
        };
        if to != "TO" {
            return Err(ParseError::new("a range is written [low TO high]", open));
        }
        let bound = |text: &str| (text != "*").then(|| text.to_string());
        Ok(FieldValue::Range(bound(low), bound(high)))
    }
}

/// A word or phrase; it must contain something the index can match.
fn text_term(text: String, pos: usize) -> Result<Expr, ParseError> {
    if !text.chars().any(char::is_alphanumeric) {
        let shown = if text.is_empty() {
            "\"\""
        } else {
            text.as_str()
        };
        return Err(ParseError::new(
            format!("`{shown}` has no letters or digits to search for"),
            pos,
        ));
    }
    Ok(Expr::Text(text))
}

fn field_expr(
    name: &str,
    name_pos: usize,
    value: FieldValue,
    value_pos: usize,
) -> Result<Expr, ParseError> {
    let lower = name.to_ascii_lowercase();
    let plain = |value: FieldValue| match value {
        FieldValue::Text(text) => Ok(text),
        FieldValue::Compare(..) | FieldValue::Range(..) => Err(ParseError::new(
            format!("`{name}` takes a plain value; only attributes can be compared or ranged"),
            value_pos,
        )),
    };
    match lower.as_str() {
        "service" => Ok(Expr::Service(plain(value)?)),
        "level" | "severity" => {
            let text = plain(value)?;
            let number = Severity::parse(&text)
                .map(Severity::min_number)
                .or_else(|| text.parse::<i32>().ok().filter(|n| (1..=24).contains(n)));
            number.map(Expr::MinSeverity).ok_or_else(|| {
                ParseError::new(
                    format!(
                        "unknown level {text:?}: use trace, debug, info, warn, error, fatal \
                         or a severity number from 1 to 24"
                    ),
                    value_pos,
                )
            })
        }
        "trace_id" => TraceId::from_hex(&plain(value)?)
            .map(Expr::TraceId)
            .map_err(|error| ParseError::new(error.to_string(), value_pos)),
        "span_id" => SpanId::from_hex(&plain(value)?)
            .map(Expr::SpanId)
            .map_err(|error| ParseError::new(error.to_string(), value_pos)),
        _ => {
            let prefixes = [
                ("attributes.", AttrSource::Record),
                ("attr.", AttrSource::Record),
                ("resource.", AttrSource::Resource),
            ];
            let Some((prefix, source)) = prefixes.iter().find(|(prefix, _)| {
                lower.starts_with(prefix) || lower == prefix[..prefix.len() - 1]
            }) else {
                return Err(ParseError::new(
                    format!("unknown field `{name}`: {FIELD_HELP}"),
                    name_pos,
                ));
            };
            // The prefixes are ASCII, so the byte offset is the same in `name`.
            let key = name.get(prefix.len()..).unwrap_or("");
            if key.is_empty() {
                return Err(ParseError::new(
                    format!("`{name}` needs a key, like {prefix}http.method"),
                    name_pos,
                ));
            }
            let test = attr_test(value, value_pos)?;
            Ok(Expr::Attribute {
                source: *source,
                key: key.to_string(),
                test,
            })
        }
    }
}

fn attr_test(value: FieldValue, value_pos: usize) -> Result<AttrTest, ParseError> {
    let number = |text: &str, pos: usize| {
        Number::parse(text).ok_or_else(|| ParseError::new(format!("`{text}` is not a number"), pos))
    };
    match value {
        FieldValue::Text(text) => Ok(AttrTest::Equals(text)),
        FieldValue::Compare(comparison, text, pos) => {
            Ok(AttrTest::Compare(comparison, number(&text, pos)?))
        }
        FieldValue::Range(None, None) => Err(ParseError::new(
            "a range needs at least one bound",
            value_pos,
        )),
        FieldValue::Range(low, high) => Ok(AttrTest::Range {
            low: low.map(|text| number(&text, value_pos)).transpose()?,
            high: high.map(|text| number(&text, value_pos)).transpose()?,
        }),
    }
}

struct Parser {
    tokens: Vec<Token>,
    next: usize,
    terms: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.next).map(|token| &token.tok)
    }

    fn pos(&self) -> usize {
        self.tokens.get(self.next).map_or(0, |token| token.pos)
    }

    /// Whether the next token cannot start an operand.
    fn at_operand_end(&self) -> bool {
        matches!(self.peek(), None | Some(Tok::RParen | Tok::Or | Tok::And))
    }

    fn or_expr(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let mut items = vec![self.and_expr(depth)?];
        while let Some(Tok::Or) = self.peek() {
            let pos = self.pos();
            self.next += 1;
            if self.at_operand_end() {
                return Err(ParseError::new("`OR` needs a term on both sides", pos));
            }
            items.push(self.and_expr(depth)?);
        }
        Ok(combine(items, Connective::Or))
    }

    fn and_expr(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let mut items = vec![self.unary(depth)?];
        loop {
            match self.peek() {
                None | Some(Tok::RParen | Tok::Or) => break,
                Some(Tok::And) => {
                    let pos = self.pos();
                    self.next += 1;
                    if self.at_operand_end() {
                        return Err(ParseError::new("`AND` needs a term on both sides", pos));
                    }
                }
                Some(_) => {}
            }
            items.push(self.unary(depth)?);
        }
        Ok(combine(items, Connective::And))
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let pos = self.pos();
        let message = match self.peek() {
            Some(Tok::Not) => "`NOT` needs a term to negate",
            Some(Tok::Minus) => "`-` must be followed by the term to exclude",
            _ => return self.primary(depth),
        };
        self.next += 1;
        if self.at_operand_end() {
            return Err(ParseError::new(message, pos));
        }
        if depth + 1 > MAX_DEPTH {
            return Err(too_deep(pos));
        }
        Ok(Expr::Not(Box::new(self.unary(depth + 1)?)))
    }

    fn primary(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let pos = self.pos();
        let Some(token) = self.tokens.get_mut(self.next) else {
            return Err(ParseError::new(
                "the query ends where a term was expected",
                pos,
            ));
        };
        match &mut token.tok {
            Tok::LParen => {
                if depth + 1 > MAX_DEPTH {
                    return Err(too_deep(pos));
                }
                self.next += 1;
                if let Some(Tok::RParen) = self.peek() {
                    return Err(ParseError::new("empty parentheses", pos));
                }
                let inner = self.or_expr(depth + 1)?;
                match self.peek() {
                    Some(Tok::RParen) => {
                        self.next += 1;
                        Ok(inner)
                    }
                    _ => Err(ParseError::new(
                        "unbalanced parenthesis: this `(` is never closed",
                        pos,
                    )),
                }
            }
            Tok::RParen => Err(ParseError::new(
                "unbalanced parenthesis: this `)` has no `(`",
                pos,
            )),
            Tok::Or => Err(ParseError::new("`OR` needs a term on both sides", pos)),
            Tok::And => Err(ParseError::new("`AND` needs a term on both sides", pos)),
            // `unary` handles these; reaching them here is a parser bug,
            // reported like any other bad query rather than panicking.
            Tok::Not | Tok::Minus => Err(ParseError::new("unexpected negation", pos)),
            Tok::Term(expr) => {
                let expr = std::mem::replace(expr, Expr::And(Vec::new()));
                self.next += 1;
                self.terms += 1;
                if self.terms > MAX_TERMS {
                    return Err(ParseError::new(
                        format!("the query has more than {MAX_TERMS} terms"),
                        pos,
                    ));
                }
                Ok(expr)
            }
        }
    }
}

fn too_deep(pos: usize) -> ParseError {
    ParseError::new(
        format!("the query nests parentheses and negations more than {MAX_DEPTH} deep"),
        pos,
    )
}

/// Which connective `combine` builds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Connective {
    And,
    Or,
}

/// One item stays itself; nested ANDs in an AND (ORs in an OR) flatten.
fn combine(mut items: Vec<Expr>, connective: Connective) -> Expr {
    if items.len() == 1 {
        if let Some(only) = items.pop() {
            return only;
        }
    }
    let mut flat = Vec::with_capacity(items.len());
    for item in items {
        match (connective, item) {
            (Connective::And, Expr::And(inner)) | (Connective::Or, Expr::Or(inner)) => {
                flat.extend(inner)
            }
            (_, other) => flat.push(other),
        }
    }
    match connective {
        Connective::And => Expr::And(flat),
        Connective::Or => Expr::Or(flat),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Expr {
        match parse(text) {
            Ok(Some(expr)) => expr,
            other => panic!("{text:?} gave {other:?}"),
        }
    }

    fn err(text: &str) -> ParseError {
        match parse(text) {
            Err(error) => error,
            other => panic!("{text:?} should fail, gave {other:?}"),
        }
    }

    fn text(word: &str) -> Expr {
        Expr::Text(word.to_string())
    }

    fn attr(key: &str, test: AttrTest) -> Expr {
        Expr::Attribute {
            source: AttrSource::Record,
            key: key.to_string(),
            test,
        }
    }

    #[test]
    fn blank_queries_have_no_condition() {
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("  \t\n"), Ok(None));
    }

    #[test]
    fn words_are_anded_and_phrases_kept_whole() {
        assert_eq!(ok("timeout"), text("timeout"));
        assert_eq!(
            ok("disk  full"),
            Expr::And(vec![text("disk"), text("full")])
        );
        assert_eq!(ok("\"disk full\""), text("disk full"));
        assert_eq!(
            ok(r#"a "say \"hi\" \\ now""#),
            Expr::And(vec![text("a"), text(r#"say "hi" \ now"#)])
        );
        assert_eq!(ok("a AND b"), Expr::And(vec![text("a"), text("b")]));
        // Lowercase operators are ordinary words.
        assert_eq!(
            ok("a or b"),
            Expr::And(vec![text("a"), text("or"), text("b")])
        );
        assert_eq!(ok("order-42"), text("order-42"));
        assert_eq!(ok("http://x.io/a"), text("http://x.io/a"));
        assert_eq!(ok("10:30"), text("10:30"));
    }

    #[test]
    fn or_binds_looser_than_and_and_not_tighter() {
        assert_eq!(
            ok("a b OR c"),
            Expr::Or(vec![Expr::And(vec![text("a"), text("b")]), text("c")])
        );
        assert_eq!(
            ok("a (b OR c)"),
            Expr::And(vec![text("a"), Expr::Or(vec![text("b"), text("c")])])
        );
        assert_eq!(
            ok("NOT a b"),
            Expr::And(vec![Expr::Not(Box::new(text("a"))), text("b")])
        );
        assert_eq!(
            ok("-a OR -(b c)"),
            Expr::Or(vec![
                Expr::Not(Box::new(text("a"))),
                Expr::Not(Box::new(Expr::And(vec![text("b"), text("c")])))
            ])
        );
        assert_eq!(
            ok("a OR b OR (c OR d)"),
            Expr::Or(vec![text("a"), text("b"), text("c"), text("d")])
        );
        assert_eq!(ok("((a))"), text("a"));
    }

    #[test]
    fn fields_parse_to_their_filters() {
        assert_eq!(ok("service:checkout"), Expr::Service("checkout".into()));
        assert_eq!(ok("Service:\"my svc\""), Expr::Service("my svc".into()));
        assert_eq!(ok("level:warn"), Expr::MinSeverity(13));
        assert_eq!(ok("severity:ERROR"), Expr::MinSeverity(17));
        assert_eq!(ok("level:warning"), Expr::MinSeverity(13));
        assert_eq!(ok("level:18"), Expr::MinSeverity(18));
        assert_eq!(
            ok("trace_id:0AF7651916CD43DD8448EB211C80319C"),
            Expr::TraceId(TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").expect("id"))
        );
        assert_eq!(
            ok("span_id:00f067aa0ba902b7"),
            Expr::SpanId(SpanId::from_hex("00f067aa0ba902b7").expect("id"))
        );
        assert_eq!(
            ok("attributes.http.method:GET"),
            attr("http.method", AttrTest::Equals("GET".into()))
        );
        assert_eq!(
            ok("attr.user:\"Ann Lee\""),
            attr("user", AttrTest::Equals("Ann Lee".into()))
        );
        assert_eq!(
            ok("resource.host.name:box-1"),
            Expr::Attribute {
                source: AttrSource::Resource,
                key: "host.name".into(),
                test: AttrTest::Equals("box-1".into()),
            }
        );
        assert_eq!(
            ok("(service:a)"),
            Expr::Service("a".into()),
            "a closing parenthesis ends the value"
        );
    }

    #[test]
    fn numeric_attribute_comparisons_and_ranges() {
        assert_eq!(
            ok("attributes.status:>=500"),
            attr(
                "status",
                AttrTest::Compare(Comparison::Ge, Number::Int(500))
            )
        );
        assert_eq!(
            ok("attr.status:>499"),
            attr(
                "status",
                AttrTest::Compare(Comparison::Gt, Number::Int(499))
            )
        );
        assert_eq!(
            ok("attr.latency:<0.5"),
            attr(
                "latency",
                AttrTest::Compare(Comparison::Lt, Number::Float(0.5))
            )
        );
        assert_eq!(
            ok("attr.latency:<=-2"),
            attr(
                "latency",
                AttrTest::Compare(Comparison::Le, Number::Int(-2))
            )
        );
        assert_eq!(
            ok("attr.status:[400 TO 499]"),
            attr(
                "status",
                AttrTest::Range {
                    low: Some(Number::Int(400)),
                    high: Some(Number::Int(499))
                }
            )
        );
        assert_eq!(
            ok("attr.size:[1.5 TO *] x"),
            Expr::And(vec![
                attr(
                    "size",
                    AttrTest::Range {
                        low: Some(Number::Float(1.5)),
                        high: None
                    }
                ),
                text("x")
            ])
        );
    }

    #[test]
    fn each_error_names_its_position() {
        let cases: &[(&str, usize, &str)] = &[
            ("a \"unclosed", 2, "unbalanced quote"),
            ("(a b", 0, "never closed"),
            ("a (b (c)", 2, "never closed"),
            ("a b)", 3, "has no `(`"),
            (")", 0, "has no `(`"),
            ("a ()", 2, "empty parentheses"),
            ("colour:red", 0, "unknown field `colour`"),
            ("a OR", 2, "`OR`"),
            ("OR a", 0, "`OR`"),
            ("a OR OR b", 2, "`OR`"),
            ("a AND", 2, "`AND`"),
            ("a AND OR b", 2, "`AND`"),
            ("NOT", 0, "`NOT`"),
            ("a NOT", 2, "`NOT`"),
            ("(NOT)", 1, "`NOT`"),
            ("a - b", 2, "`-`"),
            ("a -", 2, "`-`"),
            ("-OR", 0, "`-`"),
            ("level:loud", 6, "unknown level"),
            ("level:0", 6, "unknown level"),
            ("trace_id:abc", 9, "trace_id"),
            ("span_id:zz00000000000000", 8, "span_id"),
            ("service:", 8, "needs a value"),
            ("service:>=3", 8, "only attributes"),
            ("attributes.:x", 0, "needs a key"),
            ("attr:x", 0, "needs a key"),
            ("attr.n:>=abc", 9, "not a number"),
            ("attr.n:>", 7, "followed by a number"),
            ("attr.n:[1 TO", 7, "never closed"),
            ("attr.n:[1 2]", 7, "[low TO high]"),
            ("attr.n:[1 to 2]", 7, "[low TO high]"),
            ("attr.n:[* TO *]", 7, "at least one bound"),
            ("attr.n:[a TO 2]", 7, "not a number"),
            ("\"\"", 0, "no letters or digits"),
            ("ok ...", 3, "no letters or digits"),
        ];
        for (query, position, fragment) in cases {
            let error = err(query);
            assert_eq!(error.position, *position, "{query:?}: {error}");
            assert!(error.message.contains(fragment), "{query:?}: {error}");
        }
    }

    #[test]
    fn size_limits_are_enforced() {
        let long = "a".repeat(MAX_QUERY_BYTES + 1);
        assert_eq!(err(&long).position, MAX_QUERY_BYTES);
        assert!(parse(&"a".repeat(MAX_QUERY_BYTES)).is_ok());

        let many: Vec<String> = (0..=MAX_TERMS).map(|i| format!("w{i}")).collect();
        let error = err(&many.join(" "));
        assert!(error.message.contains("terms"), "{error}");
        let position = many[..MAX_TERMS].iter().map(|w| w.len() + 1).sum::<usize>();
        assert_eq!(error.position, position);
        assert!(parse(&many[..MAX_TERMS].join(" ")).is_ok());

        let deep = format!(
            "{}a{}",
            "(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(err(&deep).position, MAX_DEPTH);
        assert!(parse(&format!(
            "{}a{}",
            "(".repeat(MAX_DEPTH),
            ")".repeat(MAX_DEPTH)
        ))
        .is_ok());
        assert!(err(&format!("{}a", "NOT ".repeat(MAX_DEPTH + 1)))
            .message
            .contains("deep"));
        assert!(err(&format!("{}a", "-".repeat(MAX_DEPTH + 1)))
            .message
            .contains("deep"));
    }

    #[test]
    fn errors_display_their_position() {
        assert_eq!(
            err("(a").to_string(),
            "unbalanced parenthesis: this `(` is never closed (at position 0)"
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_arbitrary_text(text in "\\PC{0,80}") {
            let _ = parse(&text);
        }

        #[test]
        fn never_panics_on_query_shaped_text(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just("(".to_string()),
                    proptest::strategy::Just(")".to_string()),
                    proptest::strategy::Just("\"".to_string()),
                    proptest::strategy::Just("-".to_string()),
                    proptest::strategy::Just(" OR ".to_string()),
                    proptest::strategy::Just(" AND ".to_string()),
                    proptest::strategy::Just("NOT ".to_string()),
                    proptest::strategy::Just(" ".to_string()),
                    proptest::strategy::Just("[".to_string()),
                    proptest::strategy::Just("]".to_string()),
                    proptest::strategy::Just(" TO ".to_string()),
                    proptest::strategy::Just(":".to_string()),
                    proptest::strategy::Just(">=".to_string()),
                    proptest::strategy::Just("<".to_string()),
                    proptest::strategy::Just("\\".to_string()),
                    proptest::strategy::Just("*".to_string()),
                    proptest::strategy::Just("attr.k".to_string()),
                    proptest::strategy::Just("service".to_string()),
                    proptest::strategy::Just("level".to_string()),
                    proptest::strategy::Just("é".to_string()),
                    "[a-z0-9.]{1,4}",
                ],
                0..24,
            )
        ) {
            let text = parts.concat();
            if let Err(error) = parse(&text) {
                proptest::prop_assert!(error.position <= text.len());
            }
        }
    }
}
