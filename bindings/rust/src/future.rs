// SPDX-License-Identifier: MIT
//! The async acquire: a plain `Future` over `ptl_acquire_async`, needing no runtime.
//!
//! The library completes the acquire through a C callback, exactly once, on any thread:
//! inline in `ptl_acquire_async`, on a thread that frees capacity, on its timer thread, or
//! inside `ptl_cancel`. The callback and the future meet in a shared [`Slot`]; whoever comes
//! second decides what happens to a granted permit, so a grant that races with the future's
//! drop is released instead of leaked.
use std::ffi::c_void;
use std::fmt;
use std::future::Future;
use std::os::raw::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::config::timeout_ns;
use crate::error::{Error, Result};
use crate::limiter::{Limiter, Permit};
use crate::policy::{raw_amounts, OwnedAmounts};
use crate::sys;

struct Slot {
    lim: Limiter, // keeps the limiter alive until the callback has run
    state: Mutex<SlotState>,
}

struct SlotState {
    result: Option<(c_int, u64)>, // the callback's status and permit, until the future takes it
    waker: Option<Waker>,
    abandoned: bool, // the future was dropped: the callback releases what it gets
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

unsafe extern "C" fn on_done(user: *mut c_void, status: c_int, permit: sys::ptl_permit) {
    // SAFETY: `user` is the reference made by Arc::into_raw in poll; fn runs exactly once.
    let slot = unsafe { Arc::from_raw(user as *const Slot) };
    let waker = {
        let mut st = slot.lock();
        if st.abandoned {
            drop(st);
            if status == sys::PTL_OK {
                // SAFETY: the permit was granted to us and nobody else can see it.
                unsafe { sys::ptl_release(slot.lim.as_raw(), permit) };
            }
            return;
        }
        st.result = Some((status, permit));
        st.waker.take()
    };
    if let Some(w) = waker {
        // A panicking waker must not unwind into the library's thread.
        let _ = catch_unwind(AssertUnwindSafe(|| w.wake()));
    }
}

enum Phase {
    Idle,
    Pending { slot: Arc<Slot>, ticket: u64 },
    Done,
}

/// The future of [`Limiter::acquire_async`]: resolves to a [`Permit`] or an [`Error`]
/// ([`Error::TimedOut`], [`Error::Closed`], ...). Dropping it while pending cancels the
/// acquire (`ptl_cancel`); a permit granted in that race is released.
#[must_use = "futures do nothing unless polled"]
pub struct Acquire<'a> {
    lim: &'a Limiter,
    demand: Demand,
    timeout: Option<Duration>,
    phase: Phase,
}

/// What the acquire asks for: a 0.1 cost, or amounts by unit (copied by the library when
/// the acquire starts), or an error found before it started (a unit with a NUL byte).
enum Demand {
    Cost(u64),
    Amounts(OwnedAmounts),
    Invalid(Option<Error>),
}

impl fmt::Debug for Demand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Demand::Cost(c) => write!(f, "cost {c}"),
            Demand::Amounts(a) => {
                let mut l = f.debug_list();
                for (unit, n) in a {
                    l.entry(&(unit.to_string_lossy(), n));
                }
                l.finish()
            }
            Demand::Invalid(_) => f.write_str("invalid"),
        }
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = match self.phase {
            Phase::Idle => "idle",
            Phase::Pending { .. } => "pending",
            Phase::Done => "done",
        };
        f.debug_struct("Acquire")
            .field("demand", &self.demand)
            .field("phase", &phase)
            .finish()
    }
}

impl<'a> Acquire<'a> {
    pub(crate) fn new(lim: &'a Limiter, cost: u64, timeout: Option<Duration>) -> Self {
        Acquire {
            lim,
            demand: Demand::Cost(cost),
            timeout,
            phase: Phase::Idle,
        }
    }

    pub(crate) fn with_amounts(
        lim: &'a Limiter,
        amounts: Result<OwnedAmounts>,
        timeout: Option<Duration>,
    ) -> Self {
        Acquire {
            lim,
            demand: match amounts {
                Ok(a) => Demand::Amounts(a),
                Err(e) => Demand::Invalid(Some(e)),
            },
            timeout,
            phase: Phase::Idle,
        }
    }

    fn outcome(&self, status: c_int, permit: u64) -> Result<Permit<'a>> {
        if status == sys::PTL_OK {
            return Ok(Permit::adopt(self.lim, permit));
        }
        let what = match status {
            sys::PTL_ETIMEDOUT => format!("no grant within {:?}", self.timeout.unwrap_or_default()),
            sys::PTL_ECANCELED => "the acquire was cancelled".to_owned(),
            sys::PTL_ECLOSED => "the limiter was closed while waiting".to_owned(),
            _ => "the acquire failed".to_owned(),
        };
        Err(Error::from_status(
            status,
            format!("acquire_async ({:?}): {what}", self.demand),
        ))
    }
}

impl<'a> Future for Acquire<'a> {
    type Output = Result<Permit<'a>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let Phase::Idle = this.phase {
            if let Demand::Invalid(e) = &mut this.demand {
                this.phase = Phase::Done;
                return Poll::Ready(Err(e.take().expect("Acquire polled after completion")));
            }
            let slot = Arc::new(Slot {
                lim: this.lim.clone(),
                state: Mutex::new(SlotState {
                    result: None,
                    waker: None,
                    abandoned: false,
                }),
            });
            let user = Arc::into_raw(Arc::clone(&slot)) as *mut c_void;
            let mut ticket = 0;
            // SAFETY: on_done gets `user` exactly once, unless this call fails.
            // The library copies the amounts before ptl_acquire_amounts_async returns.
            let rc = unsafe {
                match &this.demand {
                    Demand::Cost(cost) => sys::ptl_acquire_async(
                        this.lim.as_raw(),
                        *cost,
                        timeout_ns(this.timeout),
                        on_done,
                        user,
                        &mut ticket,
                    ),
                    Demand::Amounts(owned) => {
                        let raw = raw_amounts(owned);
                        sys::ptl_acquire_amounts_async(
                            this.lim.as_raw(),
                            raw.as_ptr(),
                            raw.len(),
                            timeout_ns(this.timeout),
                            on_done,
                            user,
                            &mut ticket,
                        )
                    }
                    Demand::Invalid(_) => unreachable!(),
                }
            };
            if rc != sys::PTL_OK {
                let err = Error::last(rc);
                // SAFETY: the callback never runs after a failed start: take the reference back.
                drop(unsafe { Arc::from_raw(user as *const Slot) });
                this.phase = Phase::Done;
                return Poll::Ready(Err(err));
            }
            this.phase = Phase::Pending { slot, ticket };
        }
        let Phase::Pending { slot, .. } = &this.phase else {
            panic!("Acquire polled after completion");
        };
        let mut st = slot.lock();
        if let Some((status, permit)) = st.result.take() {
            drop(st);
            this.phase = Phase::Done;
            return Poll::Ready(this.outcome(status, permit));
        }
        match &st.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        let Phase::Pending { slot, ticket } = std::mem::replace(&mut self.phase, Phase::Done)
        else {
            return;
        };
        // If still queued, the callback runs inside ptl_cancel with PTL_ECANCELED; if it has
        // completed (or is completing on another thread), this is PTL_ENOTFOUND.
        // SAFETY: plain values.
        unsafe { sys::ptl_cancel(self.lim.as_raw(), ticket) };
        let raced = {
            let mut st = slot.lock();
            st.abandoned = true;
            st.result.take()
        };
        if let Some((sys::PTL_OK, permit)) = raced {
            // SAFETY: granted to this future and never handed out.
            unsafe { sys::ptl_release(self.lim.as_raw(), permit) };
        }
    }
}
