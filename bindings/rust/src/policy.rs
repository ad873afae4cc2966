// SPDX-License-Identifier: MIT
//! Policies (ABI 0.2): several limits admitted together, acquires with amounts, settled
//! usage, the provider's own counts (observations and response headers), usage, and the
//! provider policies the library ships.
use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int, c_void};
use std::ptr;
use std::time::Duration;

use crate::config::{c_string, timeout_ns};
use crate::error::{check, Error, Result};
use crate::future::Acquire;
use crate::limiter::{Limiter, OwnedPermit, Permit};
use crate::registry::Registry;
use crate::sys;

/// One limit of a policy: at most `max` units of `unit` granted in any window of `window`
/// (a strict sliding window), or, for a held limit (`window` zero), at most `max` units held
/// at once (a concurrency limit).
///
/// ```
/// use std::time::Duration;
/// use pocketflow_throttled::Limit;
/// let openai = [
///     Limit::window("requests", 500, Duration::from_secs(60)),
///     Limit::window("tokens", 30_000, Duration::from_secs(60)),
///     Limit::held("requests", 10),
/// ];
/// assert!(openai[2].is_held());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Limit {
    /// What is counted: `"requests"`, `"tokens"`, `"input_tokens"`, `"output_tokens"`, or any
    /// 1 to 32 bytes of `[a-z0-9_]`.
    pub unit: String,
    /// At most this many units (>= 1) ...
    pub max: u64,
    /// ... granted in any window of this length; `Duration::ZERO`: held at once.
    pub window: Duration,
}

impl Limit {
    /// At most `max` units of `unit` granted in any window of `window` (a strict sliding
    /// window; `window` must not be zero, which would make it a held limit).
    pub fn window(unit: impl Into<String>, max: u64, window: Duration) -> Limit {
        Limit {
            unit: unit.into(),
            max,
            window,
        }
    }

    /// At most `max` units of `unit` held at once (a concurrency limit: a permit holds its
    /// amount until released).
    pub fn held(unit: impl Into<String>, max: u64) -> Limit {
        Limit {
            unit: unit.into(),
            max,
            window: Duration::ZERO,
        }
    }

    /// Whether this is a held (concurrency) limit rather than a window.
    pub fn is_held(&self) -> bool {
        self.window.is_zero()
    }

    /// Copies a limit the library hands out.
    ///
    /// # Safety
    /// `raw.unit` must be NULL or a valid C string.
    unsafe fn from_raw(raw: &sys::ptl_limit) -> Limit {
        let unit = if raw.unit.is_null() {
            String::new()
        } else {
            // SAFETY: per the contract above.
            unsafe { CStr::from_ptr(raw.unit) }
                .to_string_lossy()
                .into_owned()
        };
        Limit {
            unit,
            max: raw.max,
            window: duration_of(raw.window_ns),
        }
    }
}

/// The state of one limit, as [`Limiter::usage`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// The limit's max.
    pub max: u64,
    /// The limit's window; `Duration::ZERO` for a held limit.
    pub window: Duration,
    /// Units granted in the window ending now, or held now for a held limit.
    pub used: u64,
    /// What the provider says is left (an observation in force), or `None`.
    pub observed_cap: Option<u64>,
    /// How long until one more unit fits: `Some(Duration::ZERO)` fits now; `None` when only
    /// a release can make room.
    pub next_room: Option<Duration>,
}

/// A provider policy the library ships: the limits a provider publishes for an account tier
/// and model. The numbers change: check your account's limits page, and feed responses to
/// [`Limiter::observe_headers`].
///
/// ```
/// use pocketflow_throttled::{preset_policy, Registry};
/// let p = preset_policy("openai_tier1_gpt_4o")?;
/// let reg = Registry::open("local:")?;
/// reg.register_policy("openai", &p.limits, false)?;
/// # Ok::<(), pocketflow_throttled::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresetPolicy {
    /// `"openai_tier1_gpt_4o"`: `<provider>_<tier>_<model>`.
    pub name: String,
    /// One line.
    pub description: String,
    /// `YYYY-MM-DD`: when the provider's table was read.
    pub source_date: String,
    /// URLs, space-separated.
    pub source: String,
    /// The limits, ready for [`Registry::register_policy`] or [`Limiter::set_policy`].
    pub limits: Vec<Limit>,
}

impl PresetPolicy {
    /// # Safety
    /// Every pointer of `raw` must be NULL or valid (the library's static table).
    unsafe fn from_raw(raw: &sys::ptl_preset_policy) -> PresetPolicy {
        let text = |p: *const c_char| {
            if p.is_null() {
                String::new()
            } else {
                // SAFETY: static strings of the library's table.
                unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
            }
        };
        let limits = if raw.limits.is_null() {
            Vec::new()
        } else {
            // SAFETY: n_limits limits at raw.limits, per the header.
            unsafe { std::slice::from_raw_parts(raw.limits, raw.n_limits as usize) }
                .iter()
                .map(|l| unsafe { Limit::from_raw(l) })
                .collect()
        };
        PresetPolicy {
            name: text(raw.name),
            description: text(raw.description),
            source_date: text(raw.source_date),
            source: text(raw.source),
            limits,
        }
    }
}

/// The provider policy `name` (matched ASCII case-insensitively); [`Error::NotFound`] if
/// the library has none of that name.
pub fn preset_policy(name: &str) -> Result<PresetPolicy> {
    let c_name = c_string("preset policy", name)?;
    let mut raw = sys::ptl_preset_policy {
        struct_size: std::mem::size_of::<sys::ptl_preset_policy>() as u32,
        n_limits: 0,
        name: ptr::null(),
        description: ptr::null(),
        source_date: ptr::null(),
        source: ptr::null(),
        limits: ptr::null(),
    };
    // SAFETY: valid C string and out-struct with struct_size set.
    check(unsafe { sys::ptl_preset_policy_get(c_name.as_ptr(), &mut raw) })?;
    // SAFETY: filled by the library with pointers into its static table.
    Ok(unsafe { PresetPolicy::from_raw(&raw) })
}

/// Every provider policy the library ships, in its table's order.
pub fn preset_policies() -> Result<Vec<PresetPolicy>> {
    unsafe extern "C" fn push(user: *mut c_void, p: *const sys::ptl_preset_policy) -> c_int {
        // SAFETY: user is the Vec below; p is valid during the call. No panic can unwind
        // into C: from_raw only copies.
        let out = unsafe { &mut *(user as *mut Vec<PresetPolicy>) };
        out.push(unsafe { PresetPolicy::from_raw(&*p) });
        0
    }
    let mut out: Vec<PresetPolicy> = Vec::new();
    // SAFETY: push runs only during this call, while `out` is alive.
    check(unsafe { sys::ptl_preset_policy_list(push, &mut out as *mut _ as *mut c_void) })?;
    Ok(out)
}

fn duration_of(ns: i64) -> Duration {
    Duration::from_nanos(u64::try_from(ns).unwrap_or(0))
}

fn ns_of(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// A policy as the C ABI takes it: NUL-terminated copies of the units that live as long as
/// this value.
pub(crate) struct CPolicy {
    _units: Vec<CString>,
    limits: Vec<sys::ptl_limit>,
}

impl CPolicy {
    pub(crate) fn new(limits: &[Limit]) -> Result<CPolicy> {
        let units = limits
            .iter()
            .map(|l| c_string("unit", &l.unit))
            .collect::<Result<Vec<_>>>()?;
        let limits = limits
            .iter()
            .zip(&units)
            .map(|(l, u)| sys::ptl_limit {
                unit: u.as_ptr(),
                max: l.max,
                window_ns: ns_of(l.window),
            })
            .collect();
        Ok(CPolicy {
            _units: units,
            limits,
        })
    }

    /// The `ptl_policy`; valid while `self` is.
    pub(crate) fn raw(&self) -> sys::ptl_policy {
        let mut p = sys::ptl_policy {
            struct_size: 0,
            n_limits: 0,
            limits: ptr::null(),
        };
        // SAFETY: fills a valid, writable struct.
        unsafe { sys::ptl_policy_init(&mut p) };
        p.n_limits = u32::try_from(self.limits.len()).unwrap_or(u32::MAX);
        p.limits = self.limits.as_ptr();
        p
    }
}

/// Amounts owned as C strings (`Send`, so a future may keep them until its first poll).
pub(crate) type OwnedAmounts = Vec<(CString, u64)>;

pub(crate) fn owned_amounts(amounts: &[(&str, u64)]) -> Result<OwnedAmounts> {
    amounts
        .iter()
        .map(|&(unit, n)| Ok((c_string("unit", unit)?, n)))
        .collect()
}

/// The `ptl_amount` array over `owned`; valid while `owned` is.
pub(crate) fn raw_amounts(owned: &OwnedAmounts) -> Vec<sys::ptl_amount> {
    owned
        .iter()
        .map(|(unit, amount)| sys::ptl_amount {
            unit: unit.as_ptr(),
            amount: *amount,
        })
        .collect()
}

fn would_block(status: c_int, retry: i64) -> Error {
    match Error::last(status) {
        Error::WouldBlock { message, .. } => Error::WouldBlock {
            message,
            retry_after: u64::try_from(retry).ok().map(Duration::from_nanos),
        },
        other => other,
    }
}

impl Limiter {
    /// Creates a private limiter (in no registry) of a policy: every limit is admitted
    /// together, so a grant takes room in all of them or waits, holding nothing.
    ///
    /// ```
    /// use std::time::Duration;
    /// use pocketflow_throttled::{Limit, Limiter};
    /// let lim = Limiter::with_policy(&[
    ///     Limit::window("tokens", 30_000, Duration::from_secs(60)),
    ///     Limit::held("requests", 10),
    /// ])?;
    /// let permit = lim.acquire_amounts(&[("tokens", 1_200)], None)?; // and 1 request
    /// // ... the call; the response says it used 900 tokens:
    /// permit.settle(&[("tokens", 900)])?;
    /// assert_eq!(lim.usage("tokens", Duration::from_secs(60))?.used, 900);
    /// # Ok::<(), pocketflow_throttled::Error>(())
    /// ```
    pub fn with_policy(limits: &[Limit]) -> Result<Limiter> {
        let policy = CPolicy::new(limits)?;
        let raw = policy.raw();
        let mut out = ptr::null_mut();
        // SAFETY: valid pointers for the call; on success we own the reference.
        check(unsafe { sys::ptl_limiter_create_policy(&raw, &mut out) })?;
        Ok(unsafe { Limiter::from_owned_raw(out) })
    }

    /// Changes the policy live, for every sharer: a limit that stays (same unit and window,
    /// or the one window of its unit with a new length) keeps its history and what is held;
    /// a waiter that can no longer fit a limit's max fails with [`Error::Invalid`].
    pub fn set_policy(&self, limits: &[Limit]) -> Result<()> {
        let policy = CPolicy::new(limits)?;
        let raw = policy.raw();
        // SAFETY: valid pointers for the call (the library copies the policy).
        check(unsafe { sys::ptl_limiter_set_policy(self.as_raw(), &raw) })
    }

    /// The limits in force (a limiter made from a [`Config`](crate::Config) has up to three:
    /// requests held, requests per window, tokens per window).
    pub fn policy(&self) -> Result<Vec<Limit>> {
        let empty = sys::ptl_limit {
            unit: ptr::null(),
            max: 0,
            window_ns: 0,
        };
        let mut buf = vec![empty; 16]; // PTL_MAX_LIMITS
        loop {
            let mut n = 0usize;
            // SAFETY: buf has room for buf.len() limits.
            check(unsafe {
                sys::ptl_limiter_get_policy(self.as_raw(), buf.as_mut_ptr(), buf.len(), &mut n)
            })?;
            if n <= buf.len() {
                // SAFETY: the units are the library's strings, which live as long as the
                // process; they are copied at once.
                return Ok(buf[..n]
                    .iter()
                    .map(|l| unsafe { Limit::from_raw(l) })
                    .collect());
            }
            buf = vec![empty; n]; // grew meanwhile (set_policy elsewhere): ask again
        }
    }

    /// Waits for a permit of these amounts, up to `timeout` (`None`: as long as it takes).
    /// `"requests"` counts 1 unless given; other units left out count 0. A unit the policy
    /// lacks, a unit given twice or an amount above a limit's max is [`Error::Invalid`].
    /// Correct the estimate once the real usage is known with [`Permit::settle`].
    pub fn acquire_amounts(
        &self,
        amounts: &[(&str, u64)],
        timeout: Option<Duration>,
    ) -> Result<Permit<'_>> {
        let owned = owned_amounts(amounts)?;
        let raw = raw_amounts(&owned);
        let mut permit = 0;
        // SAFETY: `raw` and the strings it points to live for the call.
        check(unsafe {
            sys::ptl_acquire_amounts(
                self.as_raw(),
                raw.as_ptr(),
                raw.len(),
                timeout_ns(timeout),
                &mut permit,
            )
        })?;
        Ok(Permit::adopt(self, permit))
    }

    /// Takes a permit of these amounts only if every limit has room now and nobody is
    /// queued; never blocks. Else [`Error::WouldBlock`] with `retry_after`, as
    /// [`try_acquire`](Self::try_acquire).
    pub fn try_acquire_amounts(&self, amounts: &[(&str, u64)]) -> Result<Permit<'_>> {
        let owned = owned_amounts(amounts)?;
        let raw = raw_amounts(&owned);
        let (mut permit, mut retry) = (0, -1i64);
        // SAFETY: as in acquire_amounts.
        match unsafe {
            sys::ptl_try_acquire_amounts(
                self.as_raw(),
                raw.as_ptr(),
                raw.len(),
                &mut permit,
                &mut retry,
            )
        } {
            sys::PTL_OK => Ok(Permit::adopt(self, permit)),
            status => Err(would_block(status, retry)),
        }
    }

    /// [`acquire_amounts`](Self::acquire_amounts) as a plain
    /// [`Future`](std::future::Future), like [`acquire_async`](Self::acquire_async): nothing
    /// starts until it is first polled, and dropping it cancels the wait.
    pub fn acquire_amounts_async(
        &self,
        amounts: &[(&str, u64)],
        timeout: Option<Duration>,
    ) -> Acquire<'_> {
        Acquire::with_amounts(self, owned_amounts(amounts), timeout)
    }

    /// Settles a permit by its [value](Permit::value), also after it was released (a
    /// released permit is remembered while its windows count it): see [`Permit::settle`].
    pub fn settle(&self, permit: u64, actual: &[(&str, u64)]) -> Result<()> {
        let owned = owned_amounts(actual)?;
        let raw = raw_amounts(&owned);
        // SAFETY: as in acquire_amounts.
        check(unsafe { sys::ptl_settle(self.as_raw(), permit, raw.as_ptr(), raw.len()) })
    }

    /// The provider's own count, for usage this library cannot see (other users of the
    /// key, other tools): at most `remaining` more units of `unit` until `reset_after` from
    /// now. Shared by every sharer; it only tightens, never loosens. A unit the policy lacks
    /// is [`Error::Invalid`].
    pub fn observe(&self, unit: &str, remaining: u64, reset_after: Duration) -> Result<()> {
        let c_unit = c_string("unit", unit)?;
        // SAFETY: valid C string for the call.
        check(unsafe {
            sys::ptl_observe(
                self.as_raw(),
                c_unit.as_ptr(),
                remaining,
                ns_of(reset_after),
            )
        })
    }

    /// Applies what a response's headers say: OpenAI's `x-ratelimit-remaining-*` and
    /// `x-ratelimit-reset-*`, Anthropic's `anthropic-ratelimit-*-remaining` and `-reset`,
    /// and `Retry-After` (as [`penalize`](Self::penalize)). Takes any `(name, value)` pairs:
    /// `&http::HeaderMap`, `[(&str, &str)]`, a `HashMap<String, String>`... Names are
    /// case-insensitive; unknown headers, units the policy lacks, malformed values (and
    /// values with a NUL byte) are skipped. Returns how many observations were applied.
    ///
    /// ```
    /// use std::time::Duration;
    /// use pocketflow_throttled::{Limit, Limiter};
    /// let lim = Limiter::with_policy(&[Limit::window("requests", 500, Duration::from_secs(60))])?;
    /// let applied = lim.observe_headers([
    ///     ("x-ratelimit-remaining-requests", "499"),
    ///     ("x-ratelimit-reset-requests", "120ms"),
    /// ])?;
    /// assert_eq!(applied, 1);
    /// # Ok::<(), pocketflow_throttled::Error>(())
    /// ```
    pub fn observe_headers<I, K, V>(&self, headers: I) -> Result<usize>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        // Every name and value NUL-terminated in one buffer, then pointers into it.
        let mut buf: Vec<u8> = Vec::new();
        let mut offsets: Vec<(usize, usize)> = Vec::new();
        for (name, value) in headers {
            let (name, value) = (name.as_ref(), value.as_ref());
            if name.contains(&0) || value.contains(&0) {
                continue;
            }
            let at = buf.len();
            buf.extend_from_slice(name);
            buf.push(0);
            let v = buf.len();
            buf.extend_from_slice(value);
            buf.push(0);
            offsets.push((at, v));
        }
        let base = buf.as_ptr() as *const c_char;
        // SAFETY: the offsets lie inside buf, which is not touched again before the call.
        let names: Vec<*const c_char> = offsets
            .iter()
            .map(|&(n, _)| unsafe { base.add(n) })
            .collect();
        let values: Vec<*const c_char> = offsets
            .iter()
            .map(|&(_, v)| unsafe { base.add(v) })
            .collect();
        // SAFETY: names.len() NUL-terminated strings in each array, alive for the call.
        let rc = unsafe {
            sys::ptl_observe_headers(self.as_raw(), names.len(), names.as_ptr(), values.as_ptr())
        };
        if rc < 0 {
            return Err(Error::last(rc));
        }
        Ok(rc as usize)
    }

    /// The state of the limit `(unit, window)` (`Duration::ZERO`: the held limit of
    /// `unit`); [`Error::NotFound`] if the policy has no such limit.
    pub fn usage(&self, unit: &str, window: Duration) -> Result<Usage> {
        let c_unit = c_string("unit", unit)?;
        let mut raw = sys::ptl_usage {
            struct_size: std::mem::size_of::<sys::ptl_usage>() as u32,
            ..Default::default()
        };
        // SAFETY: valid C string and out-struct with struct_size set.
        check(unsafe {
            sys::ptl_limiter_usage(self.as_raw(), c_unit.as_ptr(), ns_of(window), &mut raw)
        })?;
        Ok(Usage {
            max: raw.max,
            window: duration_of(raw.window_ns),
            used: raw.used,
            observed_cap: (raw.observed_cap != u64::MAX).then_some(raw.observed_cap),
            next_room: u64::try_from(raw.next_room_ns)
                .ok()
                .map(Duration::from_nanos),
        })
    }
}

impl Permit<'_> {
    /// Replaces the estimate of each named unit with the real usage, known after the call,
    /// in every limit of that unit from the grant's time. Less frees room at once; more is
    /// allowed (later grants wait until the windows are back under their max). Each unit
    /// may be settled once ([`Error::Invalid`] the second time). To settle after the
    /// release, keep [`value`](Self::value) and call [`Limiter::settle`].
    pub fn settle(&self, actual: &[(&str, u64)]) -> Result<()> {
        self.limiter().settle(self.value(), actual)
    }
}

impl OwnedPermit {
    /// As [`Permit::settle`].
    pub fn settle(&self, actual: &[(&str, u64)]) -> Result<()> {
        self.limiter().settle(self.value(), actual)
    }
}

impl Registry {
    /// Registers limiter `name` with a policy; [`Error::Exists`] if there is one already,
    /// unless `replace`: then its policy changes live, as [`Limiter::set_policy`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use pocketflow_throttled::{Limit, Registry};
    /// let minute = Duration::from_secs(60);
    /// let reg = Registry::open("local:")?;
    /// reg.register_policy("anthropic", &[
    ///     Limit::window("requests", 50, minute),
    ///     Limit::window("input_tokens", 30_000, minute),
    ///     Limit::window("output_tokens", 8_000, minute),
    /// ], false)?;
    /// let anthropic = reg.get("anthropic")?;
    /// let permit = anthropic.acquire_amounts(&[("input_tokens", 2_000), ("output_tokens", 1_000)], None)?;
    /// permit.settle(&[("output_tokens", 312)])?;
    /// # Ok::<(), pocketflow_throttled::Error>(())
    /// ```
    pub fn register_policy(&self, name: &str, limits: &[Limit], replace: bool) -> Result<()> {
        let c_name = c_string("name", name)?;
        let policy = CPolicy::new(limits)?;
        let raw = policy.raw();
        let flags = if replace { sys::PTL_REPLACE } else { 0 };
        // SAFETY: valid pointers for the call.
        check(unsafe {
            sys::ptl_registry_register_policy(self.as_raw(), c_name.as_ptr(), &raw, flags)
        })
    }

    /// Like [`get`](Self::get), but first registers `name` with the policy if it does not
    /// exist, in one atomic step (the policy is ignored for an existing limiter).
    pub fn get_or_create_policy(&self, name: &str, limits: &[Limit]) -> Result<Limiter> {
        let c_name = c_string("name", name)?;
        let policy = CPolicy::new(limits)?;
        let raw = policy.raw();
        let mut out = ptr::null_mut();
        // SAFETY: valid pointers; on success we own the new reference.
        check(unsafe {
            sys::ptl_registry_get_or_create_policy(self.as_raw(), c_name.as_ptr(), &raw, &mut out)
        })?;
        Ok(unsafe { Limiter::from_owned_raw(out) })
    }
}
