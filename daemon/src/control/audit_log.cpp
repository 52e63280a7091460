// daemon/src/control/audit_log.cpp — the audit log (see audit_log.hpp).
#include "control/audit_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <stdexcept>

#include "control/socket_util.hpp"

namespace shmconf::daemon {

using control_detail::throw_errno;

namespace {

std::string rfc3339_utc_now() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm utc{};
  gmtime_r(&ts.tv_sec, &utc);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(ts.tv_nsec / 1000000));
  return text;
}

int open_log(const std::string& path) {
  // O_APPEND: every write lands at the end even if logrotate truncated the
  // file or another process appends too. 0640: the log names users and keys.
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) throw_errno("cannot open audit log " + path);
  return fd;
}

}  // namespace

AuditLog::AuditLog(std::string path) : path_(std::move(path)) {
  if (!path_.empty()) fd_ = open_log(path_);
}

AuditLog::~AuditLog() {
  if (fd_ >= 0) close(fd_);
}

void AuditLog::reopen() {
  if (path_.empty()) return;
  int fresh = open_log(path_);
  if (fd_ >= 0) close(fd_);
  fd_ = fresh;
}

void AuditLog::append(const nlohmann::json& record) {
  if (fd_ < 0) return;
  if (!record.is_object()) throw std::invalid_argument("audit record must be a JSON object");

  // "time" first, so `tail` of the log reads naturally; the rest in the
  // record's (sorted) order.
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  auto time = record.find("time");
  out["time"] = time != record.end() ? nlohmann::ordered_json(*time)
                                     : nlohmann::ordered_json(rfc3339_utc_now());
  for (const auto& item : record.items()) {
    if (item.key() != "time") out[item.key()] = nlohmann::ordered_json(item.value());
  }
  // dump() escapes control characters, so a value holding '\n' stays on
  // this one line.
  const std::string line =
      out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + '\n';

  // One write() for the whole line: with O_APPEND it cannot interleave with
  // another writer's. A short write means the disk is full or failing.
  std::size_t done = 0;
  while (done < line.size()) {
    ssize_t n = write(fd_, line.data() + done, line.size() - done);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    const int err = n == 0 ? ENOSPC : errno;
    // End the torn line, so the next record still parses on a line of its own.
    if (done > 0) (void)!write(fd_, "\n", 1);
    throw_errno("cannot write audit log " + path_, err);
  }
  if (fdatasync(fd_) != 0) throw_errno("cannot sync audit log " + path_);
}

}  // namespace shmconf::daemon
