//! (filled in by the eval issue)
