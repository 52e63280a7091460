// merge_into(): JSON Merge Patch (RFC 7386) over Value trees.
#include <gtest/gtest.h>

#include "parse/parse.hpp"

namespace shmconf::daemon {
namespace {

Value from_json(std::string_view text, std::uint32_t source = 0) {
  return parse_text(text, Format::kJson, "m.json", source);
}

// Merges `overlay` into `base` and returns the canonical JSON of the result.
std::string merged(std::string_view base, std::string_view overlay) {
  Value b = from_json(base);
  merge_into(b, from_json(overlay));
  return to_json(b);
}

TEST(MergeInto, BothObjects_MergedRecursively) {
  EXPECT_EQ(merged(R"({"db": {"host": "a", "pool": {"min": 1, "max": 5}}, "x": 1})",
                   R"({"db": {"pool": {"max": 9}, "port": 5432}})"),
            R"({"db":{"host":"a","pool":{"max":9,"min":1},"port":5432},"x":1})");
}

TEST(MergeInto, ScalarOverScalar_Replaces) {
  EXPECT_EQ(merged(R"({"a": 1})", R"({"a": "one"})"), R"({"a":"one"})");
}

TEST(MergeInto, ArrayOverArray_ReplacesWhole) {
  EXPECT_EQ(merged(R"({"a": [1, 2, 3]})", R"({"a": [9]})"), R"({"a":[9]})");
}

TEST(MergeInto, ObjectOverScalar_Replaces) {
  EXPECT_EQ(merged(R"({"a": 1})", R"({"a": {"b": 2}})"), R"({"a":{"b":2}})");
}

TEST(MergeInto, ScalarOverObject_Replaces) {
  EXPECT_EQ(merged(R"({"a": {"b": 2}})", R"({"a": false})"), R"({"a":false})");
}

TEST(MergeInto, ArrayOverObject_Replaces) {
  EXPECT_EQ(merged(R"({"a": {"b": 2}})", R"({"a": [{"b": 3}]})"), R"({"a":[{"b":3}]})");
}

TEST(MergeInto, NullOverlay_DeletesKey) {
  EXPECT_EQ(merged(R"({"a": 1, "b": {"c": 1, "d": 2}})", R"({"a": null, "b": {"c": null}})"),
            R"({"b":{"d":2}})");
}

TEST(MergeInto, NullOverlayForDeletedSubtree_DeletesWhole) {
  EXPECT_EQ(merged(R"({"a": {"b": {"c": 1}}, "z": 0})", R"({"a": null})"), R"({"z":0})");
}

TEST(MergeInto, NullForMissingKey_NotInserted) {
  EXPECT_EQ(merged(R"({"a": 1})", R"({"b": null})"), R"({"a":1})");
}

TEST(MergeInto, NullsInAddedObject_Dropped) {
  EXPECT_EQ(merged(R"({"a": 1})", R"({"n": {"x": null, "y": {"z": null, "w": 1}}})"),
            R"({"a":1,"n":{"y":{"w":1}}})");
  // The same overlay gives the same result whether base had the object or not.
  EXPECT_EQ(merged(R"({"a": 1, "n": {}})", R"({"n": {"x": null, "y": {"z": null, "w": 1}}})"),
            R"({"a":1,"n":{"y":{"w":1}}})");
}

TEST(MergeInto, NullsInsideArrays_Kept) {
  EXPECT_EQ(merged(R"({"a": 1})", R"({"l": [null, {"k": null}]})"),
            R"({"a":1,"l":[null,{"k":null}]})");
}

TEST(MergeInto, EmptyOverlay_NoChange) {
  const std::string base = R"({"a":[1],"b":{"c":"d"}})";
  EXPECT_EQ(merged(base, "{}"), base);
}

TEST(MergeInto, IntoEmptyBase_CopiesOverlay) {
  Value base = Value::object();
  merge_into(base, from_json(R"({"a": {"b": [1, null]}, "n": null})"));
  EXPECT_EQ(to_json(base), R"({"a":{"b":[1,null]}})");
}

TEST(MergeInto, LaterSources_Win) {
  Value v = from_json(R"({"port": 1, "host": "a", "tls": {"on": false}})", 0);
  merge_into(v, from_json(R"({"port": 2, "tls": {"on": true}})", 1));
  merge_into(v, from_json(R"({"port": 3})", 2));
  EXPECT_EQ(to_json(v), R"({"host":"a","port":3,"tls":{"on":true}})");
}

TEST(MergeInto, Origins_FollowTheWinningValue) {
  Value v = from_json(R"({"a": 1, "b": 2, "o": {"x": 1}})", 0);
  merge_into(v, from_json("{\n\"b\": 3,\n\"o\": {\"y\": 4}}", 1));
  EXPECT_EQ(v.fields.at("a").origin.source, 0u);
  EXPECT_EQ(v.fields.at("b").origin.source, 1u);
  EXPECT_EQ(v.fields.at("b").origin.line, 2u);
  // A merged object stays where it was first defined; its new keys do not.
  EXPECT_EQ(v.fields.at("o").origin.source, 0u);
  EXPECT_EQ(v.fields.at("o").fields.at("x").origin.source, 0u);
  EXPECT_EQ(v.fields.at("o").fields.at("y").origin.source, 1u);
}

TEST(MergeInto, NonObjectRoots_OverlayReplaces) {
  Value base = Value::integer(1);
  merge_into(base, Value::string("s"));
  EXPECT_EQ(base, Value::string("s"));
  Value obj = Value::object();
  obj.fields.emplace("k", Value::integer(1));
  merge_into(obj, Value::null());
  EXPECT_EQ(obj.type, Type::kNull);
}

}  // namespace
}  // namespace shmconf::daemon
