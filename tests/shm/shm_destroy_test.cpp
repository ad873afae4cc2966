// SPDX-License-Identifier: MIT
// ptl_registry_destroy on shm://: deletes a segment nobody else uses, refuses while
// another process is attached (saying how many) unless PTL_FORCE, and is PTL_EINVAL on the
// backends that have no segment.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "shm_process_util.hpp"

namespace ptl_test {
namespace {

bool file_exists(const std::string& segment) {
  struct stat st {};
  return stat(shm_file(segment).c_str(), &st) == 0;
}

TEST(ShmDestroy, AbsentSegmentIsNotFoundNamingTheFile) {
  const std::string seg = unique_segment("ptl-test-destroy-absent");
  remove_segment(seg);
  for (uint32_t flags : {0u, PTL_FORCE}) {
    EXPECT_EQ(ptl_registry_destroy(("shm://" + seg).c_str(), flags), PTL_ENOTFOUND);
    EXPECT_TRUE(last_error_mentions(shm_file(seg))) << ptl_last_error();
    EXPECT_FALSE(file_exists(seg));
  }
}

TEST(ShmDestroy, UnusedSegmentIsDeletedAndANewOneStartsEmpty) {
  const std::string seg = unique_segment("ptl-test-destroy-unused");
  const std::string uri = "shm://" + seg;
  {
    ShmOpen reg(uri);
    ptl_limiter_config cfg = make_cfg(2);
    ASSERT_EQ(ptl_registry_register(reg, "old", &cfg, 0), PTL_OK) << ptl_last_error();
  }
  ASSERT_TRUE(file_exists(seg));
  EXPECT_EQ(ptl_registry_destroy(uri.c_str(), 0), PTL_OK) << ptl_last_error();
  EXPECT_FALSE(file_exists(seg));
  {
    ShmOpen reg(uri);  // a new segment: the old limiter went with the old one
    EXPECT_EQ(ptl_registry_exists(reg, "old"), 0);
  }
  // The caller's own open registry of it is not counted (ptl.h): it is the caller's to
  // close.
  {
    ShmOpen mine(uri);
    EXPECT_EQ(ptl_registry_destroy((uri + "?mode=0600").c_str(), 0), PTL_OK) << ptl_last_error();
  }
  EXPECT_FALSE(file_exists(seg));
}

TEST(ShmDestroy, NeverInitializedAndForeignFiles) {
  const std::string seg = unique_segment("ptl-test-destroy-foreign");
  const std::string uri = "shm://" + seg;
  const auto make_file = [&](size_t bytes, unsigned char fill) {
    remove_segment(seg);
    const int fd = shm_open(("/ptl." + seg).c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    ASSERT_GE(fd, 0);
    const std::string content(bytes, static_cast<char>(fill));
    ASSERT_EQ(write(fd, content.data(), content.size()), static_cast<ssize_t>(bytes));
    close(fd);
  };
  // What a creator that died before initializing leaves: nobody can be attached.
  make_file(0, 0);
  EXPECT_EQ(ptl_registry_destroy(uri.c_str(), 0), PTL_OK) << ptl_last_error();
  EXPECT_FALSE(file_exists(seg));
  // Not ours: who uses it cannot be told, so only PTL_FORCE removes it.
  make_file(1 << 20, 0xAB);
  EXPECT_EQ(ptl_registry_destroy(uri.c_str(), 0), PTL_EBACKEND);
  EXPECT_TRUE(last_error_mentions("not a pocketflow-throttled segment")) << ptl_last_error();
  EXPECT_TRUE(last_error_mentions("PTL_FORCE")) << ptl_last_error();
  EXPECT_TRUE(file_exists(seg));
  EXPECT_EQ(ptl_registry_destroy(uri.c_str(), PTL_FORCE), PTL_OK) << ptl_last_error();
  EXPECT_FALSE(file_exists(seg));
}

TEST(ShmDestroy, BadArgumentsAndOtherBackendsAreEinval) {
  EXPECT_EQ(ptl_registry_destroy(nullptr, 0), PTL_EINVAL);
  EXPECT_EQ(ptl_registry_destroy("shm://a/b", 0), PTL_EINVAL);
  EXPECT_EQ(ptl_registry_destroy("shm://ok?mode=0600&mode=0600", 0), PTL_EINVAL);
  EXPECT_EQ(ptl_registry_destroy("shm://ok", 2), PTL_EINVAL);
  EXPECT_TRUE(last_error_mentions("flags")) << ptl_last_error();
  EXPECT_EQ(ptl_registry_destroy("ftp://x", 0), PTL_EINVAL);
  EXPECT_EQ(ptl_registry_destroy("local:", 0), PTL_EINVAL);
  EXPECT_TRUE(last_error_mentions("ptl_registry_reset")) << ptl_last_error();
  EXPECT_EQ(ptl_registry_destroy("redis://:secret@127.0.0.1:1", PTL_FORCE), PTL_EINVAL);
  EXPECT_TRUE(last_error_mentions("ptl_registry_reset")) << ptl_last_error();
  EXPECT_FALSE(last_error_mentions("secret")) << ptl_last_error();
}

// The fixture's own registry (this process) is open on reg_ throughout: not counted.
TEST_F(ShmProcesses, DestroyRefusesWhileAnotherProcessIsAttachedUnlessForced) {
  ptl_limiter_config cfg = make_cfg(2);
  Lim lim = reg_.make(cfg, "held");
  const pid_t worker = spawn("hold", "held", {"1"});
  ASSERT_TRUE(wait_ready(1));
  const std::string uri = reg_.uri();
  EXPECT_EQ(ptl_registry_destroy(uri.c_str(), 0), PTL_EAGAIN);
  EXPECT_TRUE(last_error_mentions("1 other process is attached")) << ptl_last_error();
  EXPECT_TRUE(last_error_mentions(std::to_string(worker))) << ptl_last_error();
  EXPECT_TRUE(file_exists(reg_.segment()));
  // Its permit still counts: nothing was touched.
  EXPECT_EQ(stats_of(lim).in_flight, 1u);

  // Once it died, its entry is free: nothing stops the destroy.
  kill9(worker);
  EXPECT_EQ(ptl_registry_destroy(uri.c_str(), 0), PTL_OK) << ptl_last_error();
  EXPECT_FALSE(file_exists(reg_.segment()));
}

TEST_F(ShmProcesses, ForcedDestroyLeavesAttachedProcessesOnTheOldSegment) {
  ptl_limiter_config cfg = make_cfg(3);
  Lim lim = reg_.make(cfg, "held");
  spawn("hold", "held", {"1"});
  spawn("hold", "held", {"1"});
  ASSERT_TRUE(wait_ready(2));
  EXPECT_EQ(ptl_registry_destroy(reg_.uri().c_str(), 0), PTL_EAGAIN);
  EXPECT_TRUE(last_error_mentions("2 other processes are attached")) << ptl_last_error();
  EXPECT_EQ(ptl_registry_destroy(reg_.uri().c_str(), PTL_FORCE), PTL_OK) << ptl_last_error();
  EXPECT_FALSE(file_exists(reg_.segment()));
  // Handles opened before go on with the old segment; a new open gets a new one.
  EXPECT_EQ(stats_of(lim).in_flight, 2u);
  ShmOpen fresh(reg_.uri());
  EXPECT_EQ(ptl_registry_exists(fresh, "held"), 0);
}

}  // namespace
}  // namespace ptl_test
