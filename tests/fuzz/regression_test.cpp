// Replays every fuzz harness (tests/fuzz/*_fuzz.cpp) over its seed inputs
// and its saved crash inputs (tests/data/fuzz-regressions/<harness>/), so a
// crash the fuzzer once found stays fixed in every tree, GCC ones included.
// A harness aborts on a broken property; ctest runs each test in its own
// process, so that fails exactly the harness's test.
#include <glob.h>
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz/fuzz.hpp"

namespace {

using Target = int (*)(const std::uint8_t*, std::size_t);

const std::map<std::string, Target>& targets() {
  static const std::map<std::string, Target> table{
      {"segment", shmconf::fuzz::segment},
      {"segment_mutate", shmconf::fuzz::segment_mutate},
      {"parse_json", shmconf::fuzz::parse_json},
      {"parse_yaml", shmconf::fuzz::parse_yaml},
      {"parse_toml", shmconf::fuzz::parse_toml},
      {"daemon_config", shmconf::fuzz::daemon_config},
      {"control_request", shmconf::fuzz::control_request},
      {"schema", shmconf::fuzz::schema},
  };
  return table;
}

const std::string kRoot = std::string(SHMCONF_TEST_DATA) + "/../..";

std::vector<std::string> expand(const std::string& pattern) {
  std::vector<std::string> out;
  glob_t g{};
  if (glob(pattern.c_str(), 0, nullptr, &g) == 0) {
    for (std::size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  }
  globfree(&g);
  return out;
}

// name -> seed globs, from tests/fuzz/targets.
std::map<std::string, std::vector<std::string>> manifest() {
  std::map<std::string, std::vector<std::string>> out;
  std::ifstream in(kRoot + "/tests/fuzz/targets");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::string name, dict, glob_pattern;
    words >> name >> dict;
    auto& globs = out[name];
    while (words >> glob_pattern) globs.push_back(glob_pattern);
  }
  return out;
}

class FuzzRegression : public testing::TestWithParam<std::string> {};

TEST_P(FuzzRegression, SeedsAndCrashInputs_Replay_WithoutFailure) {
  const std::string& name = GetParam();
  const auto m = manifest();
  ASSERT_TRUE(m.count(name)) << "tests/fuzz/targets lists no harness " << name;
  std::vector<std::string> files = expand(kRoot + "/tests/data/fuzz-regressions/" + name + "/*");
  for (const std::string& pattern : m.at(name)) {
    for (std::string& f : expand(kRoot + "/" + pattern)) files.push_back(std::move(f));
  }
  EXPECT_FALSE(files.empty());
  for (const std::string& f : files) {
    SCOPED_TRACE(f);
    std::ifstream in(f, std::ios::binary);
    ASSERT_TRUE(in) << "cannot read " << f;
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(targets().at(name)(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()),
              0);
  }
}

TEST(FuzzRegression, Manifest_ListsEveryHarness) {
  const auto m = manifest();
  EXPECT_EQ(m.size(), targets().size());
  for (const auto& [name, fn] : targets()) EXPECT_TRUE(m.count(name)) << name;
}

std::vector<std::string> target_names() {
  std::vector<std::string> out;
  for (const auto& [name, fn] : targets()) out.push_back(name);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Harness, FuzzRegression, testing::ValuesIn(target_names()),
                         [](const testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
