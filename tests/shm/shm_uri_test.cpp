// SPDX-License-Identifier: MIT
// shm:// URIs through the C ABI: names, modes, and segments that are not ours.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "shm_util.hpp"

namespace ptl_test {
namespace {

int open_status(const std::string& uri) {
  ptl_registry* r = nullptr;
  const int rc = ptl_registry_open(uri.c_str(), &r);
  if (rc == PTL_OK) ptl_registry_close(r);
  return rc;
}

unsigned mode_of(const std::string& segment) {
  struct stat st {};
  EXPECT_EQ(stat(shm_file(segment).c_str(), &st), 0) << shm_file(segment);
  return st.st_mode & 0777;
}

// Makes the segment's file hold exactly `bytes`, for foreign segments. A new file: one
// that a process still maps must never shrink under it.
void write_file(const std::string& segment, const std::vector<unsigned char>& bytes) {
  remove_segment(segment);
  const int fd = shm_open(("/ptl." + segment).c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  close(fd);
}

// Patches `value` at `offset` of an existing segment file.
void patch_u32(const std::string& segment, off_t offset, uint32_t value) {
  const int fd = shm_open(("/ptl." + segment).c_str(), O_RDWR, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(pwrite(fd, &value, sizeof value, offset), static_cast<ssize_t>(sizeof value));
  close(fd);
}

TEST(ShmUri, BadNamesAreEinvalNamingTheProblem) {
  struct Case {
    std::string uri;
    const char* mentions;
  };
  const std::vector<Case> cases = {
      {"shm://", "empty"},
      {"shm://?mode=0600", "empty"},
      {"shm://a/b", "'/'"},
      {"shm:///abs", "'/'"},
      {"shm://" + std::string(201, 'n'), "longer than 200"},
      {"shm://has space", "letters, digits"},
      {"shm://tab\tname", "letters, digits"},
      {"shm://ok?mode=abc", "octal"},
      {"shm://ok?mode=0400", "0600"},
      {"shm://ok?mode=0", "0600"},
      {"shm://ok?mode=01777", "octal"},
      {"shm://ok?mode=", "octal"},
      {"shm://ok?size=5", "unknown parameter 'size'"},
      {"shm://ok?mode=0600&mode=0600", "parameter 'mode' is given twice"},
      {"shm://ok?mode=0640&mode=0600", "parameter 'mode' is given twice"},
      {"shm://ok?create=1&mode=0600&create=1", "parameter 'create' is given twice"},
      {"shm://ok?create=yes", "create must be 0 or 1"},
      {"shm://ok?create", "create must be 0 or 1"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.uri);
    EXPECT_EQ(open_status(c.uri), PTL_EINVAL);
    EXPECT_TRUE(last_error_mentions(c.mentions)) << ptl_last_error();
  }
  // The longest name allowed opens.
  std::string longest = unique_segment("ptl-test-longest");
  longest.resize(200, 'x');
  EXPECT_EQ(open_status("shm://" + longest), PTL_OK) << ptl_last_error();
  remove_segment(longest);
}

TEST(ShmUri, CreateZeroNeverCreatesASegment) {
  const std::string seg = unique_segment("ptl-test-nocreate");
  remove_segment(seg);
  struct stat st {};
  // Absent: PTL_ENOTFOUND naming the file, and still absent afterwards.
  EXPECT_EQ(open_status("shm://" + seg + "?create=0"), PTL_ENOTFOUND);
  EXPECT_TRUE(last_error_mentions(shm_file(seg))) << ptl_last_error();
  EXPECT_NE(stat(shm_file(seg).c_str(), &st), 0) << "create=0 made " << shm_file(seg);
  // Created but never initialized (its creator died, or has not finished): not a segment
  // yet, and left as it is for a creator to initialize.
  write_file(seg, {});
  EXPECT_EQ(open_status("shm://" + seg + "?mode=0640&create=0"), PTL_ENOTFOUND);
  EXPECT_TRUE(last_error_mentions("not initialized")) << ptl_last_error();
  ASSERT_EQ(stat(shm_file(seg).c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 0);
  // Existing: opened as usual, its limiters there.
  {
    ShmOpen created("shm://" + seg + "?create=1");
    ptl_limiter_config cfg = make_cfg(2);
    ASSERT_EQ(ptl_registry_register(created, "there", &cfg, 0), PTL_OK) << ptl_last_error();
  }
  {
    ShmOpen reader("shm://" + seg + "?create=0");
    EXPECT_EQ(ptl_registry_exists(reader, "there"), 1) << ptl_last_error();
  }
  remove_segment(seg);
}

TEST(ShmUri, DefaultModeIs0600) {
  ShmReg reg;
  EXPECT_EQ(mode_of(reg.segment()), 0600u);
}

TEST(ShmUri, ModeParameterSetsTheModeExactly) {
  for (const char* mode : {"0640", "0660", "0644", "600"}) {
    SCOPED_TRACE(mode);
    ShmReg reg(std::string("?mode=") + mode);
    EXPECT_EQ(mode_of(reg.segment()), std::stoul(mode, nullptr, 8));
  }
}

TEST(ShmUri, ModeOfAnExistingSegmentIsKept) {
  ShmReg reg("?mode=0640");
  {
    ShmOpen again(reg.uri() + "?mode=0600");  // the same segment: its mode stays
  }
  EXPECT_EQ(mode_of(reg.segment()), 0640u);
}

TEST(ShmUri, WrongLayoutVersionIsEbackend) {
  const std::string seg = unique_segment("ptl-test-version");
  const std::string uri = "shm://" + seg;
  {
    ShmOpen reg(uri);
    ptl_limiter_config cfg = make_cfg(3);
    ASSERT_EQ(ptl_registry_register(reg, "kept", &cfg, 0), PTL_OK);
  }
  patch_u32(seg, 8, 999);  // the layout version sits at offset 8 in every version
  EXPECT_EQ(open_status(uri), PTL_EBACKEND);
  EXPECT_TRUE(last_error_mentions("layout version 999")) << ptl_last_error();
  EXPECT_TRUE(last_error_mentions(shm_file(seg))) << "names the file: " << ptl_last_error();
  // A segment of the 0.1 layout (version 1) is refused too, naming both versions.
  patch_u32(seg, 8, 1);
  EXPECT_EQ(open_status(uri), PTL_EBACKEND);
  EXPECT_TRUE(last_error_mentions("has layout version 1, but this library reads layout version 2"))
      << ptl_last_error();
  patch_u32(seg, 8, 2);  // back to this library's: the segment and its limiter are intact
  {
    ShmOpen reg(uri);
    EXPECT_EQ(ptl_registry_exists(reg, "kept"), 1);
  }
  remove_segment(seg);
}

TEST(ShmUri, ForeignFilesAreEbackendNeverACrash) {
  const std::string seg = unique_segment("ptl-test-foreign");
  const std::string uri = "shm://" + seg;
  // Not ours: a magic number that is not ours.
  write_file(seg, std::vector<unsigned char>(1 << 20, 0xAB));
  EXPECT_EQ(open_status(uri), PTL_EBACKEND);
  EXPECT_TRUE(last_error_mentions("not a pocketflow-throttled segment")) << ptl_last_error();
  // Too small to hold a header: reading it would fault, so it is refused up front.
  write_file(seg, std::vector<unsigned char>(100, 0x01));
  EXPECT_EQ(open_status(uri), PTL_EBACKEND);
  EXPECT_TRUE(last_error_mentions("too small")) << ptl_last_error();
  // Our magic and version, a corrupt rest.
  {
    ShmOpen reg(uri + "x");  // a real segment to copy the first 16 bytes from
  }
  std::vector<unsigned char> head(16);
  {
    const int fd = shm_open(("/ptl." + seg + "x").c_str(), O_RDONLY, 0);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(read(fd, head.data(), head.size()), 16);
    close(fd);
    remove_segment(seg + "x");
  }
  std::vector<unsigned char> corrupt(1 << 20, 0x5A);
  std::memcpy(corrupt.data(), head.data(), head.size());
  write_file(seg, corrupt);
  EXPECT_EQ(open_status(uri), PTL_EBACKEND);
  EXPECT_TRUE(last_error_mentions("corrupt")) << ptl_last_error();
  remove_segment(seg);
}

TEST(ShmUri, AnEmptyOrZeroedFileIsInitialized) {
  // What a creator that died right after creating the file leaves behind.
  const std::string seg = unique_segment("ptl-test-empty");
  for (size_t size : {size_t{0}, size_t{1} << 20}) {
    SCOPED_TRACE(size);
    write_file(seg, std::vector<unsigned char>(size, 0));
    ShmOpen reg("shm://" + seg);
    ptl_limiter_config cfg = make_cfg(1);
    EXPECT_EQ(ptl_registry_register(reg, "x", &cfg, 0), PTL_OK) << ptl_last_error();
  }
  remove_segment(seg);
}

}  // namespace
}  // namespace ptl_test
