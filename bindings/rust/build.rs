// SPDX-License-Identifier: MIT
//! Finds libpocketflow_throttled for linking.
//!
//! 1. `PTL_LIB_DIR`, if set: the directory holding `libpocketflow_throttled.so`.
//! 2. Else `pkg-config --libs pocketflow_throttled` (honours `PKG_CONFIG_PATH`; set it to
//!    `PREFIX/lib/pkgconfig` for a library installed under PREFIX).
//! 3. Else the linker's default search path (a system-wide install in /usr/lib, say).
//!
//! At run time the dynamic loader must find the library too: install it system-wide, or set
//! `LD_LIBRARY_PATH=PREFIX/lib` (what `test.sh` does).
use std::env;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PTL_LIB_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-changed=build.rs");

    if let Some(dir) = env::var_os("PTL_LIB_DIR").filter(|d| !d.is_empty()) {
        println!("cargo:rustc-link-search=native={}", dir.to_string_lossy());
    } else if let Some(flags) = pkg_config_libs() {
        for dir in flags
            .split_whitespace()
            .filter_map(|f| f.strip_prefix("-L"))
        {
            println!("cargo:rustc-link-search=native={dir}");
        }
    } else {
        println!(
            "cargo:warning=pocketflow_throttled: neither PTL_LIB_DIR nor pkg-config found the \
             library; linking with the default search path"
        );
    }
    println!("cargo:rustc-link-lib=dylib=pocketflow_throttled");
}

fn pkg_config_libs() -> Option<String> {
    let pkg_config = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into());
    let out = Command::new(pkg_config)
        .args(["--libs", "pocketflow_throttled"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
