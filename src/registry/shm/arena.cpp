// SPDX-License-Identifier: MIT
#include "registry/shm/arena.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <string>
#include <system_error>

#include "core/status.hpp"
#include "log/log.hpp"
#include "registry/shm/segment.hpp"
#include "registry/shm/sync.hpp"

namespace ptl::shm {
namespace {

constexpr uint64_t kArenaStart = kHeaderBytes + uint64_t{kMaxProcesses} * sizeof(ProcEntry);
constexpr uint64_t kGrowStep = uint64_t{1} << 20;

// Where a free block keeps its free-list link: anywhere a stale handle never reads.
// A limiter block's mutex and uid must stay intact, so its link sits in its name.
constexpr uint64_t kLinkOffset[kBlockKinds] = {0, offsetof(LimiterBlock, name), 0};

uint64_t round_up(uint64_t n, uint64_t to) {
  return (n + to - 1) / to * to;
}

bool plausible(const Header& h, Offset off) {
  return off >= kArenaStart && off < h.arena_top && off % 64 == 0;
}

// Runs with the arena lock after its holder died. Every change was one store, so only
// the recorded file size may lag (the file grew first) and a list head may be garbage
// only if the segment is corrupt; such a list is dropped (its blocks leak).
void repair_arena(void* ctx) noexcept {
  auto* seg = static_cast<Segment*>(ctx);
  Header& h = seg->header();
  struct stat st {};
  if (fstat(seg->fd(), &st) == 0) {
    const uint64_t size = std::min(static_cast<uint64_t>(st.st_size), kMaxSegmentBytes);
    if (size > h.file_bytes.load(std::memory_order_relaxed)) {
      h.file_bytes.store(size, std::memory_order_release);
    }
  }
  for (auto& kind : h.free_heads) {
    for (uint64_t& head : kind) {
      if (head != 0 && !plausible(h, head)) head = 0;
    }
  }
  log::logger().warn("{}: a process died holding the arena lock; repaired", seg->uri());
}

std::string mib(uint64_t bytes) {
  return std::to_string(bytes >> 20) + " MiB";
}

// posix_fallocate, not ftruncate: the pages are reserved now, so a full /dev/shm is an
// error here instead of a SIGBUS at some later first touch. 0 or an errno value.
int reserve_file(int fd, uint64_t from, uint64_t to) {
  int rc = 0;
  do {
    rc = posix_fallocate(fd, static_cast<off_t>(from), static_cast<off_t>(to - from));
  } while (rc == EINTR);
  return rc;
}

// Grows the file to hold `needed` bytes, for an allocation of `bytes`: to twice its size
// (few, large steps), or, when that does not fit on the file system, to what is needed.
void grow_file(Segment& seg, Header& h, uint64_t needed, uint64_t bytes) {
  const uint64_t current = h.file_bytes.load(std::memory_order_relaxed);
  const uint64_t least = std::min(kMaxSegmentBytes, round_up(needed, kGrowStep));
  const uint64_t doubled =
      std::min(kMaxSegmentBytes, round_up(std::max(needed, current * 2), kGrowStep));
  uint64_t target = doubled;
  int rc = reserve_file(seg.fd(), current, target);
  if (rc != 0 && least < doubled) {
    target = least;
    rc = reserve_file(seg.fd(), current, target);
  }
  if (rc != 0) {
    core::fail(core::Status::kBackend, "shm segment " + seg.uri() + " is full: cannot allocate " +
                                           std::to_string(bytes) + " bytes (its file cannot grow " +
                                           "from " + mib(current) + " to " + mib(target) + ": " +
                                           std::system_category().message(rc) + ")");
  }
  h.file_bytes.store(target, std::memory_order_release);
  seg.note_size(target);
}

}  // namespace

int generic_class(uint64_t bytes) {
  for (int c = 0; c < kSizeClasses; ++c) {
    if (generic_class_bytes(c) >= bytes) return c;
  }
  return -1;
}

Block arena_alloc(Segment& seg, BlockKind kind, int cls, uint64_t bytes) {
  Header& h = seg.header();
  RobustGuard guard(&h.arena_mutex, repair_arena, &seg, "the shm arena lock");
  uint64_t& head = h.free_heads[kind][cls];
  if (head != 0) {
    const Offset off = head;
    const uint64_t next = *seg.at<uint64_t>(off + kLinkOffset[kind]);
    head = next != 0 && !plausible(h, next) ? 0 : next;  // the one publishing store
    return {off, false};
  }
  // A generic block is reused for any request of its class: it holds the class's
  // largest, not just the request it was carved for.
  const uint64_t size = kind == kGeneric ? std::max(round_up(bytes, 64), generic_class_bytes(cls))
                                         : round_up(bytes, 64);
  const Offset off = h.arena_top;
  if (off < kArenaStart || size > kMaxSegmentBytes || off > kMaxSegmentBytes - size) {
    core::fail(core::Status::kBackend,
               "shm segment " + seg.uri() + " is full (" + std::to_string(kMaxSegmentBytes >> 20) +
                   " MiB): cannot allocate " + std::to_string(size) + " bytes");
  }
  if (off + size > h.file_bytes.load(std::memory_order_relaxed)) {
    grow_file(seg, h, off + size, size);
  }
  h.arena_top = off + size;  // the one publishing store
  return {off, true};
}

void arena_free(Segment& seg, BlockKind kind, int cls, Offset off) {
  if (off == 0) return;
  Header& h = seg.header();
  RobustGuard guard(&h.arena_mutex, repair_arena, &seg, "the shm arena lock");
  uint64_t& head = h.free_heads[kind][cls];
  *seg.at<uint64_t>(off + kLinkOffset[kind]) = head;
  head = off;  // the one publishing store
}

}  // namespace ptl::shm
