// SPDX-License-Identifier: MIT
//! The error type: one variant per `PTL_E*` status, each with the library's message.
use std::ffi::CStr;
use std::fmt;
use std::os::raw::c_int;
use std::time::Duration;

use crate::sys;

/// A failed call. Each variant is one `PTL_E*` status of the C ABI and carries the message of
/// `ptl_last_error()`, which names the exact problem (the bad name, the unknown URI scheme...).
///
/// ```
/// use pocketflow_throttled::{Error, Registry};
/// let reg = Registry::open("local:").unwrap();
/// match reg.get("nobody") {
///     Err(Error::NotFound(msg)) => assert!(!msg.is_empty()),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// `PTL_EINVAL`: a bad argument or config (also: a release of a stale permit).
    Invalid(String),
    /// `PTL_ENOTFOUND`: no such limiter.
    NotFound(String),
    /// `PTL_EEXIST`: a limiter of that name exists already.
    Exists(String),
    /// `PTL_ETIMEDOUT`: the timeout passed before a grant; nothing is held.
    TimedOut(String),
    /// `PTL_EAGAIN`: no capacity now (try-acquire, or acquire with a zero timeout).
    WouldBlock {
        /// The library's message.
        message: String,
        /// How long until the window, cost or a penalty allows a grant; `None` when only a
        /// release can free capacity (or when the call could not tell).
        retry_after: Option<Duration>,
    },
    /// `PTL_ECANCELED`: the acquire was cancelled.
    Canceled(String),
    /// `PTL_EBACKEND`: a shared-memory or Redis failure.
    Backend(String),
    /// `PTL_ECLOSED`: the limiter or registry was closed.
    Closed(String),
    /// `PTL_ENOMEM`: out of memory.
    NoMemory(String),
    /// `PTL_ERATELIMITED`: the upstream API said 429.
    RateLimited(String),
    /// `PTL_EITEMS`: a batch ran to its end and some items failed.
    Items(String),
    /// `PTL_EINTERNAL`: a bug in the library.
    Internal(String),
    /// A status this version of the crate does not know.
    Other {
        /// The raw status code.
        status: i32,
        /// The library's message.
        message: String,
    },
}

impl Error {
    /// Builds the error of `status`, with this thread's `ptl_last_error()` as the message.
    /// Call it right after the failed call, on the same thread.
    pub(crate) fn last(status: c_int) -> Error {
        // SAFETY: ptl_last_error never returns NULL and the string is valid until the next
        // ptl_* call on this thread; it is copied at once.
        let msg = unsafe { CStr::from_ptr(sys::ptl_last_error()) }
            .to_string_lossy()
            .into_owned();
        Error::from_status(status, msg)
    }

    /// Builds the error of `status` with `message`.
    pub fn from_status(status: i32, message: String) -> Error {
        match status {
            sys::PTL_EINVAL => Error::Invalid(message),
            sys::PTL_ENOTFOUND => Error::NotFound(message),
            sys::PTL_EEXIST => Error::Exists(message),
            sys::PTL_ETIMEDOUT => Error::TimedOut(message),
            sys::PTL_EAGAIN => Error::WouldBlock {
                message,
                retry_after: None,
            },
            sys::PTL_ECANCELED => Error::Canceled(message),
            sys::PTL_EBACKEND => Error::Backend(message),
            sys::PTL_ECLOSED => Error::Closed(message),
            sys::PTL_ENOMEM => Error::NoMemory(message),
            sys::PTL_ERATELIMITED => Error::RateLimited(message),
            sys::PTL_EITEMS => Error::Items(message),
            sys::PTL_EINTERNAL => Error::Internal(message),
            status => Error::Other { status, message },
        }
    }

    /// The `PTL_E*` status code (negative).
    pub fn status(&self) -> i32 {
        match self {
            Error::Invalid(_) => sys::PTL_EINVAL,
            Error::NotFound(_) => sys::PTL_ENOTFOUND,
            Error::Exists(_) => sys::PTL_EEXIST,
            Error::TimedOut(_) => sys::PTL_ETIMEDOUT,
            Error::WouldBlock { .. } => sys::PTL_EAGAIN,
            Error::Canceled(_) => sys::PTL_ECANCELED,
            Error::Backend(_) => sys::PTL_EBACKEND,
            Error::Closed(_) => sys::PTL_ECLOSED,
            Error::NoMemory(_) => sys::PTL_ENOMEM,
            Error::RateLimited(_) => sys::PTL_ERATELIMITED,
            Error::Items(_) => sys::PTL_EITEMS,
            Error::Internal(_) => sys::PTL_EINTERNAL,
            Error::Other { status, .. } => *status,
        }
    }

    /// The symbolic name of the status, such as `"PTL_EINVAL"`.
    pub fn name(&self) -> &'static str {
        // SAFETY: ptl_status_name returns a static string, never NULL.
        unsafe { CStr::from_ptr(sys::ptl_status_name(self.status())) }
            .to_str()
            .unwrap_or("PTL_UNKNOWN")
    }

    /// The library's message naming the problem.
    pub fn message(&self) -> &str {
        match self {
            Error::Invalid(m)
            | Error::NotFound(m)
            | Error::Exists(m)
            | Error::TimedOut(m)
            | Error::Canceled(m)
            | Error::Backend(m)
            | Error::Closed(m)
            | Error::NoMemory(m)
            | Error::RateLimited(m)
            | Error::Items(m)
            | Error::Internal(m) => m,
            Error::WouldBlock { message, .. } | Error::Other { message, .. } => message,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message().is_empty() {
            f.write_str(self.name())
        } else {
            write!(f, "{}: {}", self.name(), self.message())
        }
    }
}

impl std::error::Error for Error {}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// Turns a status into `Ok(())` or the error with this thread's last message.
pub(crate) fn check(status: c_int) -> Result<()> {
    if status == sys::PTL_OK {
        Ok(())
    } else {
        Err(Error::last(status))
    }
}
