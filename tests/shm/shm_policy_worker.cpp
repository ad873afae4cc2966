// SPDX-License-Identifier: MIT
// ptl_shm_policy_worker: the other processes of the policy tests, through the core API
// (core::RegistryBackend), started with posix_spawn.
// Usage: ptl_shm_policy_worker MODE URI LIMITER OBSERVER_FD [ARGS...]
//   hammer MILLIS   two threads acquire {requests 1, tokens 1..60} (blocking, timed, try,
//                   async) until MILLIS; half of the grants settle tokens down, before or
//                   after their release; everything is logged in the observer
//   try-tokens N    one try_acquire of N tokens; its status goes to the observer's result
//   hold-tokens N   acquires N tokens, reports ready, waits to be killed
// Exit status 0 on success; failures are printed and counted in the observer.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "registry/registry_backend.hpp"
#include "shm_policy_observer.hpp"

namespace {

namespace core = ptl::core;
using ptl_test::mono_ns;
using ptl_test::PolicyObserver;

PolicyObserver* g_obs = nullptr;

void fail(const std::string& what) {
  std::fprintf(stderr, "ptl_shm_policy_worker %d: %s\n", getpid(), what.c_str());
  if (g_obs != nullptr) g_obs->failures.fetch_add(1);
}

[[noreturn]] void park() {
  for (;;) pause();  // until the test kills this process
}

core::Status acquire_some_way(core::LimiterBackend& lim, const core::Demand& d, std::mt19937& rng,
                              core::PermitId* p) {
  switch (rng() % 4) {
    case 0:
      return lim.acquire(d, -1, p);
    case 1:
      return lim.acquire(d, static_cast<int64_t>(rng() % 3000000), p);
    case 2:
      return lim.try_acquire(d, p, nullptr);
    default: {
      struct Done {
        std::promise<std::pair<int, core::PermitId>> result;
        static void cb(void* u, int status, core::PermitId permit) {
          static_cast<Done*>(u)->result.set_value({status, permit});
        }
      } done;
      auto f = done.result.get_future();
      lim.acquire_async(d, static_cast<int64_t>(rng() % 3000000),
                        core::AcquireCallback{&Done::cb, &done}, nullptr);
      const auto [status, permit] = f.get();
      *p = permit;
      return static_cast<core::Status>(status);
    }
  }
}

void observed_call(core::LimiterBackend& lim, std::mt19937& rng) {
  const uint64_t tokens = 1 + rng() % 60;
  const core::UnitAmount amounts[] = {{core::kRequests, 1}, {core::kTokens, tokens}};
  const int64_t t0 = mono_ns();
  core::PermitId p = 0;
  const core::Status st = acquire_some_way(lim, core::Demand{amounts, 2, false}, rng, &p);
  if (st != core::Status::kOk) {
    if (st != core::Status::kAgain && st != core::Status::kTimedOut) {
      fail("acquire: " + std::to_string(static_cast<int>(st)));
    }
    return;
  }
  const uint64_t i = g_obs->on_grant(t0, tokens);
  const uint64_t actual = rng() % (tokens + 1);
  const core::UnitAmount used[] = {{core::kTokens, actual}};
  const int when = static_cast<int>(rng() % 3);  // 0: none, 1: before release, 2: after
  uint64_t held = tokens;
  if (when == 1) {
    g_obs->before_settle(i, tokens, actual, true);
    lim.settle(p, core::Demand{used, 1, false});
    held = actual;
  }
  if (rng() % 2) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 300));
  g_obs->before_release(held);
  lim.release(p, std::nullopt);
  if (when == 2) {
    g_obs->before_settle(i, tokens, actual, false);
    lim.settle(p, core::Demand{used, 1, false});
  }
}

int hammer(core::LimiterBackend& lim, int64_t millis) {
  const int64_t end = mono_ns() + millis * 1000000;
  std::vector<std::thread> ts;
  for (int t = 0; t < 2; ++t) {
    ts.emplace_back([&, t] {
      std::mt19937 rng(static_cast<uint32_t>(getpid() * 31 + t));
      try {
        while (mono_ns() < end) observed_call(lim, rng);
      } catch (const std::exception& e) {
        fail(std::string("exception: ") + e.what());
      }
    });
  }
  for (auto& t : ts) t.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s MODE URI LIMITER OBSERVER_FD [ARGS...]\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  g_obs = PolicyObserver::map(std::atoi(argv[4]));
  if (g_obs == nullptr) return 2;
  try {
    std::unique_ptr<core::RegistryBackend> reg = core::RegistryBackend::open(argv[2]);
    core::LimiterPtr lim = reg->get(argv[3]);
    if (!lim) {
      fail("no limiter " + std::string(argv[3]));
      return 1;
    }
    if (mode == "hammer" && argc >= 6) return hammer(*lim, std::atoll(argv[5]));
    if (mode == "try-tokens" && argc >= 6) {
      const core::UnitAmount a[] = {{core::kTokens, std::strtoull(argv[5], nullptr, 10)}};
      core::PermitId p = 0;
      const core::Status st = lim->try_acquire(core::Demand{a, 1, false}, &p, nullptr);
      if (st == core::Status::kOk) lim->release(p, std::nullopt);
      g_obs->result.store(static_cast<int32_t>(st));
      g_obs->ready.fetch_add(1);
      return 0;
    }
    if (mode == "hold-tokens" && argc >= 6) {
      const core::UnitAmount a[] = {{core::kTokens, std::strtoull(argv[5], nullptr, 10)}};
      core::PermitId p = 0;
      if (lim->acquire(core::Demand{a, 1, false}, 0, &p) != core::Status::kOk) fail("hold");
      g_obs->ready.fetch_add(1);
      park();
    }
  } catch (const std::exception& e) {
    fail(std::string("exception: ") + e.what());
    return 1;
  }
  std::fprintf(stderr, "ptl_shm_policy_worker: bad arguments for mode %s\n", mode.c_str());
  return 2;
}
