// SPDX-License-Identifier: MIT
// ptl_redis_worker: one process of the multi-process redis:// tests.
//
//   ptl_redis_worker hammer URI NAME THREADS GRANTS HOLD_US OUT_FILE
//     THREADS threads each take GRANTS permits of NAME, holding each for HOLD_US, and
//     write one line per grant to OUT_FILE: "t_before t_granted t_released retried",
//     times from the Redis server's clock (TIME) taken before the acquire, right after
//     it returned and right before the release, so [t_granted, t_released] lies inside
//     the permit's true holding interval. PTL_EBACKEND (the server away) is counted and
//     retried; the last line is "errors N".
//   ptl_redis_worker hold URI NAME
//     Takes one permit, prints "held" and sleeps until killed.
//   ptl_redis_worker wait URI NAME
//     Waits for a permit (up to a minute), to be killed while in line.
#include <pocketflow_throttled/ptl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "redis_server.hpp"

namespace {

int port_of(const std::string& uri) {
  const size_t colon = uri.rfind(':');
  return std::atoi(uri.c_str() + colon + 1);
}

// TIME, retried until the server answers (it may be restarting); `retried` is set if it
// had to be.
int64_t server_time(int port, std::unique_ptr<ptl_test::RedisClient>& c, bool* retried) {
  for (;;) {
    if (!c || !c->ok()) c = std::make_unique<ptl_test::RedisClient>(port);
    const int64_t t = c->time_us();
    if (t >= 0) return t;
    *retried = true;
    c.reset();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

int hammer(const std::string& uri, const std::string& name, int threads, int grants, int hold_us,
           const std::string& out_file) {
  ptl_registry* reg = nullptr;
  if (ptl_registry_open(uri.c_str(), &reg) != PTL_OK) {
    std::fprintf(stderr, "worker: open %s: %s\n", uri.c_str(), ptl_last_error());
    return 2;
  }
  ptl_limiter* lim = nullptr;
  if (ptl_registry_get(reg, name.c_str(), &lim) != PTL_OK) {
    std::fprintf(stderr, "worker: get %s: %s\n", name.c_str(), ptl_last_error());
    return 2;
  }
  const int port = port_of(uri.substr(0, uri.find('?')));
  std::mutex mu;
  std::vector<std::string> lines;
  std::atomic<int> errors{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      std::unique_ptr<ptl_test::RedisClient> c;
      for (int i = 0; i < grants && !failed;) {
        bool retried = false;
        const int64_t before = server_time(port, c, &retried);
        ptl_permit p;
        const int rc = ptl_acquire(lim, 30'000'000'000, &p);
        if (rc == PTL_EBACKEND) {
          ++errors;
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          continue;
        }
        if (rc != PTL_OK) {
          std::fprintf(stderr, "worker: acquire: %s %s\n", ptl_status_name(rc), ptl_last_error());
          failed = true;
          break;
        }
        const int64_t granted = server_time(port, c, &retried);
        std::this_thread::sleep_for(std::chrono::microseconds(hold_us));
        const int64_t released = server_time(port, c, &retried);
        if (ptl_release(lim, p) != PTL_OK) {
          std::fprintf(stderr, "worker: release: %s\n", ptl_last_error());
          failed = true;
        }
        std::lock_guard<std::mutex> lock(mu);
        lines.push_back(std::to_string(before) + " " + std::to_string(granted) + " " +
                        std::to_string(released) + " " + (retried ? "1" : "0"));
        ++i;
      }
    });
  }
  for (auto& t : pool) t.join();
  ptl_limiter_unref(lim);
  ptl_registry_close(reg);
  FILE* f = std::fopen(out_file.c_str(), "w");
  if (f == nullptr) return 2;
  for (const std::string& l : lines) std::fprintf(f, "%s\n", l.c_str());
  std::fprintf(f, "errors %d\n", errors.load());
  std::fclose(f);
  return failed ? 1 : 0;
}

int hold(const std::string& uri, const std::string& name) {
  ptl_registry* reg = nullptr;
  ptl_limiter* lim = nullptr;
  ptl_permit p;
  if (ptl_registry_open(uri.c_str(), &reg) != PTL_OK ||
      ptl_registry_get(reg, name.c_str(), &lim) != PTL_OK ||
      ptl_acquire(lim, 10'000'000'000, &p) != PTL_OK) {
    std::fprintf(stderr, "worker: hold: %s\n", ptl_last_error());
    return 2;
  }
  std::printf("held\n");
  std::fflush(stdout);
  for (;;) pause();
}

int wait_in_line(const std::string& uri, const std::string& name) {
  ptl_registry* reg = nullptr;
  ptl_limiter* lim = nullptr;
  ptl_permit p;
  if (ptl_registry_open(uri.c_str(), &reg) != PTL_OK ||
      ptl_registry_get(reg, name.c_str(), &lim) != PTL_OK) {
    std::fprintf(stderr, "worker: wait: %s\n", ptl_last_error());
    return 2;
  }
  return ptl_acquire(lim, 60'000'000'000, &p) == PTL_OK ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> a(argv + 1, argv + argc);
  if (a.size() == 7 && a[0] == "hammer") {
    return hammer(a[1], a[2], std::atoi(a[3].c_str()), std::atoi(a[4].c_str()),
                  std::atoi(a[5].c_str()), a[6]);
  }
  if (a.size() == 3 && a[0] == "hold") return hold(a[1], a[2]);
  if (a.size() == 3 && a[0] == "wait") return wait_in_line(a[1], a[2]);
  std::fprintf(stderr,
               "usage: ptl_redis_worker hammer URI NAME THREADS GRANTS HOLD_US OUT | "
               "hold URI NAME\n");
  return 2;
}
