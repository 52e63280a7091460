// daemon/src/publish/publisher.hpp — segments and the control block of one
// namespace: create a segment, check it through the client's reader, flip
// the control block's record under its seqlock, wake waiters.
//
// The publish protocol, numbered as in FORMAT.md "Publish protocol":
//   1. build the segment in a new O_EXCL object (or in the nameless spare,
//      then linked under its name); map it again read-only and
//      validate it with SegmentView::open (the client's own checks);
//   2. seq <- odd (relaxed), release fence;
//   3. record fields (relaxed stores);
//   4. seq <- even (release);
//   5. generation <- generation + 1 (release): the readers' fast path;
//   6. futex_word += 1 (release), FUTEX_WAKE (shared) all waiters.
//
// Thread-safety: one thread (the daemon's loop). The control block has a
// single writer by construction: a second daemon on the same namespace is
// refused by a lock on the state (see NamespaceService).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "publish/builder.hpp"
#include "publish/shm.hpp"
#include "shmconf/detail/control.hpp"

namespace shmconf::daemon {

// A published (or publishable) segment, mapped read-only by the daemon.
struct Segment {
  std::uint64_t id = 0;
  ShmMapping map;
  SegmentView view;
  std::uint64_t version() const { return view.version(); }
  std::uint64_t size() const { return view.header().segment_size; }
};

class Publisher {
 public:
  Publisher(std::string prefix, std::string ns, ShmAccess access);
  ~Publisher();
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // True when the control block existed and was adopted.
  bool adopted() const { return adopted_; }
  detail::Record live() const;
  // The highest version ever made live through this control block.
  std::uint64_t max_version() const { return ctl_->max_version; }
  std::uint64_t generation() const;
  const std::string& prefix() const { return prefix_; }
  const std::string& ns() const { return ns_; }

  // Step 1, from a builder or from saved bytes. Throws on failure (the
  // object is removed again); nothing is visible to clients yet. From a
  // builder, into the spare object when it is big enough.
  std::shared_ptr<Segment> create(const SnapshotBuilder& builder);
  std::shared_ptr<Segment> create(std::span<const std::byte> bytes);
  // Maps an existing segment of ours read-only and validates it; nullptr
  // when it is gone or invalid (`why` says which).
  std::shared_ptr<Segment> adopt(std::uint64_t segment_id, std::string* why = nullptr);
  // After the reply, off the path to the next flip: an unnamed object with
  // room for a segment of `live_size` bytes and a quarter more, every page
  // allocated (shm_create_unnamed), for the next create(builder) to fill
  // and name. Allocating and zeroing the pages of a 20 MB segment takes
  // about 20 ms; this moves that cost out of the reload. Segments under
  // 1 MiB need no spare (theirs costs well under a millisecond). Keeps a
  // spare that fits; never throws (without one, create() allocates).
  void prepare_spare(std::size_t live_size) noexcept;
  bool has_spare() const { return spare_.has_value(); }

  // Steps 2-6: make `seg` the live snapshot. Returns the new generation.
  std::uint64_t flip(const Segment& seg);
  // Removes a segment's name; readers that map it keep it alive.
  void unlink(std::uint64_t segment_id);
  // Ids of every segment object of this namespace found in /dev/shm.
  std::vector<std::uint64_t> list_segments() const;

 private:
  std::shared_ptr<Segment> finish(std::uint64_t id, std::size_t size);
  std::shared_ptr<Segment> create_in_spare(const SnapshotBuilder& builder);
  std::optional<ShmUnnamed> spare_;
  std::uint64_t allocate_id();

  std::string prefix_;
  std::string ns_;
  ShmAccess access_;
  void lock_namespace();

  ShmMapping ctl_map_;
  int lock_fd_ = -1;  // flock()ed for the daemon's lifetime: one writer per namespace
  format::ControlBlock* ctl_ = nullptr;
  bool adopted_ = false;
};

}  // namespace shmconf::daemon
