// SPDX-License-Identifier: MIT
#include "core/window_ring.hpp"

#include <algorithm>
#include <thread>

namespace ptl::core {
namespace {

// Spins a claimer allows the claim max grants back to publish before it gives up
// (kBusy). The gap is a clock read long unless that claimer was preempted, so spinning
// longer only burns the CPU it needs.
constexpr int kPublishSpins = 64;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace

WindowRing::WindowRing(uint64_t capacity)
    : capacity_(std::clamp<uint64_t>(capacity, 1, kMaxSlots)),
      slots_(std::make_unique<Slot[]>(capacity_)) {}

WindowRing::Claim WindowRing::try_claim(const Clock& clock, Nanos* at) {
  // The check needs a lower bound of the moment the CAS takes effect, and any time read
  // before it will do. Cheapest first: the newest grant's recorded time (published, so
  // read from the clock before now; fresh whenever grants come fast), then the coarse
  // clock, then the exact one, each tried only if the one before says "full".
  enum Bound { kNewest, kCoarse, kExact } bound = kNewest;
  Nanos lower = kEmpty;
  uint64_t h = head_.load(std::memory_order_acquire);
  int spins = 0;
  for (;;) {
    if (h & kClosedBit) return Claim::kClosed;
    const uint64_t max = max_.load(kRelaxed);
    const Slot& oldest = slots_[h % max];  // holds claim h - max, or is about to
    // Acquire pairs with the claimer's release of seq: its time is visible below.
    if (oldest.seq.load(std::memory_order_acquire) != h - max + 1) {
      const uint64_t again = head_.load(std::memory_order_acquire);
      if (again == h) {
        if (++spins > kPublishSpins) return Claim::kBusy;
        cpu_relax();
      }
      h = again;
      continue;
    }
    // The slot can be rewritten only by claim h, which makes the CAS below fail: the
    // time read here is the one the CAS decides on.
    const Nanos oldest_at = oldest.time.load(kRelaxed);
    const Nanos window = window_.load(kRelaxed);
    if (oldest_at != kEmpty) {
      if (bound == kNewest) {
        const Slot& newest = slots_[(h - 1) % max];
        if (newest.seq.load(std::memory_order_acquire) == h) {
          lower = std::max(lower, newest.time.load(kRelaxed));
        }
      }
      if (lower == kEmpty || lower - oldest_at <= window) {
        if (bound == kExact) {
          *at = oldest_at + window + 1;  // it counts over [T - window, T]
          return Claim::kFull;
        }
        bound = bound == kNewest ? kCoarse : kExact;
        lower = std::max(lower, bound == kCoarse ? clock.now_lower_bound() : clock.now());
        continue;
      }
    }
    if (head_.compare_exchange_weak(h, h + 1, std::memory_order_acq_rel,
                                    std::memory_order_acquire)) {
      // A reading after the CAS is an upper bound of the claim's moment: recorded, the
      // grant stays in the window at least as long as it really is in it.
      const Nanos when = clock.now();
      Slot& mine = slots_[h % max];
      mine.time.store(when, kRelaxed);
      mine.seq.store(h + 1, std::memory_order_release);
      *at = when;
      return Claim::kGranted;
    }
  }
}

void WindowRing::open(uint64_t max, Nanos window_ns, const std::vector<Nanos>& times) {
  max = std::clamp<uint64_t>(max, 1, capacity_);
  const uint64_t old = head_.load(std::memory_order_acquire) & ~kClosedBit;
  max_.store(max, kRelaxed);
  window_.store(window_ns, kRelaxed);
  // The loaded times become claims old .. old + max - 1, numbers no claim used before,
  // so a claimer that read the ring before it closed cannot match them.
  const size_t kept = std::min<size_t>(times.size(), max);
  const size_t empty = max - kept;
  for (uint64_t i = 0; i < max; ++i) {
    const uint64_t claim = old + i;
    Slot& s = slots_[claim % max];
    s.time.store(i < empty ? kEmpty : times[times.size() - kept + (i - empty)], kRelaxed);
    s.seq.store(claim + 1, kRelaxed);
  }
  // Release: a claimer that sees the ring open sees the slots above.
  head_.store(old + max, std::memory_order_release);
}

void WindowRing::close() {
  const uint64_t h = head_.fetch_or(kClosedBit, std::memory_order_acq_rel) & ~kClosedBit;
  const uint64_t max = max_.load(kRelaxed);
  // Claims that won their CAS before the close may still be writing their time.
  for (uint64_t claim = h >= max ? h - max : 0; claim < h; ++claim) {
    const Slot& s = slots_[claim % max];
    for (int spins = 0; s.seq.load(std::memory_order_acquire) != claim + 1; ++spins) {
      if (spins < kPublishSpins) {
        cpu_relax();
      } else {
        std::this_thread::yield();  // its claimer was preempted: let it run
      }
    }
  }
}

std::vector<Nanos> WindowRing::times() const {
  const uint64_t h = head_.load(std::memory_order_acquire) & ~kClosedBit;
  const uint64_t max = max_.load(kRelaxed);
  std::vector<Nanos> out;
  out.reserve(max);
  // Claim order is not quite time order (each claim reads the clock after its CAS), so
  // a time is raised to the newest before it: later is safe, it only keeps a grant
  // counted longer, and the locked path's log wants times that never go back.
  Nanos newest = kEmpty;
  for (uint64_t claim = h >= max ? h - max : 0; claim < h; ++claim) {
    const Nanos t = slots_[claim % max].time.load(kRelaxed);
    if (t == kEmpty) continue;
    newest = std::max(newest, t);
    out.push_back(newest);
  }
  return out;
}

}  // namespace ptl::core
