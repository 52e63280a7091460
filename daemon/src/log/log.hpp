// daemon/src/log/log.hpp — structured logs for shmconfd: one record per line,
// logfmt by default (`ts=... level=info msg=reload namespace=app version=7`),
// JSON lines with --log-format json. Under systemd (stderr is the journal
// stream named by $JOURNAL_STREAM) each line starts with the journald
// priority (`<6>`, `<4>`, `<3>`, sd-daemon.h) and carries no timestamp: the
// journal adds its own.
//
// The formatter is installed on spdlog's default logger, so plain spdlog
// calls elsewhere in the daemon come out structured too (as a `msg` with no
// fields); log_event() adds typed fields. Values are quoted and escaped as
// each format needs; configuration values never go into a field (secrets
// must not reach the journal), only names, versions, hashes and reasons.
//
// A leaf every folder may use, so it lives apart from ops/ (metrics and
// health, which sit above core/); it keeps the ops:: namespace they share.
//
// Thread-safety: log_event() may be called from any thread; the fields ride
// to the formatter in a thread_local, so the logger must be synchronous (the
// default stderr logger is). Cost: one line formatted per call.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace shmconf::daemon::ops {

enum class LogFormat { kLogfmt, kJson };

// "logfmt" or "json"; throws std::invalid_argument otherwise.
LogFormat parse_log_format(std::string_view s);

// One field value: text, an integer, a number or a flag.
class LogValue {
 public:
  using Storage = std::variant<std::string, std::int64_t, std::uint64_t, double, bool>;
  LogValue(const char* s) : v_(std::string(s)) {}  // NOLINT: implicit on purpose
  LogValue(std::string_view s) : v_(std::string(s)) {}
  LogValue(const std::string& s) : v_(s) {}
  LogValue(std::string&& s) : v_(std::move(s)) {}
  LogValue(bool b) : v_(b) {}
  LogValue(double d) : v_(d) {}
  template <std::signed_integral T>
  LogValue(T i) : v_(static_cast<std::int64_t>(i)) {}
  template <std::unsigned_integral T>
  requires(!std::same_as<T, bool>) LogValue(T u) : v_(static_cast<std::uint64_t>(u)) {}
  const Storage& get() const { return v_; }

 private:
  Storage v_;
};

using LogField = std::pair<std::string_view, LogValue>;
using LogFields = std::initializer_list<LogField>;

// Logs `msg` (a short event name such as "reload" or free text) with fields.
void log_event(spdlog::level::level_enum level, std::string_view msg, LogFields fields = {});
inline void log_info(std::string_view msg, LogFields fields = {}) {
  log_event(spdlog::level::info, msg, fields);
}
inline void log_warn(std::string_view msg, LogFields fields = {}) {
  log_event(spdlog::level::warn, msg, fields);
}
inline void log_error(std::string_view msg, LogFields fields = {}) {
  log_event(spdlog::level::err, msg, fields);
}

// True when stderr is the journal stream $JOURNAL_STREAM names (dev:inode).
bool stderr_is_journal();

// Makes spdlog's default logger a synchronous stderr logger with the
// structured formatter.
void init_logging(LogFormat format, bool journald, spdlog::level::level_enum level);

// One record as it is written, without the trailing newline: for the
// formatter and for tests.
std::string format_record(LogFormat format, bool journald, spdlog::level::level_enum level,
                          std::chrono::system_clock::time_point ts, std::string_view msg,
                          const LogField* fields, std::size_t n_fields);

// A logfmt value: bare when it is a non-empty run of printable characters
// other than space, '"' and '='; otherwise double-quoted with \" \\ \n \r \t
// and \u00XX escapes.
std::string logfmt_value(std::string_view s);
// A JSON string literal, quotes included (control characters and invalid
// UTF-8 escaped or replaced, so one record stays one line).
std::string json_string(std::string_view s);

}  // namespace shmconf::daemon::ops
