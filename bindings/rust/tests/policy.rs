// SPDX-License-Identifier: MIT
//! Policies (ABI 0.2): round-trips, amounts, settle, observations and response headers,
//! usage, provider policies, the async acquire with amounts, and several limits held under
//! threads with an outside observer.
mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{block_on, poll_once, unique};
use pocketflow_throttled::{
    preset_policies, preset_policy, Config, Error, Limit, Limiter, Registry,
};

const MINUTE: Duration = Duration::from_secs(60);

fn assert_invalid<T: std::fmt::Debug>(r: pocketflow_throttled::Result<T>, what: &str) {
    match r {
        Err(Error::Invalid(msg)) => assert!(!msg.is_empty(), "{what}: no message"),
        other => panic!("{what}: expected Error::Invalid, got {other:?}"),
    }
}

#[test]
fn policy_round_trips_through_limiters_and_registries() {
    let limits = vec![
        Limit::window("requests", 500, MINUTE),
        Limit::window("tokens", 30_000, MINUTE),
        Limit::window("requests", 10_000, Duration::from_secs(86_400)),
        Limit::held("requests", 10),
    ];
    let lim = Limiter::with_policy(&limits).unwrap();
    assert_eq!(lim.policy().unwrap(), limits);
    assert!(lim.policy().unwrap()[3].is_held());

    let reg = Registry::open("local:").unwrap();
    reg.register_policy("openai", &limits, false).unwrap();
    assert_eq!(reg.get("openai").unwrap().policy().unwrap(), limits);
    match reg.register_policy("openai", &limits[..1], false) {
        Err(Error::Exists(_)) => {}
        other => panic!("{other:?}"),
    }
    // replace: the policy changes live, for every handle
    let handle = reg.get("openai").unwrap();
    reg.register_policy("openai", &limits[..2], true).unwrap();
    assert_eq!(handle.policy().unwrap(), &limits[..2]);
    // get_or_create_policy: the policy is ignored for an existing limiter
    let same = reg.get_or_create_policy("openai", &limits[3..]).unwrap();
    assert_eq!(same.policy().unwrap(), &limits[..2]);
    let fresh = reg.get_or_create_policy("fresh", &limits[3..]).unwrap();
    assert_eq!(fresh.policy().unwrap(), &limits[3..]);
    assert!(reg.exists("fresh").unwrap());
    // set_policy on a handle is seen through the registry
    fresh
        .set_policy(&[Limit::window("tokens", 7, Duration::from_millis(1500))])
        .unwrap();
    assert_eq!(
        reg.get("fresh").unwrap().policy().unwrap(),
        vec![Limit::window("tokens", 7, Duration::from_millis(1500))]
    );
    // the 0.1 API on a policy limiter, and a 0.1 limiter seen as a policy
    let old = Limiter::new(&Config {
        max_concurrent: 4,
        max_per_window: 60,
        max_cost_per_window: 1000,
        ..Config::default()
    })
    .unwrap();
    let p = old.policy().unwrap();
    assert!(p.contains(&Limit::held("requests", 4)), "{p:?}");
    assert!(p.contains(&Limit::window("requests", 60, MINUTE)), "{p:?}");
    assert!(p.contains(&Limit::window("tokens", 1000, MINUTE)), "{p:?}");
    assert_eq!(lim.stats().unwrap().config.max_concurrent, 10);

    // what the library refuses, with its message
    assert_invalid(Limiter::with_policy(&[]), "no limits");
    assert_invalid(
        Limiter::with_policy(&[Limit::held("Tokens", 1)]),
        "upper case",
    );
    assert_invalid(
        Limiter::with_policy(&[Limit::held("tok\0ens", 1)]),
        "NUL byte",
    );
    assert_invalid(Limiter::with_policy(&[Limit::held("tokens", 0)]), "max 0");
    assert_invalid(
        Limiter::with_policy(&[Limit::held("tokens", 1), Limit::held("tokens", 2)]),
        "repeated (unit, window)",
    );
    let seventeen: Vec<_> = (0..17).map(|i| Limit::held(format!("u{i}"), 1)).collect();
    assert_invalid(Limiter::with_policy(&seventeen), "17 limits");
    assert_invalid(lim.set_policy(&[]), "set_policy with no limits");
    assert_eq!(
        lim.policy().unwrap(),
        limits,
        "a refused set_policy changed it"
    );
}

#[test]
fn amounts_take_room_in_every_limit_together() {
    let lim = Limiter::with_policy(&[
        Limit::window("tokens", 100, MINUTE),
        Limit::window("requests", 3, MINUTE),
        Limit::held("input_tokens", 50),
    ])
    .unwrap();
    let a = lim.acquire_amounts(&[("tokens", 60)], None).unwrap();
    // requests counts 1 unless given; other units left out count 0
    let u = lim.usage("requests", MINUTE).unwrap();
    assert_eq!((u.used, u.max), (1, 3));
    assert_eq!(lim.usage("input_tokens", Duration::ZERO).unwrap().used, 0);
    match lim.try_acquire_amounts(&[("tokens", 41)]) {
        Err(Error::WouldBlock { retry_after, .. }) => {
            let r = retry_after.expect("a window frees room in time");
            assert!(r > Duration::from_secs(50) && r <= MINUTE, "{r:?}");
        }
        other => panic!("41 tokens over 60 of 100: {other:?}"),
    }
    // all or nothing: the refused try took no request either
    assert_eq!(lim.usage("requests", MINUTE).unwrap().used, 1);
    let b = lim
        .acquire_amounts(
            &[("tokens", 40), ("input_tokens", 50)],
            Some(Duration::ZERO),
        )
        .unwrap();
    assert_eq!(lim.usage("tokens", MINUTE).unwrap().used, 100);
    assert_eq!(lim.usage("input_tokens", Duration::ZERO).unwrap().used, 50);
    match lim.acquire_amounts(&[("input_tokens", 1)], Some(Duration::from_millis(50))) {
        Err(Error::TimedOut(_)) => {}
        other => panic!("held input_tokens are full: {other:?}"),
    }
    drop(b); // the held units come back; the window keeps its grants
    assert_eq!(lim.usage("input_tokens", Duration::ZERO).unwrap().used, 0);
    assert_eq!(lim.usage("tokens", MINUTE).unwrap().used, 100);
    // an explicit requests amount
    let c = lim
        .try_acquire_amounts(&[("requests", 1), ("input_tokens", 5)])
        .unwrap();
    assert_eq!(lim.usage("requests", MINUTE).unwrap().used, 3);
    match lim.try_acquire_amounts(&[]) {
        Err(Error::WouldBlock { .. }) => {}
        other => panic!("3 requests of 3: {other:?}"),
    }
    drop((a, c));

    assert_invalid(
        lim.acquire_amounts(&[("output_tokens", 1)], None),
        "unit the policy lacks",
    );
    assert_invalid(
        lim.acquire_amounts(&[("tokens", 101)], None),
        "above the max",
    );
    assert_invalid(
        lim.try_acquire_amounts(&[("tokens", 1), ("tokens", 1)]),
        "unit given twice",
    );
    assert_invalid(lim.acquire_amounts(&[("tok\0", 1)], None), "NUL byte");
    let st = lim.stats().unwrap();
    assert_eq!((st.in_flight, st.waiting), (0, 0));
}

#[test]
fn settle_down_up_twice_and_after_release() {
    let lim = Limiter::with_policy(&[
        Limit::window("tokens", 100, MINUTE),
        Limit::held("tokens", 1000),
    ])
    .unwrap();
    let usage = |w| lim.usage("tokens", w).unwrap().used;

    // down: frees room at once, in every limit of the unit
    let p = lim.acquire_amounts(&[("tokens", 80)], None).unwrap();
    assert_eq!((usage(MINUTE), usage(Duration::ZERO)), (80, 80));
    p.settle(&[("tokens", 30)]).unwrap();
    assert_eq!((usage(MINUTE), usage(Duration::ZERO)), (30, 30));
    let q = lim.try_acquire_amounts(&[("tokens", 70)]).unwrap();
    assert_eq!(usage(MINUTE), 100);

    // twice: a unit is settled once
    assert_invalid(p.settle(&[("tokens", 10)]), "second settle");
    assert_eq!(usage(MINUTE), 100, "a refused settle changed the window");
    drop(p);

    // after release: by value, through the limiter
    let v = q.value();
    q.release().unwrap();
    assert_eq!(usage(Duration::ZERO), 0);
    lim.settle(v, &[("tokens", 20)]).unwrap();
    assert_eq!(usage(MINUTE), 50);
    assert_invalid(
        lim.settle(v, &[("tokens", 20)]),
        "second settle after release",
    );

    // up: allowed over the max; later grants wait until the window is back under it
    let r = lim
        .acquire_amounts(&[("tokens", 10)], None)
        .unwrap()
        .into_owned();
    r.settle(&[("tokens", 90)]).unwrap();
    assert_eq!(usage(MINUTE), 140);
    assert_eq!(usage(Duration::ZERO), 90);
    match lim.try_acquire_amounts(&[("tokens", 1)]) {
        Err(Error::WouldBlock { .. }) => {}
        other => panic!("140 of 100: {other:?}"),
    }
    // (even a grant of no tokens waits now: the window is over its max)
    match lim.try_acquire_amounts(&[]) {
        Err(Error::WouldBlock { .. }) => {}
        other => panic!("140 of 100: {other:?}"),
    }
    assert_invalid(r.settle(&[("requests", 1)]), "unit the policy lacks");
    assert_invalid(r.settle(&[("tok\0ens", 1)]), "NUL byte");
    drop(r);

    assert_invalid(lim.settle(0, &[("tokens", 1)]), "permit 0");
    assert_invalid(
        lim.settle(v + 1_000_000, &[("tokens", 1)]),
        "unknown permit",
    );
}

#[test]
fn observations_cap_grants_until_their_reset() {
    let lim = Limiter::with_policy(&[Limit::window("tokens", 1000, MINUTE)]).unwrap();
    assert_eq!(lim.usage("tokens", MINUTE).unwrap().observed_cap, None);
    lim.observe("tokens", 50, Duration::from_millis(300))
        .unwrap();
    lim.observe("tokens", 5000, Duration::from_millis(300))
        .unwrap(); // looser: no effect
    assert_eq!(lim.usage("tokens", MINUTE).unwrap().observed_cap, Some(50));
    let t0 = Instant::now();
    match lim.try_acquire_amounts(&[("tokens", 51)]) {
        Err(Error::WouldBlock { retry_after, .. }) => {
            assert!(
                retry_after.is_some_and(|r| r <= Duration::from_millis(300)),
                "{retry_after:?}"
            )
        }
        other => panic!("the provider said 50: {other:?}"),
    }
    let p = lim.try_acquire_amounts(&[("tokens", 50)]).unwrap();
    assert_eq!(lim.usage("tokens", MINUTE).unwrap().observed_cap, Some(0));
    let q = lim
        .acquire_amounts(&[("tokens", 1)], Some(Duration::from_secs(5)))
        .unwrap();
    assert!(
        t0.elapsed() >= Duration::from_millis(250),
        "granted before the provider's reset: {:?}",
        t0.elapsed()
    );
    assert_eq!(lim.usage("tokens", MINUTE).unwrap().observed_cap, None);
    drop((p, q));
    assert_invalid(lim.observe("requests", 1, MINUTE), "unit the policy lacks");
    assert_invalid(lim.observe("tok\0", 1, MINUTE), "NUL byte");
}

/// `t` as RFC 3339 in UTC ("2025-08-21T12:40:59Z"), as Anthropic sends its resets.
fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // civil_from_days (H. Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[test]
fn rfc3339_helper_is_right() {
    assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    assert_eq!(
        rfc3339(UNIX_EPOCH + Duration::from_secs(1_755_780_059)),
        "2025-08-21T12:40:59Z"
    );
}

#[test]
fn openai_response_headers() {
    let lim = Limiter::with_policy(&[
        Limit::window("requests", 500, MINUTE),
        Limit::window("tokens", 30_000, MINUTE),
    ])
    .unwrap();
    // A chat completion's response headers as OpenAI sends them (the values vary).
    let headers = [
        ("date", "Thu, 21 Aug 2025 12:40:59 GMT"),
        ("content-type", "application/json"),
        ("openai-organization", "user-abc123"),
        ("openai-processing-ms", "412"),
        ("openai-version", "2020-10-01"),
        ("x-ratelimit-limit-requests", "500"),
        ("x-ratelimit-limit-tokens", "30000"),
        ("x-ratelimit-remaining-requests", "499"),
        ("x-ratelimit-remaining-tokens", "29245"),
        ("x-ratelimit-reset-requests", "120ms"),
        ("x-ratelimit-reset-tokens", "1.51s"),
        ("x-request-id", "req_0123456789abcdef"),
    ];
    assert_eq!(lim.observe_headers(headers).unwrap(), 2);
    assert_eq!(
        lim.usage("requests", MINUTE).unwrap().observed_cap,
        Some(499)
    );
    assert_eq!(
        lim.usage("tokens", MINUTE).unwrap().observed_cap,
        Some(29_245)
    );

    // Owned strings in a map, names in any case: the same headers, tighter.
    let lim = Limiter::with_policy(&[
        Limit::window("requests", 500, MINUTE),
        Limit::window("tokens", 30_000, MINUTE),
    ])
    .unwrap();
    let map: HashMap<String, String> = [
        ("X-RateLimit-Remaining-Tokens", "10"),
        ("X-RateLimit-Reset-Tokens", "6m0s"),
        ("X-RateLimit-Remaining-Requests", "not-a-number"),
        ("X-RateLimit-Reset-Requests", "1s"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(
        lim.observe_headers(&map).unwrap(),
        1,
        "the malformed one is skipped"
    );
    assert_eq!(lim.usage("tokens", MINUTE).unwrap().observed_cap, Some(10));
    assert_eq!(lim.usage("requests", MINUTE).unwrap().observed_cap, None);
    match lim.try_acquire_amounts(&[("tokens", 11)]) {
        Err(Error::WouldBlock { retry_after, .. }) => {
            let r = retry_after.unwrap();
            assert!(
                r > Duration::from_secs(300) && r <= Duration::from_secs(360),
                "{r:?}"
            );
        }
        other => panic!("the provider said 10 tokens: {other:?}"),
    }
    // byte slices (an http::HeaderValue is AsRef<[u8]>), and a value with a NUL: skipped
    let raw: Vec<(&[u8], Vec<u8>)> = vec![
        (b"x-ratelimit-remaining-requests", b"3".to_vec()),
        (b"x-ratelimit-reset-requests", b"2s".to_vec()),
        (b"x-ratelimit-remaining-tokens", b"1\0".to_vec()),
    ];
    assert_eq!(lim.observe_headers(raw).unwrap(), 1);
    assert_eq!(lim.usage("requests", MINUTE).unwrap().observed_cap, Some(3));
    assert_eq!(lim.observe_headers(Vec::<(&str, &str)>::new()).unwrap(), 0);
}

#[test]
fn anthropic_response_headers_and_retry_after() {
    let lim = Limiter::with_policy(&[
        Limit::window("requests", 50, MINUTE),
        Limit::window("input_tokens", 30_000, MINUTE),
        Limit::window("output_tokens", 8_000, MINUTE),
    ])
    .unwrap();
    let reset = rfc3339(SystemTime::now() + Duration::from_secs(30));
    // A Messages API response's headers as Anthropic sends them; "tokens" (the sum) is a
    // unit this policy does not keep: skipped.
    let headers = vec![
        ("content-type", "application/json"),
        ("request-id", "req_011CSHoEeqs5C35K2UUqR7Fy"),
        (
            "anthropic-organization-id",
            "0f2bd9ab-0000-4000-8000-000000000000",
        ),
        ("anthropic-ratelimit-requests-limit", "50"),
        ("anthropic-ratelimit-requests-remaining", "49"),
        ("anthropic-ratelimit-requests-reset", reset.as_str()),
        ("anthropic-ratelimit-input-tokens-limit", "30000"),
        ("anthropic-ratelimit-input-tokens-remaining", "27000"),
        ("anthropic-ratelimit-input-tokens-reset", reset.as_str()),
        ("anthropic-ratelimit-output-tokens-limit", "8000"),
        ("anthropic-ratelimit-output-tokens-remaining", "7600"),
        ("anthropic-ratelimit-output-tokens-reset", reset.as_str()),
        ("anthropic-ratelimit-tokens-limit", "38000"),
        ("anthropic-ratelimit-tokens-remaining", "34600"),
        ("anthropic-ratelimit-tokens-reset", reset.as_str()),
    ];
    assert_eq!(lim.observe_headers(headers).unwrap(), 3);
    let cap = |unit| lim.usage(unit, MINUTE).unwrap().observed_cap;
    assert_eq!(cap("requests"), Some(49));
    assert_eq!(cap("input_tokens"), Some(27_000));
    assert_eq!(cap("output_tokens"), Some(7_600));
    match lim.try_acquire_amounts(&[("output_tokens", 7_601)]) {
        Err(Error::WouldBlock { retry_after, .. }) => {
            let r = retry_after.unwrap();
            assert!(
                r > Duration::from_secs(25) && r <= Duration::from_secs(31),
                "{r:?}"
            );
        }
        other => panic!("the provider said 7600 output tokens: {other:?}"),
    }
    let p = lim
        .try_acquire_amounts(&[("output_tokens", 7_600)])
        .unwrap();
    drop(p);

    // a 429's Retry-After pauses every sharer
    let reg = Registry::open("local:").unwrap();
    let name = unique("anthropic");
    reg.register_policy(&name, &[Limit::window("requests", 50, MINUTE)], false)
        .unwrap();
    let (a, b) = (reg.get(&name).unwrap(), reg.get(&name).unwrap());
    assert_eq!(a.observe_headers([("Retry-After", "2")]).unwrap(), 1);
    match b.try_acquire() {
        Err(Error::WouldBlock { retry_after, .. }) => {
            let r = retry_after.unwrap();
            assert!(
                r > Duration::from_secs(1) && r <= Duration::from_secs(2),
                "{r:?}"
            );
        }
        other => panic!("paused by Retry-After: {other:?}"),
    };
}

#[test]
fn usage_reports_each_limit() {
    let lim = Limiter::with_policy(&[
        Limit::window("tokens", 100, Duration::from_secs(30)),
        Limit::held("requests", 1),
    ])
    .unwrap();
    let u = lim.usage("tokens", Duration::from_secs(30)).unwrap();
    assert_eq!(u.max, 100);
    assert_eq!(u.window, Duration::from_secs(30));
    assert_eq!(
        (u.used, u.observed_cap, u.next_room),
        (0, None, Some(Duration::ZERO))
    );
    let p = lim.acquire_amounts(&[("tokens", 100)], None).unwrap();
    let u = lim.usage("tokens", Duration::from_secs(30)).unwrap();
    assert_eq!(u.used, 100);
    let room = u.next_room.unwrap();
    assert!(
        room > Duration::from_secs(29) && room <= Duration::from_secs(30),
        "{room:?}"
    );
    let held = lim.usage("requests", Duration::ZERO).unwrap();
    assert_eq!((held.max, held.window, held.used), (1, Duration::ZERO, 1));
    assert_eq!(held.next_room, None, "only a release makes room");
    drop(p);
    assert_eq!(
        lim.usage("requests", Duration::ZERO).unwrap().next_room,
        Some(Duration::ZERO)
    );
    match lim.usage("tokens", MINUTE) {
        Err(Error::NotFound(_)) => {}
        other => panic!("no such limit: {other:?}"),
    }
    match lim.usage("output_tokens", Duration::ZERO) {
        Err(Error::NotFound(_)) => {}
        other => panic!("no such limit: {other:?}"),
    }
}

#[test]
fn provider_policies() {
    let p = preset_policy("openai_tier1_gpt_4o").unwrap();
    assert_eq!(p.name, "openai_tier1_gpt_4o");
    assert_eq!(
        p.limits,
        vec![
            Limit::window("requests", 500, MINUTE),
            Limit::window("tokens", 30_000, MINUTE)
        ]
    );
    assert_eq!(p.source_date.len(), 10, "{}", p.source_date);
    assert!(p.source.starts_with("http"), "{}", p.source);
    assert!(!p.description.is_empty());
    assert_eq!(
        preset_policy("OPENAI_TIER1_GPT_4O").unwrap(),
        p,
        "case-insensitive"
    );
    match preset_policy("no_such_provider") {
        Err(Error::NotFound(_)) => {}
        other => panic!("{other:?}"),
    }
    assert_invalid(preset_policy("a\0b"), "NUL byte");

    let all = preset_policies().unwrap();
    assert!(all.len() >= 10, "{} provider policies", all.len());
    assert!(all.contains(&p));
    let anthropic = all
        .iter()
        .find(|q| q.name.starts_with("anthropic_"))
        .expect("an Anthropic policy");
    let units: Vec<_> = anthropic.limits.iter().map(|l| l.unit.as_str()).collect();
    assert!(
        units.contains(&"input_tokens") && units.contains(&"output_tokens"),
        "{units:?}"
    );
    let mut names: Vec<_> = all.iter().map(|q| q.name.clone()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), all.len(), "names repeat");
    // every one of them is a policy the library takes
    let reg = Registry::open("local:").unwrap();
    for q in &all {
        assert!(!q.limits.is_empty(), "{}", q.name);
        reg.register_policy(&q.name, &q.limits, false)
            .unwrap_or_else(|e| panic!("{}: {e}", q.name));
        assert_eq!(reg.get(&q.name).unwrap().policy().unwrap(), q.limits);
    }
}

#[test]
fn async_acquire_with_amounts() {
    let lim = Limiter::with_policy(&[
        Limit::window("tokens", 100, MINUTE),
        Limit::held("requests", 1),
    ])
    .unwrap();
    // The future owns copies of the units: the strings may go before it is polled.
    let fut = {
        let unit = String::from("tokens");
        lim.acquire_amounts_async(&[(unit.as_str(), 60)], None)
    };
    let p = block_on(fut).unwrap();
    assert_eq!(lim.usage("tokens", MINUTE).unwrap().used, 60);

    // Waits while the held request is taken; dropping it cancels and leaves nothing.
    let mut waiting = lim.acquire_amounts_async(&[("tokens", 10)], None);
    assert!(poll_once(&mut waiting).is_pending());
    assert_eq!(lim.stats().unwrap().waiting, 1);
    drop(waiting);
    assert_eq!(lim.stats().unwrap().waiting, 0);

    // Granted when another thread releases.
    let held = p.into_owned();
    let releaser = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        held.settle(&[("tokens", 20)]).unwrap();
        drop(held);
    });
    let q = block_on(lim.acquire_amounts_async(&[("tokens", 80)], Some(Duration::from_secs(5))))
        .unwrap();
    releaser.join().unwrap();
    assert_eq!(lim.usage("tokens", MINUTE).unwrap().used, 100);
    drop(q);

    // Errors come out of the first poll.
    match block_on(lim.acquire_amounts_async(&[("tok\0ens", 1)], None)) {
        Err(Error::Invalid(_)) => {}
        other => panic!("{other:?}"),
    }
    match block_on(lim.acquire_amounts_async(&[("output_tokens", 1)], None)) {
        Err(Error::Invalid(_)) => {}
        other => panic!("{other:?}"),
    }
    match block_on(lim.acquire_amounts_async(&[("tokens", 1)], Some(Duration::from_millis(30)))) {
        Err(Error::TimedOut(_)) => {}
        other => panic!("the window is full: {other:?}"),
    }
    let st = lim.stats().unwrap();
    assert_eq!((st.in_flight, st.waiting), (0, 0));
}

/// A small xorshift generator: the crate takes no dependencies, not even for tests.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn raise(peak: &AtomicI64, v: i64) {
    peak.fetch_max(v, Ordering::SeqCst);
}

#[test]
fn every_limit_holds_under_threads_seen_from_outside() {
    // Four limits at once: requests and tokens per window, tokens and requests held. Threads
    // of two handles ask random amounts and settle below their estimate; an outside observer
    // counts what they hold and which grants lie provably inside one window.
    const WINDOW: Duration = Duration::from_millis(250);
    const REQUESTS: usize = 12;
    const TOKENS: u64 = 1000;
    const HELD_TOKENS: i64 = 500;
    const HELD: i64 = 3;
    let reg = Registry::open("local:").unwrap();
    reg.register_policy(
        "quota",
        &[
            Limit::window("requests", REQUESTS as u64, WINDOW),
            Limit::window("tokens", TOKENS, WINDOW),
            Limit::held("tokens", HELD_TOKENS as u64),
            Limit::held("requests", HELD as u64),
        ],
        false,
    )
    .unwrap();
    let held_tokens = Arc::new(AtomicI64::new(0));
    let held = Arc::new(AtomicI64::new(0));
    let peak_tokens = Arc::new(AtomicI64::new(0));
    let peak = Arc::new(AtomicI64::new(0));
    // (call start, acquire returned, tokens finally counted)
    let seen: Arc<Mutex<Vec<(Instant, Instant, u64)>>> = Arc::default();
    let end = Instant::now() + Duration::from_millis(1500);
    let threads: Vec<_> = (0..6u64)
        .map(|i| {
            let lim = reg.get("quota").unwrap();
            let (held_tokens, held, peak_tokens, peak, seen) = (
                held_tokens.clone(),
                held.clone(),
                peak_tokens.clone(),
                peak.clone(),
                seen.clone(),
            );
            thread::spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((i + 1) * 0x1234_5678));
                while Instant::now() < end {
                    let estimate = 1 + rng.next() % 300;
                    let start = Instant::now();
                    let p = match lim
                        .acquire_amounts(&[("tokens", estimate)], Some(Duration::from_millis(100)))
                    {
                        Ok(p) => p,
                        Err(Error::TimedOut(_)) => continue,
                        Err(e) => panic!("{e}"),
                    };
                    let granted = Instant::now();
                    raise(
                        &peak_tokens,
                        held_tokens.fetch_add(estimate as i64, Ordering::SeqCst) + estimate as i64,
                    );
                    raise(&peak, held.fetch_add(1, Ordering::SeqCst) + 1);
                    thread::sleep(Duration::from_micros(200 + rng.next() % 2000));
                    let actual = estimate - rng.next() % (estimate + 1);
                    // the observer lets go first: the settle frees room for others at once
                    held_tokens.fetch_sub((estimate - actual) as i64, Ordering::SeqCst);
                    p.settle(&[("tokens", actual)]).unwrap();
                    seen.lock().unwrap().push((start, granted, actual));
                    held.fetch_sub(1, Ordering::SeqCst);
                    held_tokens.fetch_sub(actual as i64, Ordering::SeqCst);
                    p.release().unwrap();
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let seen = seen.lock().unwrap();
    assert!(
        seen.len() > 20,
        "only {} grants: the test says nothing",
        seen.len()
    );
    assert!(
        peak.load(Ordering::SeqCst) <= HELD,
        "{} requests held at once",
        peak.load(Ordering::SeqCst)
    );
    assert!(
        peak_tokens.load(Ordering::SeqCst) <= HELD_TOKENS,
        "{} tokens held at once",
        peak_tokens.load(Ordering::SeqCst)
    );
    // Grants whose whole call lies in [s, s + WINDOW) were granted within one window.
    let (mut busiest_requests, mut busiest_tokens) = (0, 0);
    for &(s, _, _) in seen.iter() {
        let inside: Vec<_> = seen
            .iter()
            .filter(|&&(a, b, _)| a >= s && b < s + WINDOW)
            .collect();
        busiest_requests = busiest_requests.max(inside.len());
        busiest_tokens = busiest_tokens.max(inside.iter().map(|g| g.2).sum::<u64>());
    }
    assert!(
        busiest_requests <= REQUESTS,
        "{busiest_requests} requests in one window"
    );
    assert!(
        busiest_tokens <= TOKENS,
        "{busiest_tokens} tokens in one window"
    );
    // the limits were reached, or the test saw no contention
    assert!(
        peak.load(Ordering::SeqCst) == HELD || busiest_requests == REQUESTS,
        "no limit was ever full: peak {}, busiest window {busiest_requests}",
        peak.load(Ordering::SeqCst)
    );
    let lim = reg.get("quota").unwrap();
    let st = lim.stats().unwrap();
    assert_eq!((st.in_flight, st.waiting), (0, 0));
    assert_eq!(
        lim.usage("tokens", Duration::ZERO).unwrap().used,
        0,
        "held tokens not given back"
    );
}
