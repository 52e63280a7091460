// shmconf/client.hpp — the C++ client API of libshmconf.
//
// A Client attaches to one namespace published by shmconfd and reads typed
// values from the live snapshot in shared memory.
//
//   auto c = shmconf::Client::open("app");          // throws if absent
//   auto snap = c.snapshot();                       // pinned, consistent view
//   int64_t port = snap.get_int("database.port").value_or(5432);
//   auto k = c.key("database.port");                // pre-resolved handle
//   int64_t p2 = c.get_int(k).value_or(5432);       // fastest path
//
// Thread-safety: a Client may be shared by any number of threads; a
// Snapshot and the Values and string_views taken from it may be read by any
// thread while the Snapshot (or a copy of it) lives. A Key may be shared.
//
// Cost: every getter is noexcept and, on the fast path, performs no
// allocation, lock, system call or write to shared memory: one acquire load
// of the control block's generation, a compare with the generation this
// thread already has mapped, then a hash lookup in the segment (or, for a
// Key, one slot load). After a publish, the first read in each thread takes
// the slow path once: it reads the control block under its seqlock, maps the
// new segment read-only, validates it and swaps it in (a mutex, mmap, an
// O(segment) check; a few milliseconds for 10 MiB).
//
// Stale reads are harmless by design: a reader that has not yet seen a
// publish keeps reading the previous, complete snapshot, which stays mapped
// (and alive, even if the daemon unlinked it) while any pin holds it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shmconf/flags.hpp"
#include "shmconf/format.hpp"
#include "shmconf/result.hpp"
#include "shmconf/segment.hpp"

namespace shmconf {

using format::Type;

namespace detail {
struct Mapping;
class ClientImpl;

// Private to the library; here only so that Key reads inline (see
// Client::fast_key). The calling thread's view of up to kTlsSlots clients:
// "generation `gen` of client `client_id` is mapping `map`", which this
// thread keeps pinned while the entry names it. Written only by the owning
// thread, on the slow path.
struct TlsEntry {
  std::uint64_t client_id;    // 0 = unused; ids are never reused
  std::uint64_t gen;          // control-block generation the entry is for
  const Mapping* map;         // nullptr when nothing was published
  const format::Node* nodes;  // map's node table
  std::uint32_t serial;       // map's serial (0xFFFFFFFF without a map)
};
inline constexpr int kTlsSlots = 4;
// initial-exec: one %fs-relative load, no __tls_get_addr call.
extern __thread TlsEntry t_fast[kTlsSlots] __attribute__((tls_model("initial-exec")));
}  // namespace detail

// Which source set a value: e.g. "file:/etc/app/base.yaml", line 3, column 7.
struct Origin {
  std::string_view source;  // empty when unknown
  std::uint32_t line = 0;   // 1-based, 0 = unknown
  std::uint32_t column = 0;
};

// A view of one value of a pinned snapshot. Valid while that Snapshot lives.
class Value {
 public:
  Type type() const noexcept { return format::node_type(*node_); }
  // The full key path ("servers[2].host"). Segments store each name once,
  // so the path is assembled from the node's ancestors: this allocates.
  // key_to() writes it into a caller's buffer instead.
  std::string key() const { return view_->key(*node_); }
  std::size_t key_to(char* buf, std::size_t cap) const noexcept {
    return view_->key_to(*node_, buf, cap);
  }
  // An object member's own name (zero-copy); "" for array elements and the
  // root.
  std::string_view name() const noexcept { return view_->name(*node_); }
  Result<bool> as_bool() const noexcept;
  Result<std::int64_t> as_int() const noexcept;
  Result<double> as_double() const noexcept;  // an int64 widens to double
  Result<std::string_view> as_string() const noexcept;
  bool is_null() const noexcept { return type() == Type::kNull; }

  // Children of an array or object (objects in key order); empty otherwise.
  class Children;
  Children children() const noexcept;
  std::size_t size() const noexcept;
  Origin origin() const noexcept;
  // The daemon marked this value a secret (format::kNodeSensitive): show it
  // only when the operator asked to.
  bool sensitive() const noexcept { return format::node_sensitive(*node_); }

 private:
  friend class Snapshot;
  Value(const SegmentView* view, const format::Node* node) noexcept : view_(view), node_(node) {}
  const SegmentView* view_;
  const format::Node* node_;
};

class Value::Children {
 public:
  class iterator {
   public:
    using difference_type = std::ptrdiff_t;
    using value_type = Value;
    Value operator*() const noexcept { return Value(view_, node_); }
    iterator& operator++() noexcept {
      ++node_;
      return *this;
    }
    iterator operator++(int) noexcept {
      auto copy = *this;
      ++node_;
      return copy;
    }
    bool operator==(const iterator& o) const noexcept { return node_ == o.node_; }

   private:
    friend class Children;
    iterator(const SegmentView* v, const format::Node* n) noexcept : view_(v), node_(n) {}
    const SegmentView* view_ = nullptr;
    const format::Node* node_ = nullptr;
  };
  iterator begin() const noexcept { return {view_, nodes_.data()}; }
  iterator end() const noexcept { return {view_, nodes_.data() + nodes_.size()}; }
  std::size_t size() const noexcept { return nodes_.size(); }

 private:
  friend class Value;
  Children(const SegmentView* v, std::span<const format::Node> n) noexcept : view_(v), nodes_(n) {}
  const SegmentView* view_;
  std::span<const format::Node> nodes_;
};

// A key that changed in a snapshot against the version before it.
struct ChangedKey {
  std::string_view key;
  format::Change kind;
};

// A pinned, consistent view of one version. Every read through one Snapshot
// sees the same version, so a multi-key read is atomic. Copies share the pin.
// A default-constructed Snapshot is empty: every getter returns kNoSnapshot.
class Snapshot {
 public:
  Snapshot() noexcept = default;

  bool empty() const noexcept { return view_ == nullptr; }
  std::uint64_t version() const noexcept;          // 0 when empty
  std::uint64_t publish_time_ns() const noexcept;  // CLOCK_REALTIME
  std::uint64_t content_hash() const noexcept;
  std::uint64_t prev_version() const noexcept;  // what changed_keys() is against
  std::size_t key_count() const noexcept;       // all paths, containers included

  Result<Value> get(std::string_view key) const noexcept;
  Result<Value> root() const noexcept;
  Result<bool> get_bool(std::string_view key) const noexcept;
  Result<std::int64_t> get_int(std::string_view key) const noexcept;
  Result<double> get_double(std::string_view key) const noexcept;
  Result<std::string_view> get_string(std::string_view key) const noexcept;

  // Feature flag `name` for `subject` (shmconf/flags.hpp, docs/FLAGS.md):
  // kNotFound when there is no flags.NAME. No allocation.
  Result<bool> flag(std::string_view name, std::string_view subject) const noexcept;
  Result<FlagDecision> flag_decision(std::string_view name,
                                     std::string_view subject) const noexcept;

  std::vector<std::string_view> sources() const;
  // Empty for the first version (prev_version() == 0): every key is new.
  std::vector<ChangedKey> changed_keys() const;
  std::string_view trigger() const noexcept;

  // The low-level view, for tools (shmconfctl dump, diff).
  const SegmentView* view() const noexcept { return view_; }

 private:
  friend class detail::ClientImpl;
  friend class Client;
  explicit Snapshot(std::shared_ptr<const detail::Mapping> pin) noexcept;
  std::shared_ptr<const detail::Mapping> pin_;
  const SegmentView* view_ = nullptr;
};

// A pre-resolved key: the path's hash is computed once, and the slot found
// in the live segment is cached until the next publish.
class Key {
 public:
  const std::string& path() const noexcept { return path_; }

 private:
  friend class detail::ClientImpl;
  friend class Client;
  explicit Key(std::string path);
  std::string path_;
  std::uint64_t hash_ = 0;  // key_hash(path_, 0): segments are built with seed 0
  // (mapping serial << 32 | node index + 1) of the last resolution, relaxed:
  // a stale or torn value only costs a re-resolve, see Client::get_int(Key).
  mutable std::uint64_t cache_ = 0;
};

struct ClientOptions {
  // Object-name prefix; empty means $SHMCONF_PREFIX, or "shmconf".
  std::string prefix;
  // When set, the control block and every segment must be owned by this
  // uid. Otherwise every segment must have the control block's owner.
  // Objects writable by group or others are always refused.
  std::optional<uid_t> expected_owner;
  // Record this client (pid, executable, the version it serves) in the
  // namespace's reader registry at attach and whenever it adopts a new
  // version, never on a read (docs/OPERATIONS.md "Which process runs which
  // version"). A registry that is absent, full or damaged is skipped
  // silently; tools that only look (shmconfctl) turn it off.
  bool register_reader = true;
};

class Client {
 public:
  // Attaches to namespace `name`. Throws shmconf::Error (kNoNamespace when
  // no daemon ever published it, kPermission, kVersion, ...).
  static Client open(std::string_view name, const ClientOptions& options = {});
  // The same, without exceptions.
  static Result<Client> try_open(std::string_view name, const ClientOptions& options = {}) noexcept;

  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  ~Client();

  // The newest snapshot, pinned. Empty when nothing is published.
  Snapshot snapshot() const noexcept;
  // Version of the newest snapshot this client can serve; 0 when none.
  std::uint64_t version() const noexcept;
  // Generation of the control block (changes on every publish and rollback).
  std::uint64_t generation() const noexcept;

  // One-shot getters: each may see a newer version than the previous call.
  Result<bool> get_bool(std::string_view key) const noexcept;
  Result<std::int64_t> get_int(std::string_view key) const noexcept;
  Result<double> get_double(std::string_view key) const noexcept;
  // Feature flag `name` for `subject` in the newest version (as
  // Snapshot::flag): a string-key read plus one hash, no allocation.
  Result<bool> flag(std::string_view name, std::string_view subject) const noexcept;
  // The same through a pre-resolved flag key (flag_key(name), made once):
  // the lookup of "flags.NAME" is cached per version as for Key reads, so
  // an evaluation is the walk of the flag's members and one hash.
  Key flag_key(std::string_view name) const;
  Result<bool> flag(const Key& flag_key, std::string_view subject) const noexcept;

  // Reads by pre-resolved key. The fast path is inline: one acquire load of
  // the control block's generation, a compare with this thread's entry, a
  // compare of the key's cached resolution and one node load. After a
  // publish (or on a thread's first read) the out-of-line slow path maps
  // the new segment and re-resolves the key once.
  Key key(std::string_view path) const;
  Result<bool> get_bool(const Key& key) const noexcept;
  Result<std::int64_t> get_int(const Key& key) const noexcept;
  Result<double> get_double(const Key& key) const noexcept;

  // Blocks until the live version differs from `known_version` or the
  // timeout passes (futex on the control block; no polling). Returns the
  // new version, or kTimeout. A negative timeout waits forever.
  Result<std::uint64_t> wait_for_change(std::uint64_t known_version,
                                        std::chrono::milliseconds timeout) const noexcept;

  // Why the last segment was refused (empty if none was): the client kept
  // serving the snapshot it had.
  std::string last_error() const;

  // Runs `callback` on a library-owned thread, once per new version, with
  // the keys under `prefix` that changed and their old and new values
  // (old from the previous snapshot this subscription saw). The thread
  // sleeps on the futex between versions. Destroying the Subscription
  // stops it (and joins the thread).
  struct Change {
    std::string_view key;
    format::Change kind;
    std::optional<Value> old_value;  // absent when added
    std::optional<Value> new_value;  // absent when removed
  };
  using Callback = std::function<void(const Snapshot& old_snap, const Snapshot& new_snap,
                                      const std::vector<Change>& changes)>;
  class Subscription {
   public:
    Subscription() = default;
    Subscription(Subscription&&) noexcept;
    Subscription& operator=(Subscription&&) noexcept;
    ~Subscription();
    void stop();

   private:
    friend class Client;
    struct State;
    std::unique_ptr<State> state_;
  };
  Subscription subscribe(std::string prefix, Callback callback) const;

  const detail::ClientImpl& impl() const noexcept { return *impl_; }

 private:
  explicit Client(std::unique_ptr<detail::ClientImpl> impl) noexcept;
  bool fast_key(const Key& k, const format::Node** out) const noexcept;
  Result<bool> get_bool_slow(const Key& key) const noexcept;
  Result<std::int64_t> get_int_slow(const Key& key) const noexcept;
  Result<double> get_double_slow(const Key& key) const noexcept;

  std::unique_ptr<detail::ClientImpl> impl_;
  const format::ControlBlock* ctl_ = nullptr;  // impl_'s, for the inline fast path
  std::uint64_t id_ = 0;                       // impl_'s id
};

// --- Inline fast path of Key reads -------------------------------------------

inline bool Client::fast_key(const Key& k, const format::Node** out) const noexcept {
  // Pairs with the daemon's store_release of the generation (docs/FORMAT.md
  // "Publish", step 5): seeing generation G means G's segment is complete.
  const std::uint64_t gen = format::load_acquire(&ctl_->generation);
  for (int i = 0; i < detail::kTlsSlots; ++i) {
    const detail::TlsEntry& e = detail::t_fast[i];
    if (e.client_id != id_) continue;
    if (e.gen != gen) return false;
    // The key's resolution, relaxed: it only names a node of a mapping by
    // serial, and a stale one fails this compare.
    const std::uint64_t c = __atomic_load_n(&k.cache_, __ATOMIC_RELAXED);
    if ((c >> 32) != e.serial) return false;
    const auto idx = static_cast<std::uint32_t>(c);
    *out = idx == 0 ? nullptr : e.nodes + (idx - 1);
    return true;
  }
  return false;
}

inline Result<bool> Client::get_bool(const Key& k) const noexcept {
  const format::Node* n;
  if (!fast_key(k, &n)) return get_bool_slow(k);
  if (n == nullptr) return Errc::kNotFound;
  if (format::node_type(*n) != Type::kBool) return Errc::kWrongType;
  return n->payload != 0;
}

inline Result<std::int64_t> Client::get_int(const Key& k) const noexcept {
  const format::Node* n;
  if (!fast_key(k, &n)) return get_int_slow(k);
  if (n == nullptr) return Errc::kNotFound;
  if (format::node_type(*n) != Type::kInt) return Errc::kWrongType;
  return static_cast<std::int64_t>(n->payload);
}

inline Result<double> Client::get_double(const Key& k) const noexcept {
  const format::Node* n;
  if (!fast_key(k, &n)) return get_double_slow(k);
  if (n == nullptr) return Errc::kNotFound;
  if (format::node_type(*n) == Type::kInt) {
    return static_cast<double>(static_cast<std::int64_t>(n->payload));
  }
  if (format::node_type(*n) != Type::kDouble) return Errc::kWrongType;
  return __builtin_bit_cast(double, n->payload);
}

// The shared-memory object names for a namespace, as the daemon creates them.
std::string control_object_name(std::string_view prefix, std::string_view ns);
std::string segment_object_name(std::string_view prefix, std::string_view ns,
                                std::uint64_t segment_id);
// `prefix` if non-empty, else $SHMCONF_PREFIX, else "shmconf".
std::string resolve_prefix(std::string_view prefix);
// Namespace and prefix names: [A-Za-z0-9_-], 1 to 64 characters.
bool valid_name(std::string_view name) noexcept;

}  // namespace shmconf
