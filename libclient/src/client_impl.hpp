// Private to libshmconf: the attached state behind a Client.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "registry_slot.hpp"
#include "shmconf/client.hpp"
#include "shmconf/detail/control.hpp"
#include "shmconf/format.hpp"
#include "shmconf/segment.hpp"

namespace shmconf::detail {

// One mapped, validated segment. Unmapped when the last pin goes.
struct Mapping {
  Mapping() = default;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping();

  void* addr = nullptr;
  std::size_t length = 0;
  std::uint64_t segment_id = 0;
  std::uint32_t serial = 0;  // process-unique; keys cache slots per serial
  SegmentView view;
};

class ClientImpl {
 public:
  static Result<std::unique_ptr<ClientImpl>> attach(std::string_view ns,
                                                    const ClientOptions& options) noexcept;
  ~ClientImpl();

  // Fast path: the mapping for the control block's current generation, as
  // seen by this thread; nullptr when nothing is published.
  const Mapping* current() const noexcept;
  // The same, pinned.
  std::shared_ptr<const Mapping> current_pinned() const noexcept;

  const format::ControlBlock* control() const noexcept { return ctl_; }
  std::uint64_t id() const noexcept { return id_; }
  std::string last_error() const;
  const std::string& ns() const noexcept { return ns_; }
  const std::string& prefix() const noexcept { return prefix_; }

 private:
  ClientImpl() = default;
  const Mapping* refresh(std::uint64_t gen, int tls_slot) const noexcept;
  void refresh_locked(std::uint64_t gen) const noexcept;
  std::shared_ptr<const Mapping> map_segment(const Record& rec) const noexcept;

  std::uint64_t id_ = 0;  // process-unique, never reused
  std::string ns_;
  std::string prefix_;
  const format::ControlBlock* ctl_ = nullptr;
  void* ctl_addr_ = nullptr;
  std::size_t ctl_len_ = 0;
  uid_t owner_ = 0;

  mutable std::mutex mu_;
  // Guarded by mu_: the generation last refreshed for, and what it maps to.
  mutable bool have_gen_ = false;
  mutable std::uint64_t cur_gen_ = 0;
  mutable std::shared_ptr<const Mapping> cur_;
  mutable std::string last_error_;
  // This client's slot in the reader registry; updated under mu_ when a new
  // segment is adopted (refresh_locked), never on the fast path.
  mutable RegistrySlot registry_;
};

}  // namespace shmconf::detail
