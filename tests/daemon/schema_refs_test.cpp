// Schema::parse() on schemas valijson alone cannot take: "$ref" chains that
// loop (valijson recurses until the stack overflows) and numbers no double
// holds, and values valijson throws on. All found by tests/fuzz/schema_fuzz.cpp.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "parse/parse.hpp"
#include "validate/validate.hpp"

namespace shmconf::daemon {
namespace {

std::string refusal(const std::string& schema) {
  try {
    Schema::parse(schema, "s.json");
  } catch (const ValidationFailure& e) {
    EXPECT_EQ(e.kind(), "schema");
    return e.what();
  }
  return "accepted";
}

TEST(SchemaRefs, RefToItself_IsRefusedNamingThePointer) {
  EXPECT_NE(refusal(R"({"$ref": "#"})").find("\"$ref\" chain loops"), std::string::npos);
  EXPECT_NE(refusal(R"({"$ref": "object"})").find("at #"), std::string::npos);
}

TEST(SchemaRefs, TwoRefsPointingAtEachOther_AreRefused) {
  const std::string msg = refusal(R"({"definitions": {"a": {"$ref": "#/definitions/b"},
                                                      "b": {"$ref": "#/definitions/a/"}},
                                      "properties": {"x": {"$ref": "#/definitions/a"}}})");
  EXPECT_NE(msg.find("\"$ref\" chain loops"), std::string::npos) << msg;
}

TEST(SchemaRefs, RecursiveSchemaThroughProperties_StillValidates) {
  const auto schema = Schema::parse(R"({"type": "object", "properties": {
      "child": {"$ref": "#"}, "n": {"type": "integer"}}})",
                                    "s.json");
  const Value ok = parse_text(R"({"n": 1, "child": {"n": 2, "child": {}}})", Format::kJson, "c", 0);
  const Value bad = parse_text(R"({"child": {"child": {"n": "x"}}})", Format::kJson, "c", 0);
  EXPECT_TRUE(schema->validate(ok, {"c"}).empty());
  EXPECT_EQ(schema->validate(bad, {"c"}).size(), 1u);
}

TEST(SchemaRefs, NumberOutOfRange_IsASchemaErrorNotAnException) {
  EXPECT_NE(refusal(R"({"type": "object", "maximum": 1e400})").find("out of range"),
            std::string::npos);
}

TEST(SchemaRefs, FormatOnAnObject_IgnoredAsDraft7Says) {
  // valijson applies "format" to the root object and throws; shmconf hands
  // it "format" only under {"if": {"type": "string"}} (schema_compat.hpp).
  const auto schema = Schema::parse(R"({"format": "object", "type": "object"})", "s.json");
  const Value root = parse_text(R"({"a": 1})", Format::kJson, "c", 0);
  std::vector<ValidationIssue> issues;
  ASSERT_NO_THROW(issues = schema->validate(root, {"c"}));
  EXPECT_TRUE(issues.empty()) << issues.at(0).message;
}

}  // namespace
}  // namespace shmconf::daemon
