// SPDX-License-Identifier: MIT
//! Safe Rust bindings to **pocketflow-throttled**: share one API quota between threads,
//! processes and hosts.
//!
//! A quota is a named [`Limiter`] in a [`Registry`], with limits enforced together: at most
//! `max_concurrent` permits held at once, at most `max_per_window` grants in any interval of
//! `window` (a strict sliding window), and optionally a weighted limit on cost (tokens,
//! bytes). Register once at start-up, then use the name anywhere:
//!
//! ```
//! use pocketflow_throttled::{Config, Registry};
//!
//! let registry = Registry::default(); // the process default (PTL_REGISTRY_URI, or local:)
//! # let registry = Registry::open("local:")?;
//! registry.register("openai", &Config { max_concurrent: 10, max_per_window: 60, ..Config::default() })?;
//!
//! // anywhere, on any thread: a cheap, clonable handle
//! let openai = registry.get("openai")?;
//! {
//!     let _permit = openai.acquire(None)?;   // waits as long as it takes
//!     // call_openai(item);
//! }                                          // released here
//! # Ok::<(), pocketflow_throttled::Error>(())
//! ```
//!
//! The same code shares the quota between the processes of a host with
//! `Registry::open("shm://NAME")`, or between hosts with `Registry::open("redis://HOST:PORT")`.
//!
//! ## Policies: several limits at once, amounts, settle, provider headers
//!
//! Providers count several things at once (requests and tokens, per minute and per day;
//! Anthropic: input and output tokens). A policy is a limiter of up to 16 [`Limit`]s, all
//! admitted together. Acquire with an estimate, [`settle`](Permit::settle) the real usage
//! once the response says it, and feed the response's headers back so that usage the
//! library cannot see (other users of the key) counts too:
//!
//! ```
//! use std::time::Duration;
//! use pocketflow_throttled::{preset_policy, Limit, Registry};
//!
//! let minute = Duration::from_secs(60);
//! let registry = Registry::open("local:")?;
//! registry.register_policy("openai", &[
//!     Limit::window("requests", 500, minute),
//!     Limit::window("tokens", 30_000, minute),
//!     Limit::held("requests", 10),
//! ], false)?;
//! // or a provider's published limits: preset_policy("openai_tier1_gpt_4o")?.limits
//! # registry.register_policy("preset", &preset_policy("openai_tier1_gpt_4o")?.limits, false)?;
//!
//! let openai = registry.get("openai")?;
//! let permit = openai.acquire_amounts(&[("tokens", 1_500)], None)?; // and 1 request
//! // let response = call_openai(...);
//! permit.settle(&[("tokens", 1_234)])?;                 // response.usage.total_tokens
//! openai.observe_headers([                               // or &response.headers()
//!     ("x-ratelimit-remaining-tokens", "28766"),
//!     ("x-ratelimit-reset-tokens", "2.4s"),
//! ])?;
//! drop(permit);
//! assert_eq!(openai.usage("tokens", minute)?.observed_cap, Some(28_766));
//! # Ok::<(), pocketflow_throttled::Error>(())
//! ```
//!
//! In async code, [`Limiter::acquire_async`] returns a plain [`Future`](std::future::Future)
//! that works under any executor (tokio, async-std, smol, `futures::executor`...): the crate
//! needs no runtime. Dropping the future cancels the wait. [`Limiter::acquire_amounts_async`]
//! is its policy form.
//!
//! Linking (done by [`sys`], the `pocketflow-throttled-sys` crate): by default the installed
//! `libpocketflow_throttled` found through `pkg-config` (or `PTL_LIB_DIR`), which the loader
//! must find at run time too (a system install, or `LD_LIBRARY_PATH`); with the `bundled`
//! feature, the library built from source and linked statically.
#![warn(missing_docs)]

mod config;
mod error;
mod future;
mod limiter;
mod policy;
mod registry;
pub use pocketflow_throttled_sys as sys;

pub use config::{Config, Stats};
pub use error::{Error, Result};
pub use future::Acquire;
pub use limiter::{Limiter, OwnedPermit, Permit};
pub use policy::{preset_policies, preset_policy, Limit, PresetPolicy, Usage};
pub use registry::Registry;

/// The loaded library's version as `(major, minor, patch)`.
pub fn version() -> (u8, u8, u8) {
    // SAFETY: no arguments.
    let v = unsafe { sys::ptl_version() };
    ((v >> 16) as u8, (v >> 8) as u8, v as u8)
}

/// Sets the library's log level: 0 trace .. 5 critical, 6 off (the default).
/// Messages go to stderr. Outside 0..=6 is [`Error::Invalid`].
pub fn set_log_level(level: i32) -> Result<()> {
    // SAFETY: plain value.
    error::check(unsafe { sys::ptl_log_set_level(level) })
}
