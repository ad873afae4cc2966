// The registry through the C ABI: list, stats by name, private registries vs the
// default one, concurrent mutation.
#include <set>
#include <string>
#include <vector>

#include "capi_util.hpp"

namespace ptl_test {
namespace {

struct Listed {
  std::vector<std::string> names;
  std::vector<uint32_t> conc;
  size_t stop_after = SIZE_MAX;
};

int collect(void* u, const char* name, const ptl_limiter_config* cfg) {
  auto* l = static_cast<Listed*>(u);
  EXPECT_NE(name, nullptr);
  EXPECT_NE(cfg, nullptr);
  l->names.push_back(name);
  l->conc.push_back(cfg ? cfg->max_concurrent : 0);
  return l->names.size() >= l->stop_after ? 1 : 0;
}

TEST(CapiRegistry, ListInNameOrderWithConfigs) {
  Reg reg;
  const std::vector<std::string> names = {
      "b", "a", "c", "B", "aa", "a0", "\xC3\xA9", "\xE2\x82\xAC", "Z", "ab"};
  for (size_t i = 0; i < names.size(); ++i) {
    ptl_limiter_config cfg = make_cfg(static_cast<uint32_t>(i + 1));
    ASSERT_EQ(ptl_registry_register(reg, names[i].c_str(), &cfg, 0), PTL_OK);
  }
  Listed l;
  ASSERT_EQ(ptl_registry_list(reg, collect, &l), PTL_OK);
  std::vector<std::string> sorted = names;
  std::sort(sorted.begin(), sorted.end());  // byte order (= code point order for UTF-8)
  EXPECT_EQ(l.names, sorted);
  for (size_t i = 0; i < l.names.size(); ++i) {
    size_t orig =
        static_cast<size_t>(std::find(names.begin(), names.end(), l.names[i]) - names.begin());
    EXPECT_EQ(l.conc[i], orig + 1) << l.names[i];
  }
}

TEST(CapiRegistry, ListStopsEarly) {
  Reg reg;
  ptl_limiter_config cfg = make_cfg(1);
  for (const char* n : {"d", "c", "b", "a", "e"})
    ASSERT_EQ(ptl_registry_register(reg, n, &cfg, 0), PTL_OK);
  Listed l;
  l.stop_after = 2;
  int rc = ptl_registry_list(reg, collect, &l);
  EXPECT_GE(rc, 0) << "a stop requested by fn is not an error";
  EXPECT_EQ(l.names, (std::vector<std::string>{"a", "b"}));
  l = Listed{};
  l.stop_after = 1;
  ptl_registry_list(reg, collect, &l);
  EXPECT_EQ(l.names, (std::vector<std::string>{"a"}));
}

TEST(CapiRegistry, ListCallbackMayCallIntoTheRegistry) {
  Reg reg;
  ptl_limiter_config cfg = make_cfg(3);
  for (const char* n : {"a", "b", "c", "d"})
    ASSERT_EQ(ptl_registry_register(reg, n, &cfg, 0), PTL_OK);
  struct Ctx {
    ptl_registry* reg;
    int seen = 0;
    std::vector<std::string> names;
    std::set<std::string> removed;
  } ctx{reg, 0, {}, {}};
  run_or_die("ptl_registry_list with a re-entrant callback", [&] {
    int rc = ptl_registry_list(
        reg,
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
          ptl_limiter_config more = make_cfg(1);
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
  EXPECT_EQ(ptl_registry_exists(reg, "b"), 0);
  EXPECT_EQ(ptl_registry_exists(reg, "c"), 0);
  EXPECT_EQ(ptl_registry_exists(reg, "0-a"), 1);
  EXPECT_EQ(ptl_registry_exists(reg, "d"), 1);
}

TEST(CapiRegistry, StatsByName) {
  Reg reg;
  ptl_limiter_config cfg = make_cfg(4, 10, 5.0, 100);
  ASSERT_EQ(ptl_registry_register(reg, "st", &cfg, 0), PTL_OK);
  ptl_limiter_stats s = reg_stats(reg, "st");
  EXPECT_EQ(s.struct_size, sizeof s);
  EXPECT_EQ(s.config.struct_size, sizeof(ptl_limiter_config));
  EXPECT_EQ(s.config.max_concurrent, 4u);
  EXPECT_EQ(s.config.max_per_window, 10u);
  EXPECT_EQ(s.config.window_seconds, 5.0);
  EXPECT_EQ(s.config.max_cost_per_window, 100u);
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.total_acquired, 0u);
  Lim h;
  ASSERT_EQ(ptl_registry_get(reg, "st", h.out()), PTL_OK);
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire_cost(h, 7, 0, &p), PTL_OK);
  s = reg_stats(reg, "st");
  EXPECT_EQ(s.in_flight, 1u);
  EXPECT_EQ(s.current_window_count, 1u);
  EXPECT_EQ(s.current_window_cost, 7u);
  EXPECT_EQ(s.total_acquired, 1u);
  EXPECT_EQ(ptl_release(h, p), PTL_OK);
  EXPECT_EQ(reg_stats(reg, "st").in_flight, 0u);
}

TEST(CapiRegistry, PrivateRegistriesAreIndependent) {
  const std::string name = unique_name("indep");
  ptl_registry* r1 = nullptr;
  ptl_registry* r2 = nullptr;
  ASSERT_EQ(ptl_registry_open("local:", &r1), PTL_OK);
  ASSERT_EQ(ptl_registry_open("local:", &r2), PTL_OK);
  ASSERT_NE(r1, nullptr);
  ASSERT_NE(r2, nullptr);
  EXPECT_NE(r1, r2);
  ptl_limiter_config c1 = make_cfg(1), c2 = make_cfg(2), c0 = make_cfg(3);
  ASSERT_EQ(ptl_registry_register(r1, name.c_str(), &c1, 0), PTL_OK);
  EXPECT_EQ(ptl_registry_exists(nullptr, name.c_str()), 0);
  EXPECT_EQ(ptl_registry_exists(r2, name.c_str()), 0);
  ASSERT_EQ(ptl_registry_register(r2, name.c_str(), &c2, 0), PTL_OK);
  ASSERT_EQ(ptl_registry_register(nullptr, name.c_str(), &c0, 0), PTL_OK);
  EXPECT_EQ(reg_stats(r1, name.c_str()).config.max_concurrent, 1u);
  EXPECT_EQ(reg_stats(r2, name.c_str()).config.max_concurrent, 2u);
  EXPECT_EQ(reg_stats(nullptr, name.c_str()).config.max_concurrent, 3u);

  Lim h1, h0;
  ASSERT_EQ(ptl_registry_get(r1, name.c_str(), h1.out()), PTL_OK);
  ASSERT_EQ(ptl_registry_get(nullptr, name.c_str(), h0.out()), PTL_OK);
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire(h1, 0, &p), PTL_OK);
  EXPECT_EQ(stats_of(h0).in_flight, 0u);
  EXPECT_EQ(ptl_release(h0, p), PTL_EINVAL) << "a permit of another registry's limiter";

  // Closing a registry leaves its handles valid; resetting one leaves the others alone.
  ptl_registry_close(r1);
  EXPECT_EQ(stats_of(h1).in_flight, 1u);
  EXPECT_EQ(ptl_release(h1, p), PTL_OK);
  ASSERT_EQ(ptl_registry_reset(r2), PTL_OK);
  EXPECT_EQ(ptl_registry_exists(nullptr, name.c_str()), 1);
  ptl_registry_close(r2);
  EXPECT_EQ(ptl_registry_remove(nullptr, name.c_str()), PTL_OK);
}

TEST(CapiRegistry, DefaultRegistryIsShared) {
  const std::string name = unique_name("default");
  ptl_limiter_config cfg = make_cfg(2);
  ASSERT_EQ(ptl_registry_register(nullptr, name.c_str(), &cfg, 0), PTL_OK);
  Lim a, b;
  std::thread([&] { EXPECT_EQ(ptl_registry_get(nullptr, name.c_str(), a.out()), PTL_OK); }).join();
  ASSERT_EQ(ptl_registry_get(nullptr, name.c_str(), b.out()), PTL_OK);
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire(a, 0, &p), PTL_OK);
  EXPECT_EQ(stats_of(b).in_flight, 1u);
  EXPECT_EQ(ptl_release(b, p), PTL_OK);
  EXPECT_EQ(ptl_registry_remove(nullptr, name.c_str()), PTL_OK);
}

TEST(CapiRegistry, ConcurrentMutationsStayConsistent) {
  // Threads register, replace, remove, get, list and reset a small set of names at once.
  // Every status is one the contract allows, every handle obtained works, and nothing
  // crashes (run under ASan/TSan).
  Reg reg;
  const char* names[] = {"n0", "n1", "n2", "n3"};
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  const int64_t deadline = mono_ns() + 300 * kMs;
  for (int t = 0; t < 6; ++t)
    ts.emplace_back([&, t] {
      uint32_t x = 2463534242u + static_cast<uint32_t>(t);
      while (mono_ns() < deadline) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        const char* n = names[x % 4];
        ptl_limiter_config cfg = make_cfg(1 + x % 3);
        int rc = PTL_OK;
        switch ((x >> 8) % 8) {
          case 0:
            rc = ptl_registry_register(reg, n, &cfg, 0);
            if (rc == PTL_EEXIST) rc = PTL_OK;
            break;
          case 1:
            rc = ptl_registry_register(reg, n, &cfg, PTL_REPLACE);
            break;
          case 2:
            rc = ptl_registry_remove(reg, n);
            if (rc == PTL_ENOTFOUND) rc = PTL_OK;
            break;
          case 3: {
            rc = ptl_registry_exists(reg, n);
            rc = (rc == 0 || rc == 1) ? PTL_OK : rc;
            break;
          }
          case 4: {
            ptl_limiter* h = nullptr;
            rc = (x >> 12) % 2 ? ptl_registry_get(reg, n, &h)
                               : ptl_registry_get_or_create(reg, n, &cfg, &h);
            if (rc == PTL_OK) {
              ptl_permit p = 0;
              int a = ptl_acquire(h, 0, &p);
              if (a == PTL_OK)
                rc = ptl_release(h, p);
              else if (a != PTL_EAGAIN)
                rc = a;
              ptl_limiter_unref(h);
            } else if (rc == PTL_ENOTFOUND) {
              rc = PTL_OK;
            }
            break;
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
            if (count > 4) rc = PTL_EINTERNAL;
            break;
          }
          case 6: {
            ptl_limiter_stats st{};
            st.struct_size = sizeof st;
            rc = ptl_registry_stats(reg, n, &st);
            if (rc == PTL_ENOTFOUND) rc = PTL_OK;
            break;
          }
          default:
            if ((x >> 16) % 16 == 0) rc = ptl_registry_reset(reg);
        }
        if (rc != PTL_OK && bad++ < 5)
          ADD_FAILURE() << "status " << ptl_status_name(rc) << ": " << ptl_last_error();
      }
    });
  for (auto& th : ts) th.join();
  EXPECT_EQ(bad.load(), 0);
  // Afterwards, exists and list agree.
  Listed l;
  ASSERT_EQ(ptl_registry_list(reg, collect, &l), PTL_OK);
  for (const char* n : names) {
    const bool listed = std::find(l.names.begin(), l.names.end(), n) != l.names.end();
    EXPECT_EQ(ptl_registry_exists(reg, n), listed ? 1 : 0) << n;
  }
}

TEST(CapiRegistry, ManyLimitersListCompletely) {
  Reg reg;
  ptl_limiter_config cfg = make_cfg(1);
  std::set<std::string> names;
  for (int i = 0; i < 2000; ++i) {
    std::string n = "lim-" + std::to_string(i * 7919 % 2000);
    names.insert(n);
    ASSERT_EQ(ptl_registry_register(reg, n.c_str(), &cfg, 0), PTL_OK);
  }
  Listed l;
  ASSERT_EQ(ptl_registry_list(reg, collect, &l), PTL_OK);
  EXPECT_EQ(l.names, std::vector<std::string>(names.begin(), names.end()));
}

}  // namespace
}  // namespace ptl_test
