// SPDX-License-Identifier: MIT
// ptl_fuzz_capi: the input is a program of C ABI calls. Byte 0 picks the registry (bit 0:
// shm:// on a segment named for this process, created afresh and unlinked for every
// input; else bit 2: the process default registry (NULL), emptied after every input; else
// a private local: one) and bit 1 says to release what is held before closing; every later
// step is an opcode and its operands (capi_ops.hpp, capi_limiter_ops.hpp; make_seeds.py
// writes seeds in this encoding). The harness traps on a status outside a call's
// documented outcomes, a failure without a message, a registry that disagrees with the
// harness's model, a permit or an outcome counted wrong in a private limiter's statistics,
// grants over quota, or an async callback that runs twice or never. Every input ends with
// everything cancelled, dropped and closed, so LeakSanitizer sees any leak.
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "capi_ops.hpp"

namespace {

using ptl_fuzz::Input;
using ptl_fuzz::Model;

std::string& segment_name() {
  static std::string name = "ptlfuzz." + std::to_string(getpid());
  return name;
}

void unlink_segment() {
  shm_unlink(("/ptl." + segment_name()).c_str());  // the file /dev/shm/ptl.NAME
}

// Every callback must have run by the end of the input: pending acquires were cancelled
// and their limiters closed. One may still be running on a library thread, so wait a
// little (never long: the libFuzzer -timeout is the backstop).
void await_callbacks(Model& m) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  for (auto& r : m.records()) {
    if (r->call_failed) {
      ptl_fuzz::require(r->calls.load() == 0, "ptl_acquire_async", r->status.load(),
                        "the call failed but its callback ran");
      continue;
    }
    while (r->calls.load() == 0) {
      if (std::chrono::steady_clock::now() > give_up) {
        ptl_fuzz::violation("ptl_acquire_async", 0, "callback never ran");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
}

// Cancels what is pending, optionally releases what is held, drops every handle and
// closes the registry.
void finish(Model& m, ptl_registry* reg, bool release_all) {
  m.adopt();
  for (auto& r : m.records()) {
    if (r->call_failed || r->ticket == 0 || r->obj->refs == 0 || r->calls.load() != 0) continue;
    const int rc = ptl_fuzz::expect("ptl_cancel", ptl_cancel(r->obj->lim, r->ticket),
                                    {PTL_OK, PTL_ENOTFOUND, m.closed(r->obj)});
    if (rc == PTL_OK) {
      ptl_fuzz::require(r->calls.load() == 1 && r->status.load() == PTL_ECANCELED, "ptl_cancel", rc,
                        "cancelled, but the callback did not run with PTL_ECANCELED");
    }
  }
  m.adopt();
  if (release_all) {
    for (ptl_fuzz::Held& h : m.held()) {
      if (h.released || h.obj->refs == 0) continue;
      ptl_fuzz::expect("ptl_release", ptl_release(h.obj->lim, h.permit), {PTL_OK, m.closed(h.obj)});
      h.released = true;
    }
  }
  m.drop_all();
  if (reg == nullptr) {  // the default registry stays open: empty it for the next input
    ptl_fuzz::expect("ptl_registry_reset", ptl_registry_reset(nullptr), {PTL_OK});
  }
  ptl_registry_close(reg);
  await_callbacks(m);
  m.adopt();
  m.check_windows();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  ptl_log_set_level(PTL_LOG_OFF);
  ptl_log_set_callback(ptl_fuzz::on_log, nullptr);
  const char* trace = std::getenv("PTL_FUZZ_TRACE");  // NOLINT(concurrency-mt-unsafe)
  ptl_fuzz::g_trace = trace != nullptr && *trace != '\0' && *trace != '0';
  // The process default registry (NULL) must be a local: one.
  unsetenv("PTL_REGISTRY_URI");  // NOLINT(concurrency-mt-unsafe): no other thread yet
  unlink_segment();
  std::atexit(unlink_segment);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  const uint8_t mode = in.u8();
  const bool shm = (mode & 1) != 0;
  ptl_registry* reg = nullptr;  // NULL: the process default registry
  if (shm || (mode & 4) == 0) {
    const std::string uri = shm ? "shm://" + segment_name() : "local:";
    ptl_fuzz::expect("ptl_registry_open", ptl_registry_open(uri.c_str(), &reg), {PTL_OK});
  }
  {
    Model m(shm);
    for (int steps = 0; !in.empty() && steps < 400; ++steps) ptl_fuzz::step(in, m, reg);
    finish(m, reg, (mode & 2) != 0);
  }
  if (shm) unlink_segment();
  ptl_log_set_level(PTL_LOG_OFF);  // an input may have turned it on
  return 0;
}
