// SPDX-License-Identifier: MIT
// The shm:// segment's layout: every structure that lives in shared memory.
//
// One segment per shm://NAME (/dev/shm/ptl.NAME). It holds offsets, never pointers: each
// process maps it at its own address. Layout, front to back:
//   [Header 4 KiB][ProcEntry x kMaxProcesses][arena: name table, limiter blocks,
//   slot chunks, window logs, released logs ...]
// Every process maps kMaxSegmentBytes of address space once; the file itself grows on
// demand (fallocate, so a full /dev/shm is an error, never a SIGBUS), and pages past
// the file's end are never touched: every offset read from the segment is checked.
//
// Crash consistency. A process may die anywhere, also inside a critical section. So
// every structure is split in two:
//   - authoritative state, changed by single publishing stores (a slot's `word`, a
//     log's `end`, a name entry's `limiter`, a chunk's offset in its directory): any
//     prefix of a critical section leaves it consistent (at worst an unreachable block
//     leaks);
//   - derived state (counts, the waiter queue's links, window sums, held sums), which
//     the next locker rebuilds from the authoritative state when the robust mutex says
//     its holder died (EOWNERDEAD).
// Type stability. Limiter blocks and slot chunks hold mutexes and futex words that
// other processes may still touch through stale handles; once allocated they are only
// ever reused as the same kind of block, their mutex is never re-initialized and their
// futex counters only grow, so a stale handle sees "removed", never garbage.
// Changes that are more than one store (a settle, a policy change) are written as an
// intent first and then applied in steps that each set a value; the next locker redoes
// an intent left published (SettleIntent, PolicyChange).
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "core/observed_caps.hpp"
#include "core/policy.hpp"

namespace ptl::shm {

using Offset = uint64_t;  // from the start of the segment; 0 = none

// Fixed forever: magic at offset 0 and layout version at offset 8, so that any version
// of the library can tell a segment it does not understand. Version 2: policies (ADR 15).
inline constexpr uint64_t kMagic = 0x31304d48534c5450;  // "PTLSHM01", little-endian
inline constexpr uint32_t kLayoutVersion = 2;

inline constexpr uint64_t kHeaderBytes = 4096;
inline constexpr uint64_t kMaxSegmentBytes = uint64_t{1} << 30;
inline constexpr uint64_t kInitialSegmentBytes = uint64_t{1} << 20;
inline constexpr uint32_t kMaxProcesses = 1024;
// A window log holds 16 << k entries, k in 0..6. Coalescing (ADR 15) keeps at most 1025
// entries in a window; a 1025th waits for the oldest to leave, at most window / 1024 ns
// later (window_log.hpp), so 1024 entries (16 KiB) are enough.
inline constexpr uint64_t kFirstLogEntries = 16;
inline constexpr uint64_t kMaxLogEntries = 1024;
inline constexpr uint64_t kLogShiftMask = 0x3f;  // k, in the low bits of LimitRecord::log
inline constexpr size_t kMaxLimits = core::kMaxLimits;

inline constexpr int kSizeClasses = 25;  // generic blocks: 64 B << class, up to 1 GiB
inline constexpr int kSlotChunks = 20;   // chunk k holds kFirstChunkSlots << k slots
inline constexpr uint32_t kFirstChunkSlots = 16;
inline constexpr uint32_t kNil = UINT32_MAX;

enum BlockKind : int { kGeneric = 0, kLimiterKind = 1, kSlotChunkKind = 2, kBlockKinds = 3 };

// One attached process. Its agent thread holds `alive` (a robust mutex) for as long as
// the process is attached, so a try-lock that succeeds or reports EOWNERDEAD proves the
// owner gone: exact death detection, no pid-reuse race, no polling of /proc.
struct alignas(64) ProcEntry {
  pthread_mutex_t alive;
  std::atomic<uint64_t> generation;  // identity of the current owner; 0 = never used
  std::atomic<uint32_t> doorbell;    // futex: rung when this process's async waiters change
  std::atomic<int32_t> pid;          // informational
};

struct Header {
  std::atomic<uint64_t> magic;  // published last at creation
  uint32_t layout_version;
  uint32_t header_bytes;  // sizeof(Header)
  uint64_t max_bytes;     // the mapping every process makes
  uint64_t proc_table;    // offset of ProcEntry[proc_capacity]
  uint32_t proc_capacity;
  uint32_t reserved0;
  std::atomic<uint64_t> file_bytes;       // current size of the file
  std::atomic<uint64_t> next_generation;  // process identities
  std::atomic<uint64_t> next_serial;      // permit serials, taken in blocks
  std::atomic<uint64_t> next_uid;         // limiter identities

  pthread_mutex_t registry_mutex;  // guards the name table
  pthread_mutex_t arena_mutex;     // guards the arena; a leaf: nothing is locked under it

  // Arena (arena_mutex). Blocks are carved from arena_top; freed blocks go to the free
  // list of their kind and class and are reused only as the same kind.
  uint64_t arena_top;
  uint64_t free_heads[kBlockKinds][kSizeClasses];

  // Name table (registry_mutex): offset of a NameTable block, and its derived counts.
  uint64_t names;
  uint32_t names_live;  // derived
  uint32_t names_used;  // derived: live + tombstones
};
static_assert(offsetof(Header, magic) == 0 && offsetof(Header, layout_version) == 8);
static_assert(sizeof(Header) <= kHeaderBytes);

// Slot states, in the low two bits of Slot::word; the permit serial sits above them.
enum SlotState : uint64_t { kFree = 0, kWaiting = 1, kHeld = 2, kDone = 3 };
inline constexpr uint64_t kStateMask = 3;

inline constexpr uint32_t kSlotAsync = 1;  // Slot::flags: the waiter has no thread

// What one grant charged, by limit storage index (LimiterBlock::limits): what a release
// gives back to held limits and what a settle corrects in window entries.
struct GrantCharges {
  int64_t granted_at;
  uint32_t settled;  // a bit per storage index
  uint32_t reserved;
  uint64_t charge[kMaxLimits];
  uint64_t entry[kMaxLimits];  // windowed limits: the entry's id (sequence + 1); 0 = none
};

// A permit held, or a waiter in line: the same slot, so a grant is one store of `word`
// (kWaiting -> kHeld), never a record in two places that a crash could split. Its
// amounts are written before that store, so a published state always has them.
struct Slot {
  std::atomic<uint64_t> word;    // serial << 2 | SlotState
  std::atomic<uint32_t> futex;   // bumped whenever the waiter must look again; only grows
  uint32_t owner;                // process-table index
  uint64_t owner_generation;     // ProcEntry::generation of the owner
  uint64_t ticket;               // waiters: arrival order (FIFO)
  std::atomic<int64_t> wake_at;  // head waiter: when time (window, penalty) allows it
  int64_t enqueued_at;           // waiters: for total_wait_ns
  uint32_t next, prev;           // derived: the waiter queue's links
  int32_t result;                // kDone: the status the waiter reports
  uint32_t flags;                // kSlotAsync
  // Waiting: the demand by unit index (LimiterBlock::units), so that a policy change,
  // which keeps the index of every unit that stays, never has to move it.
  uint64_t demand[kMaxLimits];
  GrantCharges grant;  // held: what the grant charged
};

// A window log entry: the grants of one limit coalesced within window / 1024 of the
// entry's first grant (ADR 15); `time` is its newest grant's. When the newest entry was
// opened is kept in its limit (LimitRecord::opened): no other entry takes grants.
struct WindowEntry {
  int64_t time;
  uint64_t amount;
};

// A released permit kept for a later settle while its windows may still count it.
struct ReleasedRecord {
  uint64_t permit;
  GrantCharges grant;
};
// The released log: a ring in one 16 KiB block per limiter with a window, allocated with
// the window so that a release never allocates. The oldest record goes first.
inline constexpr uint64_t kReleasedBlockBytes = 16384;
inline constexpr uint64_t kReleasedRecords = kReleasedBlockBytes / sizeof(ReleasedRecord);

// One limit of the policy and its state, at a storage index that stays the same while
// the limit does: a policy change moves nothing that continues (policy_state.hpp).
struct LimitRecord {
  uint64_t max;       // 0: the storage index is unused
  int64_t window_ns;  // 0: held
  uint32_t unit;      // index into LimiterBlock::units
  uint32_t reserved;
  uint64_t held;                // derived: held limits, the sum of held slots' charges
  uint64_t log;                 // windowed: WindowEntry[16 << k] offset | k; 0 = none yet
  uint64_t log_begin, log_end;  // entry sequence numbers; an entry's id is its seq + 1
  uint64_t sum;                 // derived: of the log's entries, saturated at UINT64_MAX
  int64_t opened;               // windowed: the newest entry's first grant time (merging
                                // into it stops window / 1024 after it)
};

// A unit of the policy: its name and the provider's observations of it (ADR 15: they
// live with the limiter, so every process sees them).
struct UnitRecord {
  char name[core::kMaxUnitBytes];
  uint32_t len;  // 0: the index is unused
  uint32_t reserved;
  core::ObservedCaps caps;
};
static_assert(std::is_trivially_copyable_v<core::ObservedCaps>,
              "ObservedCaps lives in shared memory");
static_assert(sizeof(core::ObservedCaps) == 104,
              "ObservedCaps changed: the shm layout version must change with it");

// A settle being applied: filled, then published by `valid`; a holder that dies before
// clearing it has it redone by the next (every step sets a value, so redoing is safe).
struct SettleIntent {
  uint64_t valid;
  uint64_t grant;       // offset of the GrantCharges (a slot's or a released record's)
  uint32_t limits;      // storage indexes settled
  uint32_t entry_live;  // of those, windowed ones whose entry still counts
  uint64_t actual[kMaxLimits];
  uint64_t entry_amount[kMaxLimits];  // the entry's new amount
};

inline constexpr uint64_t kNameEmpty = 0;
inline constexpr uint64_t kNameTombstone = 1;
struct NameEntry {
  uint64_t limiter;  // LimiterBlock offset, or kNameEmpty / kNameTombstone
  uint64_t hash;
};

// Open addressing, linear probing; capacity a power of two.
struct NameTable {
  uint64_t capacity;
  uint64_t reserved;
  NameEntry* entries() { return reinterpret_cast<NameEntry*>(this + 1); }
};

inline constexpr size_t kMaxNameBytes = 255;

struct LimiterBlock {
  pthread_mutex_t mutex;      // robust; initialized once for the block's whole life
  std::atomic<uint64_t> uid;  // identity; 0 once removed. Handles compare it after locking.

  // The policy (policy_state.hpp): limits by storage index, in policy order through
  // `order`. Changed only through a PolicyChange, which repair redoes if its maker died.
  uint32_t n_limits;
  uint32_t shorthand;  // PolicySpec::config_shorthand
  double config_window_seconds;
  uint64_t policy_version;  // bumped by every change: handles cache the policy by it
  uint8_t order[kMaxLimits];
  LimitRecord limits[kMaxLimits];
  UnitRecord units[kMaxLimits];
  uint64_t pending_policy;                // a PolicyChange block being applied; 0 = none
  uint64_t released;                      // ReleasedRecord[kReleasedRecords]; 0 = none (no window)
  uint64_t released_begin, released_end;  // record sequence numbers
  SettleIntent settle;

  // Derived (rebuilt by repair).
  uint32_t in_flight;
  uint32_t waiting;
  uint32_t queue_head;
  uint32_t queue_tail;
  uint32_t slot_capacity;
  uint32_t slot_hint;

  uint32_t name_len;
  uint32_t reserved0;

  // Authoritative.
  uint64_t next_ticket;
  uint64_t serial_next;  // permit serials of this limiter, a block taken from the header
  uint64_t serial_end;
  int64_t penalty_until;
  int64_t last_sweep;
  uint64_t chunks[kSlotChunks];

  // Statistics.
  uint64_t total_acquired;
  uint64_t total_timeouts;
  uint64_t total_cancelled;
  uint64_t total_rejected;
  uint64_t total_wait_ns;
  uint64_t total_reclaimed;

  alignas(8) char name[kMaxNameBytes + 1];  // alignas: a free block keeps its list link here
};

// A policy change, prepared in a generic block of its own, then applied to the limiter
// (policy_state.cpp): the new tables, and what slots need at the indexes that are new.
// Applying it twice gives the same result, so a holder that dies half-way through has
// it redone by the next.
struct PolicyChange {
  uint32_t n_limits;
  uint32_t shorthand;
  double config_window_seconds;
  uint8_t order[kMaxLimits];
  LimitRecord limits[kMaxLimits];
  UnitRecord units[kMaxLimits];
  uint32_t new_limits;  // storage indexes whose limit is new: slots start uncharged there
  uint32_t new_units;   // unit indexes that are new: waiters take the unit's default
  uint64_t held_default[kMaxLimits];  // a held permit's charge at a new limit
  uint64_t unit_default[kMaxLimits];  // a waiter's amount of a new unit
  uint64_t released;                  // the released log of the new policy (0: none)
  uint64_t free_logs[kMaxLimits];     // logs of dropped limits (zeroed before each free)
  uint64_t free_released;             // the old released log, if the new policy has none
};

}  // namespace ptl::shm
