// The shm:// segment's layout: every structure that lives in shared memory.
//
// One segment per shm://NAME (/dev/shm/ptl.NAME). It holds offsets, never pointers: each
// process maps it at its own address. Layout, front to back:
//   [Header 4 KiB][ProcEntry x kMaxProcesses][arena: name table, limiter blocks,
//   slot chunks, window rings ...]
// Every process maps kMaxSegmentBytes of address space once; the file itself grows on
// demand (fallocate, so a full /dev/shm is an error, never a SIGBUS), and pages past
// the file's end are never touched: every offset read from the segment is checked.
//
// Crash consistency. A process may die anywhere, also inside a critical section. So
// every structure is split in two:
//   - authoritative state, changed by single publishing stores (a slot's `word`, a
//     ring's `end`, a name entry's `limiter`, a chunk's offset in its directory): any
//     prefix of a critical section leaves it consistent (at worst an unreachable block
//     leaks);
//   - derived state (counts, the waiter queue's links, the window's cost sum), which
//     the next locker rebuilds from the authoritative state when the robust mutex says
//     its holder died (EOWNERDEAD).
// Type stability. Limiter blocks and slot chunks hold mutexes and futex words that
// other processes may still touch through stale handles; once allocated they are only
// ever reused as the same kind of block, their mutex is never re-initialized and their
// futex counters only grow, so a stale handle sees "removed", never garbage.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace ptl::shm {

using Offset = uint64_t;  // from the start of the segment; 0 = none

// Fixed forever: magic at offset 0 and layout version at offset 8, so that any version
// of the library can tell a segment it does not understand.
inline constexpr uint64_t kMagic = 0x31304d48534c5450;  // "PTLSHM01", little-endian
inline constexpr uint32_t kLayoutVersion = 1;

inline constexpr uint64_t kHeaderBytes = 4096;
inline constexpr uint64_t kMaxSegmentBytes = uint64_t{1} << 30;
inline constexpr uint64_t kInitialSegmentBytes = uint64_t{1} << 20;
inline constexpr uint32_t kMaxProcesses = 1024;
// The longest window log one limiter keeps (16 bytes an entry: 128 MiB); beyond it,
// grants wait for the oldest entry (window_log.hpp).
inline constexpr uint64_t kMaxWindowEntries = uint64_t{1} << 23;
inline constexpr uint64_t kFirstRingEntries = 16;

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

// A permit held, or a waiter in line: the same slot, so a grant is one store of `word`
// (kWaiting -> kHeld), never a record in two places that a crash could split.
struct Slot {
  std::atomic<uint64_t> word;    // serial << 2 | SlotState
  std::atomic<uint32_t> futex;   // bumped whenever the waiter must look again; only grows
  uint32_t owner;                // process-table index
  uint64_t owner_generation;     // ProcEntry::generation of the owner
  uint64_t ticket;               // waiters: arrival order (FIFO)
  uint64_t cost;                 // charged to the window at the grant
  uint64_t window_id;            // 1 + sequence number of its window entry; 0 = none
  std::atomic<int64_t> wake_at;  // head waiter: when time (window, penalty) allows it
  int64_t enqueued_at;           // waiters: for total_wait_ns
  uint32_t next, prev;           // derived: the waiter queue's links
  int32_t result;                // kDone: the status the waiter reports
  uint32_t flags;                // kSlotAsync
};

struct WindowEntry {
  int64_t time;
  uint64_t cost;
};

// A window log: entries by sequence number, entry s at entries()[s % capacity].
struct RingBlock {
  uint64_t capacity;
  uint64_t reserved;
  WindowEntry* entries() { return reinterpret_cast<WindowEntry*>(this + 1); }
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

  // Config.
  uint32_t max_concurrent;
  uint32_t name_len;
  uint64_t max_per_window;
  double window_seconds;
  int64_t window_ns;
  uint64_t max_cost_per_window;

  // Derived (rebuilt by repair).
  uint32_t in_flight;
  uint32_t waiting;
  uint32_t queue_head;
  uint32_t queue_tail;
  uint64_t cost_sum;  // of the window's entries, saturated at UINT64_MAX
  uint32_t slot_capacity;
  uint32_t slot_hint;

  // Authoritative.
  uint64_t next_ticket;
  uint64_t serial_next;  // permit serials of this limiter, a block taken from the header
  uint64_t serial_end;
  int64_t penalty_until;
  int64_t last_sweep;
  uint64_t ring;  // RingBlock offset; 0 = none yet
  uint64_t ring_begin;
  uint64_t ring_end;
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

}  // namespace ptl::shm
