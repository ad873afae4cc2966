// SPDX-License-Identifier: MIT
// ptl_registry_list on every backend: name order with configs, early stops, callbacks that
// call into the registry, consistency under concurrent mutation, long listings.
#include <set>
#include <string>
#include <vector>

#include "conformance.hpp"

namespace ptl_test {
namespace {

PTL_CONFORMANCE_SUITE(RegistryList);

struct Listed {
  std::vector<std::string> names;
  std::vector<ptl_limiter_config> cfgs;
  size_t stop_after = SIZE_MAX;
};

int collect(void* u, const char* name, const ptl_limiter_config* cfg) {
  auto* l = static_cast<Listed*>(u);
  EXPECT_NE(name, nullptr);
  EXPECT_NE(cfg, nullptr);
  l->names.push_back(name);
  l->cfgs.push_back(cfg ? *cfg : ptl_limiter_config{});
  return l->names.size() >= l->stop_after ? 1 : 0;
}

TEST_P(RegistryList, InNameOrderWithConfigs) {
  const std::vector<std::string> names = {
      "b", "a", "c", "B", "aa", "a0", "\xC3\xA9", "\xE2\x82\xAC", "Z", "ab", "Mid", "a:b}c{d"};
  for (size_t i = 0; i < names.size(); ++i) {
    const ptl_limiter_config cfg = make_cfg(static_cast<uint32_t>(i + 1), 3, 2.5, 9);
    ASSERT_EQ(ptl_registry_register(reg(), names[i].c_str(), &cfg, 0), PTL_OK) << names[i];
  }
  for (ptl_registry* r : {reg(), peer()}) {
    Listed l;
    ASSERT_EQ(ptl_registry_list(r, collect, &l), PTL_OK) << ptl_last_error();
    std::vector<std::string> sorted = names;
    std::sort(sorted.begin(), sorted.end());  // byte order (= code point order for UTF-8)
    EXPECT_EQ(l.names, sorted);
    for (size_t i = 0; i < l.names.size(); ++i) {
      const auto orig = std::find(names.begin(), names.end(), l.names[i]) - names.begin();
      EXPECT_EQ(l.cfgs[i].max_concurrent, static_cast<uint32_t>(orig + 1)) << l.names[i];
      EXPECT_EQ(l.cfgs[i].max_per_window, 3u) << l.names[i];
      EXPECT_EQ(l.cfgs[i].window_seconds, 2.5) << l.names[i];
      EXPECT_EQ(l.cfgs[i].max_cost_per_window, 9u) << l.names[i];
    }
  }
}

TEST_P(RegistryList, StopsEarly) {
  const ptl_limiter_config cfg = make_cfg(1);
  for (const char* n : {"d", "c", "b", "a", "e"})
    ASSERT_EQ(ptl_registry_register(reg(), n, &cfg, 0), PTL_OK);
  Listed l;
  l.stop_after = 2;
  const int rc = ptl_registry_list(reg(), collect, &l);
  EXPECT_GE(rc, 0) << "a stop requested by fn is not an error";
  EXPECT_EQ(l.names, (std::vector<std::string>{"a", "b"}));
  l = Listed{};
  l.stop_after = 1;
  ptl_registry_list(reg(), collect, &l);
  EXPECT_EQ(l.names, (std::vector<std::string>{"a"}));
}

TEST_P(RegistryList, CallbackMayCallIntoTheRegistry) {
  const ptl_limiter_config cfg = make_cfg(3);
  for (const char* n : {"a", "b", "c", "d"})
    ASSERT_EQ(ptl_registry_register(reg(), n, &cfg, 0), PTL_OK);
  struct Ctx {
    ptl_registry* reg;
    int seen = 0;
    std::vector<std::string> names;
    std::set<std::string> removed;
  } ctx{reg(), 0, {}, {}};
  run_or_die("ptl_registry_list with a re-entrant callback", [&] {
    const int rc = ptl_registry_list(
        reg(),
        [](void* u, const char* name, const ptl_limiter_config*) {
          auto* c = static_cast<Ctx*>(u);
          c->names.push_back(name);
          ++c->seen;
          if (!c->removed.count(name)) {
            EXPECT_EQ(ptl_registry_exists(c->reg, name), 1) << name;
            ptl_limiter_stats s{};
            s.struct_size = sizeof s;
            EXPECT_EQ(ptl_registry_stats(c->reg, name, &s), PTL_OK) << name;
            ptl_limiter* h = nullptr;
            EXPECT_EQ(ptl_registry_get(c->reg, name, &h), PTL_OK) << name;
            ptl_limiter_unref(h);
          }
          // Mutations from inside the listing must not deadlock or crash. New names
          // sort before every listed one, so a live listing cannot loop on them.
          const ptl_limiter_config more = make_cfg(1);
          EXPECT_EQ(ptl_registry_register(c->reg, (std::string("0-") + name).c_str(), &more, 0),
                    PTL_OK);
          if (std::string(name) == "b") {
            EXPECT_EQ(ptl_registry_remove(c->reg, "b"), PTL_OK);
            EXPECT_EQ(ptl_registry_remove(c->reg, "c"), PTL_OK);
            c->removed.insert("b");
            c->removed.insert("c");
          }
          return c->seen > 50 ? 1 : 0;  // guard against a listing that never ends
        },
        &ctx);
    EXPECT_EQ(rc, PTL_OK);
  });
  EXPECT_LE(ctx.seen, 5);
  ASSERT_GE(ctx.names.size(), 3u);
  EXPECT_EQ(ctx.names[0], "a");
  EXPECT_EQ(ctx.names[1], "b");
  EXPECT_EQ(ctx.names.back(), "d");
  EXPECT_EQ(ptl_registry_exists(reg(), "b"), 0);
  EXPECT_EQ(ptl_registry_exists(reg(), "c"), 0);
  EXPECT_EQ(ptl_registry_exists(reg(), "0-a"), 1);
  EXPECT_EQ(ptl_registry_exists(reg(), "d"), 1);
}

// One random registry operation on one of four names; PTL_OK when its status is one the
// contract allows, and every handle obtained works. A removal by another thread may come
// between a lookup and its use: then `gone`, the backend's status for a removed limiter.
int random_operation(ptl_registry* reg, uint32_t x, int gone) {
  static const char* const names[] = {"n0", "n1", "n2", "n3"};
  const char* n = names[x % 4];
  const ptl_limiter_config cfg = make_cfg(1 + x % 3);
  int rc = PTL_OK;
  switch ((x >> 8) % 8) {
    case 0:
      rc = ptl_registry_register(reg, n, &cfg, 0);
      return rc == PTL_EEXIST ? PTL_OK : rc;
    case 1:
      return ptl_registry_register(reg, n, &cfg, PTL_REPLACE);
    case 2:
      rc = ptl_registry_remove(reg, n);
      return rc == PTL_ENOTFOUND ? PTL_OK : rc;
    case 3:
      rc = ptl_registry_exists(reg, n);
      return (rc == 0 || rc == 1) ? PTL_OK : rc;
    case 4: {
      ptl_limiter* h = nullptr;
      rc = (x >> 12) % 2 ? ptl_registry_get(reg, n, &h)
                         : ptl_registry_get_or_create(reg, n, &cfg, &h);
      if (rc == PTL_ENOTFOUND) return PTL_OK;
      if (rc != PTL_OK) return rc;
      ptl_permit p = 0;
      const int a = ptl_acquire(h, 0, &p);
      if (a == PTL_OK) {
        rc = ptl_release(h, p);
        if (rc == gone) rc = PTL_OK;
      } else if (a != PTL_EAGAIN && a != gone) {
        rc = a;
      }
      ptl_limiter_unref(h);
      return rc;
    }
    case 5: {
      int count = 0;
      rc = ptl_registry_list(
          reg,
          [](void* u, const char* name, const ptl_limiter_config* c) {
            ++*static_cast<int*>(u);
            EXPECT_EQ(std::string(name).substr(0, 1), "n");
            EXPECT_GE(c->max_concurrent, 1u);
            return 0;
          },
          &count);
      return count > 4 ? PTL_EINTERNAL : rc;
    }
    case 6: {
      ptl_limiter_stats st{};
      st.struct_size = sizeof st;
      rc = ptl_registry_stats(reg, n, &st);
      return rc == PTL_ENOTFOUND || rc == gone ? PTL_OK : rc;
    }
    default:
      return (x >> 16) % 16 == 0 ? ptl_registry_reset(reg) : PTL_OK;
  }
}

TEST_P(RegistryList, ConcurrentMutationsStayConsistent) {
  // Threads (each through a registry of its own where the backend shares) register,
  // replace, remove, get, list and reset a small set of names at once. Every status is one
  // the contract allows, every handle obtained works, and nothing crashes.
  const int gone = backend().removed_status;
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  const int64_t deadline = mono_ns() + 300 * kMs;
  for (int t = 0; t < 6; ++t) {
    ptl_registry* r = peer();
    ts.emplace_back([&, r, t] {
      uint32_t x = 2463534242u + static_cast<uint32_t>(t);
      while (mono_ns() < deadline) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        const int rc = random_operation(r, x, gone);
        if (rc != PTL_OK && bad++ < 5)
          ADD_FAILURE() << "status " << ptl_status_name(rc) << ": " << ptl_last_error();
      }
    });
  }
  for (auto& th : ts) th.join();
  EXPECT_EQ(bad.load(), 0);
  // Afterwards, exists and list agree.
  Listed l;
  ASSERT_EQ(ptl_registry_list(reg(), collect, &l), PTL_OK);
  for (const char* n : {"n0", "n1", "n2", "n3"}) {
    const bool listed = std::find(l.names.begin(), l.names.end(), n) != l.names.end();
    EXPECT_EQ(ptl_registry_exists(reg(), n), listed ? 1 : 0) << n;
  }
}

TEST_P(RegistryList, ManyLimitersListCompletely) {
  const ptl_limiter_config cfg = make_cfg(1);
  std::set<std::string> names;
  for (int i = 0; i < 2000; ++i) {
    const std::string n = "lim-" + std::to_string(i * 7919 % 2000);
    names.insert(n);
    ASSERT_EQ(ptl_registry_register(reg(), n.c_str(), &cfg, 0), PTL_OK) << ptl_last_error();
  }
  Listed l;
  ASSERT_EQ(ptl_registry_list(reg(), collect, &l), PTL_OK);
  EXPECT_EQ(l.names, std::vector<std::string>(names.begin(), names.end()));
}

}  // namespace
}  // namespace ptl_test
