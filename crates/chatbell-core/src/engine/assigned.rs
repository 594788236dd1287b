//! Assigned to me through Dynamics (R7).

use super::*;

/// How recently a chat first seen already mine must have been accepted for R7 to
/// tell me it was assigned to me.
pub(super) const FRESH_ASSIGNMENT: Span = Span::minutes(10);
