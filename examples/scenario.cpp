// SPDX-License-Identifier: MIT
// Plays the two-services example with the C++ classes: "openai" is registered once; two
// flows, translation and summarization, are each a ThrottledParallelBatchFlow with one
// instance per item, 15 at once; each instance is a node whose call takes a permit of the
// shared "openai" limiter. Every permit's grant and release time is recorded. play() runs
// any subset of the services' items, so child processes (processes.cpp) reuse it.
#include "scenario.hpp"

#include <pocketflow_throttled/ptl_flow.hpp>

#include <algorithm>
#include <exception>
#include <latch>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "demo_util.hpp"

namespace demo {
namespace {

// What every node copy records into: the run's clock, the in-flight counters and the
// first error. Each ItemRecord is written by the one instance that runs its item.
class Recorder {
 public:
  explicit Recorder(std::vector<ItemRecord>& items) : items_(items) {}

  // Sets the clock's zero; before any node runs.
  void start(int64_t t0) { t0_ = t0; }
  int64_t t0() const { return t0_; }
  int64_t since_start() const { return now_ns() - t0_; }
  ItemRecord& item(size_t i) { return items_[i]; }

  // The live counters: raised after acquire returns, lowered before release, under one
  // mutex so the total is exact at every step.
  void enter(int service) {
    std::lock_guard lock(mu_);
    peak_[service] = std::max(peak_[service], ++in_flight_[service]);
    peak_total_ = std::max(peak_total_, in_flight_[0] + in_flight_[1]);
  }
  void leave(int service) {
    std::lock_guard lock(mu_);
    --in_flight_[service];
  }
  // Keeps the first error: "PTL_EINVAL: <what>" for the library's.
  void fail(const std::exception& e) {
    const auto* pe = dynamic_cast<const ptl::Error*>(&e);
    std::string msg = pe ? std::string(pe->status_name()) + ": " + e.what() : e.what();
    std::lock_guard lock(mu_);
    if (error_.empty()) error_ = std::move(msg);
  }

  // After the run.
  void finish(RunResult& res) const {
    std::lock_guard lock(mu_);
    res.error = error_;
    res.peak_total_in_flight = peak_total_;
    for (int s = 0; s < kServices; ++s) res.peak_in_flight[s] = peak_[s];
  }

 private:
  std::vector<ItemRecord>& items_;
  int64_t t0_ = 0;
  mutable std::mutex mu_;
  uint32_t in_flight_[kServices] = {0, 0};
  uint32_t peak_[kServices] = {0, 0};
  uint32_t peak_total_ = 0;
  std::string error_;
};

// One item's mock LLM call under the shared limiter: a flow instance runs a copy of this
// node with params {"item": index}.
class LlmCall : public ptl::Node<size_t, int> {
 public:
  LlmCall(Recorder* rec, int service, ptl::Limiter openai)
      : rec_(rec), service_(service), openai_(std::move(openai)) {}

 protected:
  size_t prep(ptl::Shared& /*shared*/) override { return params().get<size_t>("item"); }

  int exec(const size_t& index) override {
    ItemRecord& it = rec_->item(index);
    it.want_ns = rec_->since_start();
    ptl::Permit permit = openai_.acquire();  // waits as long as it takes
    const int64_t granted = now_ns();
    it.grant_ns = granted - rec_->t0();
    rec_->enter(service_);
    sleep_until_ns(granted + it.call_ns);  // the call itself
    rec_->leave(service_);
    it.release_ns = rec_->since_start();
    permit.release();  // throws if the library refuses it
    return 0;
  }

 private:
  Recorder* rec_;
  int service_;
  ptl::Limiter openai_;
};

// A service: one flow instance per item of its slice, at most max_concurrent_flows at once.
class ServiceFlow : public ptl::ThrottledParallelBatchFlow {
 public:
  ServiceFlow(std::shared_ptr<LlmCall> call, Recorder* rec, size_t first, size_t count)
      : ThrottledParallelBatchFlow(std::move(call)), rec_(rec), first_(first), count_(count) {}

 protected:
  std::vector<ptl::Params> prep(ptl::Shared& /*shared*/) override {
    std::vector<ptl::Params> sets;
    for (size_t i = first_; i < first_ + count_; ++i) sets.push_back({{"item", i}});
    return sets;
  }
  std::string post(ptl::Shared& /*shared*/, std::vector<ptl::Params>& /*sets*/,
                   std::vector<ptl::FlowOutcome>& outcomes) override {
    for (const ptl::FlowOutcome& o : outcomes) {
      if (o.ok()) continue;
      try {
        std::rethrow_exception(o.error);
      } catch (const std::exception& e) {
        rec_->fail(e);
      }
    }
    return "default";
  }

 private:
  Recorder* rec_;
  size_t first_, count_;
};

}  // namespace

void register_openai(ptl::Registry& reg, const Params& p, std::string* note) {
  const ptl::LimiterConfig cfg{.max_concurrent = p.max_concurrent,
                               .max_per_window = p.max_per_window,
                               .window_seconds = p.window_s()};
  if (!p.uri.empty() && reg.remove(kLimiterName))
    *note = std::string("limiter \"") + kLimiterName + "\" was left in " + p.uri +
            " by an earlier run; removed and registered afresh (an empty window)";
  try {
    reg.register_limiter(kLimiterName, cfg);
  } catch (const ptl::Error& e) {
    if (e.status() != PTL_EEXIST || !p.uri.empty()) throw;
    *note = std::string("limiter \"") + kLimiterName +
            "\" existed already; its limits were replaced in place";
    reg.register_limiter(kLimiterName, cfg, /*replace=*/true);
  }
}

std::vector<Slice> all_slices(const Params& p) {
  std::vector<Slice> out;
  for (int s = 0; s < kServices; ++s)
    out.push_back({s, size_t{p.items_per_service} * s, p.items_per_service});
  return out;
}

Slice child_slice(const Params& p, uint32_t k) {
  const int s = static_cast<int>(k % kServices);
  // Children s, s + 2, s + 4, ... run service s; this one is the j-th of n.
  const size_t n = (p.processes - static_cast<uint32_t>(s) + kServices - 1) / kServices;
  const size_t j = k / kServices;
  const size_t items = p.items_per_service;
  const size_t begin = items * j / n, end = items * (j + 1) / n;
  return {s, items * static_cast<size_t>(s) + begin, end - begin};
}

std::vector<ItemRecord> blank_items(const Params& p) {
  const std::vector<int64_t> calls = draw_call_durations(p);
  std::vector<ItemRecord> items(calls.size());
  for (size_t i = 0; i < calls.size(); ++i) {
    items[i].service = static_cast<int>(i / p.items_per_service);
    items[i].call_ns = calls[i];
  }
  return items;
}

std::vector<int64_t> draw_call_durations(const Params& p) {
  return draw_durations(p.seed, size_t{p.items_per_service} * kServices, p.nominal_call_min_ms,
                        p.nominal_call_max_ms, p.time_scale);
}

void play(const Params& p, const ptl::Limiter& openai, const std::vector<Slice>& slices,
          const std::function<int64_t()>& start, RunResult& res) {
  Recorder rec(res.items);
  try {
    // Each service builds its flow; its node holds a handle of the one shared limiter.
    std::vector<std::unique_ptr<ServiceFlow>> flows;
    for (const Slice& sl : slices) {
      auto call = std::make_shared<LlmCall>(&rec, sl.service, openai);
      flows.push_back(std::make_unique<ServiceFlow>(std::move(call), &rec, sl.first, sl.count));
      flows.back()->max_concurrent_flows = p.flows_at_once;
    }
    // The services run at once, each flow's run() on a thread of its own; the clock starts
    // when every thread exists.
    std::latch go(1);
    std::vector<std::thread> threads;
    for (auto& flow : flows)
      threads.emplace_back([&go, &rec, f = flow.get()] {
        go.wait();
        try {
          ptl::Shared shared;
          f->run(shared);
        } catch (const std::exception& e) {
          rec.fail(e);
        } catch (...) {
          rec.fail(std::runtime_error("an unknown exception"));
        }
      });
    try {
      rec.start(start());
    } catch (const std::exception& e) {
      rec.fail(e);  // the flows still run, so the threads end; the error is kept
      rec.start(now_ns());
    }
    go.count_down();
    for (auto& t : threads) t.join();
    res.end_ns = rec.since_start();
  } catch (const std::exception& e) {
    rec.fail(e);
  }
  rec.finish(res);
}

RunResult run_scenario(const Params& p) {
  RunResult res;
  res.items = blank_items(p);
  try {
    ptl::Registry reg = p.uri.empty() ? ptl::Registry() : ptl::Registry::open(p.uri);
    register_openai(reg, p, &res.registry_note);  // once, at start-up
    // Both services look the limiter up by name, as separate components would.
    play(
        p, reg.get(kLimiterName), all_slices(p), [] { return now_ns(); }, res);
    const ptl::LimiterStats stats = reg.stats(kLimiterName);
    res.lib_total_acquired = stats.total_acquired;
    res.lib_total_timeouts = stats.total_timeouts;
    res.lib_in_flight_after = stats.in_flight;
    if (!p.uri.empty()) reg.remove(kLimiterName);  // an opened registry is left as found
  } catch (const ptl::Error& e) {
    if (res.error.empty()) res.error = std::string(e.status_name()) + ": " + e.what();
  } catch (const std::exception& e) {
    if (res.error.empty()) res.error = e.what();
  }
  return res;
}

}  // namespace demo
