// Attach, the per-thread fast path, the seqlock read, segment mapping and
// the futex wait. FORMAT.md "Read protocol" is the numbered version of what
// this file does.
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "client_impl.hpp"
#include "node_read.hpp"

namespace shmconf {
namespace detail {
// Per-thread cache of "generation G of client C maps to M" (client.hpp).
// The fast path reads only this trivially destructible, initial-exec TLS
// array, which costs one %fs-relative load, no __tls_get_addr call. The
// matching pins, which keep M mapped while the entry points at it, live in
// t_pins, touched only on the slow path and released when the thread exits.
__thread TlsEntry t_fast[kTlsSlots] __attribute__((tls_model("initial-exec")));

namespace {

std::atomic<std::uint64_t> g_next_client_id{1};
std::atomic<std::uint32_t> g_next_serial{1};

__attribute__((tls_model("initial-exec"))) thread_local unsigned t_victim;
struct TlsPins {
  std::array<std::shared_ptr<const Mapping>, kTlsSlots> pin;
};
thread_local TlsPins t_pins;

bool writable_by_others(mode_t mode) noexcept { return (mode & (S_IWGRP | S_IWOTH)) != 0; }

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

Mapping::~Mapping() {
  if (addr != nullptr) ::munmap(addr, length);
}

Errc read_record(const format::ControlBlock* ctl, Record* out) noexcept {
  for (int tries = 0; tries < kMaxSeqlockTries; ++tries) {
    // Pairs with the writer's final store_release of seq (publish step 4):
    // an even s1 means the record below is the one published with it.
    const std::uint64_t s1 = format::load_acquire(&ctl->seq);
    if (s1 & 1u) {
      cpu_relax();
      continue;
    }
    Record r;
    r.generation = format::load_relaxed(&ctl->rec_generation);
    r.version = format::load_relaxed(&ctl->rec_version);
    r.segment_id = format::load_relaxed(&ctl->rec_segment_id);
    r.segment_size = format::load_relaxed(&ctl->rec_segment_size);
    r.checksum = format::load_relaxed(&ctl->rec_checksum);
    r.content_hash = format::load_relaxed(&ctl->rec_content_hash);
    r.publish_time_ns = format::load_relaxed(&ctl->rec_publish_time_ns);
    // Orders the record loads before the re-check of seq; pairs with the
    // writer's release fence after making seq odd (publish step 2).
    std::atomic_thread_fence(std::memory_order_acquire);
    if (format::load_relaxed(&ctl->seq) == s1) {
      *out = r;
      return Errc::kOk;
    }
  }
  return Errc::kBusy;
}

void futex_wait(const std::uint32_t* word, std::uint32_t expected, const std::uint32_t* stop,
                std::int64_t timeout_ns) noexcept {
  if (stop != nullptr) {
#ifdef SYS_futex_waitv
    // Wait on both words at once: the shared one the daemon wakes, and the
    // private stop word. futex_waitv's timeout is absolute.
    struct futex_waitv waiters[2] = {};
    waiters[0].val = expected;
    waiters[0].uaddr = reinterpret_cast<std::uintptr_t>(word);
    waiters[0].flags = FUTEX_32;
    waiters[1].val = 0;
    waiters[1].uaddr = reinterpret_cast<std::uintptr_t>(stop);
    waiters[1].flags = FUTEX_32 | FUTEX_PRIVATE_FLAG;
    timespec abs{};
    timespec* absp = nullptr;
    if (timeout_ns >= 0) {
      ::clock_gettime(CLOCK_MONOTONIC, &abs);
      const std::int64_t ns = abs.tv_nsec + timeout_ns;
      abs.tv_sec += ns / 1000000000;
      abs.tv_nsec = ns % 1000000000;
      absp = &abs;
    }
    const long rc = ::syscall(SYS_futex_waitv, waiters, 2, 0, absp, CLOCK_MONOTONIC);
    if (rc >= 0 || errno != ENOSYS) return;
#endif
    // Old kernel: sleep in short slices so a stop is noticed.
    if (timeout_ns < 0 || timeout_ns > 50'000'000) timeout_ns = 50'000'000;
  }
  timespec rel{};
  timespec* relp = nullptr;
  if (timeout_ns >= 0) {
    rel.tv_sec = timeout_ns / 1000000000;
    rel.tv_nsec = timeout_ns % 1000000000;
    relp = &rel;
  }
  // FUTEX_WAIT without FUTEX_PRIVATE_FLAG: the word is shared with the
  // daemon, whose FUTEX_WAKE (publish step 6) must reach this process.
  ::syscall(SYS_futex, word, FUTEX_WAIT, expected, relp, nullptr, 0);
}

void futex_wake_private(std::uint32_t* word) noexcept {
  ::syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

Result<std::unique_ptr<ClientImpl>> ClientImpl::attach(std::string_view ns,
                                                       const ClientOptions& options) noexcept {
  try {
    if (!valid_name(ns)) return Errc::kInvalid;
    std::unique_ptr<ClientImpl> c(new ClientImpl());
    c->id_ = g_next_client_id.fetch_add(1, std::memory_order_relaxed);
    c->ns_ = std::string(ns);
    c->prefix_ = resolve_prefix(options.prefix);
    if (!valid_name(c->prefix_)) return Errc::kInvalid;
    const std::string name = control_object_name(c->prefix_, ns);
    const int fd = ::shm_open(name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
    if (fd < 0) {
      if (errno == ENOENT) return Errc::kNoNamespace;
      // ELOOP: O_NOFOLLOW met a symbolic link at the name, which the daemon
      // never creates (someone may be squatting the name).
      if (errno == EACCES || errno == ELOOP) return Errc::kPermission;
      return Errc::kSystem;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      return Errc::kSystem;
    }
    if (!S_ISREG(st.st_mode) || writable_by_others(st.st_mode) ||
        (options.expected_owner && st.st_uid != *options.expected_owner)) {
      ::close(fd);
      return Errc::kPermission;
    }
    if (static_cast<std::uint64_t>(st.st_size) < sizeof(format::ControlBlock)) {
      ::close(fd);
      return Errc::kCorrupt;
    }
    void* addr = ::mmap(nullptr, sizeof(format::ControlBlock), PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    if (addr == MAP_FAILED) return Errc::kSystem;
    c->ctl_addr_ = addr;
    c->ctl_len_ = sizeof(format::ControlBlock);
    c->ctl_ = static_cast<const format::ControlBlock*>(addr);
    c->owner_ = st.st_uid;
    if (c->ctl_->magic != format::kControlMagic) return Errc::kCorrupt;
    if (c->ctl_->format_version != format::kControlVersion ||
        c->ctl_->layout_signature != format::kControlLayoutSignature) {
      return Errc::kVersion;
    }
    if (c->ctl_->size != sizeof(format::ControlBlock)) return Errc::kCorrupt;
    // Attached: recorded in the reader registry, holding nothing yet (the
    // first read adopts a version). Never fails the attach.
    if (options.register_reader) c->registry_.claim(c->prefix_, c->ns_, c->owner_, 0, 0);
    return c;
  } catch (const std::bad_alloc&) {
    return Errc::kNoMemory;
  }
}

ClientImpl::~ClientImpl() {
  // Other threads' TLS entries name this client's id, which is never
  // reused, so they can never match again; their pins release the mappings
  // when those threads exit or evict the entry.
  for (int i = 0; i < kTlsSlots; ++i) {
    if (t_fast[i].client_id == id_) {
      t_fast[i] = TlsEntry{};
      t_pins.pin[i].reset();
    }
  }
  if (ctl_addr_ != nullptr) ::munmap(ctl_addr_, ctl_len_);
}

const Mapping* ClientImpl::current() const noexcept {
  // Pairs with the daemon's store_release of generation (publish step 5):
  // seeing generation G means the record for G is complete.
  const std::uint64_t gen = format::load_acquire(&ctl_->generation);
  for (int i = 0; i < kTlsSlots; ++i) {
    if (t_fast[i].client_id == id_) {
      if (t_fast[i].gen == gen) return t_fast[i].map;
      return refresh(gen, i);
    }
  }
  return refresh(gen, -1);
}

std::shared_ptr<const Mapping> ClientImpl::current_pinned() const noexcept {
  const Mapping* m = current();
  if (m == nullptr) return nullptr;
  for (int i = 0; i < kTlsSlots; ++i) {
    if (t_fast[i].client_id == id_ && t_pins.pin[i].get() == m) return t_pins.pin[i];
  }
  std::lock_guard lock(mu_);  // the entry was evicted by a fifth client
  return cur_;
}

const Mapping* ClientImpl::refresh(std::uint64_t gen, int tls_slot) const noexcept {
  std::lock_guard lock(mu_);
  if (!have_gen_ || cur_gen_ != gen) refresh_locked(gen);
  if (tls_slot < 0) tls_slot = static_cast<int>(t_victim++ % kTlsSlots);
  t_pins.pin[tls_slot] = cur_;
  const Mapping* m = cur_.get();
  // No mapping: a serial no Key cache can hold, so Key reads take the slow
  // path and report kNoSnapshot.
  t_fast[tls_slot] =
      TlsEntry{id_, gen, m, m ? &m->view.node(0) : nullptr, m ? m->serial : 0xFFFFFFFFu};
  return cur_.get();
}

void ClientImpl::refresh_locked(std::uint64_t gen) const noexcept {
  // Whatever happens, this generation is settled: a refused segment or a
  // stuck seqlock keeps the old snapshot until the daemon publishes again,
  // instead of retrying on every read.
  have_gen_ = true;
  cur_gen_ = gen;
  Record rec;
  if (read_record(ctl_, &rec) != Errc::kOk) {
    try {
      last_error_ = "control block update never completed (daemon died mid-publish?)";
    } catch (...) {
    }
    return;
  }
  if (rec.version == 0) {
    if (cur_) registry_.update(0, rec.generation);
    cur_.reset();
    return;
  }
  if (cur_ && cur_->segment_id == rec.segment_id) return;
  if (auto m = map_segment(rec)) {
    cur_ = std::move(m);
    // Adoption, not a read: the registry hears of each version once.
    registry_.update(rec.version, rec.generation);
  }
}

std::shared_ptr<const Mapping> ClientImpl::map_segment(const Record& rec) const noexcept {
  try {
    auto fail = [&](const std::string& why) -> std::shared_ptr<const Mapping> {
      last_error_ = "segment " + std::to_string(rec.segment_id) + " refused: " + why;
      return nullptr;
    };
    const std::string name = segment_object_name(prefix_, ns_, rec.segment_id);
    if (rec.segment_size < sizeof(format::SegmentHeader) ||
        rec.segment_size > format::kMaxSegmentSize) {
      return fail("record size out of range");
    }
    const int fd = ::shm_open(name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
    if (fd < 0) return fail(std::string("shm_open: ") + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      return fail("fstat failed");
    }
    if (!S_ISREG(st.st_mode) || st.st_uid != owner_ || writable_by_others(st.st_mode)) {
      ::close(fd);
      return fail("wrong owner or writable by others");
    }
    if (static_cast<std::uint64_t>(st.st_size) < rec.segment_size) {
      ::close(fd);
      return fail("object smaller than the record says");
    }
    void* addr = ::mmap(nullptr, rec.segment_size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
    ::close(fd);
    if (addr == MAP_FAILED) return fail(std::string("mmap: ") + std::strerror(errno));
    auto m = std::make_shared<Mapping>();
    m->addr = addr;
    m->length = rec.segment_size;
    m->segment_id = rec.segment_id;
    m->serial = g_next_serial.fetch_add(1, std::memory_order_relaxed);
    SegmentError why;
    const Errc e = SegmentView::open(addr, rec.segment_size, rec.checksum, &m->view, &why);
    if (e != Errc::kOk) return fail(why.message);
    if (m->view.version() != rec.version) return fail("version differs from the record");
    return m;
  } catch (...) {
    return nullptr;
  }
}

std::string ClientImpl::last_error() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

}  // namespace detail

// --- names -------------------------------------------------------------------

bool valid_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 64) return false;
  for (char ch : name) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
    if (!ok) return false;
  }
  return true;
}

std::string resolve_prefix(std::string_view prefix) {
  if (!prefix.empty()) return std::string(prefix);
  if (const char* env = std::getenv("SHMCONF_PREFIX"); env != nullptr && *env != '\0') return env;
  return "shmconf";
}

std::string control_object_name(std::string_view prefix, std::string_view ns) {
  std::string s = "/";
  s.append(prefix).append(".").append(ns).append(".ctl");
  return s;
}

std::string segment_object_name(std::string_view prefix, std::string_view ns,
                                std::uint64_t segment_id) {
  std::string s = "/";
  s.append(prefix).append(".").append(ns).append(".seg.").append(std::to_string(segment_id));
  return s;
}

using detail::node_bool;
using detail::node_double;
using detail::node_int;

// --- Key -------------------------------------------------------------------------

Key::Key(std::string path) : path_(std::move(path)), hash_(key_hash(path_, 0)) {}

// --- Client ------------------------------------------------------------------------

Client::Client(std::unique_ptr<detail::ClientImpl> impl) noexcept
    : impl_(std::move(impl)), ctl_(impl_->control()), id_(impl_->id()) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

Result<Client> Client::try_open(std::string_view name, const ClientOptions& options) noexcept {
  auto r = detail::ClientImpl::attach(name, options);
  if (!r) return r.error();
  return Client(std::move(*r));
}

Client Client::open(std::string_view name, const ClientOptions& options) {
  auto r = try_open(name, options);
  if (!r) {
    throw Error(r.error(), "shmconf: cannot open namespace '" + std::string(name) +
                               "': " + to_string(r.error()));
  }
  return std::move(r).value();
}

Snapshot Client::snapshot() const noexcept { return Snapshot(impl_->current_pinned()); }

std::uint64_t Client::version() const noexcept {
  const detail::Mapping* m = impl_->current();
  return m ? m->view.version() : 0;
}

std::uint64_t Client::generation() const noexcept {
  return format::load_acquire(&impl_->control()->generation);
}

Result<bool> Client::get_bool(std::string_view key) const noexcept {
  const detail::Mapping* m = impl_->current();
  if (m == nullptr) return Errc::kNoSnapshot;
  return node_bool(m->view.find(key));
}
Result<std::int64_t> Client::get_int(std::string_view key) const noexcept {
  const detail::Mapping* m = impl_->current();
  if (m == nullptr) return Errc::kNoSnapshot;
  return node_int(m->view.find(key));
}
Result<double> Client::get_double(std::string_view key) const noexcept {
  const detail::Mapping* m = impl_->current();
  if (m == nullptr) return Errc::kNoSnapshot;
  return node_double(m->view.find(key));
}

Result<bool> Client::flag(std::string_view name, std::string_view subject) const noexcept {
  const detail::Mapping* m = impl_->current();
  if (m == nullptr) return Errc::kNoSnapshot;
  auto d = evaluate_flag(m->view, name, subject);
  if (!d) return d.error();
  return d->on;
}

Key Client::key(std::string_view path) const { return Key(std::string(path)); }

Key Client::flag_key(std::string_view name) const {
  std::string path = "flags.";
  path += name;
  return Key(std::move(path));
}

namespace {

// The node for `k` in mapping `m`, using and refreshing k's cache. The cache
// word is (mapping serial << 32) | (node index + 1), or index 0 for "absent
// in this mapping". Relaxed atomics: a racing thread can only store another
// correct resolution for some mapping, and a serial mismatch re-resolves.
const format::Node* resolve(const detail::Mapping* m, const Key& k, std::uint64_t hash,
                            std::uint64_t* cache) noexcept {
  const std::uint64_t c = __atomic_load_n(cache, __ATOMIC_RELAXED);
  if ((c >> 32) == m->serial) {
    const std::uint32_t idx = static_cast<std::uint32_t>(c);
    return idx == 0 ? nullptr : &m->view.node(idx - 1);
  }
  const std::uint64_t h = m->view.seed() == 0 ? hash : key_hash(k.path(), m->view.seed());
  const format::Node* n = m->view.find(k.path(), h);
  const std::uint64_t idx = n ? std::uint64_t{m->view.index_of(*n)} + 1 : 0;
  __atomic_store_n(cache, (std::uint64_t{m->serial} << 32) | idx, __ATOMIC_RELAXED);
  return n;
}

}  // namespace

Result<bool> Client::flag(const Key& k, std::string_view subject) const noexcept {
  const detail::Mapping* m = impl_->current();
  if (m == nullptr) return Errc::kNoSnapshot;
  const format::Node* n = resolve(m, k, k.hash_, &k.cache_);
  if (n == nullptr) return Errc::kNotFound;
  // k.hash_ is key_hash("flags.NAME", 0) whatever the segment's seed: the
  // bucket's seed (shmconf/flags.hpp).
  auto d = evaluate_flag_node(m->view, *n, k.hash_, subject);
  if (!d) return d.error();
  return d->on;
}

Result<bool> Client::get_bool_slow(const Key& k) const noexcept {
  const detail::Mapping* m = impl_->current();
  if (m == nullptr) return Errc::kNoSnapshot;
  return node_bool(resolve(m, k, k.hash_, &k.cache_));
}
Result<std::int64_t> Client::get_int_slow(const Key& k) const noexcept {
  const detail::Mapping* m = impl_->current();
  if (m == nullptr) return Errc::kNoSnapshot;
  return node_int(resolve(m, k, k.hash_, &k.cache_));
}
Result<double> Client::get_double_slow(const Key& k) const noexcept {
  const detail::Mapping* m = impl_->current();
  if (m == nullptr) return Errc::kNoSnapshot;
  return node_double(resolve(m, k, k.hash_, &k.cache_));
}

Result<std::uint64_t> Client::wait_for_change(std::uint64_t known_version,
                                              std::chrono::milliseconds timeout) const noexcept {
  const auto* ctl = impl_->control();
  const bool forever = timeout.count() < 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    // Read the futex word before the record: a publish after this load
    // changes the word, so the FUTEX_WAIT below returns at once instead of
    // sleeping through it (pairs with publish step 6).
    const std::uint32_t word = format::load_acquire(&ctl->futex_word);
    detail::Record rec;
    if (detail::read_record(ctl, &rec) == Errc::kOk && rec.version != known_version) {
      return rec.version;
    }
    std::int64_t left = -1;
    if (!forever) {
      left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline -
                                                                  std::chrono::steady_clock::now())
                 .count();
      if (left <= 0) return Errc::kTimeout;
    }
    detail::futex_wait(&ctl->futex_word, word, nullptr, left);
  }
}

std::string Client::last_error() const { return impl_->last_error(); }

}  // namespace shmconf
