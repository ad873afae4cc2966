// SPDX-License-Identifier: MIT
// Reply: an owned hiredis reply with the few readers the backend needs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

struct redisReply;

namespace ptl::core::redis {

class ReplyView {
 public:
  explicit ReplyView(const redisReply* r) : r_(r) {}
  bool is_error() const;
  bool is_nil() const;
  bool is_array() const;
  bool is_integer() const;
  size_t size() const;           // elements of an array, else 0
  ReplyView at(size_t i) const;  // throws StatusError(kBackend) past the end or on a non-array
  std::string_view str() const;  // string, status or error text; "" otherwise
  int64_t integer() const;       // an integer, or a string holding one; throws otherwise
  // "the reply" for messages: its error text, or a short description of its type.
  std::string describe() const;

 private:
  const redisReply* r_;
};

class Reply {
 public:
  Reply() = default;
  explicit Reply(redisReply* r);
  ReplyView view() const { return ReplyView(r_.get()); }
  bool is_error() const { return view().is_error(); }
  std::string_view str() const { return view().str(); }
  bool valid() const { return r_ != nullptr; }

 private:
  struct Free {
    void operator()(redisReply* r) const;
  };
  std::unique_ptr<redisReply, Free> r_;
};

}  // namespace ptl::core::redis
