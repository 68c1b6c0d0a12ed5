//! The typed error of the formats crate: what kind of problem a file has, which file, and the detail a user needs
//! to fix it. Callers match the kind ([`FormatError::kind`]) instead of searching the message; through `anyhow`
//! the kind stays reachable with `err.downcast_ref::<FormatError>()` under any added context.
use std::path::{Path, PathBuf};

/// What went wrong, without the details.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file or folder does not exist.
    Missing,
    /// The file exists but could not be read (permissions, I/O error).
    Unreadable,
    /// The bytes are not a valid file of the expected format (truncated, damaged, another format).
    Corrupt,
    /// The file is well-formed but its content is unusable: a missing key, a wrong dtype or shape, NaN values,
    /// mismatched counts, an unknown or out-of-range setting.
    Invalid,
    /// The format or a feature of it is valid but not supported by this build.
    Unsupported,
    /// An output could not be written.
    Write,
}

/// An error of a file read or written by `vox2pix_formats`.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{}: no such file or folder{}", path.display(), hint_suffix(hint))]
    Missing { path: PathBuf, hint: String },
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
    #[error("{what}: {detail}")]
    Invalid { what: String, detail: String },
    #[error("{what}: {detail}")]
    Unsupported { what: String, detail: String },
    #[error("cannot write {}: {detail}", path.display())]
    Write { path: PathBuf, detail: String },
}

fn hint_suffix(hint: &str) -> String {
    if hint.is_empty() {
        String::new()
    } else {
        format!("; {hint}")
    }
}

impl FormatError {
    /// The kind of problem.
    pub fn kind(&self) -> ErrorKind {
        match self {
            FormatError::Missing { .. } => ErrorKind::Missing,
            FormatError::Unreadable { .. } => ErrorKind::Unreadable,
            FormatError::Corrupt { .. } => ErrorKind::Corrupt,
            FormatError::Invalid { .. } => ErrorKind::Invalid,
            FormatError::Unsupported { .. } => ErrorKind::Unsupported,
            FormatError::Write { .. } => ErrorKind::Write,
        }
    }

    /// An I/O error while reading `path`: a missing file becomes [`FormatError::Missing`].
    pub fn io(path: &Path, source: std::io::Error) -> FormatError {
        if source.kind() == std::io::ErrorKind::NotFound {
            FormatError::Missing {
                path: path.to_path_buf(),
                hint: String::new(),
            }
        } else {
            FormatError::Unreadable {
                path: path.to_path_buf(),
                source,
            }
        }
    }

    /// A content problem of `what` (a file, a key, a field).
    pub fn invalid(what: impl Into<String>, detail: impl Into<String>) -> FormatError {
        FormatError::Invalid {
            what: what.into(),
            detail: detail.into(),
        }
    }

    /// Damaged or foreign bytes in `path`.
    pub fn corrupt(path: &Path, detail: impl Into<String>) -> FormatError {
        FormatError::Corrupt {
            path: path.to_path_buf(),
            detail: detail.into(),
        }
    }
}

/// The kind of the first [`FormatError`] in an error chain, if any (for callers that hold an `anyhow::Error`).
pub fn kind_of(err: &anyhow::Error) -> Option<ErrorKind> {
    err.chain()
        .find_map(|e| e.downcast_ref::<FormatError>())
        .map(FormatError::kind)
}
