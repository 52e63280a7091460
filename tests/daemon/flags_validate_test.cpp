// tests/daemon/flags_validate_test.cpp — the declared shape of feature flags
// (validate/flags.cpp): well-formed flags pass; each malformed one is an
// issue of kind "flags" at the value at fault, with its file:line:col.
#include <gtest/gtest.h>

#include <string>

#include "parse/parse.hpp"
#include "validate/validate.hpp"

namespace shmconf::daemon {
namespace {

std::vector<ValidationIssue> check(const std::string& yaml) {
  const SourceList names = {"file:/etc/app/flags.yaml"};
  return check_flags(parse_text(yaml, Format::kYaml, "/etc/app/flags.yaml", 0), names);
}

TEST(FlagsValidate, WellFormedFlags_NoIssues) {
  EXPECT_TRUE(check("flags:\n"
                    "  a: {enabled: true}\n"
                    "  b: {enabled: false, percent: 12.5, allow: [x, y], deny: []}\n"
                    "  c: {enabled: true, percent: 100}\n")
                  .empty());
  EXPECT_TRUE(check("other: 1\n").empty());  // no flags at all
}

TEST(FlagsValidate, PercentOutOfRange_PositionedOnTheValue) {
  const auto issues = check("flags:\n  beta:\n    enabled: true\n    percent: 150\n");
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].kind, "flags");
  EXPECT_EQ(issues[0].text(),
            "/etc/app/flags.yaml:4:14: flags.beta.percent: percent must be from 0 to 100");
}

TEST(FlagsValidate, EachMalformedPart_OneIssue) {
  const auto issues = check(
      "flags:\n"
      "  nobool: {enabled: yes please}\n"
      "  noenabled: {percent: 5}\n"
      "  typo: {enabled: true, precent: 5}\n"
      "  badlist: {enabled: true, allow: alice}\n"
      "  baditem: {enabled: true, deny: [1]}\n"
      "  pct: {enabled: true, percent: half}\n"
      "  scalar: 3\n");
  std::vector<std::string> keys;
  for (const auto& i : issues) keys.push_back(i.key);
  // In flag-name order (members are sorted bytewise).
  EXPECT_EQ(keys,
            (std::vector<std::string>{"flags.baditem.deny[0]", "flags.badlist.allow",
                                      "flags.nobool.enabled", "flags.noenabled",
                                      "flags.pct.percent", "flags.scalar", "flags.typo.precent"}));
  for (const auto& i : issues) EXPECT_EQ(i.file, "/etc/app/flags.yaml") << i.text();
}

TEST(FlagsValidate, NameLongerThan128Bytes_Refused) {
  const auto issues = check("flags:\n  " + std::string(129, 'n') + ": {enabled: true}\n  " +
                            std::string(128, 'o') + ": {enabled: true}\n");
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].key, "flags." + std::string(129, 'n'));
  EXPECT_EQ(issues[0].message, "a flag name is at most 128 bytes");
}

TEST(FlagsValidate, FlagsNotAMapping_Refused) {
  const auto issues = check("flags: [a, b]\n");
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].key, "flags");
}

}  // namespace
}  // namespace shmconf::daemon
