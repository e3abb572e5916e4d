//! Query text → tokens. The lexer knows the field syntax (`name:value`,
//! quoted values, comparisons and ranges), so each field filter leaves it
//! as one checked term.

use super::ast::{Comparison, Expr, ParseError};
use super::fields::{field_expr, text_term, word_term};

#[derive(Debug)]
pub(super) enum Tok {
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
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) pos: usize,
}

/// What follows `field:`.
pub(super) enum FieldValue {
    Text(String),
    /// An unquoted value ending in `*`, without it.
    Wildcard(String),
    Compare(Comparison, String, usize),
    Range(Option<String>, Option<String>),
}

pub(super) struct Lexer<'a> {
    pub(super) text: &'a str,
    pub(super) pos: usize,
}

/// Characters that end a word: they are syntax of their own.
fn ends_word(c: char) -> bool {
    c.is_whitespace() || c == '(' || c == ')' || c == '"'
}

fn is_field_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/' | '@')
}

pub(super) const FIELD_HELP: &str = "fields are service, level, severity, trace_id, span_id, \
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

    pub(super) fn tokens(mut self) -> Result<Vec<Token>, ParseError> {
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
                        word => Tok::Term(word_term(word, pos)?),
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
                match word.strip_suffix('*') {
                    Some(stem) if !stem.is_empty() => FieldValue::Wildcard(stem.to_string()),
                    _ => FieldValue::Text(word.to_string()),
                }
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
