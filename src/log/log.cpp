// SPDX-License-Identifier: MIT
#include "log/log.hpp"

#include <memory>
#include <mutex>
#include <string>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace ptl::log {
namespace {

// Forwards formatted messages to the user's callback, or to stderr when none is set.
class CallbackSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  void set(void (*fn)(void*, int, const char*), void* user) {
    std::lock_guard<std::mutex> lock(mutex_);
    fn_ = fn;
    user_ = user;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (fn_ == nullptr) {
      stderr_->log(msg);
      return;
    }
    const std::string text(msg.payload.data(), msg.payload.size());
    fn_(user_, static_cast<int>(msg.level), text.c_str());
  }
  void flush_() override { stderr_->flush(); }

 private:
  void (*fn_)(void*, int, const char*) = nullptr;  // guarded by base_sink's mutex_
  void* user_ = nullptr;
  // Single-threaded sink: base_sink already serializes every call.
  std::unique_ptr<spdlog::sinks::stderr_sink_st> stderr_ =
      std::make_unique<spdlog::sinks::stderr_sink_st>();
};

struct State {
  std::shared_ptr<CallbackSink> sink = std::make_shared<CallbackSink>();
  // Not registered with spdlog's global registry: a host program's spdlog settings
  // (set_level, drop_all) must not change ours, and ours must not change theirs.
  std::shared_ptr<spdlog::logger> logger =
      std::make_shared<spdlog::logger>("pocketflow_throttled", sink);
  State() { logger->set_level(spdlog::level::off); }
};

State& state() {
  static State* s = new State();  // never destroyed: library threads may log at exit
  return *s;
}

}  // namespace

spdlog::logger& logger() {
  return *state().logger;
}

void set_level(int level) {
  state().logger->set_level(static_cast<spdlog::level::level_enum>(level));
}

void set_callback(void (*fn)(void* user, int level, const char* msg), void* user) {
  state().sink->set(fn, user);
}

}  // namespace ptl::log
