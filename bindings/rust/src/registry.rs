// SPDX-License-Identifier: MIT
//! Registries: limiters by name, in one process (`local:`), one host (`shm://NAME`) or a
//! fleet (`redis://HOST:PORT`).
use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_void};
use std::ptr;

use crate::config::{c_string, Config, Stats};
use crate::error::{check, Error, Result};
use crate::limiter::Limiter;
use crate::sys;

/// A registry of named limiters. Every component that uses the same name in the same
/// registry shares the same limits.
///
/// [`Registry::default()`] is the process's default registry (its backend comes from the
/// environment variable `PTL_REGISTRY_URI`, default `local:`); [`Registry::open`] opens
/// another one. A registry is `Send + Sync`: share it by reference or in an `Arc`.
///
/// ```
/// use pocketflow_throttled::{Config, Registry};
/// let reg = Registry::open("local:")?;          // or Registry::default(), "shm://app"...
/// reg.register("openai", &Config { max_concurrent: 10, max_per_window: 60, ..Config::default() })?;
/// let openai = reg.get("openai")?;             // anywhere: a cheap, clonable handle
/// let permit = openai.acquire(None)?;          // released when dropped
/// # drop(permit);
/// # Ok::<(), pocketflow_throttled::Error>(())
/// ```
#[derive(Debug)]
pub struct Registry {
    raw: *mut sys::ptl_registry, // NULL: the process default registry
}

// SAFETY: every ptl_registry_* function is thread-safe (ptl.h).
unsafe impl Send for Registry {}
unsafe impl Sync for Registry {}

impl Default for Registry {
    /// The process default registry (never closed).
    fn default() -> Self {
        Registry {
            raw: ptr::null_mut(),
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // SAFETY: raw came from ptl_registry_open (NULL, the default, is ignored). Limiters
        // obtained from it stay valid until dropped.
        unsafe { sys::ptl_registry_close(self.raw) }
    }
}

impl Registry {
    /// The C handle (NULL for the default registry), still owned by `self`.
    pub(crate) fn as_raw(&self) -> *mut sys::ptl_registry {
        self.raw
    }

    /// Opens a registry: `"local:"` (a new private in-process registry), `"shm://NAME"`
    /// (processes of this host) or `"redis://HOST:PORT[/DB][?prefix=P]"` (many hosts).
    /// An unknown scheme is [`Error::Invalid`]; an unreachable server is [`Error::Backend`].
    pub fn open(uri: &str) -> Result<Registry> {
        let c_uri = c_string("URI", uri)?;
        let mut raw = ptr::null_mut();
        // SAFETY: valid C string and out-pointer.
        check(unsafe { sys::ptl_registry_open(c_uri.as_ptr(), &mut raw) })?;
        Ok(Registry { raw })
    }

    /// Registers limiter `name` with `config`; [`Error::Exists`] if there is one already.
    /// Names are 1 to 255 bytes.
    pub fn register(&self, name: &str, config: &Config) -> Result<()> {
        self.register_flags(name, config, 0)
    }

    /// Registers `name`, or changes its limits in place if it exists (`PTL_REPLACE`):
    /// permits in flight and the window's history still count.
    pub fn register_or_replace(&self, name: &str, config: &Config) -> Result<()> {
        self.register_flags(name, config, sys::PTL_REPLACE)
    }

    fn register_flags(&self, name: &str, config: &Config, flags: u32) -> Result<()> {
        let c_name = c_string("name", name)?;
        let raw_cfg = config.to_raw();
        // SAFETY: valid pointers for the duration of the call.
        check(unsafe { sys::ptl_registry_register(self.raw, c_name.as_ptr(), &raw_cfg, flags) })
    }

    /// A handle to limiter `name`; [`Error::NotFound`] if there is none. Keep the handle
    /// on hot paths instead of looking the name up each time.
    pub fn get(&self, name: &str) -> Result<Limiter> {
        let c_name = c_string("name", name)?;
        let mut out = ptr::null_mut();
        // SAFETY: valid pointers; on success *out holds a new reference we own.
        check(unsafe { sys::ptl_registry_get(self.raw, c_name.as_ptr(), &mut out) })?;
        Ok(unsafe { Limiter::from_owned_raw(out) })
    }

    /// Like [`get`](Self::get), but first registers `name` with `config` if it does not
    /// exist, in one atomic step (`config` is ignored for an existing limiter).
    pub fn get_or_create(&self, name: &str, config: &Config) -> Result<Limiter> {
        let c_name = c_string("name", name)?;
        let raw_cfg = config.to_raw();
        let mut out = ptr::null_mut();
        // SAFETY: as in get.
        check(unsafe {
            sys::ptl_registry_get_or_create(self.raw, c_name.as_ptr(), &raw_cfg, &mut out)
        })?;
        Ok(unsafe { Limiter::from_owned_raw(out) })
    }

    /// Whether limiter `name` exists.
    pub fn exists(&self, name: &str) -> Result<bool> {
        let c_name = c_string("name", name)?;
        // SAFETY: valid C string.
        match unsafe { sys::ptl_registry_exists(self.raw, c_name.as_ptr()) } {
            1 => Ok(true),
            0 => Ok(false),
            status => Err(Error::last(status)),
        }
    }

    /// Removes limiter `name` ([`Error::NotFound`] if there is none). Handles obtained
    /// earlier keep working on the removed limiter until dropped.
    pub fn remove(&self, name: &str) -> Result<()> {
        let c_name = c_string("name", name)?;
        // SAFETY: valid C string.
        check(unsafe { sys::ptl_registry_remove(self.raw, c_name.as_ptr()) })
    }

    /// Removes every limiter of the registry.
    pub fn reset(&self) -> Result<()> {
        // SAFETY: no pointers besides the handle.
        check(unsafe { sys::ptl_registry_reset(self.raw) })
    }

    /// The registered limiters and their configs, in name order.
    pub fn list(&self) -> Result<Vec<(String, Config)>> {
        unsafe extern "C" fn push(
            user: *mut c_void,
            name: *const c_char,
            cfg: *const sys::ptl_limiter_config,
        ) -> c_int {
            // SAFETY: user is the Vec below; name and cfg are valid during the call.
            let out = &mut *(user as *mut Vec<(String, Config)>);
            out.push((
                CStr::from_ptr(name).to_string_lossy().into_owned(),
                Config::from_raw(&*cfg),
            ));
            0
        }
        let mut out: Vec<(String, Config)> = Vec::new();
        // SAFETY: push only runs during this call, while `out` is alive.
        check(unsafe {
            sys::ptl_registry_list(self.raw, push, &mut out as *mut _ as *mut c_void)
        })?;
        Ok(out)
    }

    /// The statistics of limiter `name`.
    pub fn stats(&self, name: &str) -> Result<Stats> {
        let c_name = c_string("name", name)?;
        let mut raw = Stats::raw_out();
        // SAFETY: valid pointers; struct_size set.
        check(unsafe { sys::ptl_registry_stats(self.raw, c_name.as_ptr(), &mut raw) })?;
        Ok(Stats::from_raw(&raw))
    }
}
