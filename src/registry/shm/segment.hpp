// SPDX-License-Identifier: MIT
// Segment: this process's attachment to one shm:// segment.
//
// One per (process, segment file), shared by every registry and limiter handle of the
// process that names it, so the process has one identity in the segment however many
// handles it opens. Attaching maps the segment (creating and initializing it under an
// flock if it is new), validates its header, and starts the process's agent thread,
// which claims a process-table entry and holds its liveness lock. The last handle to go
// (drop_user) detaches: the agent releases the entry and exits.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.hpp"
#include "registry/shm/layout.hpp"
#include "registry/shm/shm_uri.hpp"

namespace ptl::shm {

class Agent;

class Segment {
 public:
  // Attaches to the segment of `uri`; the caller holds one user reference. Throws
  // StatusError(kBackend) with the reason (permissions, a bad header, /dev/shm full ...), or
  // StatusError(kNotFound) for an absent segment when uri.create is false.
  static std::shared_ptr<Segment> attach(const ShmUri& uri);

  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;
  ~Segment();

  void add_user();
  void drop_user();

  const std::string& uri() const { return uri_; }
  Header& header() const { return *reinterpret_cast<Header*>(base_); }
  int fd() const { return fd_; }
  Agent& agent() const { return *agent_; }

  // This process's entry in the process table and its generation.
  uint32_t self() const { return self_; }
  uint64_t generation() const { return generation_; }
  void set_identity(uint32_t self, uint64_t generation) {
    self_ = self;
    generation_ = generation;
  }

  // The address of `count` objects of T at `off`, after checking that they lie inside
  // the file: a corrupt offset is StatusError(kBackend), never a fault.
  template <typename T>
  T* at(Offset off, uint64_t count = 1) const {
    const uint64_t bytes = sizeof(T) * count;
    const uint64_t known = known_bytes_.load(std::memory_order_relaxed);
    if (off < kHeaderBytes || off % alignof(T) != 0 || bytes > known || off > known - bytes) {
      check_range(off, bytes, alignof(T));
    }
    return reinterpret_cast<T*>(base_ + off);
  }
  // The offset of an address inside the mapping (of something at() returned).
  Offset offset_of(const void* p) const {
    return static_cast<Offset>(static_cast<const char*>(p) - base_);
  }
  ProcEntry& proc(uint32_t index) const {
    return *at<ProcEntry>(kHeaderBytes + uint64_t{index} * sizeof(ProcEntry));
  }

  // The file grew to `bytes` (this process grew it).
  void note_size(uint64_t bytes) const;

  // Handles do not survive fork(): the child has no agent and would act under the
  // parent's identity. Throws StatusError(kBackend) in a forked child. One load and compare.
  void check_process() const {
    if (!same_process()) fail_forked();
  }
  bool same_process() const { return fork_epoch_ == current_fork_epoch(); }

 private:
  Segment(std::string uri, int fd, char* base, dev_t dev, ino_t ino, uint64_t size);
  // One try of attach(); nullptr if the file was destroyed meanwhile.
  static std::shared_ptr<Segment> attach_once(const ShmUri& uri);
  static uint64_t current_fork_epoch();
  [[noreturn]] void fail_forked() const;
  void check_range(Offset off, uint64_t bytes, size_t align) const;

  std::string uri_;
  int fd_;
  char* base_;
  dev_t dev_;
  ino_t ino_;
  mutable std::atomic<uint64_t> known_bytes_;  // the file is at least this large
  uint64_t fork_epoch_;
  uint32_t self_ = 0;
  uint64_t generation_ = 0;
  int users_ = 0;          // guarded by the process-wide segment cache's mutex
  bool detached_ = false;  // guarded by the same mutex
  std::unique_ptr<Agent> agent_;

  friend struct SegmentCache;
};

}  // namespace ptl::shm
