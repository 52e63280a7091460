// TOML parser: every type, positions in errors, the depth pre-scan.
// Hostile inputs (tests/data/bad/) must fail cleanly, never crash.
#include <gtest/gtest.h>

#include <string>

#include "parse/parse.hpp"
#include "parse_test_util.hpp"

namespace shmconf::daemon {
namespace {

using namespace parse_test;

TEST(ParseToml, AllTypes_Converted) {
  const Value v = toml(
      "s = \"a\\tb\"\nlit = 'c:\\x'\ni = -7\nhex = 0xff\nf = 6.5e-1\nb = true\n"
      "odt = 1979-05-27T00:32:00.999-07:00\nutc = 1979-05-27T07:32:00Z\n"
      "ldt = 1979-05-27T07:32:00\nld = 1979-05-27\nlt = 00:32:00.5\n"
      "arr = [1, \"two\", [3]]\ninl = { x = 1, y.z = 2 }\n"
      "[tbl.sub]\nk = 'v'\n[[aot]]\nn = 1\n[[aot]]\nn = 2\n");
  EXPECT_EQ(at(v, "s"), Value::string("a\tb"));
  EXPECT_EQ(at(v, "lit"), Value::string("c:\\x"));
  EXPECT_EQ(at(v, "i"), Value::integer(-7));
  EXPECT_EQ(at(v, "hex"), Value::integer(255));
  EXPECT_EQ(at(v, "f"), Value::real(0.65));
  EXPECT_EQ(at(v, "b"), Value::boolean(true));
  EXPECT_EQ(at(v, "odt"), Value::string("1979-05-27T00:32:00.999-07:00"));
  EXPECT_EQ(at(v, "utc"), Value::string("1979-05-27T07:32:00Z"));
  EXPECT_EQ(at(v, "ldt"), Value::string("1979-05-27T07:32:00"));
  EXPECT_EQ(at(v, "ld"), Value::string("1979-05-27"));
  EXPECT_EQ(at(v, "lt"), Value::string("00:32:00.5"));
  EXPECT_EQ(to_json(at(v, "arr")), R"([1,"two",[3]])");
  EXPECT_EQ(to_json(at(v, "inl")), R"({"x":1,"y":{"z":2}})");
  EXPECT_EQ(to_json(at(v, "tbl")), R"({"sub":{"k":"v"}})");
  EXPECT_EQ(to_json(at(v, "aot")), R"([{"n":1},{"n":2}])");
}

TEST(ParseToml, Origins_LineColumnAndSource) {
  const Value v = toml("a = 1\n\n[t]\n  b = \"x\"\n");
  EXPECT_EQ(at(v, "a").origin.source, 7u);
  EXPECT_EQ(at(v, "a").origin.line, 1u);
  EXPECT_EQ(at(v, "a").origin.column, 5u);
  EXPECT_EQ(at(at(v, "t"), "b").origin.line, 4u);
  EXPECT_EQ(at(at(v, "t"), "b").origin.column, 7u);
}

TEST(ParseToml, DuplicateKey_Error) {
  EXPECT_TRUE(starts_with(error_of([] { toml("a = 1\na = 2\n"); }), "t.toml:2:"));
  EXPECT_TRUE(contains(error_of([] { toml("a = 1\na = 2\n"); }), "invalid TOML: "));
}

TEST(ParseToml, IntOverflow_Error) {
  EXPECT_EQ(error_of([] { parse_file(data_path("bad/huge_int.toml"), 0); }),
            data_path("bad/huge_int.toml") +
                ":1:24: invalid TOML: Error while parsing decimal integer: "
                "'9223372036854775808' is not representable in 64 bits");
}

TEST(ParseToml, NonFinite_Error) {
  EXPECT_EQ(error_of([] { parse_file(data_path("bad/inf.toml"), 0); }),
            data_path("bad/inf.toml") +
                ":1:9: ratio: float is not finite; only finite numbers are allowed");
  EXPECT_EQ(error_of([] { toml("[x]\nv = [nan]\n"); }),
            "t.toml:2:6: x.v[0]: float is not finite; only finite numbers are allowed");
}

TEST(ParseToml, QuotedDottedKey_Error) {
  EXPECT_EQ(error_of([] { toml("[db]\n\"pool.size\" = 4\n"); }),
            "t.toml:2:1: db: key \"pool.size\" contains '.'; '.', '[' and ']' are not allowed in "
            "keys (they separate key paths)");
  EXPECT_EQ(error_of([] { toml("\"\" = 4\n"); }),
            "t.toml:1:1: empty key; keys must be non-empty strings");
}

TEST(ParseToml, InvalidUtf8_Error) {
  EXPECT_TRUE(starts_with(error_of([] { toml("a = \"x\xff\"\n"); }), "t.toml:1:"));
}

TEST(ParseToml, Empty_Error) {
  EXPECT_EQ(error_of([] { toml(""); }), "t.toml: empty document; the root must be a mapping");
  EXPECT_EQ(error_of([] { toml("# nothing\n"); }),
            "t.toml: empty document; the root must be a mapping");
}

TEST(ParseToml, BrokenSyntax_ErrorWithPosition) {
  EXPECT_EQ(
      error_of([] { parse_file(data_path("bad/broken.toml"), 0); }),
      data_path("bad/broken.toml") +
          ":2:8: invalid TOML: Error while parsing key-value pair: expected value, saw '\\n'");
}

TEST(ParseToml, Deep100000_ErrorNotCrash) {
  std::string dotted = "a";
  for (int i = 0; i < 100000; ++i) dotted += ".a";
  EXPECT_EQ(error_of([&] { toml(dotted + " = 1\n"); }),
            "t.toml:1:1: nesting deeper than 64 levels");
  EXPECT_EQ(error_of([&] { toml("x = 1\n[" + dotted + "]\nb = 1\n"); }),
            "t.toml:2:1: nesting deeper than 64 levels");
  EXPECT_EQ(error_of([&] { toml("x = 1\n[[" + dotted + "]]\n"); }),
            "t.toml:2:1: nesting deeper than 64 levels");
  EXPECT_TRUE(contains(
      error_of([] { toml("a = " + std::string(100000, '[') + std::string(100000, ']') + "\n"); }),
      "nesting deeper than 64 levels"));
  std::string inl = "a = ";
  for (int i = 0; i < 100000; ++i) inl += "{b.c = ";
  inl += "1" + std::string(100000, '}') + "\n";
  EXPECT_TRUE(contains(error_of([&] { toml(inl); }), "nesting deeper than 64 levels"));
}

TEST(ParseToml, DeepFixture_Error) {
  EXPECT_EQ(error_of([] { parse_file(data_path("bad/deep.toml"), 0); }),
            data_path("bad/deep.toml") + ":1:1: nesting deeper than 64 levels");
}

TEST(ParseToml, DepthAtLimit_Accepted) {
  Limits limits;
  limits.max_depth = 3;  // the root, and two more
  EXPECT_NO_THROW(toml("[a]\nc = [1]\n", limits));
  EXPECT_NO_THROW(toml("a.b = [1]\n", limits));
  EXPECT_NO_THROW(toml("a.b.c = 1\n", limits));
  EXPECT_NO_THROW(toml("a = {b = {c = 1}}\n", limits));
  EXPECT_EQ(error_of([&] { toml("a.b.c.d = 1\n", limits); }),
            "t.toml:1:1: nesting deeper than 3 levels");
  EXPECT_EQ(error_of([&] { toml("[a.b]\nc = [1]\n", limits); }),
            "t.toml:2:5: nesting deeper than 3 levels");
  // An array of tables adds a level the header does not spell: the exact
  // check on the tree catches it.
  EXPECT_EQ(error_of([&] { toml("[[a]]\n[a.b]\nc = 1\n", limits); }),
            "t.toml:2:1: a[0].b: nesting deeper than 3 levels");
}

TEST(ParseToml, DepthScan_FollowsStringsAndComments) {
  // Brackets, dots and quotes inside strings and comments must not confuse
  // the depth scan (it would refuse, or lose track of, valid files).
  Limits limits;
  limits.max_depth = 1;
  const Value v = toml(
      "a = \"[[[[{{{{ a.b.c.d.e \\\" ]]]\"  # [[[[ a.b.c.d = \n"
      "b = '''\n[[[[x.y.z.w]]]]\n'''\n"
      "c = \"\"\"\n\"\"a.b.c\"\"\n\"\"\"\"\n"
      "d = 'x.y' # a = [[[[\n",
      limits);
  EXPECT_EQ(at(v, "a"), Value::string("[[[[{{{{ a.b.c.d.e \" ]]]"));
  EXPECT_EQ(at(v, "b"), Value::string("[[[[x.y.z.w]]]]\n"));
  EXPECT_EQ(at(v, "c"), Value::string("\"\"a.b.c\"\"\n\""));
  EXPECT_EQ(at(v, "d"), Value::string("x.y"));
}

TEST(ParseToml, DepthScan_MultilineArraysAndInlineTables) {
  Limits limits;
  limits.max_depth = 5;
  const Value v = toml(
      "arr = [\n  1,  # comment ]\n  [2, {x.y = 3}],\n  'str]',\n]\n"
      "t = { a = [1, 2], b.c = { d = 1 } }\n",
      limits);
  EXPECT_EQ(to_json(at(v, "arr")), R"([1,[2,{"x":{"y":3}}],"str]"])");
  EXPECT_EQ(to_json(at(v, "t")), R"({"a":[1,2],"b":{"c":{"d":1}}})");
}

}  // namespace
}  // namespace shmconf::daemon
