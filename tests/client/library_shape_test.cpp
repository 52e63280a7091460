// tests/client/library_shape_test.cpp — what libshmconf.so links and
// exports, read with binutils (as simdjson checks its own library's shape):
// a reading process never links parser, logging or Boost code
// (docs/ARCHITECTURE.md),
// and every C ABI function is exported.
//
// SHMCONF_CLIENT_LIB is the built library's path (tests/CMakeLists.txt).
// The tests skip when readelf or nm is not installed.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace shmconf {
namespace {

bool have_tool(const std::string& tool) {
  return std::system(("command -v " + tool + " >/dev/null 2>&1").c_str()) == 0;
}

// stdout of `cmd`, or nullopt-like empty + ok=false when it failed.
std::string run(const std::string& cmd, bool* ok) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) {
    *ok = false;
    return out;
  }
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *ok = ::pclose(p) == 0;
  return out;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(LibraryShape, Needed_NoParserLoggingOrBoostLibraries) {
  if (!have_tool("readelf")) GTEST_SKIP() << "readelf not installed";
  bool ok = false;
  const std::string out = run(std::string("readelf -d '") + SHMCONF_CLIENT_LIB + "'", &ok);
  ASSERT_TRUE(ok) << out;
  int needed = 0;
  for (const std::string& line : lines_of(out)) {
    if (!contains(line, "(NEEDED)")) continue;
    ++needed;
    for (const char* banned :
         {"yaml", "simdjson", "toml", "spdlog", "libfmt", "boost", "systemd"}) {
      EXPECT_FALSE(contains(line, banned)) << "libshmconf links " << banned << ": " << line;
    }
  }
  EXPECT_GT(needed, 0) << out;  // the parse found the dynamic section
}

TEST(LibraryShape, Soname_VersionedMajor) {
  if (!have_tool("readelf")) GTEST_SKIP() << "readelf not installed";
  bool ok = false;
  const std::string out = run(std::string("readelf -d '") + SHMCONF_CLIENT_LIB + "'", &ok);
  ASSERT_TRUE(ok) << out;
  EXPECT_TRUE(contains(out, "(SONAME)") && contains(out, "[libshmconf.so.0]")) << out;
}

TEST(LibraryShape, DefinedSymbols_NoParserOrLoggingCode) {
  if (!have_tool("nm")) GTEST_SKIP() << "nm not installed";
  bool ok = false;
  const std::string out =
      run(std::string("nm -D -C --defined-only '") + SHMCONF_CLIENT_LIB + "'", &ok);
  ASSERT_TRUE(ok) << out;
  for (const std::string& line : lines_of(out)) {
    for (const char* banned :
         {"YAML::", "simdjson::", "spdlog::", "fmt::", "toml::", "nlohmann::", "boost::"}) {
      EXPECT_FALSE(contains(line, banned)) << line;
    }
  }
}

TEST(LibraryShape, CApi_EveryFunctionExported) {
  if (!have_tool("nm")) GTEST_SKIP() << "nm not installed";
  bool ok = false;
  const std::string out =
      run(std::string("nm -D --defined-only '") + SHMCONF_CLIENT_LIB + "'", &ok);
  ASSERT_TRUE(ok) << out;
  std::vector<std::string> exported;
  for (const std::string& line : lines_of(out)) {
    // "<address> T <name>"
    const std::size_t sp = line.rfind(' ');
    if (sp != std::string::npos && sp >= 2 && line[sp - 1] == 'T') {
      exported.push_back(line.substr(sp + 1));
    }
  }
  for (const char* fn : {"shmconf_open",
                         "shmconf_open_prefix",
                         "shmconf_open_with",
                         "shmconf_close",
                         "shmconf_version",
                         "shmconf_snapshot_acquire",
                         "shmconf_snapshot_release",
                         "shmconf_snapshot_version",
                         "shmconf_get_type",
                         "shmconf_get_int64",
                         "shmconf_get_double",
                         "shmconf_get_bool",
                         "shmconf_get_string",
                         "shmconf_snapshot_list",
                         "shmconf_wait_for_change",
                         "shmconf_strerror",
                         "shmconf_generation",
                         "shmconf_get_value",
                         "shmconf_subscribe",
                         "shmconf_subscription_stop"}) {
    bool found = false;
    for (const std::string& e : exported) found = found || e == fn;
    EXPECT_TRUE(found) << fn << " is not exported by libshmconf.so";
  }
}

}  // namespace
}  // namespace shmconf
