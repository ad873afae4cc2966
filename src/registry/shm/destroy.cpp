// SPDX-License-Identifier: MIT
#include "registry/shm/destroy.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "core/status.hpp"
#include "log/log.hpp"
#include "registry/shm/file_lock.hpp"
#include "registry/shm/layout.hpp"
#include "registry/shm/sync.hpp"

namespace ptl::shm {
namespace {

// The header and the process table: all that destroying reads.
constexpr uint64_t kTableEnd = kHeaderBytes + uint64_t{kMaxProcesses} * sizeof(ProcEntry);

std::string file_of(const ShmUri& uri) {
  return "/dev/shm" + uri.shm_path;
}

[[noreturn]] void fail_sys(const std::string& what, int err) {
  core::fail(core::Status::kBackend, what + ": " + std::system_category().message(err));
}

[[noreturn]] void not_found(const ShmUri& uri) {
  core::fail(core::Status::kNotFound,
             "shm segment " + file_of(uri) + " (" + uri.uri + ") does not exist");
}

void unlink_or_fail(const ShmUri& uri) {
  if (shm_unlink(uri.shm_path.c_str()) == 0) return;
  if (errno == ENOENT) not_found(uri);
  fail_sys("cannot remove " + file_of(uri), errno);
}

struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

struct TableMap {
  void* base;
  explicit TableMap(void* b) : base(b) {}
  TableMap(const TableMap&) = delete;
  TableMap& operator=(const TableMap&) = delete;
  ~TableMap() {
    if (base != MAP_FAILED) munmap(base, kTableEnd);
  }
};

// Whether entry e's owner is alive now: its agent holds `alive`. A checker of another
// process holds it for an instant too, so the caller asks twice before counting.
bool held(ProcEntry& e) {
  switch (try_lock_robust(&e.alive)) {
    case TryLock::kBusy:
      return true;
    case TryLock::kOwnerDied:
      pthread_mutex_consistent(&e.alive);
      unlock_robust(&e.alive);
      return false;
    case TryLock::kAcquired:
      unlock_robust(&e.alive);
      return false;
  }
  return false;
}

// The pids of the processes other than this one attached to the segment mapped at base
// (whose header the caller checked). A process whose pid equals ours is us: live pids
// are unique in a pid namespace.
std::vector<int32_t> others_attached(char* base) {
  std::vector<uint32_t> busy;
  for (uint32_t i = 0; i < kMaxProcesses; ++i) {
    auto* e = reinterpret_cast<ProcEntry*>(base + kHeaderBytes + uint64_t{i} * sizeof(ProcEntry));
    if (e->generation.load(std::memory_order_acquire) != 0 && held(*e)) busy.push_back(i);
  }
  if (busy.empty()) return {};
  std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::vector<int32_t> pids;
  const int32_t self = static_cast<int32_t>(getpid());
  for (uint32_t i : busy) {
    auto* e = reinterpret_cast<ProcEntry*>(base + kHeaderBytes + uint64_t{i} * sizeof(ProcEntry));
    const int32_t pid = e->pid.load(std::memory_order_relaxed);
    if (pid != self && held(*e)) pids.push_back(pid);
  }
  return pids;
}

// Refuses (throws) unless the locked segment file `fd` of `size` bytes has no other
// process attached.
void check_unused(const ShmUri& uri, int fd, uint64_t size) {
  const std::string where = "shm segment " + file_of(uri) + " (" + uri.uri + ")";
  const std::string forcing = "; PTL_FORCE (ptlctl destroy --force) removes it anyway";
  if (size == 0) return;  // created, never initialized: nobody could attach
  if (size < kTableEnd) {
    core::fail(core::Status::kBackend,
               where + " is too small to be a pocketflow-throttled segment" + forcing);
  }
  TableMap map{mmap(nullptr, kTableEnd, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)};
  if (map.base == MAP_FAILED) fail_sys("cannot map " + file_of(uri), errno);
  auto* base = static_cast<char*>(map.base);
  const auto& h = *reinterpret_cast<const Header*>(base);
  const uint64_t magic = h.magic.load(std::memory_order_acquire);
  if (magic == 0) return;  // its creator died before finishing: nobody attached
  if (magic != kMagic) {
    core::fail(core::Status::kBackend, where + " is not a pocketflow-throttled segment" + forcing);
  }
  if (h.layout_version != kLayoutVersion || h.header_bytes != sizeof(Header) ||
      h.proc_table != kHeaderBytes || h.proc_capacity != kMaxProcesses) {
    core::fail(core::Status::kBackend,
               where + " has layout version " + std::to_string(h.layout_version) +
                   " (this library reads " + std::to_string(kLayoutVersion) +
                   "), so who uses it cannot be told" + forcing);
  }
  const std::vector<int32_t> pids = others_attached(base);
  if (pids.empty()) return;
  std::string list;
  for (int32_t pid : pids) list += (list.empty() ? "" : ", ") + std::to_string(pid);
  const bool one = pids.size() == 1;
  core::fail(core::Status::kAgain,
             where + " is in use: " + std::to_string(pids.size()) +
                 (one ? " other process is" : " other processes are") + " attached (pid" +
                 (one ? " " : "s ") + list +
                 "); removing it now would split its users between two segments. Stop them "
                 "first" +
                 forcing);
}

}  // namespace

void destroy_segment(const ShmUri& uri, bool force) {
  if (force) {
    unlink_or_fail(uri);
    log::logger().info("destroyed shm segment {} (forced)", file_of(uri));
    return;
  }
  // The file at the path may be replaced between opening and locking it (destroyed and
  // created again by others): then look again at the new one.
  for (int attempt = 0; attempt < 8; ++attempt) {
    Fd fd{shm_open(uri.shm_path.c_str(), O_RDWR | O_CLOEXEC, 0)};
    if (fd.fd < 0 && errno == ENOENT) not_found(uri);
    if (fd.fd < 0) fail_sys("cannot open shm segment " + file_of(uri), errno);
    FileLock lock(fd.fd);
    struct stat locked {};
    struct stat named {};
    if (fstat(fd.fd, &locked) != 0) fail_sys("cannot stat " + file_of(uri), errno);
    if (stat(file_of(uri).c_str(), &named) != 0 || named.st_ino != locked.st_ino ||
        named.st_dev != locked.st_dev) {
      continue;
    }
    check_unused(uri, fd.fd, static_cast<uint64_t>(locked.st_size));
    unlink_or_fail(uri);
    log::logger().info("destroyed shm segment {}", file_of(uri));
    return;
  }
  core::fail(core::Status::kBackend,
             "shm segment " + file_of(uri) + " kept changing while being destroyed");
}

}  // namespace ptl::shm
