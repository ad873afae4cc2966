// SPDX-License-Identifier: MIT
#include "registry/shm/segment.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <new>
#include <system_error>
#include <vector>

#include "core/clock.hpp"
#include "core/thread_annotations.hpp"
#include "log/log.hpp"
#include "registry/shm/agent.hpp"
#include "registry/shm/file_lock.hpp"
#include "registry/shm/sync.hpp"

namespace ptl::shm {
namespace {

constexpr uint64_t kArenaStart = kHeaderBytes + uint64_t{kMaxProcesses} * sizeof(ProcEntry);

std::atomic<uint64_t> g_fork_epoch{0};

[[noreturn]] void fail_sys(const std::string& what, int err) {
  core::fail(core::Status::kBackend, what + ": " + std::system_category().message(err));
}

std::string file_of(const ShmUri& uri) {
  return "/dev/shm" + uri.shm_path;
}

struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) close(fd);
  }
};

struct Unmapper {
  char* base = nullptr;
  ~Unmapper() {
    if (base != nullptr) munmap(base, kMaxSegmentBytes);
  }
};

// Whether the file of fd was unlinked (ptl_registry_destroy), asked under the file lock:
// a destroyer unlinks under it after finding no live process entry, so a process whose
// entry it did not see finds the file unlinked here. Never throws: the agent is running.
bool unlinked(int fd) {
  while (flock(fd, LOCK_EX) != 0 && errno == EINTR) {
  }
  struct stat st {};
  const bool gone = fstat(fd, &st) == 0 && st.st_nlink == 0;
  flock(fd, LOCK_UN);
  return gone;
}

// Permit serials start at a random point, so permits of two segments used by one
// process practically never coincide (within a segment they never do).
uint64_t random_serial_start() {
  uint64_t r = 0;
  if (getrandom(&r, sizeof r, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof r)) {
    r = static_cast<uint64_t>(core::monotonic_now()) * 0x9E3779B97F4A7C15ULL;
  }
  return (r & ((uint64_t{1} << 38) - 1)) + 1;
}

void initialize(const ShmUri& uri, int fd, char* base) {
  // Nobody else is attached: attaching needs the magic, written last, and every opener
  // holds the flock held here. Start from zeros: a creator that died may leave garbage.
  if (ftruncate(fd, 0) != 0) fail_sys("cannot reset " + file_of(uri), errno);
  if (const int rc = posix_fallocate(fd, 0, kInitialSegmentBytes); rc != 0) {
    fail_sys("cannot size shm segment " + file_of(uri) + " (" + uri.uri + ") to " +
                 std::to_string(kInitialSegmentBytes >> 20) + " MiB",
             rc);
  }
  auto* h = new (base) Header();
  h->layout_version = kLayoutVersion;
  h->header_bytes = sizeof(Header);
  h->max_bytes = kMaxSegmentBytes;
  h->proc_table = kHeaderBytes;
  h->proc_capacity = kMaxProcesses;
  h->file_bytes.store(kInitialSegmentBytes, std::memory_order_relaxed);
  h->next_serial.store(random_serial_start(), std::memory_order_relaxed);
  init_robust_mutex(&h->registry_mutex);
  init_robust_mutex(&h->arena_mutex);
  h->arena_top = kArenaStart;
  for (uint32_t i = 0; i < kMaxProcesses; ++i) {
    auto* e = new (base + kHeaderBytes + uint64_t{i} * sizeof(ProcEntry)) ProcEntry();
    init_robust_mutex(&e->alive);
  }
  // Exactly the mode asked for: shm_open's mode passed through the umask.
  if (fchmod(fd, uri.mode) != 0) fail_sys("cannot set the mode of " + file_of(uri), errno);
  h->magic.store(kMagic, std::memory_order_release);
}

void validate(const ShmUri& uri, const Header& h, uint64_t file_size) {
  const std::string where = "shm segment " + file_of(uri) + " (" + uri.uri + ")";
  if (h.magic.load(std::memory_order_acquire) != kMagic) {
    core::fail(core::Status::kBackend,
               where + " is not a pocketflow-throttled segment (bad magic number)");
  }
  if (h.layout_version != kLayoutVersion) {
    core::fail(core::Status::kBackend,
               where + " has layout version " + std::to_string(h.layout_version) +
                   ", but this library reads layout version " + std::to_string(kLayoutVersion) +
                   ": another version of the library created it (remove the file once no "
                   "process uses it)");
  }
  if (h.header_bytes != sizeof(Header) || h.max_bytes != kMaxSegmentBytes ||
      h.proc_table != kHeaderBytes || h.proc_capacity != kMaxProcesses) {
    core::fail(core::Status::kBackend, where + " has a corrupt header");
  }
  const uint64_t recorded = h.file_bytes.load(std::memory_order_acquire);
  if (file_size < kArenaStart || recorded > file_size || recorded > kMaxSegmentBytes ||
      h.arena_top < kArenaStart || h.arena_top > recorded) {
    core::fail(core::Status::kBackend, where + " is corrupt (its sizes do not match its file)");
  }
}

}  // namespace

// Every attachment of this process, so that two registries of one URI share one.
struct SegmentCache {
  core::Mutex mu;
  std::vector<std::weak_ptr<Segment>> segments PTL_GUARDED_BY(mu);

  static SegmentCache& get() {
    static const bool registered = [] {
      g_cache = new SegmentCache();  // never destroyed: handles may outlive statics
      // In a forked child the parent's attachments are not ours (the agent threads
      // did not come along); a fresh cache lets the child attach on its own.
      pthread_atfork(nullptr, nullptr, [] {
        g_fork_epoch.fetch_add(1, std::memory_order_relaxed);
        g_cache = new SegmentCache();
      });
      return true;
    }();
    (void)registered;
    return *g_cache;
  }

  std::shared_ptr<Segment> find(dev_t dev, ino_t ino) PTL_REQUIRES(mu) {
    for (auto it = segments.begin(); it != segments.end();) {
      std::shared_ptr<Segment> s = it->lock();
      if (!s) {
        it = segments.erase(it);
        continue;
      }
      if (s->dev_ == dev && s->ino_ == ino && !s->detached_) return s;
      ++it;
    }
    return nullptr;
  }

  void forget(const Segment* seg) PTL_REQUIRES(mu) {
    std::erase_if(segments, [seg](const std::weak_ptr<Segment>& w) {
      std::shared_ptr<Segment> s = w.lock();
      return !s || s.get() == seg;
    });
  }

  static SegmentCache* g_cache;
};
SegmentCache* SegmentCache::g_cache = nullptr;

std::shared_ptr<Segment> Segment::attach(const ShmUri& uri) {
  SegmentCache& cache = SegmentCache::get();
  core::MutexLock lock(cache.mu);
  // Again if the file was destroyed (ptl_registry_destroy) while this process attached:
  // its process entry was not there yet when the destroyer looked.
  for (;;) {
    if (std::shared_ptr<Segment> seg = attach_once(uri)) return seg;
  }
}

std::shared_ptr<Segment> Segment::attach_once(const ShmUri& uri) {
  SegmentCache& cache = SegmentCache::get();
  cache.mu.assert_held();  // attach() holds it for the whole retry loop
  const int flags = O_RDWR | O_CLOEXEC | (uri.create ? O_CREAT : 0);
  FdCloser fd{shm_open(uri.shm_path.c_str(), flags, uri.mode)};
  if (fd.fd < 0 && errno == ENOENT && !uri.create) {
    core::fail(core::Status::kNotFound, "shm segment " + file_of(uri) + " does not exist (" +
                                            uri.uri + " does not create it)");
  }
  if (fd.fd < 0) fail_sys("cannot open shm segment " + file_of(uri) + " for " + uri.uri, errno);
  struct stat st {};
  if (fstat(fd.fd, &st) != 0) fail_sys("cannot stat " + file_of(uri), errno);
  if (std::shared_ptr<Segment> seg = cache.find(st.st_dev, st.st_ino)) {
    ++seg->users_;
    return seg;
  }

  Unmapper map;
  uint64_t size = 0;
  {
    FileLock file_lock(fd.fd);
    if (fstat(fd.fd, &st) != 0) fail_sys("cannot stat " + file_of(uri), errno);
    const auto file_size = static_cast<uint64_t>(st.st_size);
    if (file_size != 0 && file_size < kArenaStart) {
      core::fail(core::Status::kBackend, "shm segment " + file_of(uri) + " is too small (" +
                                             std::to_string(file_size) +
                                             " bytes) to be a pocketflow-throttled segment");
    }
    void* p = mmap(nullptr, kMaxSegmentBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd.fd, 0);
    if (p == MAP_FAILED) fail_sys("cannot map " + file_of(uri), errno);
    map.base = static_cast<char*>(p);
    const auto* h = reinterpret_cast<const Header*>(map.base);
    // Read the header only once the file is known to hold it: past the end is SIGBUS.
    if (file_size == 0 || h->magic.load(std::memory_order_acquire) == 0) {
      if (!uri.create) {
        core::fail(core::Status::kNotFound,
                   "shm segment " + file_of(uri) + " is not initialized (its creator has not " +
                       "finished, or died first), and " + uri.uri + " does not create it");
      }
      initialize(uri, fd.fd, map.base);
      size = kInitialSegmentBytes;
      log::logger().info("created shm segment {} (mode {:o})", file_of(uri), uri.mode);
    } else {
      validate(uri, *h, file_size);
      size = file_size;
    }
  }

  std::shared_ptr<Segment> seg(new Segment(uri.uri, fd.fd, map.base, st.st_dev, st.st_ino, size));
  fd.fd = -1;
  map.base = nullptr;
  seg->users_ = 1;
  seg->agent_ = std::make_unique<Agent>(*seg);
  seg->agent_->start(seg);  // claims a process entry; on failure ~Segment unmaps
  if (unlinked(seg->fd_)) {
    seg->detached_ = true;
    seg->agent_->stop();
    return nullptr;
  }
  cache.segments.push_back(seg);
  return seg;
}

Segment::Segment(std::string uri, int fd, char* base, dev_t dev, ino_t ino, uint64_t size)
    : uri_(std::move(uri)),
      fd_(fd),
      base_(base),
      dev_(dev),
      ino_(ino),
      known_bytes_(std::min(size, kMaxSegmentBytes)),
      fork_epoch_(current_fork_epoch()) {}

Segment::~Segment() {
  agent_.reset();
  munmap(base_, kMaxSegmentBytes);
  close(fd_);
}

void Segment::add_user() {
  core::MutexLock lock(SegmentCache::get().mu);
  ++users_;
}

void Segment::drop_user() {
  bool last = false;
  {
    SegmentCache& cache = SegmentCache::get();
    core::MutexLock lock(cache.mu);
    last = --users_ == 0;
    if (last) {
      detached_ = true;
      cache.forget(this);
    }
  }
  // In a forked child the agent is the parent's: leave it alone.
  if (last && fork_epoch_ == current_fork_epoch()) agent_->stop();
}

void Segment::note_size(uint64_t bytes) const {
  uint64_t known = known_bytes_.load(std::memory_order_relaxed);
  while (bytes > known &&
         !known_bytes_.compare_exchange_weak(known, bytes, std::memory_order_relaxed)) {
  }
}

uint64_t Segment::current_fork_epoch() {
  return g_fork_epoch.load(std::memory_order_relaxed);
}

void Segment::fail_forked() const {
  core::fail(core::Status::kBackend, "this " + uri_ +
                                         " handle was opened before fork(); open the registry "
                                         "again in the child process");
}

void Segment::check_range(Offset off, uint64_t bytes, size_t align) const {
  if (off >= kHeaderBytes && off % align == 0 && bytes <= kMaxSegmentBytes &&
      off <= kMaxSegmentBytes - bytes) {
    // Another process may have grown the file since this one last looked.
    struct stat st {};
    if (fstat(fd_, &st) == 0) {
      const uint64_t size = std::min(static_cast<uint64_t>(st.st_size), kMaxSegmentBytes);
      note_size(size);
      if (off + bytes <= size) return;
    }
  }
  core::fail(core::Status::kBackend, "shm segment " + uri_ + " is corrupt: offset " +
                                         std::to_string(off) + " (+" + std::to_string(bytes) +
                                         " bytes) lies outside it");
}

}  // namespace ptl::shm
