// tests/client/client_api_test.cpp — the C++ client against a real Publisher
// in this process, on a unique shm prefix: attach errors, typed getters,
// Key handles, snapshot pinning, rollback, wait_for_change, subscribe,
// refused segments, and readers racing a publisher.
//
// Waits carry generous timeouts that only turn a hang into a failure;
// nothing sleeps to synchronise.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "client/test_util.hpp"

namespace shmconf {
namespace {

using namespace std::chrono_literals;
using format::Change;

constexpr auto kHangGuard = 20s;

class ClientApi : public ::testing::Test {
 protected:
  Client open_client() {
    auto r = Client::try_open(test::TestPublisher::kNs, pub_.options());
    EXPECT_TRUE(r.has_value()) << static_cast<int>(r.error());
    return std::move(r).value();
  }

  // Puts `bytes` on segment id `id` of this namespace, mode `mode`,
  // without the Publisher's self-check.
  void create_segment_object(std::uint64_t id, const std::vector<std::byte>& bytes,
                             mode_t mode = 0644) {
    const std::string name = segment_object_name(pub_.prefix(), test::TestPublisher::kNs, id);
    const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    ASSERT_EQ(::fchmod(fd, mode), 0);
    ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    ::close(fd);
  }

  // Points the control block at segment `id` with the record of `view`.
  void flip_to_id(std::uint64_t id, const SegmentView& view) {
    daemon::Segment seg;
    seg.id = id;
    seg.view = view;
    pub_.publisher().flip(seg);
  }

  test::TestPublisher pub_;
};

// ---- attach ------------------------------------------------------------------------

TEST(ClientOpen, MissingNamespace_NoNamespace) {
  ClientOptions o;
  o.prefix = test::unique_prefix();
  auto r = Client::try_open("app", o);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), Errc::kNoNamespace);
}

TEST(ClientOpen, MissingNamespaceThrowing_ErrorWithCode) {
  ClientOptions o;
  o.prefix = test::unique_prefix();
  try {
    (void)Client::open("app", o);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kNoNamespace);
    EXPECT_NE(std::string(e.what()).find("app"), std::string::npos) << e.what();
  }
}

TEST(ClientOpen, InvalidNames_Invalid) {
  ClientOptions o;
  o.prefix = test::unique_prefix();
  for (const char* bad : {"", "a.b", "a/b", "../x", "sp ace"}) {
    auto r = Client::try_open(bad, o);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error(), Errc::kInvalid) << bad;
  }
  o.prefix = "bad/prefix";
  auto r = Client::try_open("app", o);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), Errc::kInvalid);
}

TEST(ClientOpen, ControlBlockWritableByOthers_Permission) {
  const std::string prefix = test::unique_prefix();
  const std::string name = control_object_name(prefix, "app");
  const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::fchmod(fd, 0666), 0);
  ASSERT_EQ(::ftruncate(fd, format::kControlObjectSize), 0);
  ::close(fd);
  ClientOptions o;
  o.prefix = prefix;
  auto r = Client::try_open("app", o);
  ::shm_unlink(name.c_str());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), Errc::kPermission);
}

TEST(ClientOpen, ControlBlockGarbage_Corrupt) {
  const std::string prefix = test::unique_prefix();
  const std::string name = control_object_name(prefix, "app");
  const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::fchmod(fd, 0644), 0);
  ASSERT_EQ(::ftruncate(fd, format::kControlObjectSize), 0);  // all zero: no magic
  ::close(fd);
  ClientOptions o;
  o.prefix = prefix;
  auto r = Client::try_open("app", o);
  ::shm_unlink(name.c_str());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), Errc::kCorrupt);
}

TEST_F(ClientApi, ExpectedOwnerDiffers_Permission) {
  ClientOptions o = pub_.options();
  o.expected_owner = ::geteuid() + 1;
  auto r = Client::try_open(test::TestPublisher::kNs, o);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), Errc::kPermission);
}

TEST_F(ClientApi, PrefixFromEnvironment_Attaches) {
  ASSERT_EQ(::setenv("SHMCONF_PREFIX", pub_.prefix().c_str(), 1), 0);
  auto r = Client::try_open(test::TestPublisher::kNs);
  ::unsetenv("SHMCONF_PREFIX");
  EXPECT_TRUE(r.has_value());
}

// ---- nothing published ----------------------------------------------------------------

TEST_F(ClientApi, NothingPublished_EmptySnapshotAndNoSnapshotErrors) {
  Client c = open_client();
  EXPECT_EQ(c.version(), 0u);
  const Snapshot s = c.snapshot();
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.version(), 0u);
  EXPECT_EQ(s.key_count(), 0u);
  EXPECT_EQ(s.get_int("a").error(), Errc::kNoSnapshot);
  EXPECT_EQ(s.get_string("a").error(), Errc::kNoSnapshot);
  EXPECT_EQ(s.root().error(), Errc::kNoSnapshot);
  EXPECT_EQ(c.get_int("a").error(), Errc::kNoSnapshot);
  EXPECT_EQ(c.get_bool("a").error(), Errc::kNoSnapshot);
  EXPECT_EQ(c.get_double("a").error(), Errc::kNoSnapshot);
  EXPECT_EQ(c.get_int(c.key("a")).error(), Errc::kNoSnapshot);
  EXPECT_TRUE(c.last_error().empty());
}

TEST(Snapshot, DefaultConstructed_Empty) {
  const Snapshot s;
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.get_bool("x").error(), Errc::kNoSnapshot);
  EXPECT_TRUE(s.sources().empty());
  EXPECT_TRUE(s.changed_keys().empty());
  EXPECT_EQ(s.trigger(), "");
}

// ---- getters ---------------------------------------------------------------------------

constexpr std::string_view kConfig = R"({
  "db": {"host": "db.internal", "port": 5432, "ratio": 0.25, "tls": true, "none": null},
  "servers": [{"host": "a"}, {"host": "b"}],
  "empty": {}
})";

TEST_F(ClientApi, Published_TypedGettersReturnValues) {
  pub_.publish(kConfig);
  Client c = open_client();
  EXPECT_EQ(c.version(), 1u);
  EXPECT_EQ(c.get_int("db.port").value(), 5432);
  EXPECT_EQ(c.get_bool("db.tls").value(), true);
  EXPECT_EQ(c.get_double("db.ratio").value(), 0.25);
  const Snapshot s = c.snapshot();
  EXPECT_EQ(s.get_string("db.host").value(), "db.internal");
  EXPECT_EQ(s.get_string("servers[1].host").value(), "b");
  EXPECT_EQ(s.get_int("db.port").value(), 5432);
  EXPECT_EQ(s.get_bool("db.tls").value(), true);
  EXPECT_EQ(s.get_double("db.ratio").value(), 0.25);
  EXPECT_TRUE(s.get("db.none")->is_null());
}

TEST_F(ClientApi, WrongTypeAndMissing_Distinguished) {
  pub_.publish(kConfig);
  Client c = open_client();
  EXPECT_EQ(c.get_int("db.host").error(), Errc::kWrongType);
  EXPECT_EQ(c.get_int("db.nope").error(), Errc::kNotFound);
  EXPECT_EQ(c.get_bool("db.port").error(), Errc::kWrongType);
  EXPECT_EQ(c.get_double("db.host").error(), Errc::kWrongType);
  EXPECT_EQ(c.get_double("db.none").error(), Errc::kWrongType);
  EXPECT_EQ(c.get_int("db").error(), Errc::kWrongType);
  const Snapshot s = c.snapshot();
  EXPECT_EQ(s.get_string("db.port").error(), Errc::kWrongType);
  EXPECT_EQ(s.get_string("db.nope").error(), Errc::kNotFound);
  EXPECT_EQ(s.get("db.nope").error(), Errc::kNotFound);
  EXPECT_THROW((void)s.get_int("db.nope").value(), Error);
  EXPECT_EQ(s.get_int("db.nope").value_or(7), 7);
}

TEST_F(ClientApi, GetDoubleOfInt_Widened) {
  pub_.publish(R"({"i": 5432, "big": 9007199254740993})");
  Client c = open_client();
  EXPECT_EQ(c.get_double("i").value(), 5432.0);
  EXPECT_EQ(c.snapshot().get_double("i").value(), 5432.0);
  EXPECT_EQ(c.snapshot().get("i")->as_double().value(), 5432.0);
  EXPECT_EQ(c.get_double("big").value(), 9007199254740992.0);  // nearest double
  EXPECT_EQ(c.get_double(c.key("i")).value(), 5432.0);
}

TEST_F(ClientApi, Values_ChildrenInKeyOrderWithNamesAndOrigin) {
  pub_.publish(kConfig);
  Client c = open_client();
  const Snapshot s = c.snapshot();
  auto db = s.get("db");
  ASSERT_TRUE(db.has_value());
  EXPECT_EQ(db->type(), Type::kObject);
  EXPECT_EQ(db->size(), 5u);
  std::vector<std::string> names;
  for (Value v : db->children()) {
    names.emplace_back(v.name());
    EXPECT_EQ(v.key(), "db." + std::string(v.name()));
  }
  EXPECT_EQ(names, (std::vector<std::string>{"host", "none", "port", "ratio", "tls"}));
  const Origin o = s.get("db.port")->origin();
  EXPECT_EQ(o.source, "file:t.json");
  EXPECT_EQ(o.line, 2u);
  EXPECT_GT(o.column, 0u);
  auto root = s.root();
  ASSERT_TRUE(root.has_value());
  EXPECT_EQ(root->size(), 3u);
  EXPECT_EQ(s.get("empty")->size(), 0u);
  // An array element has no name of its own (FORMAT.md); its key spells
  // the position.
  EXPECT_EQ(s.get("servers[0]")->name(), "");
  EXPECT_EQ(s.get("servers[0]")->key(), "servers[0]");
  EXPECT_EQ(s.get("db.port")->children().size(), 0u);
}

TEST_F(ClientApi, Snapshot_MetadataOfTheVersion) {
  pub_.publish(R"({"a": 1, "b": 2})");
  pub_.publish(R"({"a": 1, "b": 3, "c": 4})");
  Client c = open_client();
  const Snapshot s = c.snapshot();
  EXPECT_EQ(s.version(), 2u);
  EXPECT_EQ(s.prev_version(), 1u);
  EXPECT_EQ(s.key_count(), 3u);
  EXPECT_EQ(s.trigger(), "test");
  EXPECT_EQ(s.content_hash(), daemon::content_hash(test::json(R"({"a": 1, "b": 3, "c": 4})")));
  EXPECT_EQ(s.publish_time_ns(), pub_.live()->view.header().publish_time_ns);
  EXPECT_EQ(s.sources(), (std::vector<std::string_view>{"file:t.json"}));
  const auto changed = s.changed_keys();
  ASSERT_EQ(changed.size(), 2u);
  EXPECT_EQ(changed[0].key, "b");
  EXPECT_EQ(changed[0].kind, Change::kChanged);
  EXPECT_EQ(changed[1].key, "c");
  EXPECT_EQ(changed[1].kind, Change::kAdded);
}

// ---- Key handles ------------------------------------------------------------------------

TEST_F(ClientApi, KeyHandle_NewPublish_Reresolves) {
  pub_.publish(R"({"a": 1, "pad": [1, 2, 3]})");
  Client c = open_client();
  const Key k = c.key("a");
  EXPECT_EQ(k.path(), "a");
  EXPECT_EQ(c.get_int(k).value(), 1);
  EXPECT_EQ(c.get_int(k).value(), 1);                   // cached slot
  pub_.publish(R"({"a": 2, "b": 0, "c": 0, "d": 0})");  // different layout
  EXPECT_EQ(c.get_int(k).value(), 2);
  EXPECT_EQ(c.get_double(k).value(), 2.0);
}

TEST_F(ClientApi, KeyHandle_KeyRemoved_NotFound) {
  pub_.publish(R"({"a": 1})");
  Client c = open_client();
  const Key k = c.key("a");
  EXPECT_EQ(c.get_int(k).value(), 1);
  pub_.publish(R"({"b": 1})");
  EXPECT_EQ(c.get_int(k).error(), Errc::kNotFound);
  pub_.publish(R"({"a": 3})");
  EXPECT_EQ(c.get_int(k).value(), 3);
}

TEST_F(ClientApi, KeyHandle_TypeChanged_WrongType) {
  pub_.publish(R"({"a": true})");
  Client c = open_client();
  const Key k = c.key("a");
  EXPECT_EQ(c.get_bool(k).value(), true);
  EXPECT_EQ(c.get_int(k).error(), Errc::kWrongType);
  pub_.publish(R"({"a": "x"})");
  EXPECT_EQ(c.get_bool(k).error(), Errc::kWrongType);
}

TEST_F(ClientApi, KeyHandle_MissingFromStart_NotFound) {
  pub_.publish(R"({"a": 1})");
  Client c = open_client();
  const Key k = c.key("zzz");
  EXPECT_EQ(c.get_int(k).error(), Errc::kNotFound);
  EXPECT_EQ(c.get_int(k).error(), Errc::kNotFound);
}

TEST_F(ClientApi, KeyHandle_SharedBetweenClients_EachResolvesItsOwn) {
  pub_.publish(R"({"a": 1})");
  Client c1 = open_client();
  Client c2 = open_client();
  const Key k = c1.key("a");
  EXPECT_EQ(c1.get_int(k).value(), 1);
  EXPECT_EQ(c2.get_int(k).value(), 1);
  pub_.publish(R"({"x": 0, "a": 2})");
  EXPECT_EQ(c2.get_int(k).value(), 2);
  EXPECT_EQ(c1.get_int(k).value(), 2);
}

// ---- pinning, rollback, many clients ----------------------------------------------------

TEST_F(ClientApi, PinnedSnapshot_KeepsOldValuesAfterTwoPublishesAndUnlink) {
  auto v1 = pub_.publish(R"({"a": 1, "s": "one"})");
  Client c = open_client();
  const Snapshot pinned = c.snapshot();
  const std::string_view s_view = pinned.get_string("s").value();  // zero-copy
  const std::uint64_t v1_id = v1->id;
  pub_.publish(R"({"a": 2, "s": "two"})");
  pub_.publish(R"({"a": 3, "s": "three"})");
  // The daemon drops and unlinks v1: the pin alone keeps it mapped.
  v1.reset();
  pub_.publisher().unlink(v1_id);
  EXPECT_EQ(c.get_int("a").value(), 3);
  EXPECT_EQ(c.version(), 3u);
  EXPECT_EQ(pinned.version(), 1u);
  EXPECT_EQ(pinned.get_int("a").value(), 1);
  EXPECT_EQ(s_view, "one");
  const Snapshot copy = pinned;  // copies share the pin
  EXPECT_EQ(copy.get_string("s").value(), "one");
}

TEST_F(ClientApi, Rollback_ServesOlderSegment) {
  auto v1 = pub_.publish(R"({"a": 1})");
  pub_.publish(R"({"a": 2})");
  Client c = open_client();
  EXPECT_EQ(c.get_int("a").value(), 2);
  const std::uint64_t gen = c.generation();
  pub_.flip_to(v1);
  EXPECT_GT(c.generation(), gen);
  EXPECT_EQ(c.version(), 1u);
  EXPECT_EQ(c.get_int("a").value(), 1);
}

TEST_F(ClientApi, SixClientsOneThread_EachServesNewest) {
  // More clients than the per-thread fast-path cache has entries.
  pub_.publish(R"({"a": 1})");
  std::vector<Client> clients;
  for (int i = 0; i < 6; ++i) clients.push_back(open_client());
  for (int round = 0; round < 3; ++round) {
    for (Client& c : clients) {
      EXPECT_EQ(c.get_int("a").value(), static_cast<std::int64_t>(round + 1));
      EXPECT_EQ(c.snapshot().get_int("a").value(), static_cast<std::int64_t>(round + 1));
    }
    pub_.publish("{\"a\": " + std::to_string(round + 2) + "}");
  }
}

TEST_F(ClientApi, MovedClient_StillReads) {
  pub_.publish(R"({"a": 1})");
  Client c = open_client();
  EXPECT_EQ(c.get_int("a").value(), 1);
  Client moved = std::move(c);
  pub_.publish(R"({"a": 2})");
  EXPECT_EQ(moved.get_int("a").value(), 2);
}

// ---- wait_for_change ---------------------------------------------------------------------

TEST_F(ClientApi, WaitForChange_PublishFromThread_ReturnsNewVersion) {
  pub_.publish(R"({"a": 1})");
  Client c = open_client();
  std::thread publisher([&] { pub_.publish(R"({"a": 2})"); });
  auto r = c.wait_for_change(1, std::chrono::duration_cast<std::chrono::milliseconds>(kHangGuard));
  publisher.join();
  ASSERT_TRUE(r.has_value()) << static_cast<int>(r.error());
  EXPECT_EQ(*r, 2u);
  EXPECT_EQ(c.get_int("a").value(), 2);
}

TEST_F(ClientApi, WaitForChange_NothingPublished_Timeout) {
  pub_.publish(R"({"a": 1})");
  Client c = open_client();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = c.wait_for_change(1, 30ms);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 30ms);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), Errc::kTimeout);
}

TEST_F(ClientApi, WaitForChange_AlreadyDifferent_ReturnsAtOnce) {
  pub_.publish(R"({"a": 1})");
  pub_.publish(R"({"a": 2})");
  Client c = open_client();
  auto r = c.wait_for_change(1, 0ms);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 2u);
}

TEST_F(ClientApi, WaitForChange_NothingEverPublished_WaitsForFirst) {
  Client c = open_client();
  EXPECT_EQ(c.wait_for_change(0, 0ms).error(), Errc::kTimeout);
  std::thread publisher([&] { pub_.publish(R"({"a": 1})"); });
  auto r = c.wait_for_change(0, std::chrono::duration_cast<std::chrono::milliseconds>(kHangGuard));
  publisher.join();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 1u);
}

// ---- subscribe ------------------------------------------------------------------------------

struct Recorded {
  std::uint64_t old_version;
  std::uint64_t new_version;
  std::vector<
      std::tuple<std::string, Change, std::optional<std::int64_t>, std::optional<std::int64_t>>>
      changes;
};

// Collects callbacks; wait_for(n) blocks until n have arrived.
class Recorder {
 public:
  Client::Callback callback() {
    return [this](const Snapshot& old_snap, const Snapshot& new_snap,
                  const std::vector<Client::Change>& changes) {
      Recorded r{old_snap.version(), new_snap.version(), {}};
      for (const auto& ch : changes) {
        std::optional<std::int64_t> o, n;
        if (ch.old_value) o = ch.old_value->as_int().value_or(-1);
        if (ch.new_value) n = ch.new_value->as_int().value_or(-1);
        r.changes.emplace_back(std::string(ch.key), ch.kind, o, n);
      }
      std::lock_guard lock(mu_);
      calls_.push_back(std::move(r));
      cv_.notify_all();
    };
  }
  bool wait_for(std::size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kHangGuard, [&] { return calls_.size() >= n; });
  }
  std::vector<Recorded> calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Recorded> calls_;
};

TEST_F(ClientApi, Subscribe_OneCallbackPerVersion_ChangesUnderPrefix) {
  pub_.publish(R"({"db": {"port": 1, "host": 1}, "web": {"port": 1}})");
  Client c = open_client();
  Recorder rec;
  auto sub = c.subscribe("db.", rec.callback());
  pub_.publish(R"({"db": {"port": 2, "host": 1}, "web": {"port": 2}})");
  ASSERT_TRUE(rec.wait_for(1));
  pub_.publish(R"({"db": {"host": 1, "user": 5}, "web": {"port": 2}})");
  ASSERT_TRUE(rec.wait_for(2));
  sub.stop();
  const auto calls = rec.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].old_version, 1u);
  EXPECT_EQ(calls[0].new_version, 2u);
  using C = decltype(calls[0].changes);
  EXPECT_EQ(calls[0].changes, (C{{"db.port", Change::kChanged, 1, 2}}));
  EXPECT_EQ(calls[1].old_version, 2u);
  EXPECT_EQ(calls[1].new_version, 3u);
  EXPECT_EQ(calls[1].changes, (C{{"db.port", Change::kRemoved, 2, std::nullopt},
                                 {"db.user", Change::kAdded, std::nullopt, 5}}));
}

TEST_F(ClientApi, Subscribe_ChangeOutsidePrefix_NoCallback) {
  pub_.publish(R"({"db": {"port": 1}, "web": {"port": 1}})");
  Client c = open_client();
  Recorder rec;
  auto sub = c.subscribe("db.", rec.callback());
  pub_.publish(R"({"db": {"port": 1}, "web": {"port": 2}})");  // nothing under db.
  pub_.publish(R"({"db": {"port": 3}, "web": {"port": 2}})");
  ASSERT_TRUE(rec.wait_for(1));
  sub.stop();
  const auto calls = rec.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].new_version, 3u);
  using C = decltype(calls[0].changes);
  EXPECT_EQ(calls[0].changes, (C{{"db.port", Change::kChanged, 1, 3}}));
}

TEST_F(ClientApi, Subscribe_NothingPublishedYet_FirstVersionAllAdded) {
  Client c = open_client();
  Recorder rec;
  auto sub = c.subscribe("", rec.callback());
  pub_.publish(R"({"a": 1, "b": {"c": 2}})");
  ASSERT_TRUE(rec.wait_for(1));
  sub.stop();
  const auto calls = rec.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].old_version, 0u);
  using C = decltype(calls[0].changes);
  EXPECT_EQ(calls[0].changes,
            (C{{"a", Change::kAdded, std::nullopt, 1}, {"b.c", Change::kAdded, std::nullopt, 2}}));
}

TEST_F(ClientApi, Subscribe_StoppedSubscription_NoMoreCallbacks) {
  pub_.publish(R"({"a": 1})");
  Client c = open_client();
  Recorder rec;
  {
    auto sub = c.subscribe("", rec.callback());
    pub_.publish(R"({"a": 2})");
    ASSERT_TRUE(rec.wait_for(1));
  }  // destroyed: stopped and joined
  pub_.publish(R"({"a": 3})");
  EXPECT_EQ(rec.calls().size(), 1u);
}

// ---- refused segments -------------------------------------------------------------------------

TEST_F(ClientApi, CorruptSegment_RefusedKeepsPreviousWithLastError) {
  pub_.publish(R"({"a": 1})");
  Client c = open_client();
  ASSERT_EQ(c.get_int("a").value(), 1);
  // A valid v2 built in memory; the object on its id gets a flipped byte.
  test::BuildOptions o;
  o.version = 2;
  test::Built good(R"({"a": 2})", o);
  std::vector<std::byte> bad = good.bytes;
  bad[good.view.header().strings_off] ^= std::byte{1};
  constexpr std::uint64_t kId = 1'000'001;
  create_segment_object(kId, bad);
  flip_to_id(kId, good.view);
  EXPECT_EQ(c.get_int("a").value(), 1);
  EXPECT_EQ(c.version(), 1u);
  EXPECT_EQ(c.snapshot().version(), 1u);
  const std::string err = c.last_error();
  EXPECT_NE(err.find("1000001"), std::string::npos) << err;
  EXPECT_NE(err.find("checksum"), std::string::npos) << err;
}

TEST_F(ClientApi, CorruptSegmentThenGoodPublish_Recovers) {
  pub_.publish(R"({"a": 1})");
  Client c = open_client();
  ASSERT_EQ(c.get_int("a").value(), 1);
  test::BuildOptions o;
  o.version = 2;
  test::Built good(R"({"a": 2})", o);
  std::vector<std::byte> bad = good.bytes;
  bad[good.view.header().strings_off] ^= std::byte{1};
  create_segment_object(1'000'002, bad);
  flip_to_id(1'000'002, good.view);
  ASSERT_EQ(c.get_int("a").value(), 1);
  pub_.publish(R"({"a": 3})");
  EXPECT_EQ(c.get_int("a").value(), 3);
}

TEST_F(ClientApi, MissingSegment_RefusedKeepsPrevious) {
  pub_.publish(R"({"a": 1})");
  Client c = open_client();
  ASSERT_EQ(c.get_int("a").value(), 1);
  auto v2 = pub_.publish(R"({"a": 2})", /*flip=*/false);
  pub_.publisher().unlink(v2->id);
  pub_.flip_to(v2);
  EXPECT_EQ(c.get_int("a").value(), 1);
  EXPECT_NE(c.last_error().find("shm_open"), std::string::npos) << c.last_error();
}

TEST_F(ClientApi, SegmentWritableByOthers_RefusedWithPermissionMessage) {
  pub_.publish(R"({"a": 1})");
  Client c = open_client();
  ASSERT_EQ(c.get_int("a").value(), 1);
  auto v2 = pub_.publish(R"({"a": 2})", /*flip=*/false);
  const std::string name = segment_object_name(pub_.prefix(), test::TestPublisher::kNs, v2->id);
  const int fd = ::shm_open(name.c_str(), O_RDONLY | O_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::fchmod(fd, 0666), 0);
  ::close(fd);
  pub_.flip_to(v2);
  EXPECT_EQ(c.get_int("a").value(), 1);
  EXPECT_NE(c.last_error().find("writable"), std::string::npos) << c.last_error();
}

TEST_F(ClientApi, SegmentGroupWritable_Refused) {
  pub_.publish(R"({"a": 1})");
  Client c = open_client();
  ASSERT_EQ(c.get_int("a").value(), 1);
  auto v2 = pub_.publish(R"({"a": 2})", /*flip=*/false);
  const std::string name = segment_object_name(pub_.prefix(), test::TestPublisher::kNs, v2->id);
  const int fd = ::shm_open(name.c_str(), O_RDONLY | O_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::fchmod(fd, 0664), 0);
  ::close(fd);
  pub_.flip_to(v2);
  EXPECT_EQ(c.get_int("a").value(), 1);
  EXPECT_NE(c.last_error().find("writable"), std::string::npos) << c.last_error();
}

// ---- readers racing a publisher (run under TSan too) -------------------------------------------

TEST_F(ClientApi, FourReadersWhilePublishing_PinnedSnapshotAlwaysConsistent) {
  // Every version v holds a = v, b = 7v, c = a + b. Readers check that a
  // pinned snapshot is one version; the publisher does not go on until a
  // reader has seen the version it just published, so every version is read.
  constexpr int kVersions = 200;
  constexpr int kReaders = 4;
  auto doc = [](std::int64_t v) {
    return "{\"a\": " + std::to_string(v) + ", \"b\": " + std::to_string(v * 7) +
           ", \"c\": " + std::to_string(v * 8) + "}";
  };
  pub_.publish(doc(1));
  pub_.retain(8);
  Client c = open_client();
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> reads{0}, bad{0}, newest_seen{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < kReaders; ++t) {
    readers.emplace_back([&] {
      const Key ka = c.key("a");
      std::uint64_t last = 0, local_reads = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const Snapshot s = c.snapshot();
        const auto a = s.get_int("a"), b = s.get_int("b"), cc = s.get_int("c");
        if (!a || !b || !cc || *cc != *a + *b || static_cast<std::uint64_t>(*a) != s.version()) {
          bad.fetch_add(1, std::memory_order_relaxed);
        }
        if (s.version() < last) bad.fetch_add(1, std::memory_order_relaxed);  // never backwards
        last = s.version();
        std::uint64_t seen = newest_seen.load(std::memory_order_relaxed);
        while (seen < last && !newest_seen.compare_exchange_weak(seen, last)) {
        }
        // One-shot reads may each see a newer version, but never fail.
        if (!c.get_int("b") || !c.get_int(ka) || !c.get_double("c")) {
          bad.fetch_add(1, std::memory_order_relaxed);
        }
        ++local_reads;
        std::this_thread::yield();  // 4 spinning readers must not starve the publisher
      }
      reads.fetch_add(local_reads);
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + kHangGuard;
  for (int v = 2; v <= kVersions; ++v) {
    pub_.publish(doc(v));
    pub_.retain(8);
    while (newest_seen.load() < static_cast<std::uint64_t>(v) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
  }
  stop.store(true);
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_EQ(newest_seen.load(), static_cast<std::uint64_t>(kVersions));
  EXPECT_GT(reads.load(), 0u);
  EXPECT_EQ(c.version(), static_cast<std::uint64_t>(kVersions));
  EXPECT_TRUE(c.last_error().empty()) << c.last_error();
}

}  // namespace
}  // namespace shmconf
