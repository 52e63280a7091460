// daemon/src/control/audit_log.hpp — the append-only audit log of mutating
// commands: one JSON object per line (who, when, what, versions, changed
// keys). Redacting secrets is the caller's job: this file writes what it is
// given.
//
// Durability: each record is one write() to an O_APPEND file followed by
// fdatasync(), so a record survives a crash once append() returns, and
// records from several writers never interleave within a line. shmconfd
// appends a command's record after its reply and after the state directory
// holds the change (docs/PROTOCOL.md "Audit log").
//
// Thread-safety: none; shmconfd's loop thread only. Cost: one write and one
// fdatasync per record — milliseconds on a disk, fine for operator actions,
// not for anything on a hot path (nor before a reply).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace shmconf::daemon {

class AuditLog {
 public:
  // Opens (creating, mode 0640) `path` for appending. An empty path disables
  // the log: append() then does nothing. Throws std::runtime_error naming
  // the path if it cannot be opened.
  explicit AuditLog(std::string path);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  bool enabled() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }

  // Writes `record` as one line, adding "time" (RFC 3339 UTC with
  // milliseconds, "2025-01-31T12:34:56.789Z") unless present, then
  // fdatasync(). Throws std::runtime_error on an I/O error: the caller should
  // log and count it; the command it records has already happened.
  void append(const nlohmann::json& record);

  // Closes and reopens the path: for rotation by rename (logrotate without
  // copytruncate). Throws like the constructor; the old file stays in use
  // if the new one cannot be opened.
  void reopen();

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace shmconf::daemon
