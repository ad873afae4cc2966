// SPDX-License-Identifier: MIT
//! Every failure is the right `Error` variant, with the library's message.
mod common;

use std::time::Duration;

use pocketflow_throttled::{set_log_level, Config, Error, Limiter, Registry};

fn local() -> Registry {
    Registry::open("local:").unwrap()
}

#[test]
fn bad_names_are_invalid_with_a_message() {
    let reg = local();
    let cfg = Config::default();
    for name in ["", "a\0b", &"x".repeat(256)] {
        match reg.register(name, &cfg) {
            Err(e @ Error::Invalid(_)) => {
                assert!(!e.message().is_empty());
                assert!(e.to_string().starts_with("PTL_EINVAL: "), "{e}");
            }
            other => panic!("{name:?}: {other:?}"),
        }
    }
    reg.register(&"x".repeat(255), &cfg).unwrap();
    reg.register("ünïcode ✓", &cfg).unwrap();
}

#[test]
fn a_nul_byte_is_invalid_in_every_name_and_uri() {
    // C would see "a\0b" end at the NUL: "a". Refused before the call, in every call.
    let reg = local();
    let cfg = Config::default();
    reg.register("a", &cfg).unwrap();
    let bad = "a\0b";
    let invalid = |r: Result<(), Error>, call: &str| match r {
        Err(e @ Error::Invalid(_)) => assert!(e.message().contains("NUL"), "{call}: {e}"),
        other => panic!("{call}: {other:?}"),
    };
    invalid(reg.register(bad, &cfg), "register");
    invalid(reg.register_or_replace(bad, &cfg), "register_or_replace");
    invalid(reg.get(bad).map(drop), "get");
    invalid(reg.get_or_create(bad, &cfg).map(drop), "get_or_create");
    invalid(reg.exists(bad).map(drop), "exists");
    invalid(reg.remove(bad), "remove");
    invalid(reg.stats(bad).map(drop), "stats");
    invalid(Registry::open("local:\0x").map(drop), "open");
    let names: Vec<String> = reg.list().unwrap().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["a"]);
}

#[test]
fn missing_and_duplicate_names() {
    let reg = local();
    assert!(matches!(reg.get("nobody"), Err(Error::NotFound(m)) if m.contains("nobody")));
    assert!(matches!(reg.stats("nobody"), Err(Error::NotFound(_))));
    reg.register("dup", &Config::default()).unwrap();
    let e = reg.register("dup", &Config::default()).unwrap_err();
    assert_eq!((e.status(), e.name()), (-3, "PTL_EEXIST"));
    assert!(matches!(e, Error::Exists(_)));
}

#[test]
fn bad_configs_are_invalid() {
    let bad = [
        Config {
            max_concurrent: 0,
            ..Config::default()
        },
        Config {
            window: Duration::ZERO,
            ..Config::default()
        },
    ];
    for c in bad {
        assert!(matches!(Limiter::new(&c), Err(Error::Invalid(_))), "{c:?}");
        assert!(
            matches!(local().register("x", &c), Err(Error::Invalid(_))),
            "{c:?}"
        );
    }
}

#[test]
fn bad_uris_are_invalid() {
    for uri in ["bogus://x", "", "shm://bad/name", "shm://"] {
        match Registry::open(uri) {
            Err(Error::Invalid(m)) => assert!(!m.is_empty()),
            other => panic!("{uri:?}: {other:?}"),
        }
    }
}

#[test]
fn every_status_maps_to_its_variant_and_back() {
    for status in [-1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11, -99, -42] {
        let e = Error::from_status(status, "m".into());
        assert_eq!(e.status(), status);
        assert_eq!(e.message(), "m");
    }
    assert!(matches!(
        Error::from_status(-4, String::new()),
        Error::TimedOut(_)
    ));
    assert!(matches!(
        Error::from_status(-6, String::new()),
        Error::Canceled(_)
    ));
    assert!(matches!(
        Error::from_status(-7, String::new()),
        Error::Backend(_)
    ));
    assert!(matches!(
        Error::from_status(-8, String::new()),
        Error::Closed(_)
    ));
    assert_eq!(Error::from_status(-42, String::new()).name(), "PTL_UNKNOWN");
    assert_eq!(
        Error::from_status(-10, String::new()).to_string(),
        "PTL_ERATELIMITED"
    );
}

#[test]
fn errors_work_with_question_mark_and_box_dyn_error() -> Result<(), Box<dyn std::error::Error>> {
    let reg = local();
    let e: Box<dyn std::error::Error> = reg.get("nobody").unwrap_err().into();
    assert!(e.to_string().starts_with("PTL_ENOTFOUND"));
    assert!(matches!(set_log_level(7), Err(Error::Invalid(_))));
    set_log_level(6)?;
    Ok(())
}

#[test]
fn a_stale_permit_value_is_refused_by_the_library() {
    // The crate's types make a double release impossible (Permit::release consumes it; see
    // the compile_fail doctest on Permit); the C ABI still refuses a stale value.
    let lim = Limiter::new(&Config::default()).unwrap();
    let p = lim.acquire(None).unwrap();
    let v = p.value();
    p.release().unwrap();
    let rc = unsafe { pocketflow_throttled::sys::ptl_release(lim.as_raw(), v) };
    assert_eq!(rc, pocketflow_throttled::sys::PTL_EINVAL);
    assert_eq!(lim.stats().unwrap().in_flight, 0);
}
