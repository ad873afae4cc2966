// SPDX-License-Identifier: MIT
#include "registry/redis/reply.hpp"

#include <hiredis/hiredis.h>

#include <cstdlib>

#include "core/status.hpp"

namespace ptl::core::redis {

Reply::Reply(redisReply* r) : r_(r) {}

void Reply::Free::operator()(redisReply* r) const {
  freeReplyObject(r);
}

bool ReplyView::is_error() const {
  return r_ != nullptr && r_->type == REDIS_REPLY_ERROR;
}

bool ReplyView::is_nil() const {
  return r_ == nullptr || r_->type == REDIS_REPLY_NIL;
}

bool ReplyView::is_array() const {
  return r_ != nullptr && r_->type == REDIS_REPLY_ARRAY;
}

bool ReplyView::is_integer() const {
  return r_ != nullptr && r_->type == REDIS_REPLY_INTEGER;
}

size_t ReplyView::size() const {
  return is_array() ? r_->elements : 0;
}

ReplyView ReplyView::at(size_t i) const {
  if (i >= size()) {
    fail(Status::kBackend,
         "unexpected reply from redis: " + describe() + " has no element " + std::to_string(i));
  }
  return ReplyView(r_->element[i]);
}

std::string_view ReplyView::str() const {
  if (r_ == nullptr) return {};
  switch (r_->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      return {r_->str, r_->len};
    default:
      return {};
  }
}

int64_t ReplyView::integer() const {
  if (r_ != nullptr && r_->type == REDIS_REPLY_INTEGER) return r_->integer;
  if (r_ != nullptr && r_->type == REDIS_REPLY_STRING && r_->len > 0 && r_->len < 24) {
    const std::string text(r_->str, r_->len);
    char* end = nullptr;
    const long long v = std::strtoll(text.c_str(), &end, 10);
    if (end == text.c_str() + text.size()) return v;
  }
  fail(Status::kBackend, "unexpected reply from redis: expected an integer, got " + describe());
}

std::string ReplyView::describe() const {
  if (r_ == nullptr) return "no reply";
  switch (r_->type) {
    case REDIS_REPLY_ERROR:
      return std::string(str());
    case REDIS_REPLY_STRING:
      return "'" + std::string(str()).substr(0, 64) + "'";
    case REDIS_REPLY_STATUS:
      return "status " + std::string(str());
    case REDIS_REPLY_INTEGER:
      return "integer " + std::to_string(r_->integer);
    case REDIS_REPLY_NIL:
      return "nil";
    case REDIS_REPLY_ARRAY:
      return "array of " + std::to_string(r_->elements);
    default:
      return "reply of type " + std::to_string(r_->type);
  }
}

}  // namespace ptl::core::redis
