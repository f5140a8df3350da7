//! JSON patterns (`{ … }`): parse into atoms over selectors, evaluate on a projection.

mod ast;
mod parse;
pub(crate) mod projection;
mod scan;
mod strings;

pub(crate) use ast::{Atom, Expr, Step};

pub(crate) use projection::Projection;

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

    pub(crate) fn matches(&self, message: &str) -> bool {
        let mut state = self.projection.new_state();
        if !self.projection.scan(message, &mut state, |_, _| {}) {
            return false;
        }
        self.expr.eval(&|a| self.projection.holds(&state, a))
    }
}
