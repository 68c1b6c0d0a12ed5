//! (filled in by the train issue)
