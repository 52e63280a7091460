// JSON parser: every type, positions in errors, the shared limits.
// Hostile inputs (tests/data/bad/) must fail cleanly, never crash.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "parse/parse.hpp"
#include "parse_test_util.hpp"

namespace shmconf::daemon {
namespace {

using namespace parse_test;

TEST(ParseJson, AllTypes_Converted) {
  const Value v = json(R"({"n": null, "t": true, "f": false, "i": -42, "d": 2.5, "e": 1e3,
    "s": "a\"b\u00e9\n", "a": [1, "x", [], {}], "o": {"k": "v"}})");
  EXPECT_EQ(v.type, Type::kObject);
  EXPECT_EQ(at(v, "n").type, Type::kNull);
  EXPECT_EQ(at(v, "t"), Value::boolean(true));
  EXPECT_EQ(at(v, "f"), Value::boolean(false));
  EXPECT_EQ(at(v, "i"), Value::integer(-42));
  EXPECT_EQ(at(v, "d"), Value::real(2.5));
  EXPECT_EQ(at(v, "e"), Value::real(1000.0));
  EXPECT_EQ(at(v, "s"), Value::string("a\"b\xC3\xA9\n"));
  ASSERT_EQ(at(v, "a").items.size(), 4u);
  EXPECT_EQ(at(v, "a").items[1], Value::string("x"));
  EXPECT_EQ(at(v, "a").items[2].type, Type::kArray);
  EXPECT_EQ(at(v, "a").items[3].type, Type::kObject);
  EXPECT_EQ(at(at(v, "o"), "k"), Value::string("v"));
}

TEST(ParseJson, Int64Extremes_Accepted) {
  const Value v = json(R"({"max": 9223372036854775807, "min": -9223372036854775808})");
  EXPECT_EQ(at(v, "max").i, INT64_MAX);
  EXPECT_EQ(at(v, "min").i, INT64_MIN);
}

TEST(ParseJson, Origins_LineColumnAndSource) {
  const Value v = json("{\n  \"a\": 1,\n  \"b\": [true,\n    \"x\"]\n}");
  EXPECT_EQ(v.origin.line, 1u);
  EXPECT_EQ(v.origin.column, 1u);
  EXPECT_EQ(at(v, "a").origin.source, 7u);
  EXPECT_EQ(at(v, "a").origin.line, 2u);
  EXPECT_EQ(at(v, "a").origin.column, 8u);
  EXPECT_EQ(at(v, "b").origin.line, 3u);
  EXPECT_EQ(at(v, "b").origin.column, 8u);
  EXPECT_EQ(at(v, "b").items[1].origin.line, 4u);
  EXPECT_EQ(at(v, "b").items[1].origin.column, 5u);
}

TEST(ParseJson, DuplicateKey_ErrorAtSecondKey) {
  EXPECT_TRUE(starts_with(error_of([] { parse_file(data_path("bad/duplicate_key.json"), 0); }),
                          data_path("bad/duplicate_key.json") + ":3:3: duplicate key \"a\""));
  EXPECT_TRUE(starts_with(error_of([] { json("{\"o\": {\"k\": 1, \"k\": 2}}"); }),
                          "t.json:1:16: o: duplicate key \"k\""));
  // Not next to each other: found once the object is sorted, and located
  // then, behind the parser's position cursor.
  EXPECT_TRUE(starts_with(error_of([] { json("{\"b\": 1,\n \"a\": [2],\n  \"b\": 3, \"c\": 4}"); }),
                          "t.json:3:3: duplicate key \"b\""));
}

// Keys written out of order are sorted by their bytes, whatever they share:
// long common prefixes (the sort compares an eight-byte prefix first),
// lengths on either side of eight, bytes above 0x7F and NUL.
TEST(ParseJson, UnsortedKeys_SortedBytewise) {
  std::vector<std::string> keys;
  const std::string stems[] = {"",
                               "a",
                               "abcdefg",
                               "abcdefgh",
                               "abcdefghij",
                               "\xC3\xA9t\xC3\xA9",
                               "zzzzzzzzzzzz",
                               std::string("ab\0c", 4)};
  for (const std::string& stem : stems) {
    for (int i = 0; i < 40; ++i) keys.push_back(stem + std::to_string(i * 7919 % 997));
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  std::vector<std::string> written = keys;
  for (std::size_t i = 0; i < written.size(); ++i) {  // a fixed scramble
    std::swap(written[i], written[(i * 131 + 17) % written.size()]);
  }
  std::string text = "{";
  for (std::size_t i = 0; i < written.size(); ++i) {
    if (i > 0) text += ",\n";
    append_json_string(text, written[i]);
    text += ": " + std::to_string(i);
  }
  text += "}";
  const Value v = json(text);
  ASSERT_EQ(v.fields.size(), keys.size());
  std::size_t i = 0;
  for (const auto& [k, value] : v.fields) EXPECT_EQ(k, keys[i++]);
  // A duplicate among them is reported where it is written the second time.
  const std::string dup = text.substr(0, text.size() - 1) + ",\n\"abcdefgh0\": 0}";
  EXPECT_TRUE(starts_with(
      error_of([&] { json(dup); }),
      "t.json:" + std::to_string(written.size() + 1) + ":1: duplicate key \"abcdefgh0\""));
}

TEST(ParseJson, IntAboveInt64_Error) {
  EXPECT_EQ(error_of([] { parse_file(data_path("bad/huge_int.json"), 0); }),
            data_path("bad/huge_int.json") +
                ":1:8: id: integer 18446744073709551616 does not fit in int64");
  EXPECT_EQ(error_of([] { json("{\"a\": [9223372036854775808]}"); }),
            "t.json:1:8: a[0]: integer 9223372036854775808 does not fit in int64");
}

TEST(ParseJson, IntBelowInt64_Error) {
  EXPECT_EQ(error_of([] { json("{\"a\": -9223372036854775809}"); }),
            "t.json:1:7: a: integer -9223372036854775809 does not fit in int64");
}

TEST(ParseJson, FloatOverflow_Error) {
  EXPECT_EQ(error_of([] { json("{\"a\": 1e400}"); }),
            "t.json:1:7: a: number 1e400 is not a finite double");
}

TEST(ParseJson, MalformedNumber_ErrorWithPosition) {
  EXPECT_TRUE(starts_with(error_of([] { json("{\"a\": 012}"); }), "t.json:1:7: a: invalid JSON: "));
}

TEST(ParseJson, BrokenSyntax_ErrorWithPosition) {
  EXPECT_TRUE(starts_with(error_of([] { parse_file(data_path("bad/broken.json"), 0); }),
                          data_path("bad/broken.json") + ":1:26: service: invalid JSON: "));
}

TEST(ParseJson, InvalidUtf8_ErrorAtByte) {
  EXPECT_EQ(error_of([] { json("{\n \"a\": \"ok\",\n \"b\": \"x\xC3\x28\"}"); }),
            "t.json:3:9: invalid UTF-8");
}

TEST(ParseJson, LoneSurrogateEscape_Error) {
  EXPECT_TRUE(starts_with(error_of([] { json(R"({"a": "\ud800"})"); }), "t.json:1:"));
}

TEST(ParseJson, RootNotObject_Error) {
  EXPECT_EQ(error_of([] { parse_file(data_path("bad/root_array.json"), 0); }),
            data_path("bad/root_array.json") + ":1:1: the root must be a mapping, got an array");
  EXPECT_EQ(error_of([] { json("  \"s\""); }),
            "t.json:1:3: the root must be a mapping, got a string");
}

TEST(ParseJson, Empty_Error) {
  EXPECT_EQ(error_of([] { json(""); }), "t.json: empty document; the root must be a mapping");
  EXPECT_EQ(error_of([] { json(" \n\t"); }), "t.json: empty document; the root must be a mapping");
}

TEST(ParseJson, EmptyObject_Accepted) { EXPECT_EQ(json("{}"), Value::object()); }

TEST(ParseJson, TrailingContent_Error) {
  EXPECT_EQ(error_of([] { json("{\"a\": 1}\n{\"b\": 2}"); }),
            "t.json:2:1: unexpected content after the root object");
}

TEST(ParseJson, ByteOrderMark_Skipped) {
  const Value v = json("\xEF\xBB\xBF{\"a\": 1}");
  EXPECT_EQ(at(v, "a"), Value::integer(1));
  EXPECT_EQ(at(v, "a").origin.column, 10u);  // columns count the mark's bytes
}

TEST(ParseJson, Deep100000_ErrorNotCrash) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const std::string text = "{\"a\": " + deep + "}";
  EXPECT_TRUE(contains(error_of([&] { json(text); }), "nesting deeper than 64 levels"));
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += "{\"a\":";
  objects += "1" + std::string(100000, '}');
  EXPECT_TRUE(contains(error_of([&] { json(objects); }), "nesting deeper than 64 levels"));
}

TEST(ParseJson, DeepFixture_ErrorNamesPath) {
  const std::string err = error_of([] { parse_file(data_path("bad/deep.json"), 0); });
  std::string path = "a";
  for (int i = 1; i < 64; ++i) path += ".a";
  EXPECT_EQ(err,
            data_path("bad/deep.json") + ":1:321: " + path + ": nesting deeper than 64 levels");
}

TEST(ParseJson, DepthAtLimit_Accepted) {
  Limits limits;
  limits.max_depth = 3;
  EXPECT_NO_THROW(json(R"({"a": {"b": [1]}})", limits));
  EXPECT_EQ(error_of([&] { json(R"({"a": {"b": [[1]]}})", limits); }),
            "t.json:1:14: a.b[0]: nesting deeper than 3 levels");
}

TEST(ParseJson, ForbiddenKeyCharacters_Error) {
  EXPECT_EQ(error_of([] { json(R"({"a": {"x.y": 1}})"); }),
            "t.json:1:8: a: key \"x.y\" contains '.'; '.', '[' and ']' are not allowed in keys "
            "(they separate key paths)");
  EXPECT_TRUE(starts_with(error_of([] { json(R"({"x[0]": 1})"); }),
                          "t.json:1:2: key \"x[0]\" contains '['"));
  EXPECT_TRUE(
      starts_with(error_of([] { json(R"({"x]": 1})"); }), "t.json:1:2: key \"x]\" contains ']'"));
  // An escaped dot is still a dot once unescaped.
  EXPECT_TRUE(starts_with(error_of([] { json(R"({"x\u002ey": 1})"); }), "t.json:1:2: key \"x.y\""));
}

TEST(ParseJson, EmptyKey_Error) {
  EXPECT_EQ(error_of([] { json(R"({"": 1})"); }),
            "t.json:1:2: empty key; keys must be non-empty strings");
}

TEST(ParseJson, KeyTooLong_Error) {
  Limits limits;
  limits.max_key_length = 4;
  EXPECT_NO_THROW(json(R"({"abcd": 1})", limits));
  EXPECT_EQ(error_of([&] { json(R"({"abcde": 1})", limits); }),
            "t.json:1:2: key of 5 bytes is longer than the limit of 4");
}

TEST(ParseJson, PathTooLong_Error) {
  Limits limits;
  limits.max_path_length = 8;
  EXPECT_NO_THROW(json(R"({"abc": {"defg": 1}})", limits));  // "abc.defg"
  EXPECT_EQ(error_of([&] { json(R"({"abc": {"defgh": 1}})", limits); }),
            "t.json:1:10: abc: \"defgh\" makes the key path 9 bytes long; the limit is 8");
  EXPECT_EQ(error_of([&] { json(R"({"abcdef": [0, 1]})", limits); }),
            "t.json:1:13: abcdef: \"[0]\" makes the key path 9 bytes long; the limit is 8");
}

TEST(ParseJson, TooManyValues_Error) {
  Limits limits;
  limits.max_nodes = 4;
  EXPECT_NO_THROW(json(R"({"a": [1, 2]})", limits));  // root, a, 1, 2
  EXPECT_EQ(error_of([&] { json(R"({"a": [1, 2, 3]})", limits); }),
            "t.json:1:14: a[2]: more than 4 values (limit max_nodes)");
}

TEST(ParseJson, InputTooLarge_Error) {
  Limits limits;
  limits.max_file_size = 8;
  EXPECT_EQ(error_of([&] { json(R"({"a": 123})", limits); }),
            "t.json: input of 10 bytes is larger than the limit of 8");
}

}  // namespace
}  // namespace shmconf::daemon
