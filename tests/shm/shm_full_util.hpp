// SPDX-License-Identifier: MIT
// Helpers of the full-segment suite: a private small tmpfs on /dev/shm for each test (in
// a mount namespace of the test process's own), a filler file that takes its free
// space, and limiters that use up what is left inside the segment's file.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "shm_util.hpp"

namespace ptl_test {

// Why the suite cannot run here (empty: it can). Set by main().
inline std::string& private_shm_problem() {
  static std::string why;
  return why;
}

// Gives the process a mount namespace of its own, in which /dev/shm can be replaced by
// a small tmpfs without anyone else seeing it. Must run while the process has one
// thread: unshare(CLONE_NEWNS) refuses a process whose threads share its filesystem
// context.
inline std::string enter_private_mount_namespace() {
  if (unshare(CLONE_NEWNS) != 0) {
    return std::string("unshare(CLONE_NEWNS) failed (root or CAP_SYS_ADMIN needed): ") +
           std::strerror(errno);
  }
  // Private, so that nothing mounted here propagates back to the host's /dev/shm.
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return std::string("making / private in the new mount namespace failed: ") +
           std::strerror(errno);
  }
  return "";
}

// A fresh tmpfs of `bytes` mounted over /dev/shm for one test; unmounted at scope exit.
class SmallShm {
 public:
  explicit SmallShm(uint64_t bytes) {
    const std::string opts = "size=" + std::to_string(bytes) + ",mode=1777";
    if (mount("tmpfs", "/dev/shm", "tmpfs", 0, opts.c_str()) != 0) {
      problem_ = std::string("mounting a tmpfs on /dev/shm failed: ") + std::strerror(errno);
      return;
    }
    mounted_ = true;
  }
  SmallShm(const SmallShm&) = delete;
  SmallShm& operator=(const SmallShm&) = delete;
  ~SmallShm() {
    if (mounted_) umount2("/dev/shm", MNT_DETACH);
  }
  const std::string& problem() const { return problem_; }

 private:
  bool mounted_ = false;
  std::string problem_;
};

inline uint64_t shm_free_bytes() {
  struct statvfs v {};
  if (statvfs("/dev/shm", &v) != 0) return 0;
  return static_cast<uint64_t>(v.f_bavail) * v.f_frsize;
}

inline uint64_t file_size(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// A file that takes all of /dev/shm's free space but `leave` bytes, until removed.
class Filler {
 public:
  Filler() = default;
  Filler(const Filler&) = delete;
  Filler& operator=(const Filler&) = delete;
  ~Filler() { remove(); }

  void fill(uint64_t leave = 0) {
    remove();
    fd_ = open(kPath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd_, 0) << std::strerror(errno);
    const uint64_t avail = shm_free_bytes();
    ASSERT_GE(avail, leave);
    if (avail > leave) {
      ASSERT_EQ(posix_fallocate(fd_, 0, static_cast<off_t>(avail - leave)), 0);
    }
    ASSERT_LE(shm_free_bytes(), leave) << "the filler left more room than asked for";
  }
  void remove() {
    if (fd_ < 0) return;
    close(fd_);
    unlink(kPath);
    fd_ = -1;
  }

 private:
  static constexpr const char* kPath = "/dev/shm/filler";
  int fd_ = -1;
};

// True if msg says a size: a number followed by " bytes" or " MiB".
inline bool names_a_size(const std::string& msg) {
  for (const char* unit : {" bytes", " MiB"}) {
    for (size_t at = msg.find(unit); at != std::string::npos; at = msg.find(unit, at + 1)) {
      if (at > 0 && std::isdigit(static_cast<unsigned char>(msg[at - 1])) != 0) return true;
    }
  }
  return false;
}

// The failure of an operation that needed room the segment does not have: its status,
// and a message naming the segment and the size that was asked for.
inline void expect_full(int rc, const std::string& segment, const char* what) {
  EXPECT_TRUE(rc == PTL_EBACKEND || rc == PTL_ENOMEM)
      << what << ": " << ptl_status_name(rc) << " " << ptl_last_error();
  const std::string msg = ptl_last_error();
  EXPECT_NE(msg.find(segment), std::string::npos) << what << ": " << msg;
  EXPECT_TRUE(names_a_size(msg)) << what << ": no size in '" << msg << "'";
}

// Limiters that, once /dev/shm is full, use up the room left inside the segment's file:
// hogs take slot chunks (1280 bytes << k) until none fits, then pool limiters take
// 64-byte window logs until not even that fits. Make them while there is room.
class Exhauster {
 public:
  // Before /dev/shm is full: hogs that will take slot chunks, and a pool of windowed
  // limiters (their released logs and first window logs made, their slots too).
  void prepare(ShmReg& reg) {
    for (int i = 0; i < 24; ++i) hogs_.push_back(reg.make(make_cfg(1u << 30)));
    for (int i = 0; i < 32; ++i) {
      pool_.push_back(reg.make(make_cfg(1u << 30, 1, 60.0)));
      ptl_permit p = 0;
      ASSERT_EQ(ptl_acquire(pool_.back(), 0, &p), PTL_OK) << ptl_last_error();  // its slots
      ASSERT_EQ(ptl_release(pool_.back(), p), PTL_OK);
    }
  }

  // With /dev/shm full: leaves less than 256 bytes (the smallest window log) free in the
  // segment's file. The hogs leave less than a first slot chunk (7424 bytes); a tokens
  // window added to a pool limiter takes one log of 256 bytes.
  void exhaust(const std::string& segment) {
    for (Lim& hog : hogs_) {
      ptl_permit p = 0;
      int rc = PTL_OK;
      while ((rc = ptl_try_acquire(hog, &p, nullptr)) == PTL_OK) {
      }
      expect_full(rc, segment, "a hog's next slot chunk");
    }
    const ptl_limiter_config weighted = make_cfg(1u << 30, 1, 60.0, 1);
    for (Lim& lim : pool_) {
      const int rc = ptl_limiter_reconfigure(lim, &weighted);
      if (rc != PTL_OK) {
        expect_full(rc, segment, "a 256-byte window log");
        return;
      }
    }
    FAIL() << "the pool of limiters did not use up the segment";
  }

  void clear() {
    hogs_.clear();
    pool_.clear();
  }

 private:
  std::vector<Lim> hogs_;
  std::vector<Lim> pool_;
};

}  // namespace ptl_test
