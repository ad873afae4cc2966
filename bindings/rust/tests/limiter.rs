// SPDX-License-Identifier: MIT
//! Blocking acquire, try-acquire, permits and registries, with real threads.
mod common;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{unique, Observer};
use pocketflow_throttled::{Config, Error, Limiter, Registry};

fn cfg(max_concurrent: u32, max_per_window: u64, window: Duration) -> Config {
    Config {
        max_concurrent,
        max_per_window,
        window,
        ..Config::default()
    }
}

#[test]
fn config_default_matches_the_c_init() {
    let c = Config::default();
    assert_eq!(
        (c.max_concurrent, c.max_per_window, c.max_cost_per_window),
        (5, 0, 0)
    );
    assert_eq!(c.window, Duration::from_secs(60));
}

#[test]
fn never_over_concurrency_with_threads() {
    let reg = Registry::open("local:").unwrap();
    reg.register("api", &cfg(3, 0, Duration::from_secs(1)))
        .unwrap();
    let obs = Arc::new(Observer::default());
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (lim, obs) = (reg.get("api").unwrap(), obs.clone());
            thread::spawn(move || {
                for _ in 0..150 {
                    let permit = lim.acquire(None).unwrap();
                    obs.enter();
                    thread::sleep(Duration::from_micros(50));
                    obs.leave();
                    drop(permit);
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert!(obs.peak() <= 3, "peak {} over max_concurrent 3", obs.peak());
    assert_eq!(
        obs.peak(),
        3,
        "8 threads never filled the limit: the test saw no contention"
    );
    let st = reg.stats("api").unwrap();
    assert_eq!((st.in_flight, st.waiting, st.total_acquired), (0, 0, 1200));
}

#[test]
fn never_over_window_with_threads() {
    let window = Duration::from_millis(300);
    let lim = Arc::new(Limiter::new(&cfg(100, 5, window)).unwrap());
    let t0 = Instant::now();
    let end = t0 + Duration::from_millis(700);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let lim = lim.clone();
            thread::spawn(move || {
                let mut spans = Vec::new(); // (call start, return): the grant lies in between
                loop {
                    let start = Instant::now();
                    match lim.acquire(Some(end.saturating_duration_since(start))) {
                        Ok(p) => {
                            spans.push((start, Instant::now()));
                            p.release().unwrap();
                        }
                        Err(Error::TimedOut(_) | Error::WouldBlock { .. }) => return spans,
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    let spans: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    // Grants whose whole call lies in [s, s + window) were made within one window.
    for &(s, _) in &spans {
        let inside = spans
            .iter()
            .filter(|&&(a, b)| a >= s && b < s + window)
            .count();
        assert!(
            inside <= 5,
            "{inside} grants proven inside one {window:?} window (max 5)"
        );
    }
    assert!(
        spans.len() >= 10,
        "only {} grants in 700 ms: the window never slid",
        spans.len()
    );
}

#[test]
fn acquire_times_out_and_leaves_nothing() {
    let lim = Limiter::new(&cfg(1, 0, Duration::from_secs(1))).unwrap();
    let held = lim.acquire(None).unwrap();
    let t = Instant::now();
    assert!(matches!(
        lim.acquire(Some(Duration::from_millis(50))),
        Err(Error::TimedOut(_))
    ));
    assert!(t.elapsed() >= Duration::from_millis(45));
    assert!(matches!(
        lim.acquire(Some(Duration::ZERO)),
        Err(Error::WouldBlock { .. })
    ));
    let st = lim.stats().unwrap();
    assert_eq!((st.in_flight, st.waiting, st.total_timeouts), (1, 0, 1));
    drop(held);
    assert_eq!(lim.stats().unwrap().in_flight, 0);
}

#[test]
fn try_acquire_tells_when_to_retry() {
    let lim = Limiter::new(&cfg(1, 2, Duration::from_secs(10))).unwrap();
    let p = lim.try_acquire().unwrap();
    match lim.try_acquire() {
        Err(Error::WouldBlock {
            retry_after: None, ..
        }) => {} // only a release can help
        other => panic!("{other:?}"),
    }
    p.release().unwrap();
    lim.try_acquire().unwrap().release().unwrap(); // the window is full now
    match lim.try_acquire() {
        Err(Error::WouldBlock {
            retry_after: Some(d),
            ..
        }) => {
            assert!(
                d > Duration::from_secs(9) && d <= Duration::from_secs(10),
                "{d:?}"
            )
        }
        other => panic!("{other:?}"),
    };
}

#[test]
fn permits_release_on_drop_and_move_across_threads() {
    let lim = Limiter::new(&cfg(2, 0, Duration::from_secs(1))).unwrap();
    let a = lim.acquire(None).unwrap();
    let b = lim.acquire(None).unwrap().into_owned();
    assert_ne!(a.value(), b.value());
    assert_eq!(lim.stats().unwrap().in_flight, 2);
    thread::spawn(move || drop(b)).join().unwrap();
    drop(a);
    let clone = lim.clone();
    let c = clone.acquire(None).unwrap();
    assert_eq!(lim.stats().unwrap().in_flight, 1);
    c.release().unwrap();
    assert_eq!(lim.stats().unwrap().total_acquired, 3);
}

#[test]
fn weighted_cost_is_counted_and_corrected() {
    let c = Config {
        max_concurrent: 10,
        max_cost_per_window: 100,
        ..Config::default()
    };
    let lim = Limiter::new(&c).unwrap();
    assert!(matches!(
        lim.acquire_cost(101, None),
        Err(Error::Invalid(_))
    ));
    lim.acquire_cost(80, None)
        .unwrap()
        .release_with_cost(30)
        .unwrap();
    assert_eq!(lim.stats().unwrap().current_window_cost, 30);
    let p = lim.acquire_cost(70, Some(Duration::ZERO)).unwrap();
    assert!(matches!(
        lim.acquire_cost(1, Some(Duration::ZERO)),
        Err(Error::WouldBlock { .. })
    ));
    drop(p);
}

#[test]
fn registry_register_get_list_replace_remove() {
    let reg = Registry::open("local:").unwrap();
    reg.register("a", &cfg(2, 0, Duration::from_secs(1)))
        .unwrap();
    let b = reg
        .get_or_create("b", &cfg(4, 10, Duration::from_secs(2)))
        .unwrap();
    let b_again = reg
        .get_or_create("b", &cfg(9, 0, Duration::from_secs(1)))
        .unwrap();
    assert_eq!(
        b_again.stats().unwrap().config.max_concurrent,
        4,
        "config ignored when it exists"
    );
    let names: Vec<_> = reg.list().unwrap().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["a", "b"]);
    assert!(reg.exists("a").unwrap() && !reg.exists("zz").unwrap());

    let held = b.acquire(None).unwrap();
    reg.register_or_replace("b", &cfg(1, 0, Duration::from_secs(1)))
        .unwrap();
    assert!(
        b.try_acquire().is_err(),
        "the permit in flight still counts after a replace"
    );
    drop(held);
    assert_eq!(reg.stats("b").unwrap().config.max_concurrent, 1);

    reg.remove("a").unwrap();
    assert!(matches!(reg.remove("a"), Err(Error::NotFound(_))));
    reg.reset().unwrap();
    assert!(reg.list().unwrap().is_empty());
    drop(b.acquire(None).unwrap()); // a removed limiter's handle keeps working
}

#[test]
fn default_registry_is_shared_by_every_handle() {
    let name = unique("default");
    Registry::default()
        .register(&name, &cfg(1, 0, Duration::from_secs(1)))
        .unwrap();
    let held = Registry::default().get(&name).unwrap();
    let _p = held.acquire(None).unwrap();
    let other = Registry::default().get(&name).unwrap();
    assert!(matches!(other.try_acquire(), Err(Error::WouldBlock { .. })));
    Registry::default().remove(&name).unwrap();
}

#[test]
fn penalize_pauses_every_sharer() {
    let lim = Limiter::new(&cfg(5, 0, Duration::from_secs(1))).unwrap();
    lim.penalize(Duration::from_millis(60)).unwrap();
    let t = Instant::now();
    drop(lim.acquire(None).unwrap());
    assert!(
        t.elapsed() >= Duration::from_millis(50),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn handles_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Limiter>();
    send_sync::<Registry>();
    send_sync::<pocketflow_throttled::OwnedPermit>();
    fn send<T: Send>() {}
    send::<pocketflow_throttled::Acquire<'static>>();
    assert!(pocketflow_throttled::version() >= (0, 1, 0));
}
