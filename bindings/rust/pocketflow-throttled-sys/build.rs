// SPDX-License-Identifier: MIT
//! Links libpocketflow_throttled.
//!
//! Without the `bundled` feature, the installed library (shared), in this order:
//! 1. `PTL_LIB_DIR`, if set: the folder holding `libpocketflow_throttled.so`.
//! 2. Else the `pkg-config` crate: `pocketflow_throttled` 0.2 or newer (honours
//!    `PKG_CONFIG_PATH`; set it to `PREFIX/lib/pkgconfig` for a library installed under
//!    PREFIX). A failure names what pkg-config said and the two ways out.
//!
//! At run time the dynamic loader must find it too: the Debian package installs it into a
//! system folder; for another PREFIX, set `LD_LIBRARY_PATH=PREFIX/lib`.
//!
//! With `bundled`: builds the library from the sources in `vendor/` (staged by
//! `bindings/rust/package.sh`) or, in a checkout of the repository, from the repository
//! itself, with the `cmake` crate (Release; no tests, examples or tools; the redis://
//! backend if pkg-config finds hiredis), and links its static archives, then the shared
//! libraries they need: spdlog and fmt (through pkg-config), hiredis, the C++ runtime.

/// The oldest library whose ABI has everything src/lib.rs declares (ptl_policy: ABI 0.2).
#[cfg(not(feature = "bundled"))]
const MIN_VERSION: &str = "0.2.0";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PTL_LIB_DIR");
    #[cfg(feature = "bundled")]
    bundled::build();
    #[cfg(not(feature = "bundled"))]
    system();
}

#[cfg(not(feature = "bundled"))]
fn system() {
    if let Some(dir) = std::env::var_os("PTL_LIB_DIR").filter(|d| !d.is_empty()) {
        println!("cargo:rustc-link-search=native={}", dir.to_string_lossy());
        println!("cargo:rustc-link-lib=dylib=pocketflow_throttled");
        return;
    }
    match pkg_config::Config::new()
        .atleast_version(MIN_VERSION)
        .probe("pocketflow_throttled")
    {
        Ok(lib) => {
            if let Some(inc) = lib.include_paths.first() {
                println!("cargo:include={}", inc.display());
            }
        }
        Err(e) => {
            eprintln!("{e}");
            panic!(
                "pocketflow-throttled-sys: libpocketflow_throttled >= {MIN_VERSION} not found \
                 through pkg-config. Install it (the Debian package libpocketflow-throttled-dev, \
                 or `cmake --install BUILD --prefix PREFIX` and PKG_CONFIG_PATH=PREFIX/lib/pkgconfig), \
                 set PTL_LIB_DIR to the folder holding libpocketflow_throttled.so, or enable the \
                 `bundled` feature to build it from source"
            );
        }
    }
}

#[cfg(feature = "bundled")]
mod bundled {
    use std::env;
    use std::path::{Path, PathBuf};

    /// Where the library's sources are: the staged copy in vendor/, else the repository that
    /// this crate's folder sits in (bindings/rust/pocketflow-throttled-sys).
    pub(super) fn sources() -> PathBuf {
        let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
        let vendor = manifest.join("vendor");
        let checkout = manifest.join("../../..");
        for dir in [vendor, checkout] {
            if is_source_tree(&dir) {
                return dir;
            }
        }
        panic!(
            "pocketflow-throttled-sys: feature `bundled`, but neither {}/vendor nor a repository \
             checkout around it holds the library's sources (a packaged crate carries them in \
             vendor/: package it with bindings/rust/package.sh)",
            manifest.display()
        );
    }

    fn is_source_tree(dir: &Path) -> bool {
        dir.join("CMakeLists.txt").is_file()
            && dir.join("capi/CMakeLists.txt").is_file()
            && dir.join("include/pocketflow_throttled/ptl.h").is_file()
    }

    pub fn build() {
        let src = sources();
        for dir in [
            "CMakeLists.txt",
            "cmake",
            "capi",
            "src",
            "include",
            "pkgconfig",
        ] {
            println!("cargo:rerun-if-changed={}", src.join(dir).display());
        }
        // The same feature set as the Debian package: redis:// when hiredis is there.
        let hiredis = pkg_config::Config::new()
            .cargo_metadata(false)
            .probe("hiredis")
            .is_ok();
        let out = cmake::Config::new(&src)
            .profile("Release")
            .define("PTL_BUILD_STATIC_CAPI", "ON")
            .define("PTL_BUILD_TESTS", "OFF")
            .define("PTL_BUILD_EXAMPLES", "OFF")
            .define("PTL_BUILD_TOOLS", "OFF")
            .define("PTL_UNITY_BUILD", "ON") // a one-off build: a few batches, not 70 files
            .define("PTL_WITH_REDIS", if hiredis { "ON" } else { "OFF" })
            .build_target("ptl_capi_static")
            .build();
        // build_target skips the install step: the archives are where the build left them.
        let build = out.join("build");
        println!(
            "cargo:rustc-link-search=native={}",
            build.join("capi").display()
        );
        println!(
            "cargo:rustc-link-search=native={}",
            build.join("src").display()
        );
        println!("cargo:rustc-link-lib=static=ptl_capi_static");
        println!("cargo:rustc-link-lib=static=ptl_core");
        // What the archives reference: spdlog (and fmt, which its .pc file requires).
        if let Err(e) = pkg_config::Config::new().probe("spdlog") {
            panic!("pocketflow-throttled-sys: feature `bundled` needs spdlog (pkg-config): {e}");
        }
        if hiredis {
            pkg_config::Config::new().probe("hiredis").unwrap();
        }
        let target = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
        let cxx = if target == "macos" { "c++" } else { "stdc++" };
        println!("cargo:rustc-link-lib=dylib={cxx}");
        println!("cargo:rustc-link-lib=dylib=pthread");
        println!("cargo:include={}", src.join("include").display());
        println!("cargo:bundled=1");
    }
}
