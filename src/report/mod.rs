//! (filled in by the report issue)
