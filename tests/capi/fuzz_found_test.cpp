// SPDX-License-Identifier: MIT
// Defects the fuzz targets of tests/fuzz found, each as a plain test of the C ABI. The
// inputs that found them are kept in tests/fuzz/regressions/, named for what they are.
#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include "capi_util.hpp"

namespace ptl_test {
namespace {

// A shm:// segment for this process, its file removed at scope exit.
struct Segment {
  std::string name = unique_name("ptl-fuzz-found");
  Segment() { shm_unlink(("/ptl." + name).c_str()); }
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;
  ~Segment() { shm_unlink(("/ptl." + name).c_str()); }
  std::string uri() const { return "shm://" + name; }
};

TEST(FuzzFound, ShmRegistryCloseRightAfterOpenReturns) {
  // ptl_fuzz_capi hung in ptl_registry_close of a shm:// registry opened a moment before
  // (tests/fuzz/regressions/capi/hang-shm-close-right-after-open): the new agent thread
  // checked its stop flag, stop() then set the flag and rang the doorbell, and the agent
  // read the doorbell only after that ring and slept with no deadline, so the close
  // waited for it for good. A race: many opens, each closed at once.
  Segment seg;
  run_or_die(
      "ptl_registry_close right after ptl_registry_open (shm://)",
      [&] {
        for (int i = 0; i < 3000; ++i) {
          ptl_registry* reg = nullptr;
          ASSERT_EQ(ptl_registry_open(seg.uri().c_str(), &reg), PTL_OK) << ptl_last_error();
          ptl_registry_close(reg);
        }
      },
      120 * kSec);
}

}  // namespace
}  // namespace ptl_test
