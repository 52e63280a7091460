// The content hash a reload computes beside the build (core/async_hash.hpp):
// the published header holds content_hash() of the tree, on the inline path
// (a small tree) and on the second thread (more than 4096 values); a
// candidate identical to the live version publishes nothing, and the size
// guards, which now run after the hash, still refuse a new candidate.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/namespace_service.hpp"
#include "parse/parse.hpp"
#include "shmconf/client.hpp"
#include "support/shm_prefix.hpp"

namespace shmconf::daemon {
namespace {

namespace fs = std::filesystem;

std::string keys_json(int n, int base) {
  std::string out = "{";
  for (int i = 0; i < n; ++i) {
    out += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":" + std::to_string(base + i);
  }
  return out + "}";
}

class ReloadHashTest : public testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    static int counter = 0;
    const std::string id = std::to_string(::getpid()) + "n" + std::to_string(++counter);
    dir_ = fs::temp_directory_path() / ("shmconf-rhash-" + id);
    fs::create_directories(dir_);
    prefix_ = "urh" + id;
    opts_.name = "app";
    opts_.prefix = prefix_;
    opts_.sources = {file_source(path())};
  }
  void TearDown() override {
    test::unlink_prefix(prefix_);
    fs::remove_all(dir_);
  }
  std::string path() const { return (dir_ / "app.json").string(); }
  void write(const std::string& text) { std::ofstream(path()) << text; }
  std::uint64_t live_hash() {
    ClientOptions co;
    co.prefix = prefix_;
    return Client::open("app", co).snapshot().content_hash();
  }
  std::uint64_t file_hash() { return content_hash(parse_file(path(), 0)); }

  fs::path dir_;
  std::string prefix_;
  ServiceOptions opts_;
};

TEST_P(ReloadHashTest, PublishedHeaderHoldsTheTreesHash_IdenticalPublishesNothing) {
  const int keys = GetParam();
  write(keys_json(keys, 0));
  NamespaceService svc(opts_);
  svc.start();
  ReloadOutcome out = svc.reload("test");
  ASSERT_TRUE(out.ok && out.published) << out.error;
  EXPECT_EQ(live_hash(), file_hash());
  EXPECT_EQ(out.source_hash, file_hash());

  out = svc.reload("test");
  EXPECT_TRUE(out.ok) << out.error;
  EXPECT_FALSE(out.published);
  EXPECT_NE(out.message.find("unchanged: content identical to live version 1"), std::string::npos)
      << out.message;
  EXPECT_EQ(svc.live_version(), 1u);

  write(keys_json(keys, 7));
  out = svc.reload("test");
  ASSERT_TRUE(out.ok && out.published) << out.error;
  EXPECT_EQ(svc.live_version(), 2u);
  EXPECT_EQ(live_hash(), file_hash());
}

TEST_P(ReloadHashTest, SizeGuard_RefusesANewCandidate) {
  const int keys = GetParam();
  write(keys_json(keys, 0));
  opts_.guards.min_keys = static_cast<std::size_t>(keys);
  NamespaceService svc(opts_);
  svc.start();
  ASSERT_TRUE(svc.reload("test").ok);
  write(keys_json(keys - 1, 0));
  const ReloadOutcome out = svc.reload("test");
  EXPECT_FALSE(out.ok);
  EXPECT_EQ(out.error_kind, "guard") << out.error;
  EXPECT_EQ(svc.live_version(), 1u);
}

INSTANTIATE_TEST_SUITE_P(InlineAndThreaded, ReloadHashTest, testing::Values(10, 6000));

}  // namespace
}  // namespace shmconf::daemon
