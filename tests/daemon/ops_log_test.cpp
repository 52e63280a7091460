// The structured log formatter: logfmt quoting, JSON escaping and the
// journald priority prefix.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "log/log.hpp"

namespace shmconf::daemon::ops {
namespace {

std::string record(LogFormat f, bool journald, spdlog::level::level_enum level,
                   std::string_view msg, LogFields fields) {
  const auto ts = std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000123));
  return format_record(f, journald, level, ts, msg, fields.begin(), fields.size());
}

TEST(LogFormat, Logfmt_PlainValues_Bare) {
  EXPECT_EQ(record(LogFormat::kLogfmt, false, spdlog::level::info, "reload",
                   {{"namespace", "app"}, {"version", 7u}, {"published", true}, {"ms", 1.5}}),
            "ts=2023-11-14T22:13:20.123Z level=info msg=reload namespace=app version=7 "
            "published=true ms=1.5");
}

TEST(LogFormat, Logfmt_SpacesQuotesEquals_QuotedAndEscaped) {
  EXPECT_EQ(logfmt_value("a b"), "\"a b\"");
  EXPECT_EQ(logfmt_value("k=v"), "\"k=v\"");
  EXPECT_EQ(logfmt_value("say \"hi\"\\"), "\"say \\\"hi\\\"\\\\\"");
  EXPECT_EQ(logfmt_value("two\nlines\t\x01"), "\"two\\nlines\\t\\u0001\"");
  EXPECT_EQ(logfmt_value(""), "\"\"");
  EXPECT_EQ(logfmt_value("/etc/app.yaml:3:7"), "/etc/app.yaml:3:7");
}

TEST(LogFormat, Json_Record_ParsesWithTypedFields) {
  const std::string line = record(LogFormat::kJson, false, spdlog::level::err, "reload rejected",
                                  {{"error", "bad \"x\"\n\x02"}, {"version", 3}, {"ok", false}});
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["level"], "error");
  EXPECT_EQ(j["msg"], "reload rejected");
  EXPECT_EQ(j["error"], "bad \"x\"\n\x02");
  EXPECT_EQ(j["version"], 3);
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["ts"], "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(LogFormat, Json_InvalidUtf8_StillOneValidLine) {
  const std::string line =
      record(LogFormat::kJson, false, spdlog::level::info, "x", {{"path", "\xff\xfe"}});
  EXPECT_TRUE(nlohmann::json::accept(line));
}

TEST(LogFormat, Journald_PriorityPrefix_NoTimestamp) {
  EXPECT_EQ(record(LogFormat::kLogfmt, true, spdlog::level::info, "ready", {}),
            "<6>level=info msg=ready");
  EXPECT_EQ(record(LogFormat::kLogfmt, true, spdlog::level::warn, "w", {}).substr(0, 3), "<4>");
  EXPECT_EQ(record(LogFormat::kLogfmt, true, spdlog::level::err, "e", {}).substr(0, 3), "<3>");
  const std::string j = record(LogFormat::kJson, true, spdlog::level::err, "e", {});
  ASSERT_EQ(j.substr(0, 3), "<3>");
  EXPECT_FALSE(nlohmann::json::parse(j.substr(3)).contains("ts"));
}

TEST(LogFormat, ParseFlag_UnknownFormat_Throws) {
  EXPECT_EQ(parse_log_format("json"), LogFormat::kJson);
  EXPECT_EQ(parse_log_format("logfmt"), LogFormat::kLogfmt);
  EXPECT_THROW(parse_log_format("text"), std::invalid_argument);
}

}  // namespace
}  // namespace shmconf::daemon::ops
