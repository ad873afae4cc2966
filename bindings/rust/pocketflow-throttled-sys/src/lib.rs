// SPDX-License-Identifier: MIT
//! Raw declarations of the C ABI of **pocketflow-throttled**
//! (`include/pocketflow_throttled/ptl.h`), written by hand, and the link to the library.
//!
//! Only what the safe crate `pocketflow-throttled` uses is declared. Everything here is
//! `unsafe` to call and follows the header's contracts; prefer the safe crate.
//!
//! The library is found by the build script: the installed one through `pkg-config`
//! (`PKG_CONFIG_PATH` is honoured; `PTL_LIB_DIR` names its folder directly), or, with the
//! `bundled` feature, built from the sources packaged in the crate and linked statically.
#![allow(non_camel_case_types, missing_docs)]

use std::os::raw::{c_char, c_int, c_void};

pub const PTL_OK: c_int = 0;
pub const PTL_EINVAL: c_int = -1;
pub const PTL_ENOTFOUND: c_int = -2;
pub const PTL_EEXIST: c_int = -3;
pub const PTL_ETIMEDOUT: c_int = -4;
pub const PTL_EAGAIN: c_int = -5;
pub const PTL_ECANCELED: c_int = -6;
pub const PTL_EBACKEND: c_int = -7;
pub const PTL_ECLOSED: c_int = -8;
pub const PTL_ENOMEM: c_int = -9;
pub const PTL_ERATELIMITED: c_int = -10;
pub const PTL_EITEMS: c_int = -11;
pub const PTL_EINTERNAL: c_int = -99;

pub const PTL_REPLACE: u32 = 1;

/// Opaque registry handle.
#[repr(C)]
pub struct ptl_registry {
    _private: [u8; 0],
}

/// Opaque, reference-counted limiter handle.
#[repr(C)]
pub struct ptl_limiter {
    _private: [u8; 0],
}

pub type ptl_permit = u64;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ptl_limiter_config {
    pub struct_size: u32,
    pub max_concurrent: u32,
    pub max_per_window: u64,
    pub window_seconds: f64,
    pub max_cost_per_window: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ptl_limiter_stats {
    pub struct_size: u32,
    pub config: ptl_limiter_config,
    pub in_flight: u32,
    pub waiting: u32,
    pub current_window_count: u64,
    pub current_window_cost: u64,
    pub total_acquired: u64,
    pub total_timeouts: u64,
    pub total_cancelled: u64,
    pub total_rejected: u64,
    pub total_wait_ns: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ptl_limit {
    pub unit: *const c_char,
    pub max: u64,
    pub window_ns: i64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ptl_policy {
    pub struct_size: u32,
    pub n_limits: u32,
    pub limits: *const ptl_limit,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ptl_amount {
    pub unit: *const c_char,
    pub amount: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ptl_usage {
    pub struct_size: u32,
    pub max: u64,
    pub window_ns: i64,
    pub used: u64,
    pub observed_cap: u64,
    pub next_room_ns: i64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ptl_preset_policy {
    pub struct_size: u32,
    pub n_limits: u32,
    pub name: *const c_char,
    pub description: *const c_char,
    pub source_date: *const c_char,
    pub source: *const c_char,
    pub limits: *const ptl_limit,
}

pub type ptl_preset_policy_fn =
    unsafe extern "C" fn(user: *mut c_void, policy: *const ptl_preset_policy) -> c_int;

pub type ptl_list_fn = unsafe extern "C" fn(
    user: *mut c_void,
    name: *const c_char,
    cfg: *const ptl_limiter_config,
) -> c_int;
pub type ptl_acquire_fn =
    unsafe extern "C" fn(user: *mut c_void, status: c_int, permit: ptl_permit);

extern "C" {
    pub fn ptl_version() -> u32;
    pub fn ptl_version_string() -> *const c_char;
    pub fn ptl_status_name(status: c_int) -> *const c_char;
    pub fn ptl_last_error() -> *const c_char;

    pub fn ptl_registry_open(uri: *const c_char, out: *mut *mut ptl_registry) -> c_int;
    pub fn ptl_registry_close(reg: *mut ptl_registry);
    pub fn ptl_registry_register(
        reg: *mut ptl_registry,
        name: *const c_char,
        cfg: *const ptl_limiter_config,
        flags: u32,
    ) -> c_int;
    pub fn ptl_registry_get(
        reg: *mut ptl_registry,
        name: *const c_char,
        out: *mut *mut ptl_limiter,
    ) -> c_int;
    pub fn ptl_registry_get_or_create(
        reg: *mut ptl_registry,
        name: *const c_char,
        cfg: *const ptl_limiter_config,
        out: *mut *mut ptl_limiter,
    ) -> c_int;
    pub fn ptl_registry_exists(reg: *mut ptl_registry, name: *const c_char) -> c_int;
    pub fn ptl_registry_remove(reg: *mut ptl_registry, name: *const c_char) -> c_int;
    pub fn ptl_registry_reset(reg: *mut ptl_registry) -> c_int;
    pub fn ptl_registry_list(reg: *mut ptl_registry, f: ptl_list_fn, user: *mut c_void) -> c_int;
    pub fn ptl_registry_stats(
        reg: *mut ptl_registry,
        name: *const c_char,
        out: *mut ptl_limiter_stats,
    ) -> c_int;

    pub fn ptl_limiter_config_init(cfg: *mut ptl_limiter_config);
    pub fn ptl_limiter_create(cfg: *const ptl_limiter_config, out: *mut *mut ptl_limiter) -> c_int;
    pub fn ptl_limiter_ref(lim: *mut ptl_limiter);
    pub fn ptl_limiter_unref(lim: *mut ptl_limiter);
    pub fn ptl_limiter_stats_get(lim: *mut ptl_limiter, out: *mut ptl_limiter_stats) -> c_int;
    pub fn ptl_limiter_reconfigure(lim: *mut ptl_limiter, cfg: *const ptl_limiter_config) -> c_int;

    pub fn ptl_acquire(lim: *mut ptl_limiter, timeout_ns: i64, out: *mut ptl_permit) -> c_int;
    pub fn ptl_try_acquire(
        lim: *mut ptl_limiter,
        out: *mut ptl_permit,
        retry_after_ns: *mut i64,
    ) -> c_int;
    pub fn ptl_acquire_cost(
        lim: *mut ptl_limiter,
        cost: u64,
        timeout_ns: i64,
        out: *mut ptl_permit,
    ) -> c_int;
    pub fn ptl_release(lim: *mut ptl_limiter, permit: ptl_permit) -> c_int;
    pub fn ptl_release_cost(lim: *mut ptl_limiter, permit: ptl_permit, actual_cost: u64) -> c_int;
    pub fn ptl_acquire_async(
        lim: *mut ptl_limiter,
        cost: u64,
        timeout_ns: i64,
        f: ptl_acquire_fn,
        user: *mut c_void,
        ticket: *mut u64,
    ) -> c_int;
    pub fn ptl_cancel(lim: *mut ptl_limiter, ticket: u64) -> c_int;
    pub fn ptl_limiter_penalize(lim: *mut ptl_limiter, retry_after_ns: i64) -> c_int;

    pub fn ptl_log_set_level(level: c_int) -> c_int;

    // ---- policies (0.2)
    pub fn ptl_policy_init(p: *mut ptl_policy);
    pub fn ptl_limiter_create_policy(p: *const ptl_policy, out: *mut *mut ptl_limiter) -> c_int;
    pub fn ptl_registry_register_policy(
        reg: *mut ptl_registry,
        name: *const c_char,
        p: *const ptl_policy,
        flags: u32,
    ) -> c_int;
    pub fn ptl_registry_get_or_create_policy(
        reg: *mut ptl_registry,
        name: *const c_char,
        p: *const ptl_policy,
        out: *mut *mut ptl_limiter,
    ) -> c_int;
    pub fn ptl_limiter_set_policy(lim: *mut ptl_limiter, p: *const ptl_policy) -> c_int;
    pub fn ptl_limiter_get_policy(
        lim: *mut ptl_limiter,
        out: *mut ptl_limit,
        cap: usize,
        n: *mut usize,
    ) -> c_int;
    pub fn ptl_acquire_amounts(
        lim: *mut ptl_limiter,
        a: *const ptl_amount,
        n: usize,
        timeout_ns: i64,
        out: *mut ptl_permit,
    ) -> c_int;
    pub fn ptl_try_acquire_amounts(
        lim: *mut ptl_limiter,
        a: *const ptl_amount,
        n: usize,
        out: *mut ptl_permit,
        retry_after_ns: *mut i64,
    ) -> c_int;
    pub fn ptl_acquire_amounts_async(
        lim: *mut ptl_limiter,
        a: *const ptl_amount,
        n: usize,
        timeout_ns: i64,
        f: ptl_acquire_fn,
        user: *mut c_void,
        ticket: *mut u64,
    ) -> c_int;
    pub fn ptl_settle(
        lim: *mut ptl_limiter,
        permit: ptl_permit,
        actual: *const ptl_amount,
        n: usize,
    ) -> c_int;
    pub fn ptl_observe(
        lim: *mut ptl_limiter,
        unit: *const c_char,
        remaining: u64,
        reset_after_ns: i64,
    ) -> c_int;
    pub fn ptl_observe_headers(
        lim: *mut ptl_limiter,
        n: usize,
        names: *const *const c_char,
        values: *const *const c_char,
    ) -> c_int;
    pub fn ptl_limiter_usage(
        lim: *mut ptl_limiter,
        unit: *const c_char,
        window_ns: i64,
        out: *mut ptl_usage,
    ) -> c_int;
    pub fn ptl_preset_policy_get(name: *const c_char, out: *mut ptl_preset_policy) -> c_int;
    pub fn ptl_preset_policy_list(f: ptl_preset_policy_fn, user: *mut c_void) -> c_int;
}
