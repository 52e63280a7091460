#include "publish/publisher.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <system_error>

#include "shmconf/client.hpp"

namespace shmconf::daemon {
namespace {

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

}  // namespace

Publisher::Publisher(std::string prefix, std::string ns, ShmAccess access)
    : prefix_(std::move(prefix)), ns_(std::move(ns)), access_(access) {
  if (!valid_name(prefix_) || !valid_name(ns_)) {
    throw std::invalid_argument("namespace and prefix must be 1-64 characters of [A-Za-z0-9_-]");
  }
  const std::string name = control_object_name(prefix_, ns_);
  if (auto m = shm_open_ours(name, true, format::kControlObjectSize)) {
    auto* c = static_cast<format::ControlBlock*>(m->data());
    if (c->magic != format::kControlMagic || c->format_version != format::kControlVersion ||
        c->layout_signature != format::kControlLayoutSignature || c->size != sizeof(*c)) {
      throw AlarmError("/dev/shm" + name +
                       " is ours but not a control block of this format version; remove it "
                       "(clients must restart) or run the matching shmconfd");
    }
    ctl_map_ = std::move(*m);
    ctl_ = c;
    adopted_ = true;
    lock_namespace();
    return;
  }
  ctl_map_ = shm_create(name, format::kControlObjectSize, access_);
  ctl_ = static_cast<format::ControlBlock*>(ctl_map_.data());
  // Fields first, magic last: a client that attaches in between sees a bad
  // magic and is told to retry, never a half-written header.
  ctl_->format_version = format::kControlVersion;
  ctl_->layout_signature = format::kControlLayoutSignature;
  ctl_->size = sizeof(format::ControlBlock);
  ctl_->next_segment_id = 1;
  ctl_->created_time_ns = now_ns();
  std::atomic_thread_fence(std::memory_order_release);
  __atomic_store_n(&ctl_->magic, format::kControlMagic, __ATOMIC_RELEASE);
  lock_namespace();
}

Publisher::~Publisher() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

void Publisher::lock_namespace() {
  // An advisory lock on the control object itself: it lives exactly as long
  // as the name, needs no state directory, and the kernel drops it when a
  // daemon dies, so a restart never finds a stale lock.
  const std::string name = control_object_name(prefix_, ns_);
  lock_fd_ = ::shm_open(name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
  if (lock_fd_ < 0)
    throw std::system_error(errno, std::generic_category(), "shm_open(" + name + ")");
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    throw AlarmError("another shmconfd already serves namespace '" + ns_ + "' (prefix '" + prefix_ +
                     "')");
  }
}

detail::Record Publisher::live() const {
  detail::Record r;
  if (detail::read_record(ctl_, &r) != Errc::kOk) {
    // A daemon died between steps 2 and 4: the record may be torn. Nothing
    // is trusted; the next flip rewrites it whole.
    return detail::Record{};
  }
  return r;
}

std::uint64_t Publisher::generation() const { return format::load_acquire(&ctl_->generation); }

std::uint64_t Publisher::allocate_id() {
  const std::uint64_t id = ctl_->next_segment_id == 0 ? 1 : ctl_->next_segment_id;
  ctl_->next_segment_id = id + 1;
  return id;
}

std::shared_ptr<Segment> Publisher::create(const SnapshotBuilder& builder) {
  if (spare_ && spare_->capacity() >= builder.size()) return create_in_spare(builder);
  // Too small: give its pages back before allocating (a nearly full
  // /dev/shm may have room for one but not both).
  spare_.reset();
  for (int attempt = 0;; ++attempt) {
    const std::uint64_t id = allocate_id();
    const std::string name = segment_object_name(prefix_, ns_, id);
    try {
      ShmMapping rw = shm_create(name, builder.size(), access_);
      builder.write({static_cast<std::byte*>(rw.data()), builder.size()}, /*zeroed=*/true);
    } catch (const std::system_error& e) {
      // An id left behind by a crashed daemon: take the next one.
      if (e.code() == std::errc::file_exists && attempt < 64) continue;
      throw;
    }
    return finish(id, builder.size());
  }
}

std::shared_ptr<Segment> Publisher::create_in_spare(const SnapshotBuilder& builder) {
  ShmUnnamed obj = std::move(*spare_);
  spare_.reset();
  // Written while nameless: no client can open it half-built.
  builder.write({static_cast<std::byte*>(obj.data()), builder.size()}, /*zeroed=*/true);
  for (int attempt = 0;; ++attempt) {
    const std::uint64_t id = allocate_id();
    try {
      shm_link(obj, segment_object_name(prefix_, ns_, id), builder.size());
    } catch (const std::system_error& e) {
      if (e.code() == std::errc::file_exists && attempt < 64) continue;
      throw;
    }
    return finish(id, builder.size());
  }
}

void Publisher::prepare_spare(std::size_t live_size) noexcept {
  constexpr std::size_t kMin = std::size_t{1} << 20;
  constexpr std::size_t kHuge = std::size_t{2} << 20;
  if (live_size < kMin) {
    spare_.reset();
    return;
  }
  const std::size_t want = (live_size + live_size / 4 + kHuge - 1) / kHuge * kHuge;
  // One that fits and is not more than twice what is needed stays.
  if (spare_ && spare_->capacity() >= want && spare_->capacity() <= 2 * want) return;
  spare_.reset();
  try {
    spare_ = shm_create_unnamed(want, access_);
  } catch (const std::exception&) {
    // /dev/shm full or no O_TMPFILE: the next create() allocates its own.
    spare_.reset();
  }
}

std::shared_ptr<Segment> Publisher::create(std::span<const std::byte> bytes) {
  for (int attempt = 0;; ++attempt) {
    const std::uint64_t id = allocate_id();
    const std::string name = segment_object_name(prefix_, ns_, id);
    try {
      ShmMapping rw = shm_create(name, bytes.size(), access_);
      std::memcpy(rw.data(), bytes.data(), bytes.size());
    } catch (const std::system_error& e) {
      if (e.code() == std::errc::file_exists && attempt < 64) continue;
      throw;
    }
    return finish(id, bytes.size());
  }
}

std::shared_ptr<Segment> Publisher::finish(std::uint64_t id, std::size_t size) {
  // Step 1's self-check: read the segment back through a fresh read-only
  // mapping and the client's validator, as a client would.
  std::string why;
  auto seg = adopt(id, &why);
  if (!seg || seg->size() != size) {
    unlink(id);
    throw std::runtime_error("self-check of the new segment failed: " + why);
  }
  return seg;
}

std::shared_ptr<Segment> Publisher::adopt(std::uint64_t segment_id, std::string* why) {
  const std::string name = segment_object_name(prefix_, ns_, segment_id);
  auto m = shm_open_ours(name, false);
  if (!m) {
    if (why) *why = "no such segment";
    return nullptr;
  }
  auto seg = std::make_shared<Segment>();
  seg->id = segment_id;
  seg->map = std::move(*m);
  SegmentError err;
  if (SegmentView::open(seg->map.data(), seg->map.size(), 0, &seg->view, &err) != Errc::kOk) {
    if (why) *why = err.message;
    return nullptr;
  }
  return seg;
}

std::uint64_t Publisher::flip(const Segment& seg) {
  const auto& h = seg.view.header();
  const std::uint64_t gen = ctl_->generation + 1;
  // Before the record changes: a daemon killed anywhere in the flip leaves a
  // max_version that covers every version a reader can have seen.
  if (h.version > ctl_->max_version) ctl_->max_version = h.version;
  // Step 2. If a previous daemon died mid-update the sequence is already
  // odd: keep it odd, finish the update, and readers recover at step 4.
  const std::uint64_t s = ctl_->seq;
  const std::uint64_t odd = (s & 1u) ? s : s + 1;
  format::store_relaxed(&ctl_->seq, odd);
  // Pairs with the reader's acquire fence before its second seq load.
  std::atomic_thread_fence(std::memory_order_release);
  // Step 3.
  format::store_relaxed(&ctl_->rec_generation, gen);
  format::store_relaxed(&ctl_->rec_version, h.version);
  format::store_relaxed(&ctl_->rec_segment_id, seg.id);
  format::store_relaxed(&ctl_->rec_segment_size, h.segment_size);
  format::store_relaxed(&ctl_->rec_checksum, h.checksum);
  format::store_relaxed(&ctl_->rec_content_hash, h.content_hash);
  format::store_relaxed(&ctl_->rec_publish_time_ns, h.publish_time_ns);
  // Step 4: pairs with the reader's load_acquire of seq.
  format::store_release(&ctl_->seq, odd + 1);
  // Step 5: pairs with the fast path's load_acquire of generation.
  format::store_release(&ctl_->generation, gen);
  ctl_->daemon_pid = static_cast<std::uint64_t>(::getpid());
  // Step 6: the word changes before the wake, so a waiter that read the old
  // word and has not slept yet returns from FUTEX_WAIT at once. Shared
  // futex (no FUTEX_PRIVATE_FLAG): the waiters are other processes.
  __atomic_fetch_add(&ctl_->futex_word, 1u, __ATOMIC_RELEASE);
  ::syscall(SYS_futex, &ctl_->futex_word, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
  return gen;
}

void Publisher::unlink(std::uint64_t segment_id) {
  shm_remove(segment_object_name(prefix_, ns_, segment_id));
}

std::vector<std::uint64_t> Publisher::list_segments() const {
  const std::string stem = segment_object_name(prefix_, ns_, 0);
  const std::string base = stem.substr(1, stem.size() - 2);  // drop '/' and the "0"
  std::vector<std::uint64_t> ids;
  for (const std::string& n : shm_list(base)) {
    const std::string digits = n.substr(base.size());
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    ids.push_back(std::stoull(digits));
  }
  return ids;
}

}  // namespace shmconf::daemon
