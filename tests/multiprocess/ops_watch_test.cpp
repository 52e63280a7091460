// tests/multiprocess/ops_watch_test.cpp — the running daemon follows every
// common way of saving a file, and publishes only complete content.
//
// For each save style the test saves a sequence of versions of one file
// whose keys never change (only payload.seq does), waits through a client
// (futex wait on the namespace, bounded) until each final value is live,
// then checks the daemon's history: exactly one published version per save,
// in order, each differing from the first only in payload.seq. An empty or
// partial publish would show as a removed key, a changed marker, or an extra
// version. --poll-ms 0 leaves inotify as the only trigger, so a missed event
// fails the test instead of being rescued by the stat() scan.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <vector>

#include "ops_util.hpp"
#include "shmconf/client.hpp"

namespace shmconf::ops_test {
namespace {

using nlohmann::json;

constexpr int kSaves = 4;

// Every version has the same keys; a cut anywhere inside the flow mapping
// is invalid YAML, and the markers sit at both ends.
std::string Content(int seq) {
  return "marker_begin: ops-begin\n"
         "payload: {alpha: 1, beta: two, gamma: [1, 2, 3], seq: " +
         std::to_string(seq) +
         "}\n"
         "filler: " +
         std::string(512, 'x') +
         "\n"
         "marker_end: ops-end\n";
}

class OpsWatch : public OpsFixture {
 protected:
  // Starts the daemon on `source` (already holding Content(0)) and attaches.
  void StartWatching(const fs::path& source) {
    source_ = source;
    StartDaemon({"--keep", "64", "--poll-ms", "0"});
    WaitLive();
    ClientOptions options;
    options.prefix = prefix_;
    client_.emplace(Client::open(kName, options));
    ExpectLive(0);
  }

  // Waits (futex, bounded) until payload.seq == seq is live. Every snapshot
  // seen on the way must be complete.
  void ExpectLive(int seq) {
    const auto deadline = OpsClock::now() + kOpsDeadline;
    for (;;) {
      const Snapshot snap = client_->snapshot();
      if (!snap.empty()) {
        ExpectComplete(snap);
        const auto got = snap.get_int("payload.seq");
        if (got && *got == seq) return;
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - OpsClock::now());
      if (left.count() <= 0) {
        FAIL() << "payload.seq " << seq << " never went live; status: "
               << OpsCall(socket_, {{"cmd", "status"}}).value_or(json()).dump();
      }
      (void)client_->wait_for_change(snap.version(), left);
    }
  }

  static void ExpectComplete(const Snapshot& snap) {
    const auto begin = snap.get_string("marker_begin");
    const auto end = snap.get_string("marker_end");
    EXPECT_TRUE(begin && *begin == "ops-begin") << "version " << snap.version();
    EXPECT_TRUE(end && *end == "ops-end") << "version " << snap.version();
  }

  // Exactly kSaves + 1 versions were published, in save order, each one the
  // first with only payload.seq changed to its save's number.
  void ExpectHistoryComplete() {
    const auto r = Ctl({"--json", "history"});
    ASSERT_EQ(r.rc, 0) << OpsDescribe(r);
    const json history = json::parse(r.out);
    std::vector<std::uint64_t> versions;
    for (const auto& v : history["versions"])
      versions.push_back(v.value("version", std::uint64_t{0}));
    std::sort(versions.begin(), versions.end());
    ASSERT_EQ(versions.size(), static_cast<std::size_t>(kSaves + 1))
        << "one version per save expected; history: " << history.dump();
    for (std::size_t i = 1; i < versions.size(); ++i) {
      SCOPED_TRACE("version " + std::to_string(versions[i]));
      const auto d =
          Ctl({"--json", "diff", std::to_string(versions[0]), std::to_string(versions[i])});
      ASSERT_EQ(d.rc, 0) << OpsDescribe(d);
      const json changes = json::parse(d.out)["changes"];
      ASSERT_EQ(changes.size(), 1u) << changes.dump();
      EXPECT_EQ(changes[0].value("key", ""), "payload.seq") << changes.dump();
      EXPECT_EQ(changes[0].value("change", ""), "changed") << changes.dump();
      EXPECT_EQ(changes[0].value("new", json()), json(static_cast<int>(i))) << changes.dump();
    }
  }

  std::optional<Client> client_;
};

TEST_F(OpsWatch, RenameOver_PublishesEachFinalContentOnly) {
  OpsWriteFile(dir_ / "app.yaml", Content(0));
  StartWatching(dir_ / "app.yaml");
  for (int seq = 1; seq <= kSaves; ++seq) {
    OpsWriteAtomic(source_, Content(seq));
    ExpectLive(seq);
  }
  ExpectHistoryComplete();
}

TEST_F(OpsWatch, SedInPlace_PublishesEachFinalContentOnly) {
  const auto sed = OpsFindTool("sed");
  if (!sed) GTEST_SKIP() << "sed is not installed";
  OpsWriteFile(dir_ / "app.yaml", Content(0));
  StartWatching(dir_ / "app.yaml");
  for (int seq = 1; seq <= kSaves; ++seq) {
    const std::string expr =
        "s/seq: " + std::to_string(seq - 1) + "}/seq: " + std::to_string(seq) + "}/";
    const auto r = OpsRun({sed->string(), "-i", expr, source_.string()});
    ASSERT_EQ(r.rc, 0) << OpsDescribe(r);
    ExpectLive(seq);
  }
  ExpectHistoryComplete();
}

TEST_F(OpsWatch, TruncateThenWrite_NeverPublishesTheHalf) {
  OpsWriteFile(dir_ / "app.yaml", Content(0));
  StartWatching(dir_ / "app.yaml");
  for (int seq = 1; seq <= kSaves; ++seq) {
    const std::string text = Content(seq);
    const std::size_t cut = text.find("beta:") + 5;  // inside the flow mapping
    const int fd = ::open(source_.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, text.data(), cut), static_cast<ssize_t>(cut));
    // A writer pausing mid-file: the pause is the scenario, not
    // synchronisation. Below the 20 ms debounce the burst coalesces; well
    // above it the daemon still waits for the writer to close the file
    // (--write-wait-ms, default 5 s), so it never reads the empty or half
    // file (which would be an invalid flow mapping anyway).
    std::this_thread::sleep_for(std::chrono::milliseconds(seq % 2 == 0 ? 120 : 5));
    ASSERT_EQ(::write(fd, text.data() + cut, text.size() - cut),
              static_cast<ssize_t>(text.size() - cut));
    ::close(fd);
    ExpectLive(seq);
  }
  ExpectHistoryComplete();
  // The daemon never read a torn file: no reload was rejected.
  const auto status = OpsCall(socket_, {{"cmd", "status"}});
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->value("reloads_failed", -1), 0) << status->dump();
}

TEST_F(OpsWatch, SymlinkSwap_PublishesEachFinalContentOnly) {
  const auto ln = OpsFindTool("ln");
  if (!ln) GTEST_SKIP() << "ln is not installed";
  const fs::path store = dir_ / "versions";
  fs::create_directories(store);
  for (int seq = 0; seq <= kSaves; ++seq) {
    OpsWriteFile(store / ("v" + std::to_string(seq) + ".yaml"), Content(seq));
  }
  fs::create_symlink(store / "v0.yaml", dir_ / "app.yaml");
  StartWatching(dir_ / "app.yaml");
  for (int seq = 1; seq <= kSaves; ++seq) {
    const auto r =
        OpsRun({ln->string(), "-sfn", (store / ("v" + std::to_string(seq) + ".yaml")).string(),
                source_.string()});
    ASSERT_EQ(r.rc, 0) << OpsDescribe(r);
    ExpectLive(seq);
  }
  ExpectHistoryComplete();
}

// What the kubelet does for a mounted ConfigMap: the file is
// app.yaml -> ..data/app.yaml, ..data -> ..<timestamp>; an update writes a
// new timestamped directory, points ..data_tmp at it, renames ..data_tmp
// over ..data, and removes the old directory.
TEST_F(OpsWatch, KubernetesDataSwap_PublishesEachFinalContentOnly) {
  const fs::path cm = dir_ / "configmap";
  fs::create_directories(cm);
  auto stamp = [](int seq) { return "..2024_01_01_00_00_0" + std::to_string(seq) + ".000000001"; };
  fs::create_directories(cm / stamp(0));
  OpsWriteFile(cm / stamp(0) / "app.yaml", Content(0));
  fs::create_directory_symlink(stamp(0), cm / "..data");
  fs::create_symlink("..data/app.yaml", cm / "app.yaml");
  StartWatching(cm / "app.yaml");
  for (int seq = 1; seq <= kSaves; ++seq) {
    fs::create_directories(cm / stamp(seq));
    OpsWriteFile(cm / stamp(seq) / "app.yaml", Content(seq));
    fs::create_directory_symlink(stamp(seq), cm / "..data_tmp");
    fs::rename(cm / "..data_tmp", cm / "..data");
    fs::remove_all(cm / stamp(seq - 1));
    ExpectLive(seq);
  }
  ExpectHistoryComplete();
}

}  // namespace
}  // namespace shmconf::ops_test
