// Value: equality, ConfigError formatting, canonical JSON and content_hash.
#include <gtest/gtest.h>
#include <xxhash.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>

#include "parse/parse.hpp"
#include "tree/value.hpp"

namespace shmconf::daemon {
namespace {

std::string data_path(const std::string& rel) { return std::string(SHMCONF_TEST_DATA) + "/" + rel; }

std::string json_string(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

Value object_of(std::initializer_list<std::pair<const char*, Value>> fields) {
  Value v = Value::object();
  for (const auto& [k, f] : fields) v.fields.emplace(k, f);
  return v;
}

// ---- equality ------------------------------------------------------------------

TEST(ValueEquality, Origins_Ignored) {
  EXPECT_EQ(Value::integer(1, Origin{1, 2, 3}), Value::integer(1, Origin{4, 5, 6}));
}

TEST(ValueEquality, IntAndDouble_Differ) { EXPECT_NE(Value::integer(1), Value::real(1.0)); }

TEST(ValueEquality, SignedZeros_DifferLikeTheirJson) {
  EXPECT_NE(Value::real(0.0), Value::real(-0.0));
  EXPECT_EQ(Value::real(-0.0), Value::real(-0.0));
}

TEST(ValueEquality, Containers_ComparedDeeply) {
  Value a = object_of({{"x", Value::integer(1)}});
  Value b = object_of({{"x", Value::integer(1)}});
  EXPECT_EQ(a, b);
  b.fields["y"] = Value::null();
  EXPECT_NE(a, b);
  Value l1 = Value::array();
  Value l2 = Value::array();
  l1.items.push_back(Value::string("s"));
  EXPECT_NE(l1, l2);
  l2.items.push_back(Value::string("s"));
  EXPECT_EQ(l1, l2);
}

// ---- ConfigError ---------------------------------------------------------------

TEST(ConfigErrorWhat, AllParts_Formatted) {
  const ConfigError e("a.yaml", 3, 7, "database.port", "expected an integer");
  EXPECT_STREQ(e.what(), "a.yaml:3:7: database.port: expected an integer");
  EXPECT_EQ(e.file(), "a.yaml");
  EXPECT_EQ(e.line(), 3u);
  EXPECT_EQ(e.column(), 7u);
  EXPECT_EQ(e.key_path(), "database.port");
  EXPECT_EQ(e.message(), "expected an integer");
}

TEST(ConfigErrorWhat, UnknownParts_Omitted) {
  EXPECT_STREQ(ConfigError("a.yaml", 3, 0, "k", "m").what(), "a.yaml:3: k: m");
  EXPECT_STREQ(ConfigError("a.yaml", 0, 0, "k", "m").what(), "a.yaml: k: m");
  EXPECT_STREQ(ConfigError("a.yaml", 0, 0, "", "m").what(), "a.yaml: m");
  EXPECT_STREQ(ConfigError("", 0, 0, "k", "m").what(), "k: m");
  EXPECT_STREQ(ConfigError("", 0, 0, "", "m").what(), "m");
  EXPECT_STREQ(ConfigError("", 2, 5, "", "m").what(), "2:5: m");
}

// ---- canonical JSON ------------------------------------------------------------

TEST(ToJson, Scalars_Canonical) {
  EXPECT_EQ(to_json(Value::null()), "null");
  EXPECT_EQ(to_json(Value::boolean(true)), "true");
  EXPECT_EQ(to_json(Value::boolean(false)), "false");
  EXPECT_EQ(to_json(Value::integer(0)), "0");
  EXPECT_EQ(to_json(Value::integer(INT64_MIN)), "-9223372036854775808");
  EXPECT_EQ(to_json(Value::integer(INT64_MAX)), "9223372036854775807");
  EXPECT_EQ(to_json(Value::string("")), "\"\"");
}

TEST(ToJson, Doubles_ShortestWithPointOrExponent) {
  EXPECT_EQ(to_json(Value::real(1.0)), "1.0");
  EXPECT_EQ(to_json(Value::real(-3.0)), "-3.0");
  EXPECT_EQ(to_json(Value::real(0.0)), "0.0");
  EXPECT_EQ(to_json(Value::real(-0.0)), "-0.0");
  EXPECT_EQ(to_json(Value::real(0.1)), "0.1");
  EXPECT_EQ(to_json(Value::real(2.5)), "2.5");
  EXPECT_EQ(to_json(Value::real(1e300)), "1e+300");
  EXPECT_EQ(to_json(Value::real(1e-7)), "1e-07");
  EXPECT_EQ(to_json(Value::real(123456789012.0)), "123456789012.0");
  EXPECT_EQ(to_json(Value::real(5e-324)), "5e-324");
}

TEST(ToJson, NonFiniteDouble_StillValidJson) {
  // Parsers refuse these; a hand-built Value must not produce invalid JSON.
  EXPECT_EQ(to_json(Value::real(std::numeric_limits<double>::infinity())), "null");
  EXPECT_EQ(to_json(Value::real(std::nan(""))), "null");
}

TEST(ToJson, Doubles_RoundTrip) {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 10000; ++i) {
    const std::uint64_t bits = rng();
    double d;
    std::memcpy(&d, &bits, sizeof d);
    if (!std::isfinite(d)) continue;
    const std::string text = to_json(Value::real(d));
    double back = 0;
    const auto res = std::from_chars(text.data(), text.data() + text.size(), back);
    ASSERT_EQ(res.ec, std::errc()) << text;
    ASSERT_EQ(std::memcmp(&back, &d, sizeof d), 0) << text;
    ASSERT_NE(text.find_first_of(".e"), std::string::npos) << text;
  }
}

TEST(ToJson, Keys_SortedBytewise) {
  const Value v = object_of({{"b", Value::integer(1)},
                             {"B", Value::integer(2)},
                             {"\xC3\xA9", Value::integer(3)},  // é sorts after every ASCII key
                             {"a", Value::integer(4)},
                             {"aa", Value::integer(5)},
                             {"_", Value::integer(6)}});
  EXPECT_EQ(to_json(v), "{\"B\":2,\"_\":6,\"a\":4,\"aa\":5,\"b\":1,\"\xC3\xA9\":3}");
}

TEST(ToJson, Nested_Compact) {
  Value v = Value::object();
  Value list = Value::array();
  list.items.push_back(Value::integer(1));
  list.items.push_back(Value::object());
  list.items.push_back(Value::array());
  v.fields.emplace("l", list);
  v.fields.emplace("o", object_of({{"k", Value::string("v")}}));
  EXPECT_EQ(to_json(v), R"({"l":[1,{},[]],"o":{"k":"v"}})");
}

TEST(ToJson, Pretty_TwoSpaceIndent) {
  Value v = Value::object();
  Value list = Value::array();
  list.items.push_back(Value::integer(1));
  list.items.push_back(object_of({{"x", Value::null()}}));
  v.fields.emplace("l", list);
  v.fields.emplace("e", Value::object());
  v.fields.emplace("z", Value::array());
  EXPECT_EQ(to_json(v, true),
            "{\n"
            "  \"e\": {},\n"
            "  \"l\": [\n"
            "    1,\n"
            "    {\n"
            "      \"x\": null\n"
            "    }\n"
            "  ],\n"
            "  \"z\": []\n"
            "}");
}

TEST(ToJson, Output_ParsesAsSameDocument) {
  const Value v = parse_file(data_path("good/config.json"), 0);
  const auto reparsed = nlohmann::json::parse(to_json(v));
  const auto original = nlohmann::json::parse(to_json(v, true));
  EXPECT_EQ(reparsed, original);
  EXPECT_EQ(reparsed["service"]["greeting"], "h\xC3\xA9llo \"w\xC3\xB6rld\"\n\ttab");
  EXPECT_TRUE(reparsed["service"]["ratio"].is_number_float());
  EXPECT_TRUE(reparsed["service"]["big"].is_number_integer());
}

TEST(AppendJsonString, Escapes_Rfc8259) {
  EXPECT_EQ(json_string("plain"), "\"plain\"");
  EXPECT_EQ(json_string("q\"b\\s/"), "\"q\\\"b\\\\s/\"");
  EXPECT_EQ(json_string("\b\f\n\r\t"), "\"\\b\\f\\n\\r\\t\"");
  EXPECT_EQ(json_string(std::string_view("\x00\x01\x1f", 3)), "\"\\u0000\\u0001\\u001f\"");
  EXPECT_EQ(json_string("\x7f"), "\"\x7f\"");  // DEL needs no escape
  EXPECT_EQ(json_string("h\xC3\xA9 \xF0\x9F\x98\x80"), "\"h\xC3\xA9 \xF0\x9F\x98\x80\"");
}

TEST(AppendJsonString, Appends_NotReplaces) {
  std::string out = "x=";
  append_json_string(out, "y");
  EXPECT_EQ(out, "x=\"y\"");
}

TEST(AppendJsonString, EveryControlCharacter_ParsesBack) {
  std::string all;
  for (int c = 0; c < 0x80; ++c) all += static_cast<char>(c);
  EXPECT_EQ(nlohmann::json::parse(json_string(all)).get<std::string>(), all);
}

// The escape scan goes sixteen bytes at a time: every byte value, at every
// offset around the block boundaries, in strings of every length up to 48,
// against a byte-by-byte reference.
TEST(AppendJsonString, EveryByteAtEveryOffset_MatchesByteLoop) {
  const auto reference = [](std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "\"";
    for (const char ch : s) {
      const auto c = static_cast<unsigned char>(ch);
      if (c == '"' || c == '\\') {
        out += '\\';
        out += ch;
      } else if (c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t') {
        out += '\\';
        out += c == '\b' ? 'b' : c == '\f' ? 'f' : c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
      } else if (c < 0x20) {
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xF];
      } else {
        out += ch;
      }
    }
    return out + "\"";
  };
  for (std::size_t len = 1; len <= 48; ++len) {
    for (std::size_t at = 0; at < len; ++at) {
      for (int byte = 0; byte < 256; ++byte) {
        std::string s(len, 'a');
        s[at] = static_cast<char>(byte);
        if (byte % 3 == 0 && at + 1 < len) s[len - 1] = '"';  // a second one, later
        ASSERT_EQ(json_string(s), reference(s))
            << "len " << len << " at " << at << " byte " << byte;
      }
    }
  }
  EXPECT_EQ(json_string(""), "\"\"");
}

// ---- content hash and cross-format stability --------------------------------------

TEST(ContentHash, IsXxh3OfCompactJson) {
  const Value v = object_of({{"a", Value::real(1.5)}});
  const std::string json = to_json(v);
  EXPECT_EQ(content_hash(v), XXH3_64bits(json.data(), json.size()));
}

TEST(ContentHash, Origins_Ignored) {
  EXPECT_EQ(content_hash(object_of({{"a", Value::integer(1, Origin{0, 1, 1})}})),
            content_hash(object_of({{"a", Value::integer(1, Origin{3, 9, 9})}})));
}

TEST(ContentHash, DifferentContent_Differs) {
  EXPECT_NE(content_hash(object_of({{"a", Value::integer(1)}})),
            content_hash(object_of({{"a", Value::real(1.0)}})));
  EXPECT_NE(content_hash(object_of({{"a", Value::string("1")}})),
            content_hash(object_of({{"a", Value::integer(1)}})));
}

TEST(CanonicalJson, SameConfigInThreeFormats_Identical) {
  const Value j = parse_file(data_path("good/config.json"), 0);
  const Value y = parse_file(data_path("good/config.yaml"), 1);
  const Value t = parse_file(data_path("good/config.toml"), 2);
  EXPECT_EQ(to_json(j), to_json(y));
  EXPECT_EQ(to_json(j), to_json(t));
  EXPECT_EQ(to_json(j, true), to_json(t, true));
  EXPECT_EQ(content_hash(j), content_hash(y));
  EXPECT_EQ(content_hash(j), content_hash(t));
}

TEST(CanonicalJson, KeyOrderAndWhitespace_DoNotMatter) {
  const Value a = parse_text("{\"b\": 1, \"a\": [1.50, 2e0]}", Format::kJson, "a.json", 0);
  const Value b = parse_text("a: [1.5, 2.0]\nb: 1\n", Format::kYaml, "b.yaml", 0);
  EXPECT_EQ(to_json(a), R"({"a":[1.5,2.0],"b":1})");
  EXPECT_EQ(content_hash(a), content_hash(b));
}

TEST(CanonicalJson, ReparsedOutput_SameHash) {
  const Value v = parse_file(data_path("good/config.yaml"), 0);
  const Value again = parse_text(to_json(v, true), Format::kJson, "again.json", 0);
  EXPECT_EQ(v, again);
  EXPECT_EQ(content_hash(v), content_hash(again));
}

}  // namespace
}  // namespace shmconf::daemon

namespace shmconf::daemon {
namespace {

TEST(FindPath, ObjectsArraysAndMisses) {
  const Value v =
      parse_text(R"({"a": {"b": [10, {"c": "x"}]}, "d": 1})", Format::kJson, "t.json", 0);
  ASSERT_NE(find_path(v, "a.b[0]"), nullptr);
  EXPECT_EQ(find_path(v, "a.b[0]")->i, 10);
  ASSERT_NE(find_path(v, "a.b[1].c"), nullptr);
  EXPECT_EQ(find_path(v, "a.b[1].c")->s, "x");
  EXPECT_EQ(find_path(v, ""), &v);
  EXPECT_EQ(find_path(v, "a.b[2]"), nullptr);
  EXPECT_EQ(find_path(v, "a.b[x]"), nullptr);
  EXPECT_EQ(find_path(v, "a.b[]"), nullptr);
  EXPECT_EQ(find_path(v, "a.c"), nullptr);
  EXPECT_EQ(find_path(v, "a.b.c"), nullptr);  // b is an array
  EXPECT_EQ(find_path(v, "a[0]"), nullptr);   // a is an object
}

}  // namespace
}  // namespace shmconf::daemon
