// shmconf/format.hpp — the shared-memory layout, segment version 2.
//
// This header mirrors docs/FORMAT.md, which is normative: a change touches
// both or neither. It is shared by the daemon (which writes segments and the
// control block) and the client (which only reads them).
//
// Everything here is plain data: little-endian, 8-byte aligned, addressed by
// 32-bit offsets from the start of the object that holds them, never by
// pointers, so a segment maps at any address in any process.
//
// Thread-safety: segments are immutable once published. The control block is
// written by exactly one process (the daemon) and read by any number of
// clients; its atomic fields are accessed only through the helpers at the end
// of this file, and each names the access it pairs with.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shmconf::format {

// "SHMCSEG\1" and "SHMCCTL\1" read as little-endian 64-bit words. A reader of
// the other byte order sees a different number and refuses the object.
inline constexpr std::uint64_t kSegmentMagic = 0x01474553434D4853ull;
inline constexpr std::uint64_t kControlMagic = 0x014C5443434D4853ull;
// Version of the segment layout below. Version 1 stored every key's full
// path; version 2 stores names once and reaches a full path through parent
// links; version 3 halves the index slot to 4 bytes (node index and a 7-bit
// tag in one word). A reader refuses any other version (Errc::kVersion).
inline constexpr std::uint32_t kFormatVersion = 3;
// The control block's layout has not changed since version 1, so it keeps
// version 1 and v1's layout signature: a v1 client still attaches, then
// refuses a v2 segment with a clear message and keeps what it had.
inline constexpr std::uint32_t kControlVersion = 1;
inline constexpr std::uint32_t kControlLayoutSignature = 0x1ef127a2u;

// Limits a writer must respect and a reader relies on (FORMAT.md "Limits").
inline constexpr std::uint64_t kMaxSegmentSize = 0xFFFFFFFFull;  // 32-bit offsets
inline constexpr std::uint32_t kMaxKeyLength = 4096;             // full path, bytes
inline constexpr std::uint32_t kMaxNameLength = 0xFFFF;          // one name, bytes
inline constexpr std::uint32_t kMaxDepth = 128;                  // nesting levels
inline constexpr std::uint32_t kSlotNodeBits = 25;               // IndexSlot's node field
inline constexpr std::uint32_t kMaxNodes = 1u << kSlotNodeBits;  // 33,554,432
inline constexpr std::uint16_t kNoSource = 0xFFFF;               // Origin::source unknown

enum class Type : std::uint8_t {
  kNull = 0,
  kBool = 1,
  kInt = 2,
  kDouble = 3,
  kString = 4,
  kArray = 5,
  kObject = 6,
};
inline constexpr std::uint8_t kTypeCount = 7;

// --- Segment -----------------------------------------------------------------

// Offset 0 of every segment. 128 bytes.
struct SegmentHeader {
  std::uint64_t magic;             // kSegmentMagic
  std::uint32_t format_version;    // kFormatVersion
  std::uint32_t layout_signature;  // kLayoutSignature
  std::uint32_t header_size;       // sizeof(SegmentHeader)
  std::uint32_t flags;             // 0; readers refuse unknown bits
  std::uint64_t segment_size;      // bytes of the segment that are meaningful
  std::uint64_t checksum;          // XXH3-64 (seed 0) of bytes [40, segment_size)
  std::uint64_t version;           // version id of this content (1, 2, ...)
  std::uint64_t publish_time_ns;   // CLOCK_REALTIME when built, nanoseconds
  std::uint64_t content_hash;      // XXH3-64 of the canonical JSON of the tree
  std::uint32_t node_count;        // entries in the node table (root included)
  std::uint32_t index_capacity;    // slots in the hash index (> node_count - 1)
  std::uint32_t nodes_off;         // -> Node[node_count]
  std::uint32_t index_off;         // -> IndexSlot[index_capacity]
  std::uint32_t strings_off;       // -> string pool
  std::uint32_t strings_size;      // bytes in the string pool
  std::uint32_t meta_off;          // -> MetaHeader
  std::uint32_t meta_size;         // bytes from meta_off covered by metadata
  std::uint64_t hash_seed;         // seed for XXH3-64 of key paths
  std::uint64_t prev_version;      // version the change list is against, 0 = none
  std::uint32_t origins_off;       // -> Origin[node_count]
  std::uint32_t reserved1;         // 0
  std::uint64_t reserved2;         // 0
};

// One node of the tree. 16 bytes. Children of a container are contiguous in
// the node table, after their parent; objects' children sorted by name
// (bytewise), arrays' children in index order. Node 0 is the root object.
//
// A node's full key path is not stored: it is its ancestors' names joined
// with '.', array elements spelled "[i]" where i is the element's position
// among its parent's children ("servers[2].host"). Names are stored once in
// the string pool and shared by every node that carries them.
struct Node {
  std::uint64_t payload;  // see payload encoding below
  // String-pool offset (segment-relative) of this node's name, for children
  // of objects; 0 for the root and array elements. The name's bytes are
  // preceded by its length (uint16, little-endian, at name - 2) and
  // followed by a NUL.
  std::uint32_t name;
  // bits 0-2: Type; bit 3: kNodeSensitive; bits 4-31: the parent's node
  // index (the root's parent is 0).
  std::uint32_t bits;
};

// The sensitive bit of Node::bits. The value is a secret (a schema's
// "x-sensitive" or a key name such as "password"; docs/VALIDATION.md): tools
// redact it unless asked not to. Set on every node of a sensitive subtree.
inline constexpr std::uint32_t kNodeSensitive = 0x8;

constexpr Type node_type(const Node& n) noexcept { return static_cast<Type>(n.bits & 7u); }
constexpr std::uint8_t node_type_bits(const Node& n) noexcept {
  return static_cast<std::uint8_t>(n.bits & 7u);
}
constexpr std::uint32_t node_parent(const Node& n) noexcept { return n.bits >> 4; }
constexpr bool node_sensitive(const Node& n) noexcept { return (n.bits & kNodeSensitive) != 0; }
constexpr std::uint32_t node_bits(Type t, bool sensitive, std::uint32_t parent) noexcept {
  return static_cast<std::uint32_t>(t) | (sensitive ? kNodeSensitive : 0u) | (parent << 4);
}

// Payload encoding, by type:
//   kNull    0
//   kBool    0 or 1
//   kInt     the int64 value, two's complement
//   kDouble  the IEEE-754 binary64 bits
//   kString  string-pool offset in the low 32 bits, length in the high 32 bits
//   kArray / kObject  first child's node index (low 32), child count (high 32)
// String-pool offsets are relative to the segment start. Every string in the
// pool is followed by a NUL byte that its length does not count.
constexpr std::uint64_t pack(std::uint32_t low, std::uint32_t high) noexcept {
  return static_cast<std::uint64_t>(low) | (static_cast<std::uint64_t>(high) << 32);
}
constexpr std::uint32_t low32(std::uint64_t v) noexcept { return static_cast<std::uint32_t>(v); }
constexpr std::uint32_t high32(std::uint64_t v) noexcept {
  return static_cast<std::uint32_t>(v >> 32);
}

// Where a node's value was set, in a table parallel to the nodes at
// SegmentHeader::origins_off. 8 bytes. Read only by tools and
// Value::origin(), never by a lookup.
struct Origin {
  std::uint32_t line;    // 1-based line in that source, 0 = unknown
  std::uint16_t column;  // 1-based column, 0 = unknown, 65535 = 65535 or more
  std::uint16_t source;  // index into the sources table, or kNoSource
};

// One slot of the open-addressing hash index from full key path to node.
// Every node but the root has exactly one slot. 4 bytes: the node index in
// the low kSlotNodeBits bits, and above them 7 bits of the key's hash (the
// tag), which spare most probes a key comparison. The root is never
// indexed, so a slot holding 0 is empty.
struct IndexSlot {
  std::uint32_t word;
  constexpr std::uint32_t node() const noexcept { return word & ((1u << kSlotNodeBits) - 1u); }
  constexpr std::uint32_t tag() const noexcept { return word >> kSlotNodeBits; }
  constexpr bool empty() const noexcept { return word == 0; }
};

// The tag a key's 64-bit hash leaves in its slot: the low 7 bits (the home
// slot comes from the high bits, see home_slot).
constexpr std::uint32_t slot_tag(std::uint64_t hash) noexcept {
  return static_cast<std::uint32_t>(hash) & 0x7Fu;
}
constexpr IndexSlot make_slot(std::uint32_t node, std::uint32_t tag) noexcept {
  return IndexSlot{node | (tag << kSlotNodeBits)};
}

// Metadata block at SegmentHeader::meta_off. 32 bytes, followed by the tables
// it points to.
struct MetaHeader {
  std::uint32_t source_count;   // entries in the sources table
  std::uint32_t sources_off;    // -> StrRef[source_count]: source descriptions
  std::uint32_t changed_count;  // entries in the change list
  std::uint32_t changed_off;    // -> ChangedKey[changed_count], sorted by key
  std::uint32_t trigger_off;    // what caused this version ("inotify", "sighup", ...)
  std::uint32_t trigger_len;
  std::uint64_t reserved;  // 0
};

struct StrRef {
  std::uint32_t off;  // string-pool offset (segment-relative)
  std::uint32_t len;
};

enum class Change : std::uint32_t { kAdded = 1, kRemoved = 2, kChanged = 3 };

// A leaf key (or container turned leaf) that differs from prev_version. 16
// bytes. The first version (prev_version 0) has an empty list: every key is
// new.
struct ChangedKey {
  std::uint32_t key_off;  // the full key path, NUL-terminated
  std::uint32_t key_len;
  std::uint32_t kind;      // Change
  std::uint32_t reserved;  // 0
};

// --- Control block -------------------------------------------------------------

// One per namespace, object "/<prefix>.<namespace>.ctl". Written only by the
// daemon. The object is one page; the struct is 128 bytes at offset 0.
struct ControlBlock {
  std::uint64_t magic;             // kControlMagic
  std::uint32_t format_version;    // kControlVersion
  std::uint32_t layout_signature;  // kControlLayoutSignature
  std::uint32_t size;              // sizeof(ControlBlock)
  std::uint32_t futex_word;        // atomic; +1 after every publish, then FUTEX_WAKE
  std::uint64_t generation;        // atomic; readers' fast path (publish step 5)
  std::uint64_t seq;               // atomic; seqlock over the record below
  // Record: read only under the seqlock.
  std::uint64_t rec_generation;
  std::uint64_t rec_version;     // 0 = nothing published yet
  std::uint64_t rec_segment_id;  // names "/<prefix>.<namespace>.seg.<id>"
  std::uint64_t rec_segment_size;
  std::uint64_t rec_checksum;  // equals the segment header's checksum
  std::uint64_t rec_content_hash;
  std::uint64_t rec_publish_time_ns;
  // Informational, written by the daemon outside the seqlock.
  std::uint64_t daemon_pid;       // last daemon that published
  std::uint64_t next_segment_id;  // the daemon's allocator; clients ignore it
  std::uint64_t created_time_ns;  // when the control block was created
  // The highest version ever made live; the daemon's, clients ignore it. A
  // restarted daemon keeps retained segments up to it (a rollback made the
  // live version older) and never reuses a version number at or below it.
  std::uint64_t max_version;
};

inline constexpr std::size_t kControlObjectSize = 4096;

// --- Layout checks -------------------------------------------------------------

static_assert(sizeof(SegmentHeader) == 128);
static_assert(offsetof(SegmentHeader, magic) == 0);
static_assert(offsetof(SegmentHeader, format_version) == 8);
static_assert(offsetof(SegmentHeader, layout_signature) == 12);
static_assert(offsetof(SegmentHeader, header_size) == 16);
static_assert(offsetof(SegmentHeader, flags) == 20);
static_assert(offsetof(SegmentHeader, segment_size) == 24);
static_assert(offsetof(SegmentHeader, checksum) == 32);
static_assert(offsetof(SegmentHeader, version) == 40);
static_assert(offsetof(SegmentHeader, publish_time_ns) == 48);
static_assert(offsetof(SegmentHeader, content_hash) == 56);
static_assert(offsetof(SegmentHeader, node_count) == 64);
static_assert(offsetof(SegmentHeader, index_capacity) == 68);
static_assert(offsetof(SegmentHeader, nodes_off) == 72);
static_assert(offsetof(SegmentHeader, index_off) == 76);
static_assert(offsetof(SegmentHeader, strings_off) == 80);
static_assert(offsetof(SegmentHeader, strings_size) == 84);
static_assert(offsetof(SegmentHeader, meta_off) == 88);
static_assert(offsetof(SegmentHeader, meta_size) == 92);
static_assert(offsetof(SegmentHeader, hash_seed) == 96);
static_assert(offsetof(SegmentHeader, prev_version) == 104);
static_assert(offsetof(SegmentHeader, origins_off) == 112);
inline constexpr std::uint32_t kChecksumFrom = 40;  // checksum covers [40, segment_size)

static_assert(sizeof(Node) == 16);
static_assert(offsetof(Node, payload) == 0);
static_assert(offsetof(Node, name) == 8);
static_assert(offsetof(Node, bits) == 12);

static_assert(sizeof(Origin) == 8);
static_assert(offsetof(Origin, line) == 0);
static_assert(offsetof(Origin, column) == 4);
static_assert(offsetof(Origin, source) == 6);

static_assert(sizeof(IndexSlot) == 4);
static_assert(offsetof(IndexSlot, word) == 0);

static_assert(sizeof(MetaHeader) == 32);
static_assert(offsetof(MetaHeader, source_count) == 0);
static_assert(offsetof(MetaHeader, sources_off) == 4);
static_assert(offsetof(MetaHeader, changed_count) == 8);
static_assert(offsetof(MetaHeader, changed_off) == 12);
static_assert(offsetof(MetaHeader, trigger_off) == 16);
static_assert(offsetof(MetaHeader, trigger_len) == 20);
static_assert(sizeof(StrRef) == 8);
static_assert(sizeof(ChangedKey) == 16);

static_assert(sizeof(ControlBlock) == 128);
static_assert(offsetof(ControlBlock, magic) == 0);
static_assert(offsetof(ControlBlock, format_version) == 8);
static_assert(offsetof(ControlBlock, layout_signature) == 12);
static_assert(offsetof(ControlBlock, size) == 16);
static_assert(offsetof(ControlBlock, futex_word) == 20);
static_assert(offsetof(ControlBlock, generation) == 24);
static_assert(offsetof(ControlBlock, seq) == 32);
static_assert(offsetof(ControlBlock, rec_generation) == 40);
static_assert(offsetof(ControlBlock, rec_version) == 48);
static_assert(offsetof(ControlBlock, rec_segment_id) == 56);
static_assert(offsetof(ControlBlock, rec_segment_size) == 64);
static_assert(offsetof(ControlBlock, rec_checksum) == 72);
static_assert(offsetof(ControlBlock, rec_content_hash) == 80);
static_assert(offsetof(ControlBlock, rec_publish_time_ns) == 88);
static_assert(offsetof(ControlBlock, daemon_pid) == 96);
static_assert(offsetof(ControlBlock, next_segment_id) == 104);
static_assert(offsetof(ControlBlock, created_time_ns) == 112);
static_assert(offsetof(ControlBlock, max_version) == 120);

// The layout signature folds every segment struct size and key offsets
// into one number, so two builds that disagree on layout refuse each other
// even when they agree on kFormatVersion. (The control block keeps v1's
// signature, kControlLayoutSignature, checked by the static_asserts above.)
constexpr std::uint32_t layout_signature() noexcept {
  std::uint32_t h = 2166136261u;  // FNV-1a
  const std::uint32_t parts[] = {sizeof(SegmentHeader),
                                 sizeof(Node),
                                 sizeof(IndexSlot),
                                 sizeof(Origin),
                                 sizeof(MetaHeader),
                                 sizeof(StrRef),
                                 sizeof(ChangedKey),
                                 offsetof(SegmentHeader, checksum),
                                 offsetof(SegmentHeader, nodes_off),
                                 offsetof(SegmentHeader, origins_off),
                                 offsetof(Node, name),
                                 offsetof(Node, bits),
                                 kSlotNodeBits,
                                 kTypeCount,
                                 kFormatVersion,
                                 8 /* alignment */};
  for (std::uint32_t p : parts) {
    for (int i = 0; i < 4; ++i) {
      h ^= (p >> (8 * i)) & 0xFFu;
      h *= 16777619u;
    }
  }
  return h;
}
inline constexpr std::uint32_t kLayoutSignature = layout_signature();

// Slot where the probe for `hash` starts: the high 64 bits of hash * capacity
// (Lemire's "fastrange"), then linear probing with wrap-around.
constexpr std::uint32_t home_slot(std::uint64_t hash, std::uint32_t capacity) noexcept {
  return static_cast<std::uint32_t>((static_cast<unsigned __int128>(hash) * capacity) >> 64);
}

// --- Atomic access to the control block -------------------------------------
// Shared-memory atomics go through the GCC builtins, which take const
// pointers for loads, so a reader's PROT_READ mapping needs no cast.

inline std::uint64_t load_acquire(const std::uint64_t* p) noexcept {
  return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
inline std::uint64_t load_relaxed(const std::uint64_t* p) noexcept {
  return __atomic_load_n(p, __ATOMIC_RELAXED);
}
inline std::uint32_t load_acquire(const std::uint32_t* p) noexcept {
  return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
inline void store_release(std::uint64_t* p, std::uint64_t v) noexcept {
  __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
inline void store_relaxed(std::uint64_t* p, std::uint64_t v) noexcept {
  __atomic_store_n(p, v, __ATOMIC_RELAXED);
}
inline void store_release(std::uint32_t* p, std::uint32_t v) noexcept {
  __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

// --- Reader registry -----------------------------------------------------------

// One per namespace, object "/<prefix>.<namespace>.readers" (FORMAT.md
// "Reader registry"). Created and owned by the daemon, like the control
// block, but writable by the readers (mode 0666, 0660 with a group, or 0600:
// the control block's mode with the write bits of whoever may read). It is
// never read on a client's read path and holds nothing a read depends on: a
// client writes its own slot at attach, when it adopts a new version, and
// when it closes. Any process that may write it may also scribble on it,
// so every reader of it checks sizes and treats every field as a hint.
//
// "SHMCREG\1" as a little-endian 64-bit word.
inline constexpr std::uint64_t kRegistryMagic = 0x01474552434D4853ull;
inline constexpr std::uint32_t kRegistryVersion = 1;
inline constexpr std::uint32_t kRegistrySlots = 256;      // what the daemon creates
inline constexpr std::uint32_t kRegistryMaxSlots = 4096;  // what a reader accepts
inline constexpr std::uint32_t kCommLength = 16;          // TASK_COMM_LEN

// Offset 0. 64 bytes.
struct RegistryHeader {
  std::uint64_t magic;             // kRegistryMagic
  std::uint32_t format_version;    // kRegistryVersion
  std::uint32_t layout_signature;  // kRegistryLayoutSignature
  std::uint32_t header_size;       // sizeof(RegistryHeader): slot 0 starts here
  std::uint32_t slot_size;         // sizeof(RegistrySlot)
  std::uint32_t slot_count;        // object size = header_size + slot_count * slot_size
  std::uint32_t reserved0;         // 0
  std::uint64_t created_time_ns;   // CLOCK_REALTIME when the daemon created it
  std::uint64_t reserved[3];       // 0
};

// One reader. 128 bytes. Every field is one aligned word written with a
// single atomic store; only `state` is ever compare-and-swapped.
struct RegistrySlot {
  // atomic; bits 0-1 the slot state (kSlotFree, kSlotClaiming, kSlotLive),
  // bits 2-31 a sequence bumped by every transition (so a compare-and-swap
  // on a stale view fails), bits 32-63 the owner's pid (0 when free).
  std::uint64_t state;
  std::uint64_t start_time;      // owner's start time: /proc/PID/stat field 22 (clock ticks)
  std::uint64_t pid_namespace;   // inode of the owner's /proc/self/ns/pid; 0 = unknown
  std::uint64_t version;         // version of the snapshot the owner serves; 0 = none
  std::uint64_t generation;      // control-block generation it adopted `version` at
  std::uint64_t attach_time_ns;  // CLOCK_REALTIME of the attach
  std::uint64_t since_ns;        // CLOCK_REALTIME when it adopted `version`
  std::uint32_t uid;             // owner's real uid
  std::uint32_t reserved0;       // 0
  char comm[kCommLength];        // owner's /proc/self/comm, NUL-padded (not terminated when 16)
  std::uint64_t reserved[6];     // 0
};

inline constexpr std::uint64_t kSlotFree = 0;
inline constexpr std::uint64_t kSlotClaiming = 1;
inline constexpr std::uint64_t kSlotLive = 2;
constexpr std::uint64_t slot_state(std::uint64_t word) noexcept { return word & 3u; }
constexpr std::uint32_t slot_pid(std::uint64_t word) noexcept {
  return static_cast<std::uint32_t>(word >> 32);
}
// The word after a transition of `word` to `state` owned by `pid`.
constexpr std::uint64_t slot_next(std::uint64_t word, std::uint64_t state,
                                  std::uint32_t pid) noexcept {
  const std::uint64_t seq = ((word >> 2) + 1) & 0x3FFFFFFFu;
  return (std::uint64_t{pid} << 32) | (seq << 2) | state;
}

static_assert(sizeof(RegistryHeader) == 64);
static_assert(offsetof(RegistryHeader, format_version) == 8);
static_assert(offsetof(RegistryHeader, layout_signature) == 12);
static_assert(offsetof(RegistryHeader, header_size) == 16);
static_assert(offsetof(RegistryHeader, slot_size) == 20);
static_assert(offsetof(RegistryHeader, slot_count) == 24);
static_assert(offsetof(RegistryHeader, created_time_ns) == 32);
static_assert(sizeof(RegistrySlot) == 128);
static_assert(offsetof(RegistrySlot, state) == 0);
static_assert(offsetof(RegistrySlot, start_time) == 8);
static_assert(offsetof(RegistrySlot, pid_namespace) == 16);
static_assert(offsetof(RegistrySlot, version) == 24);
static_assert(offsetof(RegistrySlot, generation) == 32);
static_assert(offsetof(RegistrySlot, attach_time_ns) == 40);
static_assert(offsetof(RegistrySlot, since_ns) == 48);
static_assert(offsetof(RegistrySlot, uid) == 56);
static_assert(offsetof(RegistrySlot, comm) == 64);

// FNV-1a over the registry's struct sizes and key offsets, as
// layout_signature() does for segments.
constexpr std::uint32_t registry_layout_signature() noexcept {
  std::uint32_t h = 2166136261u;
  const std::uint32_t parts[] = {
      sizeof(RegistryHeader),       sizeof(RegistrySlot), offsetof(RegistrySlot, version),
      offsetof(RegistrySlot, comm), kCommLength,          kRegistryVersion};
  for (std::uint32_t p : parts) {
    for (int i = 0; i < 4; ++i) {
      h ^= (p >> (8 * i)) & 0xFFu;
      h *= 16777619u;
    }
  }
  return h;
}
inline constexpr std::uint32_t kRegistryLayoutSignature = registry_layout_signature();
constexpr std::uint64_t registry_object_size(std::uint32_t slots) noexcept {
  return sizeof(RegistryHeader) + std::uint64_t{slots} * sizeof(RegistrySlot);
}

}  // namespace shmconf::format
