//! The compiled form of a JSON pattern: conditions ("atoms") on selectors, combined by `&&`/`||`.

use crate::pattern::value::{Literal, Op, Scalar, compare};

/// One step of a selector (J2, J4).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Step {
    /// `.name` or `['dotted.name']`.
    Key(Box<str>),
    /// `[n]`, zero-based.
    Index(usize),
    /// `.*`: any field of an object.
    AnyField,
    /// `[*]`: any element of an array.
    AnyElement,
}

/// What an atom asks of the node(s) its selector reaches.
#[derive(Debug, Clone)]
pub(crate) enum Test {
    Cmp(Op, Literal),
    IsNull,
    IsTrue,
    IsFalse,
    /// True iff the selector reaches no node at all (J8).
    NotExists,
}

impl Test {
    /// Does one scalar node satisfy the test? (Containers satisfy nothing: J3.)
    pub(crate) fn holds(&self, v: Scalar<'_>) -> bool {
        match self {
            Test::Cmp(op, lit) => compare(*op, lit, v),
            Test::IsNull => matches!(v, Scalar::Null),
            Test::IsTrue => matches!(v, Scalar::Bool(true)),
            Test::IsFalse => matches!(v, Scalar::Bool(false)),
            Test::NotExists => false,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Atom {
    pub(crate) steps: Vec<Step>,
    pub(crate) test: Test,
}

/// `&&` / `||` tree over atom indices.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    Atom(u32),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

impl Expr {
    pub(crate) fn eval(&self, atom: &impl Fn(u32) -> bool) -> bool {
        match self {
            Expr::Atom(a) => atom(*a),
            Expr::And(xs) => xs.iter().all(|x| x.eval(atom)),
            Expr::Or(xs) => xs.iter().any(|x| x.eval(atom)),
        }
    }
}
