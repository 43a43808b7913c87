//! The route checks of Kong's expressions flavor: `expression` and `priority` beside the traditional fields.

use super::{Walker, TRADITIONAL_FIELDS};
use crate::model::Route;

impl Walker<'_, '_> {
    /// Kong's `validate_route` checks of the expressions flavor (`kong/db/schema/entities/routes.lua`):
    /// `expression` and `priority` against the traditional fields, `priority`'s range, and the expression
    /// itself. `others`: a traditional matching field is set.
    pub(super) fn expression(&mut self, r: &Route, path: &str, others: bool) {
        const MAX_PRIORITY: i64 = (1 << 46) - 1;
        if !(0..=MAX_PRIORITY).contains(&r.priority) {
            self.errors.push(
                format!("{path}.priority"),
                format!("value should be between 0 and {MAX_PRIORITY}"),
            );
        }
        let Some(expression) = &r.expression else {
            if others && r.priority != 0 {
                self.errors.push(
                    path,
                    format!(
                        "{}cannot set 'priority' with {TRADITIONAL_FIELDS} simultaneously",
                        crate::router::expression::FAILED
                    ),
                );
            }
            return;
        };
        if others {
            self.errors.push(
                path,
                format!(
                    "{}cannot set 'expression' with {TRADITIONAL_FIELDS} simultaneously",
                    crate::router::expression::FAILED
                ),
            );
        }
        if r.regex_priority != 0 {
            self.errors.push(
                path,
                format!(
                    "{}cannot set 'regex_priority' with 'expression' simultaneously",
                    crate::router::expression::FAILED
                ),
            );
        }
        self.check(
            || format!("{path}.expression"),
            crate::router::expression::Expression::parse_for(expression, r.is_stream()),
        );
    }
}
