// tests/daemon/parse_test_util.hpp — what the parser tests share: one-line
// parses per format, the error text of a failing call, and assertions.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <string_view>

#include "parse/parse.hpp"

namespace shmconf::daemon::parse_test {

inline std::string data_path(const std::string& rel) {
  std::string path = SHMCONF_TEST_DATA;
  path += '/';
  path += rel;
  return path;
}

inline Value json(std::string_view text, const Limits& limits = {}) {
  return parse_text(text, Format::kJson, "t.json", 7, limits);
}
inline Value yaml(std::string_view text, const Limits& limits = {}) {
  return parse_text(text, Format::kYaml, "t.yaml", 7, limits);
}
inline Value toml(std::string_view text, const Limits& limits = {}) {
  return parse_text(text, Format::kToml, "t.toml", 7, limits);
}

// The ConfigError's what(), or a marker when nothing (or something else) was thrown.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  } catch (const std::exception& e) {
    std::string m = "<not a ConfigError: ";
    m += e.what();
    m += '>';
    return m;
  }
  return "<no error>";
}

inline testing::AssertionResult starts_with(const std::string& s, const std::string& prefix) {
  if (s.rfind(prefix, 0) == 0) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "\"" << s << "\" does not start with \"" << prefix << "\"";
}

inline testing::AssertionResult contains(const std::string& s, const std::string& part) {
  if (s.find(part) != std::string::npos) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "\"" << s << "\" does not contain \"" << part << "\"";
}

inline const Value& at(const Value& v, std::string_view key) {
  const auto it = v.fields.find(key);
  if (it == v.fields.end()) {
    std::string m = "no key ";
    m += key;
    throw std::out_of_range(m);
  }
  return it->second;
}

}  // namespace shmconf::daemon::parse_test
