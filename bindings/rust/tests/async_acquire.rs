// SPDX-License-Identifier: MIT
//! The async acquire under a hand-written executor: grants, timeouts, cancellation by drop.
mod common;

use std::sync::Arc;
use std::task::Poll;
use std::thread;
use std::time::{Duration, Instant};

use common::{block_on, join_all, poll_once, sleep, Observer};
use pocketflow_throttled::{Config, Error, Limiter};

fn limiter(max_concurrent: u32) -> Limiter {
    Limiter::new(&Config {
        max_concurrent,
        ..Config::default()
    })
    .unwrap()
}

fn assert_idle(lim: &Limiter) {
    let st = lim.stats().unwrap();
    assert_eq!((st.in_flight, st.waiting), (0, 0), "{st:?}");
}

#[test]
fn immediate_grant() {
    let lim = limiter(1);
    let p = block_on(lim.acquire_async(None)).unwrap();
    assert_eq!(lim.stats().unwrap().in_flight, 1);
    drop(p);
    assert_idle(&lim);
}

#[test]
fn granted_when_another_thread_releases() {
    let lim = limiter(1);
    let held = lim.acquire(None).unwrap().into_owned();
    let t = Instant::now();
    let releaser = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        drop(held);
    });
    let p = block_on(lim.acquire_async(Some(Duration::from_secs(5)))).unwrap();
    assert!(t.elapsed() >= Duration::from_millis(45));
    releaser.join().unwrap();
    drop(p);
    assert_idle(&lim);
}

#[test]
fn times_out_with_nothing_held() {
    let lim = limiter(1);
    let held = lim.acquire(None).unwrap();
    match block_on(lim.acquire_async(Some(Duration::from_millis(30)))) {
        Err(e @ Error::TimedOut(_)) => assert!(e.to_string().contains("PTL_ETIMEDOUT")),
        other => panic!("{other:?}"),
    }
    assert_eq!(lim.stats().unwrap().waiting, 0);
    drop(held);
    assert_idle(&lim);
}

#[test]
fn dropping_a_pending_future_cancels_it() {
    let lim = limiter(1);
    let held = lim.acquire(None).unwrap();
    let mut fut = lim.acquire_async(None);
    assert!(poll_once(&mut fut).is_pending());
    assert_eq!(lim.stats().unwrap().waiting, 1);
    drop(fut);
    let st = lim.stats().unwrap();
    assert_eq!((st.waiting, st.total_cancelled), (0, 1));
    drop(held);
    assert_idle(&lim);
    // Never polled: never started, nothing to cancel.
    drop(lim.acquire_async(None));
    assert_eq!(lim.stats().unwrap().total_cancelled, 1);
}

#[test]
fn drop_racing_grants_never_leaks_a_permit() {
    let lim = Arc::new(limiter(1));
    let stop = Instant::now() + Duration::from_millis(400);
    let churn = {
        let lim = lim.clone();
        thread::spawn(move || {
            while Instant::now() < stop {
                // Bounded: a leaked permit fails the test instead of hanging it.
                drop(
                    lim.acquire(Some(Duration::from_secs(2)))
                        .expect("a permit leaked"),
                );
            }
        })
    };
    let (mut ready, mut pending) = (0, 0);
    while Instant::now() < stop {
        let mut fut = lim.acquire_async(None);
        match poll_once(&mut fut) {
            Poll::Ready(p) => {
                drop(p.unwrap());
                ready += 1
            }
            Poll::Pending => pending += 1,
        }
        if pending % 3 == 0 {
            thread::yield_now(); // let some grants land before the drop
        }
        drop(fut);
    }
    churn.join().unwrap();
    assert!(pending > 0, "no future ever waited ({ready} ready)");
    assert_idle(&lim);
    drop(lim.try_acquire().unwrap());
}

#[test]
fn many_futures_never_over_quota() {
    let lim = limiter(3);
    let obs = Observer::default();
    let futs = (0..24)
        .map(|_| {
            let (lim, obs) = (&lim, &obs);
            Box::pin(async move {
                let permit = lim.acquire_async(Some(Duration::from_secs(10))).await?;
                obs.enter();
                sleep(Duration::from_millis(5)).await;
                obs.leave();
                drop(permit);
                Ok::<_, Error>(())
            }) as _
        })
        .collect();
    for r in join_all::<Result<(), Error>>(futs) {
        r.unwrap();
    }
    assert_eq!(obs.peak(), 3);
    assert_idle(&lim);
    assert_eq!(lim.stats().unwrap().total_acquired, 24);
}
