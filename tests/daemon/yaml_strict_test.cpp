// YAML that yaml-cpp accepts but YAML does not (parse/yaml_strict.hpp): each
// is refused with its position, and the valid neighbour of each still parses
// to the value it means. Cases written after yaml-test-suite's 236B, 7MNF,
// 9CWY, CQ3W, HRE5, SU5Z, X4QW, QB6E, DK95, 9C9N, G9HC, H7J7 and S98Z.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "parse/parse.hpp"

namespace shmconf::daemon {
namespace {

Value yaml(std::string_view text) { return parse_text(text, Format::kYaml, "t.yaml", 0); }

std::string error_of(std::string_view text) {
  try {
    yaml(text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no error>";
}

// The error starts with "t.yaml:LINE:COLUMN:" and holds `words`.
void expect_error(std::string_view text, const std::string& where, const std::string& words) {
  const std::string e = error_of(text);
  EXPECT_EQ(e.rfind("t.yaml:" + where + ":", 0), 0u) << e;
  EXPECT_NE(e.find(words), std::string::npos) << e;
}

TEST(YamlStrict, KeyWithoutColon_Refused) {
  expect_error("top1:\n  key1: val1\ntop2\n", "3:1", "has no ':'");
  expect_error("key:\n - a\n - b\ninvalid\n", "4:1", "has no ':'");
  expect_error("a: 1\nb", "2:1", "has no ':'");
  // An empty value written with ':' and an explicit key are not typos;
  // layering deletes their null (docs/SOURCES.md).
  const Value v = yaml("a:\n? b\nc: 1\nf: {x, y: 2}\n");
  EXPECT_EQ(v.fields.size(), 4u);
  EXPECT_EQ(v.fields.at("a").type, Type::kNull);
  EXPECT_EQ(v.fields.at("b").type, Type::kNull);
  EXPECT_EQ(v.fields.at("c").i, 1);
  EXPECT_EQ(v.fields.at("f").fields.at("y").i, 2);
}

TEST(YamlStrict, QuotedStrings_ClosedWithValidEscapes) {
  expect_error("---\nkey: \"missing closing quote\n", "2:6", "never closed");
  expect_error("key: 'never closed\n", "1:6", "single-quoted string is never closed");
  expect_error("double: \"quoted \\' scalar\"\n", "1:17", "invalid escape");
  const Value v = yaml("a: \"t\\tn\\n\\x41\\u00e9\\\"\\\\\"\nb: 'it''s'\nc: \"x\\\n  y\"\n");
  EXPECT_EQ(v.fields.at("a").s, "t\tn\nA\xc3\xa9\"\\");
  EXPECT_EQ(v.fields.at("b").s, "it's");
  EXPECT_EQ(v.fields.at("c").s, "xy");
}

TEST(YamlStrict, AfterAQuotedString_OnlySeparatorsOrIndicators) {
  expect_error("key: \"value\"# invalid comment\n", "1:13", "a comment needs a space");
  const Value v = yaml("key: \"value\" # comment\n\"k2\": [\"a\",\"b\"]\nk3: {\"x\":\"y\"}\n");
  EXPECT_EQ(v.fields.at("key").s, "value");
  EXPECT_EQ(v.fields.at("k2").items.size(), 2u);
  EXPECT_EQ(v.fields.at("k3").fields.at("x").s, "y");
}

TEST(YamlStrict, BlockScalarHeader_CommentNeedsASpace) {
  expect_error("block: ># comment\n  scalar\n", "1:9", "block scalar header");
  const Value v = yaml("block: > # comment\n  scalar\nkeep: |+\n  x\n\nstrip: |2-\n   y\n");
  EXPECT_EQ(v.fields.at("block").s, "scalar\n");
  EXPECT_EQ(v.fields.at("keep").s, "x\n\n");
  EXPECT_EQ(v.fields.at("strip").s, " y");
}

TEST(YamlStrict, BlockScalar_LeadingEmptyLineWiderThanText_Refused) {
  expect_error("k: >\n \n  \n   \n # comment\n", "4:1", "leading empty line");
  const Value v = yaml("k: |\n\n  \n  text\n");
  EXPECT_EQ(v.fields.at("k").s, "\n\ntext\n");
}

TEST(YamlStrict, QuotedContinuationLines_IndentedPastTheirKey) {
  expect_error("---\nquoted: \"a\nb\nc\"\n", "3:1", "indented by at least 1 space");
  expect_error("foo: \"bar\n\tbaz\"\n", "2:1", "tabs do not count");
  expect_error("s:\n  - k: 'a\n    b'\n", "3:5", "at least 5 spaces");
  const Value v = yaml("quoted: \"a\n  b\n\n c\"\ns:\n  - \"x\n    y\"\n");
  EXPECT_EQ(v.fields.at("quoted").s, "a b\nc");
  EXPECT_EQ(v.fields.at("s").items.at(0).s, "x y");
}

TEST(YamlStrict, FlowCollectionLines_IndentedPastTheirKey) {
  expect_error("---\nflow: [a,\nb,\nc]\n", "3:1", "inside a flow collection");
  const Value v = yaml("flow: [a,\n  b]\nm: {x: 1,\n y: 2\n}\n");
  EXPECT_EQ(v.fields.at("flow").items.size(), 2u);
  EXPECT_EQ(v.fields.at("m").fields.at("y").i, 2);
  // A whole file in flow style (JSON written as YAML) has no key to pass.
  EXPECT_EQ(yaml("{\n\"a\": [1,\n2]\n}\n").fields.at("a").items.size(), 2u);
}

TEST(YamlStrict, AnchorOrTagOnItsOwnLine_IndentedPastItsKey) {
  expect_error("---\nseq:\n&anchor\n- a\n- b\n", "3:1", "anchor or tag");
  expect_error("key: &x\n!!map\n  a: b\n", "2:1", "anchor or tag");
  const Value v = yaml("seq: &s\n- a\nkey: &x\n  !!map\n  a: b\nk2:\n  &y\n  c: d\nr: *x\n");
  EXPECT_EQ(v.fields.at("seq").items.size(), 1u);
  EXPECT_EQ(v.fields.at("key").fields.at("a").s, "b");
  EXPECT_EQ(v.fields.at("k2").fields.at("c").s, "d");
  EXPECT_EQ(v.fields.at("r").fields.at("a").s, "b");
}

}  // namespace
}  // namespace shmconf::daemon
