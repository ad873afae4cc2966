// SPDX-License-Identifier: MIT
//! Limiters and the permits they grant.
use std::fmt;
use std::mem::ManuallyDrop;
use std::ptr::{self, NonNull};
use std::time::Duration;

use crate::config::{timeout_ns, Config, Stats};
use crate::error::{check, Error, Result};
use crate::future::Acquire;
use crate::sys;

/// A handle to a limiter: clone it freely (a reference count), share it across threads
/// (`Send + Sync`). All clones and all handles of the same registry name are one limiter.
pub struct Limiter {
    raw: NonNull<sys::ptl_limiter>,
}

// SAFETY: the limiter is reference counted and every ptl_* call on it is thread-safe.
unsafe impl Send for Limiter {}
unsafe impl Sync for Limiter {}

impl Clone for Limiter {
    fn clone(&self) -> Self {
        // SAFETY: raw is a live reference; this adds one that the clone owns.
        unsafe { sys::ptl_limiter_ref(self.raw.as_ptr()) };
        Limiter { raw: self.raw }
    }
}

impl Drop for Limiter {
    fn drop(&mut self) {
        // SAFETY: drops the reference this handle owns.
        unsafe { sys::ptl_limiter_unref(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiter").field("raw", &self.raw).finish()
    }
}

impl Limiter {
    /// Adopts a reference returned by the C ABI.
    ///
    /// # Safety
    /// `raw` must be a non-NULL limiter reference that the caller owns and gives up.
    pub unsafe fn from_owned_raw(raw: *mut sys::ptl_limiter) -> Limiter {
        Limiter {
            raw: NonNull::new(raw).expect("ptl returned a NULL limiter"),
        }
    }

    /// The C handle, for calls this crate does not wrap (still owned by `self`).
    pub fn as_raw(&self) -> *mut sys::ptl_limiter {
        self.raw.as_ptr()
    }

    /// Creates a private limiter, in no registry.
    pub fn new(config: &Config) -> Result<Limiter> {
        let raw_cfg = config.to_raw();
        let mut out = ptr::null_mut();
        // SAFETY: valid pointers; on success we own the reference.
        check(unsafe { sys::ptl_limiter_create(&raw_cfg, &mut out) })?;
        Ok(unsafe { Limiter::from_owned_raw(out) })
    }

    /// Waits for a permit of cost 1, up to `timeout` (`None`: as long as it takes;
    /// `Some(Duration::ZERO)`: try once). Waiters are served first come, first served.
    /// [`Error::TimedOut`] (or [`Error::WouldBlock`] for a zero timeout) leaves nothing held.
    pub fn acquire(&self, timeout: Option<Duration>) -> Result<Permit<'_>> {
        let mut permit = 0;
        // SAFETY: valid out-pointer.
        check(unsafe { sys::ptl_acquire(self.as_raw(), timeout_ns(timeout), &mut permit) })?;
        Ok(Permit {
            lim: self,
            raw: permit,
        })
    }

    /// Like [`acquire`](Self::acquire), for a permit of `cost` units of
    /// `max_cost_per_window`; correct it later with [`Permit::release_with_cost`].
    pub fn acquire_cost(&self, cost: u64, timeout: Option<Duration>) -> Result<Permit<'_>> {
        let mut permit = 0;
        // SAFETY: valid out-pointer.
        check(unsafe {
            sys::ptl_acquire_cost(self.as_raw(), cost, timeout_ns(timeout), &mut permit)
        })?;
        Ok(Permit {
            lim: self,
            raw: permit,
        })
    }

    /// Takes a permit only if one is free now and nobody is queued; never blocks. Else
    /// [`Error::WouldBlock`] with `retry_after`: the time until the window, cost or a
    /// penalty allows a grant, or `None` when only a release can free capacity.
    pub fn try_acquire(&self) -> Result<Permit<'_>> {
        let (mut permit, mut retry) = (0, -1i64);
        // SAFETY: valid out-pointers.
        match unsafe { sys::ptl_try_acquire(self.as_raw(), &mut permit, &mut retry) } {
            sys::PTL_OK => Ok(Permit {
                lim: self,
                raw: permit,
            }),
            status => Err(match Error::last(status) {
                Error::WouldBlock { message, .. } => Error::WouldBlock {
                    message,
                    retry_after: u64::try_from(retry).ok().map(Duration::from_nanos),
                },
                other => other,
            }),
        }
    }

    /// An acquire of cost 1 that waits without blocking a thread: a plain
    /// [`Future`](std::future::Future) that works under any executor. Nothing starts until
    /// it is first polled; dropping it before it completes cancels the wait and leaves no
    /// trace (a permit granted in the race is released).
    ///
    /// ```
    /// # async fn call_api() {}
    /// # async fn demo(openai: pocketflow_throttled::Limiter) -> pocketflow_throttled::Result<()> {
    /// let permit = openai.acquire_async(None).await?;
    /// call_api().await;
    /// drop(permit);
    /// # Ok(()) }
    /// ```
    pub fn acquire_async(&self, timeout: Option<Duration>) -> Acquire<'_> {
        Acquire::new(self, 1, timeout)
    }

    /// Like [`acquire_async`](Self::acquire_async), for a permit of `cost` units.
    pub fn acquire_cost_async(&self, cost: u64, timeout: Option<Duration>) -> Acquire<'_> {
        Acquire::new(self, cost, timeout)
    }

    /// A snapshot of the limiter's state and counters.
    pub fn stats(&self) -> Result<Stats> {
        let mut raw = Stats::raw_out();
        // SAFETY: valid out-struct with struct_size set.
        check(unsafe { sys::ptl_limiter_stats_get(self.as_raw(), &mut raw) })?;
        Ok(Stats::from_raw(&raw))
    }

    /// Changes the limits in place, for every sharer: permits in flight and the window's
    /// history still count against the new limits.
    pub fn reconfigure(&self, config: &Config) -> Result<()> {
        let raw_cfg = config.to_raw();
        // SAFETY: valid pointer.
        check(unsafe { sys::ptl_limiter_reconfigure(self.as_raw(), &raw_cfg) })
    }

    /// The upstream API said "retry after": no new permit is granted, to anyone sharing
    /// this limiter, for `retry_after` from now. Permits in flight are unaffected.
    pub fn penalize(&self, retry_after: Duration) -> Result<()> {
        let ns = i64::try_from(retry_after.as_nanos()).unwrap_or(i64::MAX);
        // SAFETY: plain values.
        check(unsafe { sys::ptl_limiter_penalize(self.as_raw(), ns) })
    }
}

fn release_raw(lim: &Limiter, permit: u64, actual_cost: Option<u64>) -> Result<()> {
    // SAFETY: plain values; a stale permit is reported, never undefined.
    check(unsafe {
        match actual_cost {
            None => sys::ptl_release(lim.as_raw(), permit),
            Some(cost) => sys::ptl_release_cost(lim.as_raw(), permit, cost),
        }
    })
}

/// A granted permit, borrowed from its [`Limiter`]: released when dropped, or explicitly
/// with [`release`](Self::release). Releasing consumes it, so a double release does not
/// compile:
///
/// ```compile_fail
/// # let lim = pocketflow_throttled::Limiter::new(&Default::default()).unwrap();
/// let permit = lim.acquire(None).unwrap();
/// permit.release().unwrap();
/// permit.release().unwrap(); // error[E0382]: use of moved value
/// ```
#[must_use = "a permit is released as soon as it is dropped"]
#[derive(Debug)]
pub struct Permit<'a> {
    lim: &'a Limiter,
    raw: u64,
}

impl<'a> Permit<'a> {
    /// Releases the permit now, reporting an error instead of ignoring it as `drop` does.
    pub fn release(self) -> Result<()> {
        let this = ManuallyDrop::new(self);
        release_raw(this.lim, this.raw, None)
    }

    /// Releases the permit and corrects its cost in the window to `actual_cost` (the real
    /// token count, known only after the call).
    pub fn release_with_cost(self, actual_cost: u64) -> Result<()> {
        let this = ManuallyDrop::new(self);
        release_raw(this.lim, this.raw, Some(actual_cost))
    }

    /// Turns it into an [`OwnedPermit`] that holds its own limiter handle (`'static`, to
    /// move into a spawned task or thread).
    pub fn into_owned(self) -> OwnedPermit {
        let this = ManuallyDrop::new(self);
        OwnedPermit {
            lim: this.lim.clone(),
            raw: this.raw,
        }
    }

    /// The permit's value (unique in the process; never 0).
    pub fn value(&self) -> u64 {
        self.raw
    }

    /// The limiter that granted it.
    pub fn limiter(&self) -> &'a Limiter {
        self.lim
    }

    pub(crate) fn adopt(lim: &'a Limiter, raw: u64) -> Permit<'a> {
        Permit { lim, raw }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let _ = release_raw(self.lim, self.raw, None);
    }
}

/// A granted permit that owns a handle to its limiter. Same rules as [`Permit`].
#[must_use = "a permit is released as soon as it is dropped"]
#[derive(Debug)]
pub struct OwnedPermit {
    lim: Limiter,
    raw: u64,
}

impl OwnedPermit {
    /// Releases the permit now, reporting any error.
    pub fn release(self) -> Result<()> {
        let this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so the limiter handle is moved out exactly once.
        let lim = unsafe { ptr::read(&this.lim) };
        release_raw(&lim, this.raw, None)
    }

    /// Releases the permit, correcting its cost to `actual_cost`.
    pub fn release_with_cost(self, actual_cost: u64) -> Result<()> {
        let this = ManuallyDrop::new(self);
        // SAFETY: as in release.
        let lim = unsafe { ptr::read(&this.lim) };
        release_raw(&lim, this.raw, Some(actual_cost))
    }

    /// The permit's value (unique in the process; never 0).
    pub fn value(&self) -> u64 {
        self.raw
    }

    /// The limiter that granted it.
    pub fn limiter(&self) -> &Limiter {
        &self.lim
    }
}

impl Drop for OwnedPermit {
    fn drop(&mut self) {
        let _ = release_raw(&self.lim, self.raw, None);
    }
}
