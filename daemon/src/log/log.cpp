#include "log/log.hpp"

#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace shmconf::daemon::ops {
namespace {

// The fields of the record being logged on this thread; set by log_event()
// around the synchronous spdlog call, nullptr for plain spdlog calls.
struct PendingFields {
  const LogField* data = nullptr;
  std::size_t size = 0;
};
thread_local PendingFields t_fields;

const char* level_name(spdlog::level::level_enum l) {
  switch (l) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "info";
  }
}

const char* journal_priority(spdlog::level::level_enum l) {
  switch (l) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return SD_DEBUG;
    case spdlog::level::warn:
      return SD_WARNING;
    case spdlog::level::err:
      return SD_ERR;
    case spdlog::level::critical:
      return SD_CRIT;
    default:
      return SD_INFO;
  }
}

std::string iso8601(std::chrono::system_clock::time_point ts) {
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(ts.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[48];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>((us / 1000) % 1000));
  return buf;
}

std::string number_text(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "+Inf" : "-Inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", d);
  return buf;
}

// The value as logfmt text (already quoted when it needs it).
std::string logfmt_of(const LogValue& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return logfmt_value(x);
        } else if constexpr (std::is_same_v<T, bool>) {
          return x ? "true" : "false";
        } else if constexpr (std::is_same_v<T, double>) {
          return number_text(x);
        } else {
          return std::to_string(x);
        }
      },
      v.get());
}

std::string json_of(const LogValue& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return json_string(x);
        } else if constexpr (std::is_same_v<T, bool>) {
          return x ? "true" : "false";
        } else if constexpr (std::is_same_v<T, double>) {
          // JSON has no NaN or infinity: those become strings.
          return std::isfinite(x) ? number_text(x) : json_string(number_text(x));
        } else {
          return std::to_string(x);
        }
      },
      v.get());
}

class StructuredFormatter final : public spdlog::formatter {
 public:
  StructuredFormatter(LogFormat format, bool journald) : format_(format), journald_(journald) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string line = format_record(format_, journald_, msg.level, msg.time,
                                           std::string_view(msg.payload.data(), msg.payload.size()),
                                           t_fields.data, t_fields.size);
    dest.append(line.data(), line.data() + line.size());
    dest.push_back('\n');
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<StructuredFormatter>(format_, journald_);
  }

 private:
  LogFormat format_;
  bool journald_;
};

}  // namespace

LogFormat parse_log_format(std::string_view s) {
  if (s == "logfmt") return LogFormat::kLogfmt;
  if (s == "json") return LogFormat::kJson;
  throw std::invalid_argument("--log-format must be logfmt or json, not '" + std::string(s) + "'");
}

std::string logfmt_value(std::string_view s) {
  bool bare = !s.empty();
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '"' || c == '=' || c == '\\') {
      bare = false;
      break;
    }
  }
  if (bare) return std::string(s);
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (u < 0x20 || u == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", u);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string json_string(std::string_view s) {
  return nlohmann::json(std::string(s))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string format_record(LogFormat format, bool journald, spdlog::level::level_enum level,
                          std::chrono::system_clock::time_point ts, std::string_view msg,
                          const LogField* fields, std::size_t n_fields) {
  std::string out;
  if (journald) out += journal_priority(level);
  if (format == LogFormat::kLogfmt) {
    if (!journald) out += "ts=" + iso8601(ts) + " ";
    out += "level=";
    out += level_name(level);
    out += " msg=" + logfmt_value(msg);
    for (std::size_t i = 0; i < n_fields; ++i) {
      out += ' ';
      out += fields[i].first;
      out += '=';
      out += logfmt_of(fields[i].second);
    }
  } else {
    out += '{';
    if (!journald) out += "\"ts\":\"" + iso8601(ts) + "\",";
    out += "\"level\":\"";
    out += level_name(level);
    out += "\",\"msg\":" + json_string(msg);
    for (std::size_t i = 0; i < n_fields; ++i) {
      out += ',' + json_string(fields[i].first) + ':' + json_of(fields[i].second);
    }
    out += '}';
  }
  return out;
}

void log_event(spdlog::level::level_enum level, std::string_view msg, LogFields fields) {
  auto logger = spdlog::default_logger_raw();
  if (logger == nullptr || !logger->should_log(level)) return;
  const PendingFields saved = t_fields;
  t_fields = {fields.begin(), fields.size()};
  logger->log(level, "{}", msg);
  t_fields = saved;
}

bool stderr_is_journal() {
  const char* js = std::getenv("JOURNAL_STREAM");
  if (js == nullptr || *js == '\0') return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (::fstat(2, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev &&
         static_cast<unsigned long long>(st.st_ino) == ino;
}

void init_logging(LogFormat format, bool journald, spdlog::level::level_enum level) {
  auto logger = spdlog::get("shmconfd");
  // _mt: etcd watcher threads (sources/etcd/watcher.cpp) log beside the loop.
  if (!logger) logger = spdlog::stderr_logger_mt("shmconfd");
  logger->set_formatter(std::make_unique<StructuredFormatter>(format, journald));
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  spdlog::set_level(level);
}

}  // namespace shmconf::daemon::ops
