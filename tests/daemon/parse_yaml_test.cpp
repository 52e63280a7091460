// YAML parser: the core schema, tags, anchors and merge keys, positions in errors.
// Hostile inputs (tests/data/bad/) must fail cleanly, never crash.
#include <gtest/gtest.h>

#include <string>

#include "parse/parse.hpp"
#include "parse_test_util.hpp"

namespace shmconf::daemon {
namespace {

using namespace parse_test;

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

}  // namespace
}  // namespace shmconf::daemon
