//! The typed error of the formats crate: what kind of problem a file has, which file, and the detail a user needs
//! to fix it. Callers match the kind ([`FormatError::kind`], or [`kind_of`] through an `anyhow` chain) instead of
//! searching the message; through `anyhow` the kind stays reachable with `err.downcast_ref::<FormatError>()` under
//! any added context.
//!
//! The readers keep their established wording: a message that fits a structured variant's template
//! (`{path}: {detail}`, `{what}: {detail}`) uses that variant; any other wording is a [`FormatError::Message`]
//! that carries its kind beside the exact text (and the lower-level error as its `source`, which `{:#}` prints
//! after the text, as `anyhow` context did before).
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

/// The lower-level error a [`FormatError::Message`] was caused by.
pub type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error of a file read or written by `vox2pix_formats`.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// `path` does not exist; `hint` (may be empty) says what to give instead.
    #[error("{}: no such file or folder{}", path.display(), hint_suffix(hint))]
    Missing {
        /// The file or folder that was looked for.
        path: PathBuf,
        /// What the user should do, appended after `; ` (empty: nothing appended).
        hint: String,
    },
    /// `path` exists but reading it failed.
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        /// The file that could not be read.
        path: PathBuf,
        /// The I/O error of the failed read.
        #[source]
        source: std::io::Error,
    },
    /// The bytes of `path` are damaged, truncated or of another format.
    #[error("{}: {detail}", path.display())]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// What is wrong with its bytes.
        detail: String,
    },
    /// A well-formed input whose content is unusable.
    #[error("{what}: {detail}")]
    Invalid {
        /// The file, key or field at fault (printed first).
        what: String,
        /// What is wrong with it and, where possible, how to fix it.
        detail: String,
    },
    /// A valid format or feature that this build does not read.
    #[error("{what}: {detail}")]
    Unsupported {
        /// The file or feature concerned (printed first).
        what: String,
        /// What is not supported and what to do instead.
        detail: String,
    },
    /// An output that could not be written.
    #[error("cannot write {}: {detail}", path.display())]
    Write {
        /// The file that was being written.
        path: PathBuf,
        /// Why writing failed.
        detail: String,
    },
    /// A problem of any kind in the reader's own words: `message` is the whole text (it names the file, key and
    /// fix itself), `source` the lower-level error behind it, if any.
    #[error("{message}")]
    Message {
        /// What went wrong.
        kind: ErrorKind,
        /// The complete message.
        message: String,
        /// The error this one was caused by (an I/O, zip or JSON error), shown after the message by `{:#}`.
        #[source]
        source: Option<Source>,
    },
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
            FormatError::Message { kind, .. } => *kind,
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

    /// A valid feature of `what` that this build does not read.
    pub fn unsupported(what: impl Into<String>, detail: impl Into<String>) -> FormatError {
        FormatError::Unsupported {
            what: what.into(),
            detail: detail.into(),
        }
    }

    /// A problem of `kind` whose whole text is `message` (see [`FormatError::Message`]).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> FormatError {
        FormatError::Message {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// A problem of `kind` described by `message` and caused by `source`; `{:#}` prints `message: source`.
    pub fn caused_by(
        kind: ErrorKind,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> FormatError {
        FormatError::Message {
            kind,
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// An I/O error under the reader's own wording (`message`, e.g. "cannot open x.npz"): of kind
    /// [`ErrorKind::Missing`] when the file does not exist, else [`ErrorKind::Unreadable`].
    pub fn io_context(message: impl Into<String>, source: std::io::Error) -> FormatError {
        let kind = if source.kind() == std::io::ErrorKind::NotFound {
            ErrorKind::Missing
        } else {
            ErrorKind::Unreadable
        };
        FormatError::caused_by(kind, message, source)
    }

    /// A foreign error (zip, UTF-8, shape…) as a problem of `kind` with the same text: the error and its sources,
    /// joined by `: ` as `{:#}` prints a chain.
    pub fn wrap(kind: ErrorKind, err: &(dyn std::error::Error + 'static)) -> FormatError {
        FormatError::new(kind, chain_text(err))
    }
}

/// `err` and its sources joined by `: `, the text `anyhow` prints for a chain with `{:#}`.
pub fn chain_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// The kind of the first [`FormatError`] in an error chain, if any (for callers that hold an `anyhow::Error`).
pub fn kind_of(err: &anyhow::Error) -> Option<ErrorKind> {
    err.chain()
        .find_map(|e| e.downcast_ref::<FormatError>())
        .map(FormatError::kind)
}
