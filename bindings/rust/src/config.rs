// SPDX-License-Identifier: MIT
//! Limiter configuration and statistics.
use std::ffi::CString;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::sys;

/// The limits of a limiter, enforced together.
///
/// `Config::default()` is exactly `ptl_limiter_config_init`: 5 at once, no throughput limit,
/// a 60 s window, no weighted limit. Set the fields you need:
///
/// ```
/// use pocketflow_throttled::Config;
/// let openai = Config { max_concurrent: 10, max_per_window: 60, ..Config::default() };
/// assert_eq!(openai.window.as_secs(), 60);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// At most this many permits held at any instant (>= 1).
    pub max_concurrent: u32,
    /// At most this many grants in any interval of `window` (a strict sliding window);
    /// 0 means no throughput limit.
    pub max_per_window: u64,
    /// The window's length (> 0).
    pub window: Duration,
    /// At most this much cost granted in any window (LLM tokens, bytes); 0 means no limit.
    pub max_cost_per_window: u64,
}

impl Default for Config {
    fn default() -> Self {
        let mut raw = sys::ptl_limiter_config::default();
        // SAFETY: fills a valid, writable struct.
        unsafe { sys::ptl_limiter_config_init(&mut raw) };
        Config::from_raw(&raw)
    }
}

impl Config {
    pub(crate) fn to_raw(self) -> sys::ptl_limiter_config {
        let mut raw = sys::ptl_limiter_config::default();
        // SAFETY: as above; struct_size comes from the library's own init.
        unsafe { sys::ptl_limiter_config_init(&mut raw) };
        raw.max_concurrent = self.max_concurrent;
        raw.max_per_window = self.max_per_window;
        raw.window_seconds = self.window.as_secs_f64();
        raw.max_cost_per_window = self.max_cost_per_window;
        raw
    }

    pub(crate) fn from_raw(raw: &sys::ptl_limiter_config) -> Config {
        Config {
            max_concurrent: raw.max_concurrent,
            max_per_window: raw.max_per_window,
            window: Duration::try_from_secs_f64(raw.window_seconds).unwrap_or(Duration::ZERO),
            max_cost_per_window: raw.max_cost_per_window,
        }
    }
}

/// A snapshot of a limiter's state and counters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    /// The limits in force.
    pub config: Config,
    /// Permits held now.
    pub in_flight: u32,
    /// Acquires waiting now.
    pub waiting: u32,
    /// Grants in the window ending now (exact).
    pub current_window_count: u64,
    /// Cost granted in the window ending now (exact).
    pub current_window_cost: u64,
    /// Permits ever granted.
    pub total_acquired: u64,
    /// Acquires that timed out.
    pub total_timeouts: u64,
    /// Acquires that were cancelled.
    pub total_cancelled: u64,
    /// Try-acquires (and zero-timeout acquires) refused for lack of capacity.
    pub total_rejected: u64,
    /// Time spent waiting, summed over every acquire that had to wait.
    pub total_wait: Duration,
}

impl Stats {
    pub(crate) fn raw_out() -> sys::ptl_limiter_stats {
        sys::ptl_limiter_stats {
            struct_size: std::mem::size_of::<sys::ptl_limiter_stats>() as u32,
            ..Default::default()
        }
    }

    pub(crate) fn from_raw(raw: &sys::ptl_limiter_stats) -> Stats {
        Stats {
            config: Config::from_raw(&raw.config),
            in_flight: raw.in_flight,
            waiting: raw.waiting,
            current_window_count: raw.current_window_count,
            current_window_cost: raw.current_window_cost,
            total_acquired: raw.total_acquired,
            total_timeouts: raw.total_timeouts,
            total_cancelled: raw.total_cancelled,
            total_rejected: raw.total_rejected,
            total_wait: Duration::from_nanos(raw.total_wait_ns),
        }
    }
}

/// A name or URI as a C string; an interior NUL byte is `Error::Invalid`.
pub(crate) fn c_string(what: &str, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::Invalid(format!("{what} {s:?} contains a NUL byte")))
}

/// A timeout for the C ABI: `None` waits forever (-1); longer than i64 nanoseconds is forever.
pub(crate) fn timeout_ns(timeout: Option<Duration>) -> i64 {
    timeout.map_or(-1, |d| i64::try_from(d.as_nanos()).unwrap_or(-1))
}
