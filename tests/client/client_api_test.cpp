// tests/client/client_api_test.cpp — the C++ client against a real Publisher
// in this process, on a unique shm prefix: attach errors, typed getters,
// Key handles, snapshot pinning and rollback. wait_for_change, subscribe,
// refused segments and racing readers are in client_events_test.cpp.
#include "client/client_api_fixture.hpp"

namespace shmconf {
namespace {

using namespace client_api;

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

}  // namespace
}  // namespace shmconf
