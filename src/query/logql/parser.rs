//! Tokens → [`Expr`]: a recursive descent parser for `OR` < implicit/explicit `AND` < `NOT`/`-`.
//!
//! Every error carries the byte offset where the problem starts, and the
//! parser is bounded in length, term count and nesting so that no input can
//! make it (or the query built from it) expensive or overflow the stack.

use super::ast::{Expr, ParseError};
use super::lexer::{Lexer, Tok, Token};

/// Longest query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 4096;
/// Most words, phrases and field filters in one query.
pub const MAX_TERMS: usize = 100;
/// Deepest nesting of parentheses and negations.
pub const MAX_DEPTH: usize = 32;

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
    use super::super::ast::{AttrSource, AttrTest, Comparison, Number};
    use super::*;
    use crate::model::{SpanId, TraceId};

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
    fn trailing_wildcards_are_prefixes_and_other_stars_are_errors() {
        assert_eq!(ok("declin*"), Expr::TextPrefix("declin".into()));
        assert_eq!(ok("service:pay*"), Expr::ServicePrefix("pay".into()));
        // In quotes a `*` is text, as any other punctuation.
        assert_eq!(ok("\"declin*\""), text("declin*"));
        assert_eq!(ok("service:\"pay*\""), Expr::Service("pay*".into()));
        for (query, position, fragment) in [
            ("de*cline", 2, "can only end a word"),
            ("order-4*", 5, "one word of letters and digits"),
            ("ok a*", 3, "at least 2"),
            ("order-*", 6, "must follow a letter"),
            ("*", 0, "must follow a letter"),
            ("x attr.user:ann*", 12, "cannot end in a wildcard"),
            ("level:warn*", 6, "cannot end in a wildcard"),
        ] {
            let error = err(query);
            assert_eq!(error.position, position, "{query:?}: {error}");
            assert!(error.message.contains(fragment), "{query:?}: {error}");
        }
    }

    #[test]
    fn levels_are_the_documented_names_or_numbers() {
        assert_eq!(ok("level:WARNING"), Expr::MinSeverity(13));
        assert_eq!(ok("severity:error"), Expr::MinSeverity(17));
        assert_eq!(ok("level:10"), Expr::MinSeverity(10));
        for query in ["level:verbose", "level:critical", "level:25"] {
            let error = err(query);
            assert_eq!(error.position, 6, "{query:?}: {error}");
            assert!(error.message.contains("unknown level"), "{error}");
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
