// SPDX-License-Identifier: MIT
//! shm://: two registries, and two processes, share one limiter.
mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{block_on, unique};
use pocketflow_throttled::{Config, Error, Registry};

const CHILD_ENV: &str = "PTL_RS_SHM_CHILD";

/// Removes the segment file when the test ends (the library never unlinks one).
struct Segment(String);
impl Segment {
    fn new() -> Segment {
        Segment(unique("shm"))
    }
    fn uri(&self) -> String {
        format!("shm://{}", self.0)
    }
}
impl Drop for Segment {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(format!("/dev/shm/ptl.{}", self.0));
    }
}

#[test]
fn two_registries_share_one_limiter() {
    let seg = Segment::new();
    let (a, b) = (
        Registry::open(&seg.uri()).unwrap(),
        Registry::open(&seg.uri()).unwrap(),
    );
    a.register(
        "q",
        &Config {
            max_concurrent: 2,
            ..Config::default()
        },
    )
    .unwrap();
    let (la, lb) = (a.get("q").unwrap(), b.get("q").unwrap());
    let p1 = la.acquire(None).unwrap();
    let p2 = lb.acquire(None).unwrap();
    assert!(matches!(la.try_acquire(), Err(Error::WouldBlock { .. })));
    assert_eq!(b.stats("q").unwrap().in_flight, 2);
    drop(p1);
    let p3 = block_on(lb.acquire_async(Some(Duration::from_secs(5)))).unwrap();
    drop((p2, p3));
    assert_eq!(a.stats("q").unwrap().in_flight, 0);
    b.remove("q").unwrap();
    assert!(!a.exists("q").unwrap());
}

#[test]
fn two_processes_share_one_limiter() {
    let seg = Segment::new();
    let reg = Registry::open(&seg.uri()).unwrap();
    reg.register(
        "q",
        &Config {
            max_concurrent: 1,
            ..Config::default()
        },
    )
    .unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "shm_child", "--test-threads=1"])
        .env(CHILD_ENV, seg.uri())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while reg.stats("q").unwrap().in_flight == 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the child never acquired"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child ended before acquiring"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let q = reg.get("q").unwrap();
    assert!(
        matches!(q.try_acquire(), Err(Error::WouldBlock { .. })),
        "child's permit not seen"
    );
    let mut fut = q.acquire_async(Some(Duration::from_secs(10)));
    assert!(common::poll_once(&mut fut).is_pending());
    drop(child.stdin.take()); // the child releases and exits
    let p = block_on(fut).unwrap();
    assert!(child.wait().unwrap().success());
    drop(p);
    assert_eq!(reg.stats("q").unwrap().in_flight, 0);
    reg.remove("q").unwrap();
}

/// The child's side of two_processes_share_one_limiter; does nothing in a normal run.
#[test]
fn shm_child() {
    let Ok(uri) = std::env::var(CHILD_ENV) else {
        return;
    };
    let reg = Registry::open(&uri).unwrap();
    let permit = reg
        .get("q")
        .unwrap()
        .acquire(Some(Duration::from_secs(5)))
        .unwrap()
        .into_owned();
    // The parent sees the permit in the shared stats; it closes our stdin to let go.
    let _ = std::io::stdin().read_to_end(&mut Vec::new()); // until the parent closes it
    drop(permit);
}
