//! JSON patterns (`{ … }`): parse into atoms over selectors, evaluate on a projection.

mod ast;
#[cfg(test)]
mod deferred_tests;
mod parse;
pub(crate) mod projection;
mod scan;
mod strings;
mod structure;

pub(crate) use ast::{Atom, Expr, Step, Test};

pub(crate) use projection::Projection;
pub(crate) use scan::is_json_object;

use crate::pattern::error::PatternError;

#[derive(Debug)]
pub(crate) struct JsonPattern {
    pub(crate) atoms: Vec<ast::Atom>,
    pub(crate) expr: Expr,
    projection: Projection,
}

impl JsonPattern {
    pub(crate) fn parse(src: &str) -> Result<Self, PatternError> {
        let parsed = parse::parse(src)?;
        let projection = Projection::build(&parsed.atoms);
        Ok(JsonPattern {
            atoms: parsed.atoms,
            expr: parsed.expr,
            projection,
        })
    }

    /// Validation is deferred: most messages do not match, and for those the unvalidated scan's
    /// answer is already right (an invalid message matches nothing either).
    pub(crate) fn matches(&self, message: &str) -> bool {
        let mut state = self.projection.new_state();
        self.projection
            .scan_unvalidated(message, &mut state, |_, _| {})
            && self.expr.eval(&|a| self.projection.holds(&state, a))
            && is_json_object(message)
    }

    /// The same answer with every byte validated first (the reference for tests).
    #[cfg(test)]
    pub(crate) fn matches_validating(&self, message: &str) -> bool {
        let mut state = self.projection.new_state();
        self.projection.scan(message, &mut state, |_, _| {})
            && self.expr.eval(&|a| self.projection.holds(&state, a))
    }
}
