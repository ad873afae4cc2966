// SPDX-License-Identifier: MIT
//! Test helpers: a minimal executor (no runtime crate), a sleep future, an in-flight observer.
#![allow(dead_code)]
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

struct ThreadWaker(Thread);
impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark()
    }
}

fn thread_waker() -> Waker {
    Waker::from(Arc::new(ThreadWaker(thread::current())))
}

/// Runs a future to completion on this thread, parking while it is pending.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let waker = thread_waker();
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        thread::park();
    }
}

/// Runs all futures concurrently on this thread; outputs in input order.
pub fn join_all<'a, T>(futs: Vec<Pin<Box<dyn Future<Output = T> + 'a>>>) -> Vec<T> {
    let waker = thread_waker();
    let mut cx = Context::from_waker(&waker);
    let mut futs: Vec<_> = futs.into_iter().map(Some).collect();
    let mut out: Vec<Option<T>> = futs.iter().map(|_| None).collect();
    while out.iter().any(Option::is_none) {
        for (i, slot) in futs.iter_mut().enumerate() {
            if let Some(f) = slot {
                if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                    out[i] = Some(v);
                    *slot = None;
                }
            }
        }
        if out.iter().any(Option::is_none) {
            thread::park_timeout(Duration::from_millis(20));
        }
    }
    out.into_iter().map(Option::unwrap).collect()
}

/// Polls a future once with a waker that does nothing.
pub fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    let waker = Waker::from(Arc::new(Noop));
    Pin::new(fut).poll(&mut Context::from_waker(&waker))
}

/// A future that completes after `d`, woken by a helper thread.
pub struct Sleep {
    until: Instant,
    armed: Option<Arc<Mutex<Option<Waker>>>>,
}
pub fn sleep(d: Duration) -> Sleep {
    Sleep {
        until: Instant::now() + d,
        armed: None,
    }
}
impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.until {
            return Poll::Ready(());
        }
        match &self.armed {
            Some(w) => {
                if let Some(w) = w.lock().unwrap().as_mut() {
                    w.clone_from(cx.waker());
                }
            }
            None => {
                let w = Arc::new(Mutex::new(Some(cx.waker().clone())));
                let (w2, until) = (w.clone(), self.until);
                thread::spawn(move || {
                    thread::sleep(until.saturating_duration_since(Instant::now()));
                    if let Some(w) = w2.lock().unwrap().take() {
                        w.wake();
                    }
                });
                self.armed = Some(w);
            }
        }
        Poll::Pending
    }
}

/// Counts permits held as seen from the outside, and the peak.
#[derive(Default)]
pub struct Observer {
    now: AtomicUsize,
    peak: AtomicUsize,
}
impl Observer {
    pub fn enter(&self) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(n, Ordering::SeqCst);
    }
    pub fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

/// A name unique to this process and call site.
pub fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "rs-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}
