//! An OData `$filter` parser and evaluator, for the subset Dataverse clients use.
//!
//! Grammar (precedence from loose to tight): `or`, `and`, `not`, comparison.
//!
//! ```text
//! expr    := and ("or" and)*
//! and     := unary ("and" unary)*
//! unary   := "not" unary | primary
//! primary := "(" expr ")"
//!          | ("contains" | "startswith" | "endswith") "(" column "," string ")"
//!          | operand ("eq" | "ne" | "gt" | "ge" | "lt" | "le") operand
//! operand := column | literal | alias
//! literal := 'string' ('' escapes a quote) | integer | decimal | true | false | null
//!          | GUID (unquoted) | datetime (unquoted, 2026-11-21T10:15:00Z)
//! alias   := "@" name
//! ```
//!
//! A parameter alias (`$filter=cb_name eq @p1&@p1='Ann'`) stands for the value
//! the query string gives it, a literal or a column (`@p1=cb_name`); one that is
//! given no value is `null`, as Dataverse documents (learn.microsoft.com,
//! query/overview, "Use parameter aliases with query options"). The emulator
//! takes one literal or column name as an alias's value, not an expression.
//!
//! String comparisons and functions are case-insensitive, as in Dataverse (whose
//! SQL collation is case-insensitive). `null` compares equal only to `null`, and an
//! ordering comparison involving `null` is false. Columns are checked against the
//! table ([`Filter::parse`]) so that unknown columns and mismatched types fail with
//! 400, as they do in Dataverse.

use crate::clock::parse_ts;
use crate::error::ApiError;
use crate::schema::{ColType, Table};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::cmp::Ordering;
use uuid::Uuid;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `gt`
    Gt,
    /// `ge`
    Ge,
    /// `lt`
    Lt,
    /// `le`
    Le,
}

impl CmpOp {
    fn odata_kind(self) -> &'static str {
        match self {
            CmpOp::Eq => "Equal",
            CmpOp::Ne => "NotEqual",
            CmpOp::Gt => "GreaterThan",
            CmpOp::Ge => "GreaterThanOrEqual",
            CmpOp::Lt => "LessThan",
            CmpOp::Le => "LessThanOrEqual",
        }
    }
}

/// A string function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrFunc {
    /// `contains(col, 'x')`
    Contains,
    /// `startswith(col, 'x')`
    StartsWith,
    /// `endswith(col, 'x')`
    EndsWith,
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A decimal number.
    Dec(f64),
    /// A quoted string.
    Str(String),
    /// An unquoted GUID.
    Guid(Uuid),
    /// An unquoted date-time.
    DateTime(DateTime<Utc>),
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A column of the row.
    Column(String),
    /// A literal.
    Lit(Literal),
}

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `a or b`
    Or(Box<Expr>, Box<Expr>),
    /// `a and b`
    And(Box<Expr>, Box<Expr>),
    /// `not a`
    Not(Box<Expr>),
    /// `left op right`
    Cmp(CmpOp, Operand, Operand),
    /// `func(column, 'text')`
    Func(StrFunc, String, String),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Comma,
    Ident(String),
    Str(String),
    Int(i64),
    Dec(f64),
    Guid(Uuid),
    DateTime(DateTime<Utc>),
    Alias(String),
}

fn syntax(pos: usize, src: &str) -> ApiError {
    ApiError::query(format!("Syntax error at position {pos} in '{src}'."))
}

fn is_guid_at(b: &[u8], i: usize) -> bool {
    if i + 36 > b.len() {
        return false;
    }
    let s = &b[i..i + 36];
    for (k, c) in s.iter().enumerate() {
        let dash = matches!(k, 8 | 13 | 18 | 23);
        if dash {
            if *c != b'-' {
                return false;
            }
        } else if !c.is_ascii_hexdigit() {
            return false;
        }
    }
    // Not followed by an identifier character.
    b.get(i + 36)
        .is_none_or(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
}

fn is_datetime_at(b: &[u8], i: usize) -> bool {
    i + 10 <= b.len()
        && b[i..i + 4].iter().all(u8::is_ascii_digit)
        && b[i + 4] == b'-'
        && b[i + 5..i + 7].iter().all(u8::is_ascii_digit)
        && b[i + 7] == b'-'
        && b[i + 8..i + 10].iter().all(u8::is_ascii_digit)
}

fn lex(src: &str) -> Result<Vec<(usize, Tok)>, ApiError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'(' => {
                out.push((start, Tok::LParen));
                i += 1;
            }
            b')' => {
                out.push((start, Tok::RParen));
                i += 1;
            }
            b',' => {
                out.push((start, Tok::Comma));
                i += 1;
            }
            b'\'' => {
                i += 1;
                let mut s = String::new();
                loop {
                    let Some(ch) = src[i..].chars().next() else {
                        return Err(ApiError::query(format!(
                            "There is an unterminated string literal at position {start} in '{src}'."
                        )));
                    };
                    if ch == '\'' {
                        if b.get(i + 1) == Some(&b'\'') {
                            s.push('\'');
                            i += 2;
                            continue;
                        }
                        i += 1;
                        break;
                    }
                    s.push(ch);
                    i += ch.len_utf8();
                }
                out.push((start, Tok::Str(s)));
            }
            _ if is_guid_at(b, i) => {
                let g = Uuid::parse_str(&src[i..i + 36]).map_err(|_| syntax(start, src))?;
                out.push((start, Tok::Guid(g)));
                i += 36;
            }
            _ if is_datetime_at(b, i) => {
                let mut j = i;
                while j < b.len()
                    && matches!(b[j], b'0'..=b'9' | b'T' | b':' | b'.' | b'-' | b'+' | b'Z')
                {
                    j += 1;
                }
                let t = parse_ts(&src[i..j]).ok_or_else(|| {
                    ApiError::query(format!(
                        "Unrecognized 'Edm.DateTimeOffset' literal '{}' at '{start}' in '{src}'.",
                        &src[i..j]
                    ))
                })?;
                out.push((start, Tok::DateTime(t)));
                i = j;
            }
            b'0'..=b'9' | b'-' => {
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.') {
                    j += 1;
                }
                let text = &src[i..j];
                if text == "-" {
                    return Err(syntax(start, src));
                }
                // OData type suffixes: 1L, 1.5M, 1.5d, 1.5f.
                if j < b.len()
                    && matches!(b[j], b'L' | b'l' | b'M' | b'm' | b'd' | b'D' | b'f' | b'F')
                {
                    j += 1;
                }
                if text.contains('.') {
                    let v: f64 = text.parse().map_err(|_| syntax(start, src))?;
                    out.push((start, Tok::Dec(v)));
                } else {
                    let v: i64 = text.parse().map_err(|_| syntax(start, src))?;
                    out.push((start, Tok::Int(v)));
                }
                i = j;
            }
            b'@' => {
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                if j == i + 1 {
                    return Err(syntax(start, src));
                }
                out.push((start, Tok::Alias(src[i..j].to_string())));
                i = j;
            }
            _ if c.is_ascii_alphabetic() || c == b'_' => {
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'.')
                {
                    j += 1;
                }
                out.push((start, Tok::Ident(src[i..j].to_string())));
                i = j;
            }
            _ => return Err(syntax(start, src)),
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    src: &'a str,
    depth: usize,
}

const MAX_DEPTH: usize = 64;

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }
    fn at(&self) -> usize {
        self.toks.get(self.pos).map_or(self.src.len(), |(p, _)| *p)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|(_, t)| t.clone());
        self.pos += 1;
        t
    }
    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s == kw)
    }
    fn err(&self) -> ApiError {
        syntax(self.at(), self.src)
    }

    fn expr(&mut self) -> Result<Expr, ApiError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ApiError::query(
                "The filter expression is nested too deeply.".to_string(),
            ));
        }
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ApiError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ApiError> {
        if self.keyword("not") {
            self.pos += 1;
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(ApiError::query(
                    "The filter expression is nested too deeply.".to_string(),
                ));
            }
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ApiError> {
        match self.peek() {
            Some(Tok::LParen) => {
                self.pos += 1;
                let e = self.expr()?;
                match self.next() {
                    Some(Tok::RParen) => Ok(e),
                    _ => Err(ApiError::query(format!(
                        "')' or operator expected at position {} in '{}'.",
                        self.at().saturating_sub(1),
                        self.src
                    ))),
                }
            }
            Some(Tok::Ident(name))
                if matches!(name.as_str(), "contains" | "startswith" | "endswith")
                    && matches!(self.toks.get(self.pos + 1), Some((_, Tok::LParen))) =>
            {
                let func = match name.as_str() {
                    "contains" => StrFunc::Contains,
                    "startswith" => StrFunc::StartsWith,
                    _ => StrFunc::EndsWith,
                };
                self.pos += 2;
                let col = match self.next() {
                    Some(Tok::Ident(c)) if !is_keyword(&c) => c,
                    _ => return Err(self.err()),
                };
                if self.next() != Some(Tok::Comma) {
                    return Err(self.err());
                }
                let arg = match self.next() {
                    Some(Tok::Str(s)) => s,
                    _ => return Err(self.err()),
                };
                if self.next() != Some(Tok::RParen) {
                    return Err(self.err());
                }
                Ok(Expr::Func(func, col, arg))
            }
            _ => {
                let left = self.operand()?;
                let op = match self.next() {
                    Some(Tok::Ident(op)) => match op.as_str() {
                        "eq" => CmpOp::Eq,
                        "ne" => CmpOp::Ne,
                        "gt" => CmpOp::Gt,
                        "ge" => CmpOp::Ge,
                        "lt" => CmpOp::Lt,
                        "le" => CmpOp::Le,
                        _ => {
                            self.pos -= 1;
                            return Err(self.err());
                        }
                    },
                    _ => {
                        self.pos = self.pos.saturating_sub(1);
                        return Err(self.err());
                    }
                };
                let right = self.operand()?;
                Ok(Expr::Cmp(op, left, right))
            }
        }
    }

    fn operand(&mut self) -> Result<Operand, ApiError> {
        let t = self.next();
        Ok(match t {
            Some(Tok::Str(s)) => Operand::Lit(Literal::Str(s)),
            Some(Tok::Int(v)) => Operand::Lit(Literal::Int(v)),
            Some(Tok::Dec(v)) => Operand::Lit(Literal::Dec(v)),
            Some(Tok::Guid(g)) => Operand::Lit(Literal::Guid(g)),
            Some(Tok::DateTime(d)) => Operand::Lit(Literal::DateTime(d)),
            Some(Tok::Ident(s)) => match s.as_str() {
                "null" => Operand::Lit(Literal::Null),
                "true" => Operand::Lit(Literal::Bool(true)),
                "false" => Operand::Lit(Literal::Bool(false)),
                _ if is_keyword(&s) => {
                    self.pos -= 1;
                    return Err(self.err());
                }
                _ => Operand::Column(s),
            },
            _ => {
                self.pos = self.pos.saturating_sub(1);
                return Err(self.err());
            }
        })
    }
}

fn is_keyword(s: &str) -> bool {
    matches!(
        s,
        "eq" | "ne" | "gt" | "ge" | "lt" | "le" | "and" | "or" | "not"
    )
}

/// Replaces each parameter alias with the one token of its value (`null` when
/// the query gives it none).
fn resolve_aliases(
    toks: Vec<(usize, Tok)>,
    aliases: &[(String, String)],
) -> Result<Vec<(usize, Tok)>, ApiError> {
    let mut out = Vec::with_capacity(toks.len());
    for (pos, t) in toks {
        let Tok::Alias(name) = t else {
            out.push((pos, t));
            continue;
        };
        let value = aliases
            .iter()
            .find(|(k, _)| *k == name)
            .map_or("", |(_, v)| v.as_str());
        let mut value_toks = lex(value)?;
        let tok = match (value_toks.pop(), value_toks.is_empty()) {
            (None, _) => Tok::Ident("null".into()),
            (Some((_, Tok::Alias(_))), _) | (Some(_), false) => {
                return Err(ApiError::query(format!(
                    "The value of the parameter alias '{name}' must be one literal or property name (the ChatBell Dataverse emulator takes no expressions there)."
                )))
            }
            (Some((_, t)), true) => t,
        };
        out.push((pos, tok));
    }
    Ok(out)
}

/// Parses a `$filter` value without checking it against a table (a parameter
/// alias in it is `null`).
pub fn parse(src: &str) -> Result<Expr, ApiError> {
    parse_with_aliases(src, &[])
}

/// Parses a `$filter` value whose parameter aliases have the values of
/// `aliases` (`("@p1", "'text'")`), without checking it against a table.
pub fn parse_with_aliases(src: &str, aliases: &[(String, String)]) -> Result<Expr, ApiError> {
    let toks = resolve_aliases(lex(src)?, aliases)?;
    if toks.is_empty() {
        return Err(ApiError::query(
            "The $filter query option must not be empty.".to_string(),
        ));
    }
    let mut p = Parser {
        toks,
        pos: 0,
        src,
        depth: 0,
    };
    let e = p.expr()?;
    if p.pos < p.toks.len() {
        return Err(p.err());
    }
    Ok(e)
}

/// A parsed and checked filter for one table.
#[derive(Debug, Clone)]
pub struct Filter {
    expr: Expr,
    types: Vec<(String, ColType)>,
}

fn unknown_property(table: &Table, name: &str) -> ApiError {
    ApiError::query(format!(
        "Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{}'.",
        table.logical
    ))
}

/// The EDM type of an operand: `None` for `null`.
fn operand_type(table: &Table, o: &Operand) -> Result<Option<&'static str>, ApiError> {
    Ok(match o {
        Operand::Column(c) => Some(
            table
                .column(c)
                .ok_or_else(|| unknown_property(table, c))?
                .ty
                .edm(),
        ),
        Operand::Lit(l) => match l {
            Literal::Null => None,
            Literal::Bool(_) => Some("Edm.Boolean"),
            Literal::Int(_) => Some("Edm.Int32"),
            Literal::Dec(_) => Some("Edm.Decimal"),
            Literal::Str(_) => Some("Edm.String"),
            Literal::Guid(_) => Some("Edm.Guid"),
            Literal::DateTime(_) => Some("Edm.DateTimeOffset"),
        },
    })
}

fn compatible(a: &str, b: &str) -> bool {
    let numeric = |t: &str| matches!(t, "Edm.Int32" | "Edm.Int64" | "Edm.Decimal");
    a == b || (numeric(a) && numeric(b))
}

fn check(table: &Table, e: &Expr) -> Result<(), ApiError> {
    match e {
        Expr::Or(a, b) | Expr::And(a, b) => {
            check(table, a)?;
            check(table, b)
        }
        Expr::Not(a) => check(table, a),
        Expr::Func(f, col, _) => {
            let c = table
                .column(col)
                .ok_or_else(|| unknown_property(table, col))?;
            if !matches!(c.ty, ColType::Str(_)) {
                let name = match f {
                    StrFunc::Contains => "contains",
                    StrFunc::StartsWith => "startswith",
                    StrFunc::EndsWith => "endswith",
                };
                return Err(ApiError::query(format!(
                    "No function signature for the function with name '{name}' matches the specified arguments. The function signatures considered are: {name}(Edm.String Nullable=true, Edm.String Nullable=true)."
                )));
            }
            Ok(())
        }
        Expr::Cmp(op, l, r) => {
            let lt = operand_type(table, l)?;
            let rt = operand_type(table, r)?;
            if let (Some(a), Some(b)) = (lt, rt) {
                if !compatible(a, b) {
                    return Err(ApiError::query(format!(
                        "A binary operator with incompatible types was detected. Found operand types '{a}' and '{b}' for operator kind '{}'.",
                        op.odata_kind()
                    )));
                }
            }
            Ok(())
        }
    }
}

fn collect_types(table: &Table, e: &Expr, out: &mut Vec<(String, ColType)>) {
    let mut add = |c: &str| {
        if let Some(col) = table.column(c) {
            if !out.iter().any(|(n, _)| n == c) {
                out.push((c.to_string(), col.ty));
            }
        }
    };
    match e {
        Expr::Or(a, b) | Expr::And(a, b) => {
            collect_types(table, a, out);
            collect_types(table, b, out);
        }
        Expr::Not(a) => collect_types(table, a, out),
        Expr::Func(_, c, _) => add(c),
        Expr::Cmp(_, l, r) => {
            if let Operand::Column(c) = l {
                add(c);
            }
            if let Operand::Column(c) = r {
                add(c);
            }
        }
    }
}

/// A value on which comparisons are made.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// No value.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number.
    Num(f64),
    /// A string.
    Str(String),
    /// A GUID.
    Guid(Uuid),
    /// A time.
    Time(DateTime<Utc>),
}

impl Val {
    /// The comparison value of a stored column.
    pub fn from_column(ty: ColType, v: Option<&Value>) -> Val {
        match v {
            None | Some(Value::Null) => Val::Null,
            Some(v) => match ty {
                ColType::Key | ColType::Lookup(_) => v
                    .as_str()
                    .and_then(|s| Uuid::parse_str(s).ok())
                    .map_or(Val::Null, Val::Guid),
                ColType::Str(_) => v.as_str().map_or(Val::Null, |s| Val::Str(s.to_string())),
                ColType::Int(_) | ColType::Version => v.as_f64().map_or(Val::Null, Val::Num),
                ColType::Bool => v.as_bool().map_or(Val::Null, Val::Bool),
                ColType::DateTime => v.as_str().and_then(parse_ts).map_or(Val::Null, Val::Time),
            },
        }
    }

    fn from_literal(l: &Literal) -> Val {
        match l {
            Literal::Null => Val::Null,
            Literal::Bool(b) => Val::Bool(*b),
            Literal::Int(i) => Val::Num(*i as f64),
            Literal::Dec(d) => Val::Num(*d),
            Literal::Str(s) => Val::Str(s.clone()),
            Literal::Guid(g) => Val::Guid(*g),
            Literal::DateTime(t) => Val::Time(*t),
        }
    }

    /// Total order used by `$orderby`: nulls first, strings case-insensitive.
    pub fn order(&self, other: &Val) -> Ordering {
        match (self, other) {
            (Val::Null, Val::Null) => Ordering::Equal,
            (Val::Null, _) => Ordering::Less,
            (_, Val::Null) => Ordering::Greater,
            _ => self.partial(other).unwrap_or(Ordering::Equal),
        }
    }

    fn partial(&self, other: &Val) -> Option<Ordering> {
        match (self, other) {
            (Val::Bool(a), Val::Bool(b)) => Some(a.cmp(b)),
            (Val::Num(a), Val::Num(b)) => a.partial_cmp(b),
            (Val::Str(a), Val::Str(b)) => Some(a.to_lowercase().cmp(&b.to_lowercase())),
            (Val::Guid(a), Val::Guid(b)) => Some(a.cmp(b)),
            (Val::Time(a), Val::Time(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

fn compare(op: CmpOp, a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Null, Val::Null) => matches!(op, CmpOp::Eq | CmpOp::Ge | CmpOp::Le),
        (Val::Null, _) | (_, Val::Null) => op == CmpOp::Ne,
        _ => match a.partial(b) {
            None => op == CmpOp::Ne,
            Some(o) => match op {
                CmpOp::Eq => o == Ordering::Equal,
                CmpOp::Ne => o != Ordering::Equal,
                CmpOp::Gt => o == Ordering::Greater,
                CmpOp::Ge => o != Ordering::Less,
                CmpOp::Lt => o == Ordering::Less,
                CmpOp::Le => o != Ordering::Greater,
            },
        },
    }
}

impl Filter {
    /// Parses `src` and checks its columns and types against `table`.
    pub fn parse(table: &Table, src: &str) -> Result<Filter, ApiError> {
        Filter::parse_with_aliases(table, src, &[])
    }

    /// Parses `src` with the values of its parameter aliases and checks its
    /// columns and types against `table`.
    pub fn parse_with_aliases(
        table: &Table,
        src: &str,
        aliases: &[(String, String)],
    ) -> Result<Filter, ApiError> {
        let expr = parse_with_aliases(src, aliases)?;
        check(table, &expr)?;
        let mut types = Vec::new();
        collect_types(table, &expr, &mut types);
        Ok(Filter { expr, types })
    }

    /// The parsed expression.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// Whether `row` matches.
    pub fn matches(&self, row: &Map<String, Value>) -> bool {
        self.eval(&self.expr, row)
    }

    fn operand(&self, o: &Operand, row: &Map<String, Value>) -> Val {
        match o {
            Operand::Lit(l) => Val::from_literal(l),
            Operand::Column(c) => {
                let ty = self
                    .types
                    .iter()
                    .find(|(n, _)| n == c)
                    .map_or(ColType::Str(0), |(_, t)| *t);
                Val::from_column(ty, row.get(c))
            }
        }
    }

    fn eval(&self, e: &Expr, row: &Map<String, Value>) -> bool {
        match e {
            Expr::Or(a, b) => self.eval(a, row) || self.eval(b, row),
            Expr::And(a, b) => self.eval(a, row) && self.eval(b, row),
            Expr::Not(a) => !self.eval(a, row),
            Expr::Cmp(op, l, r) => compare(*op, &self.operand(l, row), &self.operand(r, row)),
            Expr::Func(f, col, arg) => {
                let Some(s) = row.get(col).and_then(Value::as_str) else {
                    return false;
                };
                let s = s.to_lowercase();
                let arg = arg.to_lowercase();
                match f {
                    StrFunc::Contains => s.contains(&arg),
                    StrFunc::StartsWith => s.starts_with(&arg),
                    StrFunc::EndsWith => s.ends_with(&arg),
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::schema::Schema;
    use serde_json::json;

    fn sessions() -> &'static Table {
        use std::sync::OnceLock;
        static S: OnceLock<Schema> = OnceLock::new();
        S.get_or_init(Schema::reference)
            .by_set("cb_chatsessions")
            .unwrap()
    }

    fn row() -> Map<String, Value> {
        json!({
            "cb_chatsessionid": "8f7c1d0a-2b3c-4d5e-8f90-112233445566",
            "cb_name": "O'Brien, Ann",
            "cb_customernumber": "+15550100",
            "cb_channel": 1,
            "cb_unreadcount": 3,
            "cb_firstcontact": true,
            "cb_acceptedon": null,
            "modifiedon": "2026-11-21T10:15:00Z",
            "_ownerid_value": "0b5c6d7e-1111-2222-3333-444455556666",
            "statecode": 0
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn m(src: &str) -> bool {
        Filter::parse(sessions(), src).unwrap().matches(&row())
    }

    #[test]
    fn comparisons_on_each_literal_type() {
        assert!(m("cb_channel eq 1"));
        assert!(m("cb_unreadcount gt 2 and cb_unreadcount le 3"));
        assert!(m("cb_unreadcount ge 2.5"));
        assert!(m("cb_firstcontact eq true"));
        assert!(m("cb_acceptedon eq null"));
        assert!(!m("cb_acceptedon ne null"));
        assert!(m("modifiedon ge 2026-11-21T10:15:00Z"));
        assert!(!m("modifiedon gt 2026-11-21T10:15:00Z"));
        assert!(m("modifiedon lt 2026-11-21T11:15:00+00:00"));
        assert!(m("_ownerid_value eq 0b5c6d7e-1111-2222-3333-444455556666"));
        assert!(m("_ownerid_value eq 0B5C6D7E-1111-2222-3333-444455556666"));
        assert!(m("1 eq cb_channel"));
    }

    #[test]
    fn strings_are_case_insensitive_and_quotes_escape() {
        assert!(m("cb_name eq 'o''brien, ann'"));
        assert!(m("contains(cb_name,'BRIEN')"));
        assert!(m("startswith(cb_customernumber,'+1555')"));
        assert!(m("endswith(cb_name, 'ANN')"));
        assert!(!m("cb_name eq 'someone else'"));
    }

    #[test]
    fn boolean_logic_and_precedence() {
        assert!(m("cb_channel eq 2 or cb_channel eq 1 and statecode eq 0"));
        assert!(!m(
            "(cb_channel eq 2 or cb_channel eq 1) and statecode eq 1"
        ));
        assert!(m("not (cb_channel eq 2)"));
        assert!(m("not contains(cb_name,'zzz')"));
        assert!(m("not cb_channel eq 2"));
    }

    #[test]
    fn ordering_comparison_with_null_is_false() {
        assert!(!m("cb_acceptedon gt 2020-01-01T00:00:00Z"));
        assert!(!m("cb_acceptedon lt 2030-01-01T00:00:00Z"));
    }

    #[test]
    fn unknown_column_is_rejected() {
        let e = Filter::parse(sessions(), "cb_nope eq 1").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("cb_nope"));
    }

    #[test]
    fn mismatched_types_are_rejected() {
        assert!(Filter::parse(sessions(), "cb_channel eq 'one'").is_err());
        assert!(Filter::parse(
            sessions(),
            "_ownerid_value eq '0b5c6d7e-1111-2222-3333-444455556666'"
        )
        .is_err());
        assert!(Filter::parse(sessions(), "contains(cb_channel,'1')").is_err());
        assert!(Filter::parse(sessions(), "modifiedon gt '2026-11-21'").is_err());
    }

    #[test]
    fn syntax_errors_are_rejected() {
        for bad in [
            "",
            "cb_channel eq",
            "cb_channel 1",
            "(cb_channel eq 1",
            "cb_channel eq 1)",
            "cb_name eq 'open",
            "cb_channel eq 1 and",
            "contains(cb_name)",
            "cb_channel === 1",
            "eq eq eq",
            "cb_channel eq 2026-13-45T99:00:00Z",
            "cb_channel eq 1 xor cb_channel eq 2",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let src = format!("{}cb_channel eq 1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(parse(&src).is_err());
        let src = format!("{}cb_channel eq 1", "not ".repeat(5000));
        assert!(parse(&src).is_err());
    }

    fn aliased(src: &str, aliases: &[(&str, &str)]) -> Result<bool, ApiError> {
        let a: Vec<(String, String)> = aliases
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Ok(Filter::parse_with_aliases(sessions(), src, &a)?.matches(&row()))
    }

    #[test]
    fn parameter_aliases_stand_for_literals_or_columns() {
        assert!(aliased("cb_name eq @p1", &[("@p1", "'o''brien, ann'")]).unwrap());
        assert!(aliased("@c eq 1 and @c ne @n", &[("@c", "cb_channel"), ("@n", "2")]).unwrap());
        assert!(aliased("contains(@p1,'brien')", &[("@p1", "cb_name")]).unwrap());
        assert!(aliased(
            "_ownerid_value eq @o",
            &[("@o", "0b5c6d7e-1111-2222-3333-444455556666")]
        )
        .unwrap());
        // An alias without a value is null.
        assert!(aliased("cb_acceptedon eq @missing", &[]).unwrap());
        assert!(aliased("cb_acceptedon eq @empty", &[("@empty", "")]).unwrap());
        assert!(!aliased("cb_name eq @p1", &[("@p1", "'someone else'")]).unwrap());
    }

    #[test]
    fn parameter_aliases_are_checked_like_what_they_stand_for() {
        for (src, aliases) in [
            ("cb_channel eq @p1", vec![("@p1", "'one'")]),
            ("@p1 eq 1", vec![("@p1", "cb_nope")]),
            ("cb_channel eq @p1", vec![("@p1", "1 or true")]),
            ("cb_channel eq @p1", vec![("@p1", "@p2"), ("@p2", "1")]),
            ("cb_channel eq @p1", vec![("@p1", "'open")]),
            ("cb_channel eq @", vec![]),
        ] {
            let e = aliased(src, &aliases).unwrap_err();
            assert_eq!(e.status, 400, "{src} {aliases:?}");
        }
    }

    #[test]
    fn parses_the_expected_tree() {
        let e = parse("a eq 1 or not b eq 'x'").unwrap();
        assert_eq!(
            e,
            Expr::Or(
                Box::new(Expr::Cmp(
                    CmpOp::Eq,
                    Operand::Column("a".into()),
                    Operand::Lit(Literal::Int(1))
                )),
                Box::new(Expr::Not(Box::new(Expr::Cmp(
                    CmpOp::Eq,
                    Operand::Column("b".into()),
                    Operand::Lit(Literal::Str("x".into()))
                ))))
            )
        );
    }
}
