// SPDX-License-Identifier: MIT
// ptl_shm_worker: the other processes of the multi-process tests, started with
// posix_spawn. Usage: ptl_shm_worker MODE URI LIMITER OBSERVER_FD [ARGS...]
//   hammer TAG MILLIS  two threads acquire (in every way) and release until MILLIS
//   queue TAG          one blocking acquire; logs TAG when granted, then releases
//   hold N             takes N permits, reports ready, waits to be killed
//   wait               reports ready, then blocks in an acquire that never comes
//   async-wait         an async acquire that never comes; reports ready, waits
//   loop               two threads acquire and release back to back until killed
//   die-limiter        takes a permit, reports ready; once told to go, dies inside the
//                      limiter's lock (a white-box hook)
//   die-registry       dies inside the registry lock, LIMITER half removed (hook)
//   die-arena          dies inside the arena lock (hook)
// Exit status 0 on success; failures are printed and counted in the observer.
#include <pocketflow_throttled/ptl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "registry/registry_backend.hpp"
#include "registry/shm/testing.hpp"
#include "shm_observer.hpp"

namespace {

using ptl_test::mono_ns;
using ptl_test::SharedObserver;

SharedObserver* g_obs = nullptr;

void fail(const std::string& what) {
  std::fprintf(stderr, "ptl_shm_worker %d: %s (%s)\n", getpid(), what.c_str(), ptl_last_error());
  if (g_obs != nullptr) g_obs->failures.fetch_add(1);
}

[[noreturn]] void park() {
  for (;;) pause();  // until the test kills this process
}

struct Handles {
  ptl_registry* reg = nullptr;
  ptl_limiter* lim = nullptr;
  Handles(const char* uri, const char* name) {
    if (ptl_registry_open(uri, &reg) != PTL_OK) fail("open");
    if (reg != nullptr && ptl_registry_get(reg, name, &lim) != PTL_OK) fail("get");
  }
  ~Handles() {
    ptl_limiter_unref(lim);
    ptl_registry_close(reg);
  }
};

// One acquire in one of the ways users acquire, observed; 0 if nothing was granted.
void observed_call(ptl_limiter* lim, std::mt19937& rng, int tag) {
  const int64_t t0 = mono_ns();
  ptl_permit p = 0;
  int rc = PTL_OK;
  switch (rng() % 4) {
    case 0:
      rc = ptl_acquire(lim, -1, &p);
      break;
    case 1:
      rc = ptl_acquire(lim, static_cast<int64_t>(rng() % 3000000), &p);
      break;
    case 2:
      rc = ptl_try_acquire(lim, &p, nullptr);
      break;
    default: {
      struct Slot {
        std::atomic<int> status{1};
        std::atomic<ptl_permit> permit{0};
      } slot;
      rc = ptl_acquire_async(
          lim, 1, static_cast<int64_t>(rng() % 3000000),
          [](void* u, int status, ptl_permit permit) {
            auto* s = static_cast<Slot*>(u);
            s->permit = permit;
            s->status = status;
          },
          &slot, nullptr);
      if (rc != PTL_OK) break;
      while (slot.status.load() == 1) std::this_thread::yield();
      rc = slot.status.load();
      p = slot.permit.load();
    }
  }
  if (rc != PTL_OK) {
    if (rc != PTL_EAGAIN && rc != PTL_ETIMEDOUT) fail("acquire: " + std::to_string(rc));
    return;
  }
  g_obs->on_grant(t0, tag);
  if (rng() % 2) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 300));
  g_obs->on_release();
  if (ptl_release(lim, p) != PTL_OK) fail("release");
}

int hammer(const char* uri, const char* name, int tag, int64_t millis) {
  Handles h(uri, name);
  if (h.lim == nullptr) return 1;
  const int64_t end = mono_ns() + millis * 1000000;
  std::vector<std::thread> ts;
  for (int t = 0; t < 2; ++t) {
    ts.emplace_back([&, t] {
      std::mt19937 rng(static_cast<uint32_t>(getpid() * 31 + t));
      while (mono_ns() < end) observed_call(h.lim, rng, tag);
    });
  }
  for (auto& t : ts) t.join();
  return 0;
}

int queue(const char* uri, const char* name, int tag) {
  Handles h(uri, name);
  if (h.lim == nullptr) return 1;
  const int64_t t0 = mono_ns();
  ptl_permit p = 0;
  if (ptl_acquire(h.lim, 60LL * 1000000000, &p) != PTL_OK) {
    fail("queued acquire");
    return 1;
  }
  g_obs->on_grant(t0, tag);
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  g_obs->on_release();
  return ptl_release(h.lim, p) == PTL_OK ? 0 : 1;
}

int hold(const char* uri, const char* name, int n) {
  Handles h(uri, name);
  for (int i = 0; i < n; ++i) {
    ptl_permit p = 0;
    if (ptl_acquire(h.lim, 0, &p) != PTL_OK) fail("hold acquire");
  }
  g_obs->ready.fetch_add(1);
  park();
}

int wait_forever(const char* uri, const char* name, bool async) {
  Handles h(uri, name);
  if (async) {
    uint64_t ticket = 0;
    if (ptl_acquire_async(
            h.lim, 1, -1, [](void*, int, ptl_permit) {}, nullptr, &ticket) != PTL_OK) {
      fail("async acquire");
    }
    g_obs->ready.fetch_add(1);
    park();
  }
  g_obs->ready.fetch_add(1);
  ptl_permit p = 0;
  ptl_acquire(h.lim, -1, &p);
  fail("a wait that should never end ended");
  park();
}

int loop(const char* uri, const char* name) {
  Handles h(uri, name);
  std::vector<std::thread> ts;
  for (int t = 0; t < 2; ++t) {
    ts.emplace_back([&] {
      for (uint64_t i = 0;; ++i) {
        ptl_permit p = 0;
        if (ptl_acquire(h.lim, -1, &p) != PTL_OK) fail("loop acquire");
        if (ptl_release(h.lim, p) != PTL_OK) fail("loop release");
        if (i == 100) g_obs->ready.fetch_add(1);
      }
    });
  }
  park();
}

int die(const std::string& mode, const char* uri, const char* name) {
  std::unique_ptr<ptl::core::RegistryBackend> reg = ptl::core::RegistryBackend::open(uri);
  if (mode == "die-limiter") {
    ptl::core::LimiterPtr lim = reg->get(name);
    ptl::core::PermitId p = 0;
    if (!lim || lim->acquire_cost(1, 0, &p) != ptl::core::Status::kOk) fail("die-limiter acquire");
    g_obs->ready.fetch_add(1);
    while (g_obs->go.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ptl::shm::testing::die_in_limiter_lock(*reg, name);
  }
  if (mode == "die-registry") ptl::shm::testing::die_in_registry_lock(*reg, name);
  ptl::shm::testing::die_in_arena_lock(*reg);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s MODE URI LIMITER OBSERVER_FD [ARGS...]\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  const char* uri = argv[2];
  const char* name = argv[3];
  g_obs = SharedObserver::map(std::atoi(argv[4]));
  if (g_obs == nullptr) return 2;
  try {
    if (mode == "hammer" && argc >= 7)
      return hammer(uri, name, std::atoi(argv[5]), std::atoll(argv[6]));
    if (mode == "queue" && argc >= 6) return queue(uri, name, std::atoi(argv[5]));
    if (mode == "hold" && argc >= 6) return hold(uri, name, std::atoi(argv[5]));
    if (mode == "wait") return wait_forever(uri, name, false);
    if (mode == "async-wait") return wait_forever(uri, name, true);
    if (mode == "loop") return loop(uri, name);
    if (mode.starts_with("die-")) return die(mode, uri, name);
  } catch (const std::exception& e) {
    fail(std::string("exception: ") + e.what());
    return 1;
  }
  std::fprintf(stderr, "ptl_shm_worker: bad arguments for mode %s\n", mode.c_str());
  return 2;
}
