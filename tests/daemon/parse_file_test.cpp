// Reading files: extensions, missing and oversized files, fixtures read in place.
// Hostile inputs (tests/data/bad/) must fail cleanly, never crash.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "parse/parse.hpp"
#include "parse_test_util.hpp"

namespace shmconf::daemon {
namespace {

using namespace parse_test;

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
