// SPDX-License-Identifier: MIT
//! The pocketflow-throttled crate against governor, in one run; prints markdown tables.
//!
//! What is compared: governor is an in-process, rate-only limiter (GCRA: a rate plus a
//! burst, no notion of permits held); ours counts concurrency (permits held until dropped)
//! and a strict sliding window, and the same limiter can be shared across processes. Like
//! with like: ours with only a window (or only a concurrency limit) set so high it never
//! binds, against governor with a quota that never binds, single-threaded and with two
//! threads on one limiter; then both at a binding rate, where the strict window shows.
//!
//!   cargo run --release     (see run.sh: it sets up the library's paths)
use std::future::Future;
use std::hint::black_box;
use std::num::NonZeroU32;
use std::pin::pin;
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{Quota, RateLimiter};
use pocketflow_throttled::{Config, Limiter};

const SAMPLES: usize = 7;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Median over samples of the time per call of `f`, in ns.
fn per_op(iters: u64, mut f: impl FnMut()) -> f64 {
    (0..iters / 10).for_each(|_| f());
    median(
        (0..SAMPLES)
            .map(|_| {
                let t = Instant::now();
                (0..iters).for_each(|_| f());
                t.elapsed().as_nanos() as f64 / iters as f64
            })
            .collect(),
    )
}

/// Wall time per call with `threads` threads calling `f` at once, in ns (total ops / wall).
fn per_op_parallel(threads: usize, iters: u64, f: impl Fn() + Sync) -> f64 {
    median(
        (0..SAMPLES)
            .map(|_| {
                let start = Barrier::new(threads);
                let t = thread::scope(|s| {
                    let hs: Vec<_> = (0..threads)
                        .map(|_| {
                            s.spawn(|| {
                                start.wait();
                                let t = Instant::now();
                                (0..iters).for_each(|_| f());
                                t
                            })
                        })
                        .collect();
                    hs.into_iter().map(|h| h.join().unwrap()).min().unwrap()
                });
                t.elapsed().as_nanos() as f64 / (threads as u64 * iters) as f64
            })
            .collect(),
    )
}

struct Unpark(thread::Thread);
impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark()
    }
}

/// Polls a future to completion on this thread with a waker made once by the caller.
fn run<F: Future>(cx: &mut Context<'_>, f: F) -> F::Output {
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(cx) {
            return v;
        }
        thread::park();
    }
}

fn ours(cfg: Config) -> Limiter {
    Limiter::new(&cfg).expect("limiter")
}

/// The C ABI called directly, without the safe layer: what the crate's wrapper adds is the
/// difference with the rows above it.
fn raw_acquire_release(lim: &Limiter) {
    use pocketflow_throttled::sys;
    let mut permit = 0;
    // SAFETY: a live limiter handle and a valid out-pointer.
    unsafe {
        assert_eq!(sys::ptl_acquire(lim.as_raw(), -1, &mut permit), sys::PTL_OK);
        sys::ptl_release(lim.as_raw(), black_box(permit));
    }
}

/// Every row printed, kept for the JSON that bench/run.sh folds into its table.
static ROWS: Mutex<Vec<(String, f64, String, f64)>> = Mutex::new(Vec::new());

fn row(case: &str, ours_ns: f64, theirs: &str, theirs_ns: f64) {
    println!(
        "| {case} | {ours_ns:.1} | {theirs} | {theirs_ns:.1} | {:.2} |",
        ours_ns / theirs_ns
    );
    ROWS.lock()
        .unwrap()
        .push((case.to_owned(), ours_ns, theirs.to_owned(), theirs_ns));
}

fn json_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Writes the rows as JSON to $PTL_BENCH_JSON, when set: {"rows": [{"case", "ours_ns",
/// "theirs", "theirs_ns"}, ...]}. By hand, as serde would be a dependency for one file.
fn write_json() {
    let Some(path) = std::env::var_os("PTL_BENCH_JSON") else {
        return;
    };
    let rows: Vec<String> = ROWS
        .lock()
        .unwrap()
        .iter()
        .map(|(case, ours, theirs, theirs_ns)| {
            format!(
                "{{\"case\": {}, \"ours_ns\": {ours}, \"theirs\": {}, \"theirs_ns\": {theirs_ns}}}",
                json_string(case),
                json_string(theirs)
            )
        })
        .collect();
    std::fs::write(&path, format!("{{\"rows\": [{}]}}\n", rows.join(", ")))
        .expect("writing PTL_BENCH_JSON");
}

fn main() {
    const N: u64 = 2_000_000;
    // Never binds (room for 82 M grants per second) but runs on every call, and small
    // enough for the library's lock-free window path (at most 4096 requests; ADR 22), as
    // the window row of bench/bench_limiter.cpp.
    let window_only = Config {
        max_concurrent: u32::MAX,
        max_per_window: 4096,
        window: Duration::from_micros(50),
        ..Config::default()
    };
    let concurrency_only = Config {
        max_concurrent: 1 << 20,
        ..Config::default()
    };
    let huge = Quota::per_second(NonZeroU32::MAX);

    println!(
        "pocketflow-throttled {:?} vs governor 0.10, {} samples, median\n",
        pocketflow_throttled::version(),
        SAMPLES
    );
    println!("| case | ours ns/op | governor call | governor ns/op | ratio ours/governor |");
    println!("| --- | ---: | --- | ---: | ---: |");

    let gov = RateLimiter::direct(huge);
    let g1 = per_op(N, || black_box(gov.check()).unwrap());

    let lw = ours(window_only);
    row(
        "1 thread, window only: acquire + drop(Permit)",
        per_op(N, || drop(black_box(lw.acquire(None).unwrap()))),
        "check()",
        g1,
    );
    row(
        "1 thread, window only: acquire + release()",
        per_op(N, || {
            black_box(lw.acquire(None).unwrap()).release().unwrap()
        }),
        "check()",
        g1,
    );
    row(
        "1 thread, window only: try_acquire + drop",
        per_op(N, || drop(black_box(lw.try_acquire().unwrap()))),
        "check()",
        g1,
    );
    row(
        "1 thread, window only: raw C ABI ptl_acquire + ptl_release (floor)",
        per_op(N, || raw_acquire_release(&lw)),
        "check()",
        g1,
    );
    let lc = ours(concurrency_only);
    row(
        "1 thread, concurrency only: acquire + drop",
        per_op(N, || drop(black_box(lc.acquire(None).unwrap()))),
        "check()",
        g1,
    );

    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let ga = per_op(N / 4, || run(&mut cx, gov.until_ready()));
    let oa = per_op(N / 4, || {
        drop(run(&mut cx, lw.acquire_async(None)).unwrap())
    });
    row(
        "1 thread, window only: acquire_async().await + drop",
        oa,
        "until_ready().await",
        ga,
    );

    let gov2 = RateLimiter::direct(huge);
    let g2 = per_op_parallel(2, N / 2, || black_box(gov2.check()).unwrap());
    let lw2 = ours(window_only);
    row(
        "2 threads, one limiter, window only: acquire + drop",
        per_op_parallel(2, N / 2, || drop(lw2.acquire(None).unwrap())),
        "check()",
        g2,
    );
    let lc2 = ours(concurrency_only);
    row(
        "2 threads, one limiter, concurrency only: acquire + drop",
        per_op_parallel(2, N / 2, || drop(lc2.acquire(None).unwrap())),
        "check()",
        g2,
    );

    write_json();
    binding_rate();
}

/// Both at a binding rate of 200 per 10 ms (20,000/s), 2 threads for 0.5 s each: the rate
/// achieved, and the most grants proven inside one 10 ms span, counting only grants whose
/// whole call (start to return) lies in it (ours: strict window, at most 200; governor's
/// GCRA lets its burst through on top of the rate).
fn binding_rate() {
    const RUN: Duration = Duration::from_millis(500);
    const WINDOW: Duration = Duration::from_millis(10);
    let lim = ours(Config {
        max_concurrent: u32::MAX,
        max_per_window: 200,
        window: WINDOW,
        ..Config::default()
    });
    let gov = RateLimiter::direct(
        Quota::per_second(NonZeroU32::new(20_000).unwrap())
            .allow_burst(NonZeroU32::new(200).unwrap()),
    );
    let clock = DefaultClock::default();
    let ours_stamps = stamps(RUN, || drop(lim.acquire(None).unwrap()));
    let gov_stamps = stamps(RUN, || {
        while let Err(not_until) = gov.check() {
            thread::sleep(not_until.wait_time_from(clock.now()));
        }
    });
    println!("\nBinding rate: 200 per 10 ms (governor: 20,000/s, burst 200), 2 threads, {RUN:?}\n");
    println!("| limiter | grants/s achieved | most grants in any 10 ms |");
    println!("| --- | ---: | ---: |");
    for (name, s) in [
        ("ours (strict window)", &ours_stamps),
        ("governor (GCRA)", &gov_stamps),
    ] {
        println!(
            "| {name} | {:.0} | {} |",
            s.len() as f64 / RUN.as_secs_f64(),
            max_in_span(s, WINDOW)
        );
    }
}

/// (call start, return) of every grant, from 2 threads calling `acquire` for `run`, sorted.
fn stamps(run: Duration, acquire: impl Fn() + Sync) -> Vec<(Instant, Instant)> {
    let end = Instant::now() + run;
    let mut all: Vec<(Instant, Instant)> = thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut v = Vec::new();
                    loop {
                        let start = Instant::now();
                        if start >= end {
                            return v;
                        }
                        acquire();
                        v.push((start, Instant::now()));
                    }
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    all.sort();
    all
}

/// The most grants whose whole call lies within one `span` (sorted by call start).
fn max_in_span(sorted: &[(Instant, Instant)], span: Duration) -> usize {
    (0..sorted.len())
        .map(|i| {
            let limit = sorted[i].0 + span;
            sorted[i..]
                .iter()
                .take_while(|g| g.0 < limit)
                .filter(|g| g.1 < limit)
                .count()
        })
        .max()
        .unwrap_or(0)
}
