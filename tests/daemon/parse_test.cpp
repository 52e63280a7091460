// Parsers: every type per format, the shared rules, positions in errors,
// and hostile inputs (tests/data/bad/) that must fail cleanly, never crash.
#include "parse/parse.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

namespace shmconf::daemon {
namespace {

std::string data_path(const std::string& rel) { return std::string(SHMCONF_TEST_DATA) + "/" + rel; }

Value json(std::string_view text, const Limits& limits = {}) {
  return parse_text(text, Format::kJson, "t.json", 7, limits);
}
Value yaml(std::string_view text, const Limits& limits = {}) {
  return parse_text(text, Format::kYaml, "t.yaml", 7, limits);
}
Value toml(std::string_view text, const Limits& limits = {}) {
  return parse_text(text, Format::kToml, "t.toml", 7, limits);
}

// The ConfigError's what(), or a marker when nothing (or something else) was thrown.
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<not a ConfigError: ") + e.what() + ">";
  }
  return "<no error>";
}

testing::AssertionResult starts_with(const std::string& s, const std::string& prefix) {
  if (s.rfind(prefix, 0) == 0) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "\"" << s << "\" does not start with \"" << prefix << "\"";
}

testing::AssertionResult contains(const std::string& s, const std::string& part) {
  if (s.find(part) != std::string::npos) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "\"" << s << "\" does not contain \"" << part << "\"";
}

const Value& at(const Value& v, std::string_view key) {
  const auto it = v.fields.find(key);
  if (it == v.fields.end()) throw std::out_of_range("no key " + std::string(key));
  return it->second;
}

// ---- JSON ---------------------------------------------------------------------

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

// ---- YAML ---------------------------------------------------------------------

TEST(ParseYaml, CoreSchemaScalars_Resolved) {
  const Value v = yaml(
      "nulls: [~, null, Null, NULL, ]\n"
      "empty:\n"
      "bools: [true, True, TRUE, false, False, FALSE]\n"
      "ints: [0, -17, +5, 0x1F, 0o17, 007]\n"
      "floats: [1.5, -0.5, .5, 5., 1e3, +2.5E-1]\n"
      "strings: [yes, no, on, 0b101, 1_000, 12:30, 2024-01-01, 0x, .inf.x, hello world]\n"
      "quoted: ['1', \"true\", 'null', \"\"]\n");
  for (const Value& n : at(v, "nulls").items) EXPECT_EQ(n.type, Type::kNull);
  EXPECT_EQ(at(v, "nulls").items.size(), 4u);
  EXPECT_EQ(at(v, "empty").type, Type::kNull);
  const auto& bools = at(v, "bools").items;
  ASSERT_EQ(bools.size(), 6u);
  for (std::size_t i = 0; i < 6; ++i) EXPECT_EQ(bools[i], Value::boolean(i < 3));
  const auto& ints = at(v, "ints").items;
  ASSERT_EQ(ints.size(), 6u);
  const std::int64_t want_ints[] = {0, -17, 5, 31, 15, 7};
  for (std::size_t i = 0; i < 6; ++i) EXPECT_EQ(ints[i], Value::integer(want_ints[i]));
  const auto& floats = at(v, "floats").items;
  ASSERT_EQ(floats.size(), 6u);
  const double want_floats[] = {1.5, -0.5, 0.5, 5.0, 1000.0, 0.25};
  for (std::size_t i = 0; i < 6; ++i) EXPECT_EQ(floats[i], Value::real(want_floats[i])) << i;
  const auto& strings = at(v, "strings").items;
  const char* want_strings[] = {"yes",   "no",         "on", "0b101",  "1_000",
                                "12:30", "2024-01-01", "0x", ".inf.x", "hello world"};
  ASSERT_EQ(strings.size(), 10u);
  for (std::size_t i = 0; i < 10; ++i) EXPECT_EQ(strings[i], Value::string(want_strings[i]));
  const auto& quoted = at(v, "quoted").items;
  ASSERT_EQ(quoted.size(), 4u);
  EXPECT_EQ(quoted[0], Value::string("1"));
  EXPECT_EQ(quoted[1], Value::string("true"));
  EXPECT_EQ(quoted[2], Value::string("null"));
  EXPECT_EQ(quoted[3], Value::string(""));
}

TEST(ParseYaml, BlockScalars_Strings) {
  const Value v = yaml("lit: |\n  a\n  b\nfold: >\n  a\n  b\n");
  EXPECT_EQ(at(v, "lit"), Value::string("a\nb\n"));
  EXPECT_EQ(at(v, "fold"), Value::string("a b\n"));
}

TEST(ParseYaml, ExplicitTags_Honoured) {
  const Value v = yaml(
      "s: !!str 5\nn: !!null ''\nb: !!bool TRUE\ni: !!int 0x10\nf: !!float 1\n"
      "m: !!map {a: 1}\nq: !!seq [1]\nk: !!str\n");
  EXPECT_EQ(at(v, "s"), Value::string("5"));
  EXPECT_EQ(at(v, "n").type, Type::kNull);
  EXPECT_EQ(at(v, "b"), Value::boolean(true));
  EXPECT_EQ(at(v, "i"), Value::integer(16));
  EXPECT_EQ(at(v, "f"), Value::real(1.0));
  EXPECT_EQ(at(v, "m").type, Type::kObject);
  EXPECT_EQ(at(v, "q").type, Type::kArray);
  EXPECT_EQ(at(v, "k"), Value::string(""));
}

TEST(ParseYaml, BadExplicitTag_Error) {
  EXPECT_EQ(error_of([] { yaml("a:\n  b: !!int x1\n"); }),
            "t.yaml:2:6: a.b: \"x1\" is not a valid int");
  EXPECT_EQ(error_of([] { yaml("a: !custom x\n"); }), "t.yaml:1:4: a: unsupported tag !custom");
  EXPECT_EQ(error_of([] { yaml("a: !!set {x}\n"); }),
            "t.yaml:1:4: a: unsupported tag tag:yaml.org,2002:set");
}

TEST(ParseYaml, Origins_LineColumnAndSource) {
  const Value v = yaml("# comment\ndatabase:\n  port: 5432\n  hosts:\n    - a\n    - b\n");
  EXPECT_EQ(at(v, "database").origin.line, 3u);
  const Value& port = at(at(v, "database"), "port");
  EXPECT_EQ(port.origin.source, 7u);
  EXPECT_EQ(port.origin.line, 3u);
  EXPECT_EQ(port.origin.column, 9u);
  const Value& b = at(at(v, "database"), "hosts").items[1];
  EXPECT_EQ(b.origin.line, 6u);
  EXPECT_EQ(b.origin.column, 7u);
}

TEST(ParseYaml, DuplicateKey_ErrorAtSecondKey) {
  EXPECT_EQ(error_of([] { parse_file(data_path("bad/duplicate_key.yaml"), 0); }),
            data_path("bad/duplicate_key.yaml") + ":3:1: duplicate key \"a\"");
  EXPECT_EQ(error_of([] { yaml("x:\n  k: 1\n  k: 2\n"); }), "t.yaml:3:3: x: duplicate key \"k\"");
}

TEST(ParseYaml, IntOverflow_Error) {
  EXPECT_EQ(error_of([] { yaml("database:\n  port: 18446744073709551616\n"); }),
            "t.yaml:2:9: database.port: integer 18446744073709551616 does not fit in int64");
  EXPECT_EQ(error_of([] { yaml("a: 0xFFFFFFFFFFFFFFFF\n"); }),
            "t.yaml:1:4: a: integer 0xFFFFFFFFFFFFFFFF does not fit in int64");
  EXPECT_EQ(error_of([] { yaml("a: -9223372036854775809\n"); }),
            "t.yaml:1:4: a: integer -9223372036854775809 does not fit in int64");
  EXPECT_EQ(at(yaml("a: -9223372036854775808\n"), "a"), Value::integer(INT64_MIN));
}

TEST(ParseYaml, NonFinite_Error) {
  EXPECT_EQ(error_of([] { parse_file(data_path("bad/nan.yaml"), 0); }),
            data_path("bad/nan.yaml") +
                ":1:8: ratio: float .nan is not finite; only finite numbers are allowed");
  EXPECT_EQ(error_of([] { yaml("a: [-.inf]\n"); }),
            "t.yaml:1:5: a[0]: float -.inf is not finite; only finite numbers are allowed");
  EXPECT_EQ(error_of([] { yaml("a: 1e999\n"); }),
            "t.yaml:1:4: a: float 1e999 is out of range for a double");
}

TEST(ParseYaml, InvalidUtf8_Error) {
  EXPECT_EQ(
      error_of([] { parse_file(data_path("bad/bad_utf8.yaml"), 0); }),
      data_path("bad/bad_utf8.yaml") + ":2:9: service.name: invalid UTF-8 in string at byte 3");
  EXPECT_EQ(error_of([] { yaml("a:\n  k\xff: 1\n"); }), "t.yaml:2:3: a: key is not valid UTF-8");
  // Escapes can make invalid UTF-8 too; yaml-cpp refuses surrogates itself.
  EXPECT_TRUE(starts_with(error_of([] { yaml("a: \"\\ud800\"\n"); }), "t.yaml:1:"));
}

TEST(ParseYaml, DottedKey_Error) {
  EXPECT_EQ(error_of([] { parse_file(data_path("bad/dotted_key.yaml"), 0); }),
            data_path("bad/dotted_key.yaml") +
                ":2:3: database: key \"pool.size\" contains '.'; '.', '[' and ']' are not "
                "allowed in keys (they separate key paths)");
}

TEST(ParseYaml, NonStringKeys_Error) {
  EXPECT_EQ(error_of([] { yaml("? [1, 2]\n: v\n"); }),
            "t.yaml:1:3: mapping keys must be strings; complex keys are not supported");
  EXPECT_EQ(error_of([] { yaml("a:\n  ~: v\n"); }),
            "t.yaml:2:3: a: mapping key must be a non-empty string, not null");
  EXPECT_EQ(error_of([] { yaml("!!int 1: v\n"); }),
            "t.yaml:1:1: mapping keys must be strings, not tag:yaml.org,2002:int");
}

TEST(ParseYaml, ScalarKeys_TakenAsWritten) {
  const Value v = yaml("80: http\ntrue: yes\n'x': 1\n");
  EXPECT_EQ(at(v, "80"), Value::string("http"));
  EXPECT_EQ(at(v, "true"), Value::string("yes"));
  EXPECT_EQ(at(v, "x"), Value::integer(1));
}

TEST(ParseYaml, Aliases_Expanded) {
  const Value v =
      yaml("base: &b {host: h, port: 1}\ncopy: *b\nlist: [*b, *b]\nk: &s key\n*s : 2\n");
  EXPECT_EQ(at(v, "copy"), at(v, "base"));
  EXPECT_EQ(at(v, "list").items[1], at(v, "base"));
  EXPECT_EQ(at(v, "key"), Value::integer(2));
  // Expanded values keep the origin of the text they came from.
  EXPECT_EQ(at(at(v, "copy"), "port").origin.line, 1u);
}

TEST(ParseYaml, RecursiveAlias_Error) {
  EXPECT_EQ(
      error_of([] { parse_file(data_path("bad/recursive_alias.yaml"), 0); }),
      data_path("bad/recursive_alias.yaml") + ":1:11: a: alias refers to a node that contains it");
}

TEST(ParseYaml, UndefinedAlias_Error) {
  EXPECT_EQ(error_of([] { yaml("a: 1\nb: *nope\n"); }),
            "t.yaml:2:4: b: invalid YAML: the referenced anchor is not defined");
}

TEST(ParseYaml, AliasBomb_FailsFast) {
  const auto start = std::chrono::steady_clock::now();
  const std::string err = error_of([] { parse_file(data_path("bad/alias_bomb.yaml"), 0); });
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(starts_with(err, data_path("bad/alias_bomb.yaml") +
                                   ":8:8: g[0]: aliases expand to more than 1000000 values"));
  // Informational only (timings are not asserted): a full expansion takes minutes.
  std::printf("alias bomb refused in %lld ms\n",
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()));
}

TEST(ParseYaml, AliasBomb_MaxNodesAlsoStopsIt) {
  Limits limits;
  limits.max_nodes = 1000;
  EXPECT_TRUE(contains(error_of([&] { parse_file(data_path("bad/alias_bomb.yaml"), 0, limits); }),
                       ": more than 1000 values (limit max_nodes)"));
}

TEST(ParseYaml, AliasPlacedTooDeep_Error) {
  Limits limits;
  limits.max_depth = 3;
  EXPECT_NO_THROW(yaml("a: &x [[1]]\n", limits));
  EXPECT_EQ(error_of([&] { yaml("a: &x [[1]]\nb: {c: *x}\n", limits); }),
            "t.yaml:2:8: b.c: nesting deeper than 3 levels");
}

TEST(ParseYaml, AliasPathTooLong_Error) {
  Limits limits;
  limits.max_path_length = 9;
  EXPECT_EQ(error_of([&] { yaml("a: &x {long: 1}\nbbbbb: *x\n", limits); }),
            "t.yaml:2:8: bbbbb: \"long\" makes the key path 10 bytes long; the limit is 9");
}

TEST(ParseYaml, MergeKey_ExplicitKeysWin) {
  const Value v = yaml(
      "defaults: &d {host: h, port: 1, tls: true}\n"
      "svc:\n  port: 2\n  <<: *d\n  name: s\n");
  const Value& svc = at(v, "svc");
  EXPECT_EQ(at(svc, "port"), Value::integer(2));
  EXPECT_EQ(at(svc, "host"), Value::string("h"));
  EXPECT_EQ(at(svc, "tls"), Value::boolean(true));
  EXPECT_EQ(at(svc, "name"), Value::string("s"));
  EXPECT_EQ(svc.fields.count("<<"), 0u);
}

TEST(ParseYaml, MergeKeyList_EarlierWins) {
  const Value v = yaml("a: &a {x: 1}\nb: &b {x: 2, y: 2}\nc:\n  <<: [*a, *b]\n");
  EXPECT_EQ(at(at(v, "c"), "x"), Value::integer(1));
  EXPECT_EQ(at(at(v, "c"), "y"), Value::integer(2));
}

TEST(ParseYaml, MergeKeyScalar_Error) {
  EXPECT_EQ(error_of([] { yaml("c:\n  <<: 5\n"); }),
            "t.yaml:2:7: c: '<<' (merge key) takes a mapping or a list of mappings");
}

TEST(ParseYaml, QuotedMergeKey_IsPlainKey) {
  EXPECT_EQ(at(yaml("'<<': 1\n"), "<<"), Value::integer(1));
}

TEST(ParseYaml, MultipleDocuments_Error) {
  EXPECT_EQ(error_of([] { parse_file(data_path("bad/multi_doc.yaml"), 0); }),
            data_path("bad/multi_doc.yaml") +
                ":2:1: more than one YAML document; a configuration file holds exactly one");
}

TEST(ParseYaml, DocumentEndMarker_Accepted) {
  EXPECT_EQ(at(yaml("---\na: 1\n...\n"), "a"), Value::integer(1));
}

TEST(ParseYaml, Empty_Error) {
  const std::string msg = "empty document; the root must be a mapping";
  EXPECT_EQ(error_of([] { parse_file(data_path("bad/empty.yaml"), 0); }),
            data_path("bad/empty.yaml") + ": " + msg);
  EXPECT_EQ(error_of([] { yaml("# only a comment\n"); }), "t.yaml: " + msg);
  EXPECT_EQ(error_of([] { yaml("---\n"); }), "t.yaml:2:1: " + msg);
}

TEST(ParseYaml, RootNotMapping_Error) {
  EXPECT_EQ(error_of([] { yaml("- a\n- b\n"); }),
            "t.yaml:1:1: the root must be a mapping, got a sequence");
  EXPECT_EQ(error_of([] { yaml("hello\n"); }),
            "t.yaml:1:1: the root must be a mapping, got a scalar");
}

TEST(ParseYaml, BrokenSyntax_ErrorWithPosition) {
  EXPECT_EQ(error_of([] { parse_file(data_path("bad/broken.yaml"), 0); }),
            data_path("bad/broken.yaml") +
                ":3:7: service.ports: invalid YAML: end of sequence flow not found");
}

TEST(ParseYaml, Deep100000Flow_ErrorNotCrash) {
  const std::string text = "a: " + std::string(100000, '[') + std::string(100000, ']') + "\n";
  EXPECT_TRUE(contains(error_of([&] { yaml(text); }), "nesting deeper than 64 levels"));
  std::string maps = "a: ";
  for (int i = 0; i < 100000; ++i) maps += "{a: ";
  maps += "1" + std::string(100000, '}') + "\n";
  EXPECT_TRUE(contains(error_of([&] { yaml(maps); }), "nesting deeper than 64 levels"));
}

TEST(ParseYaml, DeepBlock_Error) {
  std::string text;
  for (int i = 0; i < 100; ++i) text += std::string(static_cast<std::size_t>(i), ' ') + "a:\n";
  EXPECT_TRUE(starts_with(error_of([&] { yaml(text); }), "t.yaml:65:65: a.a."));
}

TEST(ParseYaml, DeepFixture_Error) {
  EXPECT_TRUE(starts_with(error_of([] { parse_file(data_path("bad/deep.yaml"), 0); }),
                          data_path("bad/deep.yaml") + ":1:67: a[0][0]"));
}

// ---- TOML ---------------------------------------------------------------------

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

// ---- files and helpers ----------------------------------------------------------

TEST(FormatForPath, Extensions_Mapped) {
  EXPECT_EQ(format_for_path("/etc/app/a.json"), Format::kJson);
  EXPECT_EQ(format_for_path("a.yaml"), Format::kYaml);
  EXPECT_EQ(format_for_path("a.yml"), Format::kYaml);
  EXPECT_EQ(format_for_path("A.TOML"), Format::kToml);
  EXPECT_EQ(format_for_path("a.ini"), std::nullopt);
  EXPECT_EQ(format_for_path("json"), std::nullopt);
  EXPECT_EQ(format_for_path("a.json.bak"), std::nullopt);
}

TEST(ParseFile, UnknownExtension_Error) {
  EXPECT_EQ(error_of([] { parse_file("/tmp/x.ini", 0); }),
            "/tmp/x.ini: unknown file extension; expected .json, .yaml, .yml or .toml");
}

TEST(ParseFile, Missing_Error) {
  EXPECT_EQ(error_of([] { parse_file("/nonexistent/dir/x.yaml", 0); }),
            "/nonexistent/dir/x.yaml: cannot open: No such file or directory");
}

TEST(ParseFile, Directory_Error) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("shmconf_parse_dir_" + std::to_string(::getpid()) + ".json");
  std::filesystem::create_directory(dir);
  EXPECT_EQ(error_of([&] { parse_file(dir.string(), 0); }), dir.string() + ": not a regular file");
  std::filesystem::remove(dir);
}

TEST(ParseFile, TooLarge_Error) {
  Limits limits;
  limits.max_file_size = 100;
  const std::string path = data_path("good/config.json");
  EXPECT_TRUE(starts_with(error_of([&] { parse_file(path, 0, limits); }), path + ": file of "));
  EXPECT_TRUE(contains(error_of([&] { parse_file(path, 0, limits); }),
                       "bytes is larger than the limit of 100"));
}

TEST(ParseFile, GoodFixtures_SameTree) {
  const Value j = parse_file(data_path("good/config.json"), 0);
  const Value y = parse_file(data_path("good/config.yaml"), 1);
  const Value t = parse_file(data_path("good/config.toml"), 2);
  EXPECT_EQ(j, y);
  EXPECT_EQ(j, t);
  EXPECT_EQ(at(at(j, "service"), "big"), Value::integer(INT64_MAX));
  EXPECT_EQ(at(at(y, "service"), "ratio"), Value::real(1.0));
  EXPECT_EQ(at(at(t, "service"), "started"), Value::string("1979-05-27T07:32:00Z"));
  EXPECT_EQ(at(j, "servers").origin.source, 0u);
  EXPECT_EQ(at(y, "servers").origin.source, 1u);
  EXPECT_EQ(at(t, "servers").origin.source, 2u);
}

TEST(ParseFile, LargeJson_ReadInPlace) {
  // Bigger than any read chunk, and exactly at a padding boundary.
  std::string text = "{\"k\": [";
  for (int i = 0; i < 200000; ++i) text += std::to_string(i) + ",";
  text += "0]}";
  const auto path = std::filesystem::temp_directory_path() /
                    ("shmconf_parse_big_" + std::to_string(::getpid()) + ".json");
  std::ofstream(path) << text;
  const Value v = parse_file(path.string(), 0);
  std::filesystem::remove(path);
  EXPECT_EQ(at(v, "k").items.size(), 200001u);
  EXPECT_EQ(at(v, "k").items[199999], Value::integer(199999));
}

TEST(JoinPath, JoinAndIndex_Spelled) {
  EXPECT_EQ(join_path("", "b"), "b");
  EXPECT_EQ(join_path("a", "b"), "a.b");
  EXPECT_EQ(index_path("servers", 2), "servers[2]");
  EXPECT_EQ(join_path(index_path("servers", 10), "host"), "servers[10].host");
}

}  // namespace
}  // namespace shmconf::daemon
