// SPDX-License-Identifier: MIT
// Every C ABI entry point with good and bad input: NULL arguments, the stats out-struct,
// URIs, logging.
#include <sys/mman.h>

#include <climits>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "capi_util.hpp"

namespace ptl_test {
namespace {

// ---- NULL arguments everywhere ---------------------------------------------------------

TEST(CapiNull, RegistryFunctions) {
  ptl_limiter_config cfg = make_cfg(2);
  EXPECT_EQ(ptl_registry_open(nullptr, nullptr), PTL_EINVAL);
  ptl_registry* r = nullptr;
  EXPECT_EQ(ptl_registry_open(nullptr, &r), PTL_EINVAL);
  EXPECT_STRNE(ptl_last_error(), "");
  EXPECT_EQ(ptl_registry_open("local:", nullptr), PTL_EINVAL);
  EXPECT_STRNE(ptl_last_error(), "");
  ptl_registry_close(nullptr);  // ignored

  Reg reg;
  EXPECT_EQ(ptl_registry_register(reg, "n", nullptr, 0), PTL_EINVAL);
  EXPECT_STRNE(ptl_last_error(), "");
  EXPECT_EQ(ptl_registry_exists(reg, "n"), 0);
  EXPECT_EQ(ptl_registry_get_or_create(reg, "n", &cfg, nullptr), PTL_EINVAL);
  EXPECT_EQ(ptl_registry_exists(reg, "n"), 0) << "a failed get_or_create registered anyway";
  EXPECT_EQ(ptl_registry_get_or_create(reg, "n", nullptr, nullptr), PTL_EINVAL);
  ptl_limiter* out = nullptr;
  EXPECT_EQ(ptl_registry_get_or_create(reg, "n", nullptr, &out), PTL_EINVAL);
  EXPECT_EQ(ptl_registry_exists(reg, "n"), 0);
  ASSERT_EQ(ptl_registry_register(reg, "n", &cfg, 0), PTL_OK);
  EXPECT_EQ(ptl_registry_get(reg, "n", nullptr), PTL_EINVAL);
  EXPECT_STRNE(ptl_last_error(), "");
  EXPECT_EQ(ptl_registry_stats(reg, "n", nullptr), PTL_EINVAL);
  EXPECT_EQ(ptl_registry_list(reg, nullptr, nullptr), PTL_EINVAL);
  EXPECT_STRNE(ptl_last_error(), "");
}

TEST(CapiInput, ARegistryUriInAnErrorNeverShowsItsPassword) {
  // A mistyped scheme, and redis:// in a build without it, still name the URI, not the secret.
  for (const char* uri : {"redis5://user:hunter2@127.0.0.1:1/0", "ftp://:hunter2@host"}) {
    ptl_registry* r = nullptr;
    EXPECT_EQ(ptl_registry_open(uri, &r), PTL_EINVAL) << uri;
    const std::string message = ptl_last_error();
    EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
    EXPECT_NE(message.find("***@"), std::string::npos) << message;
    EXPECT_EQ(ptl_registry_destroy(uri, 0), PTL_EINVAL) << uri;
    EXPECT_EQ(std::string(ptl_last_error()).find("hunter2"), std::string::npos);
  }
}

TEST(CapiNull, LimiterFunctions) {
  ptl_limiter_config cfg = make_cfg(2, 0, 1.0, 10);
  ptl_permit p = 0;
  int64_t retry = 0;
  uint64_t ticket = 0;
  auto fn = [](void*, int, ptl_permit) {};

  EXPECT_EQ(ptl_limiter_create(nullptr, nullptr), PTL_EINVAL);
  ptl_limiter* out = nullptr;
  EXPECT_EQ(ptl_limiter_create(nullptr, &out), PTL_EINVAL);
  EXPECT_EQ(ptl_limiter_create(&cfg, nullptr), PTL_EINVAL);
  ptl_limiter_ref(nullptr);
  ptl_limiter_unref(nullptr);

  ptl_limiter_stats s{};
  s.struct_size = sizeof s;
  EXPECT_EQ(ptl_limiter_stats_get(nullptr, &s), PTL_EINVAL);
  EXPECT_EQ(ptl_limiter_reconfigure(nullptr, &cfg), PTL_EINVAL);
  EXPECT_EQ(ptl_acquire(nullptr, 0, &p), PTL_EINVAL);
  EXPECT_STRNE(ptl_last_error(), "");
  EXPECT_EQ(ptl_try_acquire(nullptr, &p, &retry), PTL_EINVAL);
  EXPECT_EQ(ptl_acquire_cost(nullptr, 1, 0, &p), PTL_EINVAL);
  EXPECT_EQ(ptl_release(nullptr, 1), PTL_EINVAL);
  EXPECT_EQ(ptl_release_cost(nullptr, 1, 1), PTL_EINVAL);
  EXPECT_EQ(ptl_acquire_async(nullptr, 1, 0, fn, nullptr, &ticket), PTL_EINVAL);
  EXPECT_EQ(ptl_cancel(nullptr, 1), PTL_EINVAL);
  EXPECT_EQ(ptl_limiter_penalize(nullptr, kMs), PTL_EINVAL);

  Lim lim = create_limiter(cfg);
  EXPECT_EQ(ptl_limiter_stats_get(lim, nullptr), PTL_EINVAL);
  EXPECT_EQ(ptl_limiter_reconfigure(lim, nullptr), PTL_EINVAL);
  EXPECT_EQ(ptl_acquire(lim, 0, nullptr), PTL_EINVAL);
  EXPECT_EQ(ptl_acquire(lim, -1, nullptr), PTL_EINVAL);
  EXPECT_EQ(ptl_try_acquire(lim, nullptr, &retry), PTL_EINVAL);
  EXPECT_EQ(ptl_acquire_cost(lim, 1, 0, nullptr), PTL_EINVAL);
  EXPECT_EQ(ptl_acquire_async(lim, 1, 0, nullptr, nullptr, &ticket), PTL_EINVAL);
  EXPECT_STRNE(ptl_last_error(), "");
  // None of the failed calls took anything.
  s = stats_of(lim);
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.total_acquired, 0u);
  EXPECT_EQ(s.current_window_cost, 0u);
  // retry_after may be NULL.
  ASSERT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_OK);
  EXPECT_NE(p, 0u);
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
}

TEST(CapiNull, AsyncTicketMayBeNull) {
  Lim lim = create_limiter(make_cfg(1));
  struct Ctx {
    std::atomic<int> calls{0};
    std::atomic<int> status{1};
    std::atomic<ptl_permit> permit{0};
  } ctx;
  auto fn = [](void* u, int status, ptl_permit p) {
    auto* c = static_cast<Ctx*>(u);
    c->status = status;
    c->permit = p;
    c->calls++;
  };
  ASSERT_EQ(ptl_acquire_async(lim, 1, -1, fn, &ctx, nullptr), PTL_OK);
  ASSERT_TRUE(wait_until([&] { return ctx.calls.load() == 1; }));
  EXPECT_EQ(ctx.status.load(), PTL_OK);
  EXPECT_EQ(ptl_release(lim, ctx.permit.load()), PTL_OK);
}

// ---- stats out-struct ------------------------------------------------------------------

TEST(CapiStats, FillsOnlyWhatFits) {
  Lim lim = create_limiter(make_cfg(3, 9, 2.0));
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);

  // An older caller whose struct ends after `config`.
  const uint32_t small = static_cast<uint32_t>(offsetof(ptl_limiter_stats, in_flight));
  ptl_limiter_stats s;
  std::memset(&s, 0xAB, sizeof s);
  s.struct_size = small;
  ASSERT_EQ(ptl_limiter_stats_get(lim, &s), PTL_OK) << ptl_last_error();
  EXPECT_EQ(s.config.max_concurrent, 3u);
  EXPECT_EQ(s.config.max_per_window, 9u);
  const auto* bytes = reinterpret_cast<const unsigned char*>(&s);
  for (size_t i = small; i < sizeof s; ++i)
    ASSERT_EQ(bytes[i], 0xAB) << "byte " << i << " written beyond struct_size " << small;

  // struct_size 0: whatever the status, nothing past struct_size may be written.
  std::memset(&s, 0xAB, sizeof s);
  s.struct_size = 0;
  (void)ptl_limiter_stats_get(lim, &s);
  for (size_t i = sizeof(uint32_t); i < sizeof s; ++i)
    ASSERT_EQ(bytes[i], 0xAB) << "byte " << i << " written with struct_size 0";

  // Via the registry too.
  Reg reg;
  ptl_limiter_config c = make_cfg(4);
  ASSERT_EQ(ptl_registry_register(reg, "s2", &c, 0), PTL_OK);
  std::memset(&s, 0xAB, sizeof s);
  s.struct_size = small;
  ASSERT_EQ(ptl_registry_stats(reg, "s2", &s), PTL_OK);
  EXPECT_EQ(s.config.max_concurrent, 4u);
  for (size_t i = small; i < sizeof s; ++i)
    ASSERT_EQ(bytes[i], 0xAB) << "registry stats wrote byte " << i;

  // The full struct is filled.
  s = stats_of(lim);
  EXPECT_EQ(s.in_flight, 1u);
  EXPECT_EQ(s.total_acquired, 1u);
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
}

// ---- URIs ------------------------------------------------------------------------------

TEST(CapiUri, UnknownSchemesAreInvalid) {
  for (const char* uri : {"", "local", "foo://bar", "http://127.0.0.1:6379", "file:///tmp/x", "://",
                          "redis:", "shm:", "LOCAL-ISH:", "local:\xFF"}) {
    SCOPED_TRACE(uri);
    ptl_registry* r = reinterpret_cast<ptl_registry*>(0x1);
    int rc = ptl_registry_open(uri, &r);
    if (std::string(uri) == "local:\xFF" && rc == PTL_OK) {  // tolerated: junk after local:
      ptl_registry_close(r);
      continue;
    }
    EXPECT_EQ(rc, PTL_EINVAL) << ptl_status_name(rc);
    EXPECT_STRNE(ptl_last_error(), "");
  }
}

TEST(CapiUri, SharedBackendsFailCleanlyOrWork) {
  // Built: shm:// opens. Not built: EINVAL or EBACKEND with a message.
  {
    ptl_registry* r = nullptr;
    const std::string uri = "shm://ptl-capi-test-" + std::to_string(getpid());
    int rc = ptl_registry_open(uri.c_str(), &r);
    if (rc == PTL_OK) {
      EXPECT_EQ(ptl_registry_exists(r, "x"), 0);
      ptl_registry_close(r);
      shm_unlink(("/ptl.ptl-capi-test-" + std::to_string(getpid())).c_str());  // its file
    } else {
      EXPECT_TRUE(rc == PTL_EINVAL || rc == PTL_EBACKEND) << ptl_status_name(rc);
      EXPECT_STRNE(ptl_last_error(), "");
    }
  }
  // Nothing listens on port 1: EBACKEND at open or at first use (EINVAL if not built).
  {
    ptl_registry* r = nullptr;
    int rc = ptl_registry_open("redis://127.0.0.1:1", &r);
    if (rc == PTL_OK) {
      int e = ptl_registry_exists(r, "x");
      EXPECT_EQ(e, PTL_EBACKEND) << ptl_status_name(e);
      EXPECT_STRNE(ptl_last_error(), "");
      ptl_registry_close(r);
    } else {
      EXPECT_TRUE(rc == PTL_EINVAL || rc == PTL_EBACKEND) << ptl_status_name(rc);
      EXPECT_STRNE(ptl_last_error(), "");
    }
  }
}

// ---- logging ---------------------------------------------------------------------------

struct LogSink {
  std::mutex mu;
  std::vector<int> levels;
};

TEST(CapiLog, LevelRange) {
  for (int level : {-1, 7, 100, INT_MAX, INT_MIN}) {
    EXPECT_EQ(ptl_log_set_level(level), PTL_EINVAL) << level;
    EXPECT_TRUE(last_error_mentions("level")) << ptl_last_error();
  }
  for (int level = PTL_LOG_TRACE; level <= PTL_LOG_OFF; ++level)
    EXPECT_EQ(ptl_log_set_level(level), PTL_OK) << level;
  EXPECT_EQ(ptl_log_set_level(PTL_LOG_OFF), PTL_OK);
}

TEST(CapiLog, CallbackRespectsLevel) {
  LogSink sink;
  auto fn = [](void* u, int level, const char* msg) {
    auto* s = static_cast<LogSink*>(u);
    EXPECT_NE(msg, nullptr);
    std::lock_guard<std::mutex> lock(s->mu);
    s->levels.push_back(level);
  };
  auto exercise = [] {
    Lim lim = create_limiter(make_cfg(1, 2, 0.05));
    ptl_permit p = 0;
    EXPECT_EQ(ptl_acquire(lim, -1, &p), PTL_OK);
    EXPECT_EQ(ptl_acquire(lim, kMs, nullptr), PTL_EINVAL);
    ptl_permit q = 0;
    EXPECT_EQ(ptl_acquire(lim, kMs, &q), PTL_ETIMEDOUT);
    EXPECT_EQ(ptl_release(lim, p), PTL_OK);
    EXPECT_EQ(ptl_release(lim, p), PTL_EINVAL);
    EXPECT_EQ(ptl_limiter_penalize(lim, kMs), PTL_OK);
    ptl_registry* r = nullptr;
    EXPECT_EQ(ptl_registry_open("nope://", &r), PTL_EINVAL);
  };
  ptl_log_set_callback(fn, &sink);
  ASSERT_EQ(ptl_log_set_level(PTL_LOG_OFF), PTL_OK);
  exercise();
  {
    std::lock_guard<std::mutex> lock(sink.mu);
    EXPECT_TRUE(sink.levels.empty()) << sink.levels.size() << " messages while logging is off";
    sink.levels.clear();
  }
  ASSERT_EQ(ptl_log_set_level(PTL_LOG_WARN), PTL_OK);
  exercise();
  {
    std::lock_guard<std::mutex> lock(sink.mu);
    for (int l : sink.levels) {
      EXPECT_GE(l, PTL_LOG_WARN) << "a message below the level set";
      EXPECT_LE(l, PTL_LOG_CRITICAL);
    }
  }
  ASSERT_EQ(ptl_log_set_level(PTL_LOG_TRACE), PTL_OK);
  exercise();
  ASSERT_EQ(ptl_log_set_level(PTL_LOG_OFF), PTL_OK);
  ptl_log_set_callback(nullptr, nullptr);
  {
    std::lock_guard<std::mutex> lock(sink.mu);
    // A double release, a timeout and a penalty at TRACE: logging that was asked for
    // must say something.
    EXPECT_FALSE(sink.levels.empty()) << "nothing logged at TRACE";
    for (int l : sink.levels) {
      EXPECT_GE(l, PTL_LOG_TRACE);
      EXPECT_LE(l, PTL_LOG_CRITICAL);
    }
    sink.levels.clear();
  }
  exercise();  // the callback is gone: nothing more arrives
  std::lock_guard<std::mutex> lock(sink.mu);
  EXPECT_TRUE(sink.levels.empty());
}

}  // namespace
}  // namespace ptl_test
