// tests/multiprocess/crash_test.cpp — shmconfd killed with SIGKILL at each
// step of a publish, then restarted, while a reader process reads without
// pause. The reader never sees a version go backwards (there is no rollback
// here), never sees one version number with two contents, never gets an
// error; the restarted daemon serves what the sources say (or the adopted
// live version when they are unchanged), numbers above every version ever
// made live, persists what is live and leaves no orphan segment.
//
// The kill points are events, not delays:
//   SegmentCreated  a segment built and never flipped (publish step 1 done).
//                   The window is microseconds wide, so the test kills the
//                   daemon and then makes that orphan itself with the
//                   daemon's own Publisher.
//   Flipped         a client was woken by the flip (futex): the state
//                   directory may not hold the version yet.
//   StateWriting    the first file the publish creates in the state
//                   directory appeared: flipped, state.json not written.
//   burst           a client saw the k-th publish of a burst of reloads
//                   driven through the control socket: the daemon is
//                   somewhere in its next publish, or between two.
//   reboot          after a SIGKILL, /dev/shm is emptied: the last live
//                   version comes back from the state directory, same number
//                   and content, before the sources are read.
// restart_test.cpp covers a reader across one SIGKILL, adoption, SIGTERM and
// reboots after a clean stop; this file covers the publish steps.
#include <sys/inotify.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "core/namespace_service.hpp"
#include "harness.hpp"
#include "publish/builder.hpp"
#include "publish/publisher.hpp"
#include "publish/render.hpp"

namespace shmconf::mptest {
namespace {

constexpr char kOrphanHost[] = "orphan.invalid";

std::string yaml(int port) {
  return "database:\n  host: db.internal\n  port: " + std::to_string(port) + "\n";
}

// Writes `content` to `path` by rename, as an editor would; usable in a
// forked child (no gtest).
bool replace_file(const std::string& path, const std::string& content) {
  const std::string tmp = std::filesystem::path(path).parent_path().string() + "/." +
                          std::filesystem::path(path).filename().string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out.good()) return false;
  }
  return ::rename(tmp.c_str(), path.c_str()) == 0;
}

// Reads without pause. On "report" answers
//   "reads R errors E versions N backwards B reuse U orphan O last V"
// where errors are failed reads, backwards counts a version lower than one
// already seen, reuse a version seen with two content hashes, orphan reads
// of the orphan segment's content. "exit" ends it.
int watching_reader(const std::string& prefix, const std::string& ns, int cmd, int out) {
  auto c = open_or_report(prefix, ns, out);
  if (!c) return 1;
  LineReader commands(cmd);
  std::map<std::uint64_t, std::uint64_t> seen;  // version -> content hash
  std::uint64_t reads = 0, errors = 0, backwards = 0, reuse = 0, orphan = 0, last = 0;
  report(out, "started");
  for (;;) {
    for (int i = 0; i < 256; ++i) {
      const shmconf::Snapshot snap = c->snapshot();
      ++reads;
      const auto port = snap.get_int("database.port");
      const auto host = snap.get_string("database.host");
      if (snap.empty() || !port || !host) {
        ++errors;
        continue;
      }
      if (*host == kOrphanHost) ++orphan;
      const std::uint64_t v = snap.version();
      if (v < last) ++backwards;
      last = std::max(last, v);
      auto [it, fresh] = seen.emplace(v, snap.content_hash());
      if (!fresh && it->second != snap.content_hash()) ++reuse;
    }
    auto line = commands.next(Clock::now());  // a try: reading goes on
    if (!line) {
      if (commands.eof()) return 2;
      continue;
    }
    if (*line == "exit") return 0;
    if (*line == "report") {
      report(out, "reads " + std::to_string(reads) + " errors " + std::to_string(errors) +
                      " versions " + std::to_string(seen.size()) + " backwards " +
                      std::to_string(backwards) + " reuse " + std::to_string(reuse) + " orphan " +
                      std::to_string(orphan) + " last " + std::to_string(last));
    }
  }
}

struct ReaderReport {
  std::uint64_t reads = 0, errors = 0, versions = 0, backwards = 0, reuse = 0, orphan = 0, last = 0;
};

ReaderReport parse_report(const std::optional<std::string>& line) {
  if (!line) throw std::runtime_error("no report from the reader");
  ReaderReport r;
  std::istringstream in(*line);
  std::string w[7];
  in >> w[0] >> r.reads >> w[1] >> r.errors >> w[2] >> r.versions >> w[3] >> r.backwards >> w[4] >>
      r.reuse >> w[5] >> r.orphan >> w[6] >> r.last;
  if (w[0] != "reads" || !in) throw std::runtime_error("bad report: " + *line);
  return r;
}

// Drives reloads through the control socket: writes the source, asks for a
// reload, again, until a request fails (the daemon died). Reports
// "stopped P", P the port the source holds at the end.
int reload_burst(const std::string& socket, const std::string& source, int first_port, int out) {
  int port = first_port;
  for (int i = 0; i < 100000; ++i, ++port) {
    if (!replace_file(source, yaml(port))) {
      report(out, "error write " + source);
      return 1;
    }
    try {
      (void)daemon::control_call(socket, {{"cmd", "reload"}}, kWait);
    } catch (const std::exception&) {
      report(out, "stopped " + std::to_string(port));
      return 0;
    }
  }
  report(out, "error the daemon never died");
  return 1;
}

// What a daemon killed between publish steps 1 and 2 leaves: a complete,
// valid segment for version `version` that the control block never pointed
// at. Its content (host kOrphanHost) is in no source. Returns its id.
std::uint64_t make_orphan(const std::string& prefix, const std::string& ns, std::uint64_t version,
                          int port) {
  daemon::Publisher pub(prefix, ns, daemon::ShmAccess{});
  daemon::Value db = daemon::Value::object();
  db.fields["host"] = daemon::Value::string(kOrphanHost);
  db.fields["port"] = daemon::Value::integer(port);
  daemon::Value root = daemon::Value::object();
  root.fields["database"] = std::move(db);
  const daemon::SourceList sources = {"test:orphan"};
  daemon::BuildInput in;
  in.root = &root;
  in.sources = &sources;
  in.version = version;
  in.publish_time_ns = daemon::wall_clock_ns();
  in.content_hash = daemon::content_hash(root);
  in.trigger = "orphan";
  return pub.create(daemon::SnapshotBuilder(in))->id;
}

// The control block's live record and max_version, read directly.
struct ControlPeek {
  std::uint64_t live = 0;
  std::uint64_t max = 0;
};

class CrashTestBase : public MultiProcessTest {
 protected:
  void SetUp() override {
    MultiProcessTest::SetUp();
    sources_ = {"config.yaml"};
    write_source("config.yaml", yaml(1000));
  }

  // Read with the daemon dead or idle, so no seqlock is needed.
  ControlPeek peek_control() {
    const std::string name = "/" + prefix_ + "." + ns_ + ".ctl";
    Fd fd(::shm_open(name.c_str(), O_RDONLY | O_CLOEXEC, 0));
    if (!fd) {
      ADD_FAILURE() << "shm_open(" << name << "): " << std::strerror(errno);
      return {};
    }
    void* p = ::mmap(nullptr, format::kControlObjectSize, PROT_READ, MAP_SHARED, fd.get(), 0);
    if (p == MAP_FAILED) {
      ADD_FAILURE() << "mmap(" << name << "): " << std::strerror(errno);
      return {};
    }
    const auto* c = static_cast<const format::ControlBlock*>(p);
    ControlPeek r;
    r.live = __atomic_load_n(&c->rec_version, __ATOMIC_ACQUIRE);
    r.max = __atomic_load_n(&c->max_version, __ATOMIC_RELAXED);
    ::munmap(p, format::kControlObjectSize);
    return r;
  }

  nlohmann::json state_json() const {
    const std::string text = read_text(state_dir_ + "/" + ns_ + "/state.json");
    return text.empty() ? nlohmann::json::object() : nlohmann::json::parse(text);
  }

  bool version_saved(std::uint64_t v) const {
    return std::filesystem::exists(state_dir_ + "/" + ns_ + "/versions/" + std::to_string(v) +
                                   ".seg");
  }

  void kill_daemon(Process& d) {
    d.kill(SIGKILL);
    ASSERT_TRUE(d.wait(deadline()));
    ASSERT_TRUE(WIFSIGNALED(*d.status)) << describe_status(*d.status);
  }

  // Restarts the daemon after a kill that left `dead` in the control block
  // and checks it: it serves `want_port`, keeps the adopted live version
  // when the sources did not change, else numbers the new one above every
  // version ever made live; shared memory holds the control block and the
  // retained segments only; the state directory holds the live version.
  // Returns the new daemon.
  Process& restart_and_check(const std::string& where, const ControlPeek& dead, int want_port,
                             bool sources_changed, shmconf::Client& client) {
    Process& d = run_daemon();
    const nlohmann::json status = status_json();
    const auto live = status.value("live_version", std::uint64_t{0});
    EXPECT_TRUE(await_version(client, live)) << where;
    EXPECT_EQ(client.get_int("database.port").value_or(-1), want_port) << where;
    if (sources_changed) {
      EXPECT_GT(live, dead.max) << where << ": a version number was reused";
    } else {
      EXPECT_EQ(live, dead.live) << where << ": the adopted live version was replaced";
    }
    EXPECT_EQ(peek_control().max, std::max(live, dead.max)) << where;
    const auto objects = shm_objects(prefix_);
    EXPECT_EQ(objects.size(), 1u + status.value("retained", 0u))
        << where << ": " << testing::PrintToString(objects);
    const nlohmann::json state = state_json();
    EXPECT_EQ(state.value("live_version", std::uint64_t{0}), live) << where;
    EXPECT_GT(state.value("next_version", std::uint64_t{0}), std::max(live, dead.max)) << where;
    EXPECT_TRUE(version_saved(live)) << where << ": version " << live;
    for (const auto& e : std::filesystem::recursive_directory_iterator(state_dir_)) {
      EXPECT_FALSE(e.path().string().ends_with(".tmp")) << where << ": left " << e.path();
    }
    return d;
  }

  ForkedChild& start_reader() {
    const std::string prefix = prefix_, ns = ns_;
    ForkedChild& reader = start_child(
        [prefix, ns](int cmd, int out) { return watching_reader(prefix, ns, cmd, out); });
    EXPECT_EQ(reader.next_report(), "started");
    return reader;
  }

  // Asks the reader for its report, ends it and checks what it saw.
  void finish_reader(ForkedChild& reader, std::uint64_t min_versions) {
    ASSERT_TRUE(reader.command("report"));
    const std::optional<std::string> line = reader.next_report();
    const ReaderReport r = parse_report(line);
    EXPECT_EQ(r.errors, 0u) << *line;
    EXPECT_EQ(r.backwards, 0u) << *line;
    EXPECT_EQ(r.reuse, 0u) << *line;
    EXPECT_EQ(r.orphan, 0u) << *line;
    EXPECT_GE(r.versions, min_versions) << *line;
    ASSERT_TRUE(reader.command("exit"));
    ASSERT_TRUE(reader.proc.wait(deadline()));
    EXPECT_TRUE(reader.proc.exited_ok()) << describe_status(*reader.proc.status);
  }
};

enum class KillPoint { kSegmentCreated, kFlipped, kStateWriting };

struct CrashCase {
  const char* name;
  KillPoint point;
};
std::ostream& operator<<(std::ostream& os, const CrashCase& c) { return os << c.name; }

class CrashPointTest : public CrashTestBase, public ::testing::WithParamInterface<CrashCase> {};

TEST_P(CrashPointTest, SigkillAtPublishStep_RestartKeepsReadersAndNumberingConsistent) {
  const KillPoint point = GetParam().point;
  const int cycles = kSanitized ? 2 : 4;
  Process* d = &run_daemon();
  auto client = open_client();
  ForkedChild& reader = start_reader();
  int port = 1000;
  const std::string versions_dir = state_dir_ + "/" + ns_ + "/versions";

  for (int i = 1; i <= cycles; ++i) {
    const std::string where = std::string(GetParam().name) + " cycle " + std::to_string(i);
    const std::uint64_t before = client.version();
    // SegmentCreated alternates: the sources edited while the daemon was
    // down, or not (then the adopted live version must stay).
    const bool edit = point != KillPoint::kSegmentCreated || i % 2 == 1;
    if (edit) ++port;
    if (point == KillPoint::kSegmentCreated) {
      ASSERT_NO_FATAL_FAILURE(kill_daemon(*d));
      if (edit) write_source("config.yaml", yaml(port));
      const ControlPeek dead = peek_control();
      const std::uint64_t orphan = make_orphan(prefix_, ns_, dead.max + 1, 9000 + i);
      const std::string orphan_name = prefix_ + "." + ns_ + ".seg." + std::to_string(orphan);
      const auto with_orphan = shm_objects(prefix_);
      ASSERT_EQ(std::count(with_orphan.begin(), with_orphan.end(), orphan_name), 1);
      d = &restart_and_check(where, dead, port, edit, client);
      const auto objects = shm_objects(prefix_);
      EXPECT_EQ(std::count(objects.begin(), objects.end(), orphan_name), 0)
          << where << ": orphan left";
      continue;
    }
    Fd ino(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
    ASSERT_TRUE(ino);
    ASSERT_GE(::inotify_add_watch(ino.get(), versions_dir.c_str(), IN_CREATE), 0)
        << versions_dir << ": " << std::strerror(errno);
    write_source("config.yaml", yaml(port));
    if (point == KillPoint::kFlipped) {
      auto woke = client.wait_for_change(before, kWait);
      ASSERT_TRUE(woke && *woke > before) << where << ": no publish after the edit";
    } else {
      // The daemon writes the version's file after the flip, state.json after it.
      pollfd p{ino.get(), POLLIN, 0};
      ASSERT_EQ(::poll(&p, 1, ms_until(deadline())), 1) << where << ": no state file written";
    }
    ASSERT_NO_FATAL_FAILURE(kill_daemon(*d));
    const ControlPeek dead = peek_control();
    ASSERT_GT(dead.live, before) << where;  // the flip happened before the kill
    ASSERT_EQ(dead.max, dead.live) << where;
    // Sources unchanged since the flip: the adopted version stays, and the
    // restart persists it.
    d = &restart_and_check(where, dead, port, false, client);
  }

  // An ordinary edit still publishes the next number.
  const std::uint64_t max = peek_control().max;
  write_source("config.yaml", yaml(2000));
  ASSERT_TRUE(await_version(client, max + 1));
  EXPECT_EQ(client.get_int("database.port").value_or(-1), 2000);
  finish_reader(reader, 2);
}

INSTANTIATE_TEST_SUITE_P(Crash, CrashPointTest,
                         ::testing::Values(CrashCase{"SegmentCreated", KillPoint::kSegmentCreated},
                                           CrashCase{"Flipped", KillPoint::kFlipped},
                                           CrashCase{"StateWriting", KillPoint::kStateWriting}),
                         [](const auto& p) { return std::string(p.param.name); });

class CrashTest : public CrashTestBase {};

TEST_F(CrashTest, SigkillDuringReloadBurst_RestartServesSourcesAndNumbersAboveAll) {
  const int rounds = kSanitized ? 2 : 3;
  Process* d = &run_daemon();
  auto client = open_client();
  ForkedChild& reader = start_reader();
  const std::string socket = socket_, source = path("config.yaml");

  for (int round = 1; round <= rounds; ++round) {
    const std::string where = "round " + std::to_string(round);
    const std::uint64_t start = client.version();
    const int first_port = 3000 + 1000 * round;
    ForkedChild& burst = start_child([socket, source, first_port](int, int out) {
      return reload_burst(socket, source, first_port, out);
    });
    // Kill once a client has seen `round` publishes of the burst: the
    // daemon is then in its next request, persisting, or publishing.
    const std::uint64_t target = start + static_cast<std::uint64_t>(round);
    while (client.version() < target) {
      auto woke = client.wait_for_change(client.version(), kWait);
      ASSERT_TRUE(woke) << where
                        << ": no publish; burst: " << burst.next_report(Clock::now()).value_or("");
    }
    ASSERT_NO_FATAL_FAILURE(kill_daemon(*d));
    const ControlPeek dead = peek_control();
    const std::optional<std::string> stopped = burst.next_report();
    ASSERT_TRUE(stopped && stopped->starts_with("stopped ")) << stopped.value_or("(none)");
    ASSERT_TRUE(burst.proc.wait(deadline()));
    const int port = std::stoi(stopped->substr(8));
    // Whether the last edit was published before the kill is the race
    // under test: the restart either keeps the adopted version (it holds
    // the last edit) or publishes a new number above all.
    const bool published_last = dead.live != 0 && [&] {
      auto snap = client.snapshot();
      return snap.version() == dead.live && snap.get_int("database.port").value_or(-1) == port;
    }();
    d = &restart_and_check(where, dead, port, !published_last, client);
  }
  const std::uint64_t max = peek_control().max;
  write_source("config.yaml", yaml(2000));
  ASSERT_TRUE(await_version(client, max + 1));
  finish_reader(reader, 2);
}

TEST_F(CrashTest, SigkillBeforeFirstFlip_OrphanRemovedAndNeverServed) {
  // What a daemon killed between steps 1 and 2 of its very first publish
  // leaves: a control block that never named a segment, and one segment.
  const std::uint64_t orphan = make_orphan(prefix_, ns_, 1, 9001);
  const std::string orphan_name = prefix_ + "." + ns_ + ".seg." + std::to_string(orphan);
  ASSERT_EQ(shm_objects(prefix_).size(), 2u);
  ASSERT_EQ(peek_control().live, 0u);

  run_daemon();
  auto client = open_client();
  EXPECT_EQ(client.get_int("database.port").value_or(-1), 1000);
  EXPECT_NE(client.snapshot().get_string("database.host").value_or(""), kOrphanHost);
  const auto objects = shm_objects(prefix_);
  EXPECT_EQ(std::count(objects.begin(), objects.end(), orphan_name), 0)
      << testing::PrintToString(objects);
  const nlohmann::json status = status_json();
  EXPECT_EQ(status.value("retained", 0u), 1u) << status.dump();
  EXPECT_EQ(objects.size(), 1u + status.value("retained", 0u));
  // Nothing of the orphan is kept as history, so no rollback can reach it.
  const nlohmann::json history = control({{"cmd", "history"}});
  EXPECT_EQ(history.value("versions", nlohmann::json::array()).size(), 1u) << history.dump();
  EXPECT_EQ(state_json().value("versions", nlohmann::json::array()).size(), 1u);
}

TEST_F(CrashTest, SigkillThenReboot_RestoresLastLiveVersionBeforeReadingSources) {
  Process& first = run_daemon();
  ForkedChild& reader = start_reader();
  std::uint64_t live_hash = 0;
  {
    auto client = open_client();
    write_source("config.yaml", yaml(1001));
    ASSERT_TRUE(await_version(client, 2));
    live_hash = client.snapshot().content_hash();
  }
  // The audit line is written once the publish is persisted.
  ASSERT_TRUE(wait_for_audit("\"to_version\":2"));
  ASSERT_NO_FATAL_FAILURE(kill_daemon(first));
  // The reader attached before the reboot keeps what it mapped.
  finish_reader(reader, 1);

  unlink_shm_objects(prefix_);
  ASSERT_TRUE(shm_objects(prefix_).empty());
  write_source("config.yaml", yaml(1002));

  run_daemon();
  auto client = open_client();
  ASSERT_TRUE(await_version(client, 3));
  const shmconf::Snapshot snap = client.snapshot();
  EXPECT_EQ(snap.get_int("database.port").value_or(-1), 1002);
  // Version 3 was built against a live version 2: 2 was restored first.
  EXPECT_EQ(snap.prev_version(), 2u);
  const nlohmann::json history = control({{"cmd", "history"}});
  bool restored = false, published = false;
  for (const auto& e : history.value("events", nlohmann::json::array())) {
    if (e.value("event", "") == "restore" && e.value("version", 0) == 2) restored = true;
    if (e.value("event", "") == "publish" && e.value("version", 0) == 3) {
      EXPECT_TRUE(restored) << "published before the restore: " << history.dump();
      EXPECT_EQ(e.value("from", 0), 2) << history.dump();
      published = true;
    }
  }
  EXPECT_TRUE(restored && published) << history.dump();
  bool same_content = false;
  for (const auto& v : history.value("versions", nlohmann::json::array())) {
    if (v.value("version", 0) == 2)
      same_content = v.value("content_hash", "") == daemon::hex64(live_hash);
  }
  EXPECT_TRUE(same_content) << "version 2 restored with other content: " << history.dump();
  EXPECT_EQ(shm_objects(prefix_).size(), 1u + status_json().value("retained", 0u));
  EXPECT_EQ(peek_control().max, 3u);
}

}  // namespace
}  // namespace shmconf::mptest
