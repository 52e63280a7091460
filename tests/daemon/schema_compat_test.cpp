// JSON Schema draft 7 where valijson departs from it (validate/schema_compat.hpp)
// and where it fails without a message: shmconf's check follows the draft.
// Cases written after JSON-Schema-Test-Suite's format.json, boolean_schema.json,
// maxProperties.json and propertyNames.json.
#include <gtest/gtest.h>

#include <string>

#include "parse/parse.hpp"
#include "validate/validate.hpp"

namespace shmconf::daemon {
namespace {

// The issues of `config` (JSON) against `schema`.
std::vector<ValidationIssue> check(const std::string& schema, std::string_view config) {
  const auto s = Schema::parse(schema, "s.json");
  const SourceList names{"file:c.json"};
  return s->validate(parse_text(config, Format::kJson, "c.json", 0), names);
}

TEST(SchemaCompat, Format_AppliesOnlyToStrings) {
  const std::string s = R"({"properties": {"d": {"format": "date"}, "n": {"format": "date"},
                            "o": {"format": "date-time", "allOf": [{"type": "object"}]}}})";
  EXPECT_TRUE(check(s, R"({"d": "2026-12-04", "n": 5, "o": {"x": 1}})").empty());
  const auto issues = check(s, R"({"d": "not a date"})");
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].key, "d");
  EXPECT_NE(issues[0].message.find("date"), std::string::npos) << issues[0].message;
  // The schema as written is what schema-doc and x-sensitive read.
  EXPECT_TRUE(Schema::parse(s, "s.json")->document()["properties"]["d"].contains("format"));
}

TEST(SchemaCompat, BooleanSchemas_TrueAcceptsFalseRefuses) {
  EXPECT_TRUE(check("true", R"({"a": 1})").empty());
  EXPECT_FALSE(check("false", R"({"a": 1})").empty());
  EXPECT_THROW(Schema::parse("7", "s.json"), ValidationFailure);
}

TEST(SchemaCompat, CountsWrittenAsDecimals) {
  EXPECT_TRUE(check(R"({"maxProperties": 2.0})", R"({"a": 1})").empty());
  EXPECT_FALSE(check(R"({"maxProperties": 2.0})", R"({"a": 1, "b": 2, "c": 3})").empty());
  EXPECT_FALSE(check(R"({"properties": {"s": {"minLength": 3.0}}})", R"({"s": "ab"})").empty());
  EXPECT_THROW(Schema::parse(R"({"maxProperties": 2.5})", "s.json"), ValidationFailure);
}

TEST(SchemaCompat, PropertyNames_FailureIsReportedThoughValijsonSaysNothing) {
  EXPECT_TRUE(check(R"({"propertyNames": {"maxLength": 3}})", R"({"abc": 1})").empty());
  const auto issues = check(R"({"propertyNames": {"maxLength": 3}})", R"({"abcd": 1})");
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].file, "c.json");
  EXPECT_NE(issues[0].message.find("does not match the schema"), std::string::npos);
  EXPECT_FALSE(check(R"({"propertyNames": false})", R"({"a": 1})").empty());
}

}  // namespace
}  // namespace shmconf::daemon
