// SPDX-License-Identifier: MIT
//! The crate links a working library: calls that need no registry answer as ptl.h says.
use pocketflow_throttled_sys as sys;
use std::ffi::CStr;

#[test]
fn status_names_come_from_the_linked_library() {
    let name = unsafe { CStr::from_ptr(sys::ptl_status_name(sys::PTL_ETIMEDOUT)) };
    assert_eq!(name.to_str().unwrap(), "PTL_ETIMEDOUT");
}

#[test]
fn config_init_fills_the_documented_defaults() {
    let mut cfg = sys::ptl_limiter_config::default();
    unsafe { sys::ptl_limiter_config_init(&mut cfg) };
    assert_eq!(
        cfg.struct_size as usize,
        std::mem::size_of::<sys::ptl_limiter_config>()
    );
    assert_eq!(cfg.max_concurrent, 5);
    assert_eq!(cfg.window_seconds, 60.0);
}
