// SPDX-License-Identifier: MIT
#include "conformance.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "registry/local/testing.hpp"
#ifdef PTL_CONFORMANCE_REDIS
#include "redis_server.hpp"
#endif

namespace ptl_test {
namespace {

// Local permits are serial << 24 | slot with the top bit clear and slots below 0xFFFFF0;
// shm:// permits have bit 63 set; redis:// permits use the slot value 0xFFFFFF.
constexpr uint64_t kTopBit = uint64_t{1} << 63;
constexpr uint64_t kSlotMask = 0xFFFFFF;

bool local_permit(ptl_permit p) {
  return (p & kTopBit) == 0 && (p & kSlotMask) != kSlotMask;
}
bool shm_permit(ptl_permit p) {
  return (p & kTopBit) != 0;
}
bool redis_permit(ptl_permit p) {
  return (p & kTopBit) == 0 && (p & kSlotMask) == kSlotMask;
}

}  // namespace

const std::vector<Backend>& backends() {
  static const std::vector<Backend> all = {
      {.kind = Kind::kLocal,
       .name = "Local",
       .shared_uri = false,
       .removed_status = PTL_OK,
       .removed_message = "",
       .handle_follows_name = false,
       .release_anywhere = true,
       .one_object_per_name = true,
       .unref_completes_pending = false,
       .callback_on_releaser = true,
       .max_limit = UINT64_MAX,
       .own_permit = &local_permit},
      {.kind = Kind::kShm,
       .name = "Shm",
       .shared_uri = true,
       .removed_status = PTL_ECLOSED,
       .removed_message = "was removed",
       .handle_follows_name = false,
       .release_anywhere = true,
       .one_object_per_name = false,
       .unref_completes_pending = true,
       .callback_on_releaser = false,
       .max_limit = UINT64_MAX,
       .own_permit = &shm_permit},
#ifdef PTL_CONFORMANCE_REDIS
      {.kind = Kind::kRedis,
       .name = "Redis",
       .shared_uri = true,
       .removed_status = PTL_ENOTFOUND,
       .removed_message = "does not exist",
       .handle_follows_name = true,
       .release_anywhere = false,
       .one_object_per_name = true,
       .unref_completes_pending = false,
       .callback_on_releaser = false,
       .max_limit = (uint64_t{1} << 53) - 1,
       .own_permit = &redis_permit},
#endif
  };
  return all;
}

std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param.name;
}

void PrintTo(const Backend& b, std::ostream* os) {
  *os << b.name;
}

void Conformance::SetUp() {
  uri_ = fresh_uri();
  reg_ = open(uri_, true);
  ASSERT_NE(reg_, nullptr) << uri_;
}

void Conformance::TearDown() {
  for (const Opened& o : opened_) {
    if (o.reset_at_end && backend().kind == Kind::kRedis) {
      EXPECT_EQ(ptl_registry_reset(o.reg), PTL_OK) << ptl_last_error();
    }
  }
  for (auto it = opened_.rbegin(); it != opened_.rend(); ++it) ptl_registry_close(it->reg);
  opened_.clear();
  for (const std::string& s : segments_) shm_unlink(("/ptl." + s).c_str());
  if (clock_) {
    ptl::local::testing::set_clock(nullptr);
    limiter_time() = {};
    clock_.reset();  // after the registries: it may hold the last references to limiters
  }
}

void Conformance::use_test_time() {
  ASSERT_FALSE(made_) << "use_test_time() after make(): the limiter keeps its clock";
  if (backend().kind != Kind::kLocal || clock_) return;
  clock_ = std::make_unique<ManualClock>();
  ptl::local::testing::set_clock(clock_.get());
  ManualClock* clock = clock_.get();
  limiter_time().now = [clock] { return clock->now(); };
  limiter_time().unblock = [clock] { clock->advance(24 * 3600 * kSec); };
  reg_ = open(uri_, true);  // "local:": a new registry, on the clock
  ASSERT_NE(reg_, nullptr);
}

void Conformance::advance(int64_t d) {
  if (d <= 0) return;
  if (clock_) {
    clock_->advance(d);
  } else {
    sleep_ns(d);
  }
}

void Conformance::advance_to(int64_t t) {
  if (clock_) {
    advance(t - now());
    return;
  }
  while (mono_ns() < t) sleep_ns(t - mono_ns());
}

bool Conformance::ends_at(Holder& h, int64_t at) {
  advance_to(at - 1);
  if (clock_) {
    EXPECT_FALSE(h.wait_done(20 * kMs)) << "ended 1 ns early, at " << h.t_after() - at << " ns";
  } else if (h.done()) {
    EXPECT_GE(h.t_after(), at) << "ended " << (at - h.t_after()) / kMs << " ms early";
  }
  advance_to(at);
  if (!h.wait_done()) {
    ADD_FAILURE() << "still blocked at its end";
    return false;
  }
  if (clock_) {
    EXPECT_EQ(h.t_after(), at) << "ended " << h.t_after() - at << " ns late";
  } else {
    EXPECT_GE(h.t_after(), at) << "ended " << (at - h.t_after()) / kMs << " ms early";
  }
  return true;
}

std::string Conformance::fresh_uri() {
  static std::atomic<int> counter{0};
  const std::string id = "ptl-conf-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
  switch (backend().kind) {
    case Kind::kShm:
      shm_unlink(("/ptl." + id).c_str());  // a leftover of an earlier run with this pid
      segments_.push_back(id);
      return "shm://" + id;
    case Kind::kRedis:
#ifdef PTL_CONFORMANCE_REDIS
      return redis().uri("prefix=" + id);
#else
      break;
#endif
    case Kind::kLocal:
      break;
  }
  return "local:";
}

ptl_registry* Conformance::open(const std::string& uri, bool reset_at_end) {
  ptl_registry* r = nullptr;
  const int rc = ptl_registry_open(uri.c_str(), &r);
  EXPECT_EQ(rc, PTL_OK) << uri << ": " << ptl_last_error();
  if (rc == PTL_OK) opened_.push_back({r, reset_at_end});
  return r;
}

ptl_registry* Conformance::peer() {
  return backend().shared_uri ? open(uri_, false) : reg_;
}

ptl_registry* Conformance::other() {
  return open(fresh_uri(), true);
}

ptl_registry* Conformance::open_own() {
  ptl_registry* r = nullptr;
  EXPECT_EQ(ptl_registry_open(uri_.c_str(), &r), PTL_OK) << uri_ << ": " << ptl_last_error();
  return r;
}

Lim Conformance::make(const ptl_limiter_config& cfg, std::string name) {
  made_ = true;
  if (name.empty()) name = "lim-" + std::to_string(next_name_++);
  EXPECT_EQ(ptl_registry_register(reg_, name.c_str(), &cfg, 0), PTL_OK)
      << name << ": " << ptl_last_error();
  return get(reg_, name);
}

Lim Conformance::make_policy(const std::vector<ptl_limit>& limits, std::string name) {
  made_ = true;
  if (name.empty()) name = "pol-" + std::to_string(next_name_++);
  const ptl_policy p = policy_of(limits);
  EXPECT_EQ(ptl_registry_register_policy(reg_, name.c_str(), &p, 0), PTL_OK)
      << name << ": " << ptl_last_error();
  return get(reg_, name);
}

Lim Conformance::get(ptl_registry* r, const std::string& name) {
  Lim lim;
  EXPECT_EQ(ptl_registry_get(r, name.c_str(), lim.out()), PTL_OK)
      << name << ": " << ptl_last_error();
  return lim;
}

}  // namespace ptl_test
