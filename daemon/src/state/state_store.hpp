// daemon/src/state/state_store.hpp — the namespace's state directory: the
// bytes of every retained segment and a state.json with history, the next
// version number and the override layer, each written crash-safely (write a
// temporary file, fsync, rename, fsync the directory).
//
// Layout of <state-dir>/<namespace>/:
//   state.json           see docs/OPERATIONS.md "State directory"
//   versions/<V>.seg     the exact segment bytes of retained version V
//   versions/<V>.tmpl.seg   instead of <V>.seg for a version with substituted
//                        strings: the segment built from the tree as written
//                        (references unresolved; state/templates.hpp), so
//                        no resolved secret ever reaches the disk
//   versions/<V>.tmpl.pending   empty; <V> holds substituted strings and its
//                        template is not saved yet (written before the flip)
//
// Thread-safety: one thread. Cost: a publish writes one segment file and
// state.json, each fsynced (milliseconds on some disks), after the flip and
// after the reply, so neither a reader nor the requester waits for the disk.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace shmconf::daemon {

// Writes `data` to `path` atomically and durably with the given mode.
void write_file_atomic(const std::string& path, std::string_view data, unsigned mode = 0600);
// Reads a whole file; std::nullopt when it does not exist.
std::optional<std::string> read_file(const std::string& path);

class StateStore {
 public:
  StateStore() = default;  // disabled: nothing persists
  StateStore(const std::string& state_dir, const std::string& ns);
  bool enabled() const { return !dir_.empty(); }
  const std::string& dir() const { return dir_; }

  nlohmann::json load() const;  // {} when there is none
  void save(const nlohmann::json& state) const;
  void save_segment(std::uint64_t version, std::span<const std::byte> bytes) const;
  std::optional<std::string> load_segment(std::uint64_t version) const;
  void save_template_segment(std::uint64_t version, std::span<const std::byte> bytes) const;
  std::optional<std::string> load_template_segment(std::uint64_t version) const;
  // Either form (exact or template) is on disk.
  bool has_segment(std::uint64_t version) const;
  // Removes both forms and the marker below.
  void remove_segment(std::uint64_t version) const;

  // Marks `version` as holding substituted strings until its template is
  // saved (save_template_segment() removes the mark), so a restarted daemon
  // never saves the resolved bytes of a version whose template a killed
  // daemon did not write. Cheap enough to precede the flip: an empty file,
  // not fsynced, because only a restart with /dev/shm intact (no reboot,
  // so the page cache intact too) reads it. Throws on an I/O error.
  void mark_template_pending(std::uint64_t version) const;
  bool template_pending(std::uint64_t version) const;

 private:
  std::string segment_path(std::uint64_t version) const;
  std::string template_path(std::uint64_t version) const;
  std::string pending_path(std::uint64_t version) const;
  std::string dir_;
};

}  // namespace shmconf::daemon
