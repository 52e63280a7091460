// tests/multiprocess/privilege_test.cpp — the privilege boundaries, with real
// uids: an unprivileged user (nobody, 65534) cannot write, replace, resize or
// remove a namespace's objects; a name squatted before the daemon starts is
// refused by the daemon and by owner-checking clients (C++ and C ABI); modes
// and groups keep readers out; the control socket refuses its mutating
// commands and secrets to unauthorised peers.
//
// The daemon runs as root (the test's user); the attacker is a forked child
// that drops to nobody (become_user) or shmconfctl run under setpriv. Needs
// root to change uid: elsewhere the tests skip.
#include <string>

#include "harness.hpp"
#include "shmconf/shmconf.h"

namespace shmconf::mptest {
namespace {

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;
constexpr gid_t kReaders = 4242;  // a group only some test children hold
constexpr gid_t kAdmins = 4243;

std::string yaml(int port, const std::string& password) {
  return "database:\n  port: " + std::to_string(port) + "\n  password: " + password + "\n";
}

// setpriv arguments that run a command as nobody with `groups`.
std::vector<std::string> as_nobody(const std::string& groups = "") {
  std::vector<std::string> w = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534"};
  w.push_back(groups.empty() ? "--clear-groups" : "--groups=" + groups);
  return w;
}

// errno of `rc < 0`, as text; "succeeded" otherwise.
std::string outcome(long rc) { return rc < 0 ? std::strerror(errno) : "succeeded"; }

struct Identity {
  ino_t ino;
  off_t size;
  mode_t mode;
  uid_t uid;
  std::string bytes;
  bool operator==(const Identity&) const = default;
};

Identity identity(const std::string& object) {
  struct stat st {};
  EXPECT_EQ(::stat(("/dev/shm/" + object).c_str(), &st), 0) << object;
  return {st.st_ino, st.st_size, st.st_mode, st.st_uid, read_text("/dev/shm/" + object)};
}

class PrivilegeTest : public MultiProcessTest {
 protected:
  void SetUp() override {
    MultiProcessTest::SetUp();
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as another uid (nobody)";
    // nobody must reach the socket in the test's directory (mkdtemp made it 0700).
    ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0) << std::strerror(errno);
    sources_ = {"config.yaml"};
    write_source("config.yaml", yaml(5432, "hunter2"));
  }

  std::vector<std::string> daemon_flags(std::vector<std::string> extra = {}) {
    extra.insert(extra.end(), {"--plaintext-secrets", "allow"});
    return extra;
  }

  // Runs `attack` in a child as nobody with `groups`; returns its report lines
  // until "done".
  std::vector<std::string> as_nobody_child(const std::vector<gid_t>& groups,
                                           std::function<void(int out)> attack) {
    ForkedChild& child = start_child([&](int, int out) {
      if (!become_user(kNobody, kNogroup, groups)) {
        report(out, std::string("become_user: ") + std::strerror(errno));
        return 1;
      }
      attack(out);
      report(out, "done");
      return 0;
    });
    std::vector<std::string> lines;
    while (auto line = child.next_report()) {
      if (*line == "done") break;
      lines.push_back(*line);
    }
    EXPECT_TRUE(child.proc.wait(deadline()));
    return lines;
  }
};

TEST_F(PrivilegeTest, Unprivileged_CannotWriteReplaceResizeOrRemoveObjects) {
  run_daemon(daemon_flags());
  auto client = open_client();
  ASSERT_EQ(client.get_int("database.port").value_or(-1), 5432);
  const auto objects = shm_objects(prefix_);
  ASSERT_EQ(objects.size(), 2u);  // ctl and seg.1
  std::vector<Identity> before;
  for (const auto& o : objects) before.push_back(identity(o));

  const auto lines = as_nobody_child({}, [&](int out) {
    for (const auto& o : objects) {
      const std::string name = "/" + o, path = "/dev/shm/" + o;
      report(out, o + " open O_RDWR: " + outcome(::shm_open(name.c_str(), O_RDWR, 0)));
      report(out, o + " truncate: " + outcome(::truncate(path.c_str(), 0)));
      report(out, o + " unlink: " + outcome(::shm_unlink(name.c_str())));
      report(out, o + " chmod: " + outcome(::chmod(path.c_str(), 0666)));
      const int fd = ::shm_open(name.c_str(), O_RDONLY, 0);  // mode 0644: reading is allowed
      report(out, o + " ftruncate read-only fd: " + outcome(::ftruncate(fd, 1 << 20)));
      void* w = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      report(out, o + " mmap PROT_WRITE: " + (w == MAP_FAILED ? std::strerror(errno) : "mapped"));
      void* r = ::mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fd, 0);
      report(out, o + " mprotect PROT_WRITE: " +
                      outcome(r == MAP_FAILED ? -1 : ::mprotect(r, 4096, PROT_READ | PROT_WRITE)));
      // Replace: an object of one's own renamed over the name.
      const std::string mine = "/dev/shm/" + prefix_ + ".mine";
      ::close(::open(mine.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
      report(out, o + " rename over: " + outcome(::rename(mine.c_str(), path.c_str())));
      ::unlink(mine.c_str());
    }
  });
  ASSERT_FALSE(lines.empty());
  for (const auto& line : lines) {
    // Every attempt fails with a permission error; nothing "succeeded".
    EXPECT_TRUE(contains(line, "Permission denied") || contains(line, "Operation not permitted") ||
                contains(line, "Bad file descriptor") || contains(line, "Invalid argument"))
        << line;
  }
  for (std::size_t i = 0; i < objects.size(); ++i) {
    EXPECT_TRUE(identity(objects[i]) == before[i]) << objects[i] << " changed";
  }
  write_source("config.yaml", yaml(5433, "hunter2"));
  ASSERT_TRUE(await_version(client, 2));
  EXPECT_EQ(client.get_int("database.port").value_or(-1), 5433);
}

TEST_F(PrivilegeTest, Unprivileged_SquatsNextSegmentNames_DaemonPublishesElsewhere) {
  run_daemon(daemon_flags());
  auto client = open_client();
  // The ids a fresh daemon hands out next, taken first by nobody.
  std::vector<std::string> squatted;
  for (int id = 2; id <= 4; ++id) squatted.push_back(segment_object_name(prefix_, ns_, id));
  const auto lines = as_nobody_child({}, [&](int out) {
    for (const auto& name : squatted) {
      const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0644);
      if (fd < 0 || !write_all(fd, std::string(4096, 'S'))) report(out, "create " + name);
    }
  });
  EXPECT_TRUE(lines.empty()) << lines.front();
  write_source("config.yaml", yaml(5433, "hunter2"));
  ASSERT_TRUE(await_version(client, 2)) << read_text(procs_.back().log);
  EXPECT_EQ(client.get_int("database.port").value_or(-1), 5433);
  for (const auto& name : squatted) {
    struct stat st {};
    ASSERT_EQ(::stat(("/dev/shm" + name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_uid, kNobody);
    EXPECT_EQ(read_text("/dev/shm" + name), std::string(4096, 'S'));
  }
}

// A complete, valid namespace forged by nobody before the daemon starts:
// the bytes of a real one (another prefix), with port 6666, owned by nobody.
class SquatTest : public PrivilegeTest {
 protected:
  void forge() {
    forged_prefix_ = prefix_ + "f";
    std::string sock = path("forger.sock");
    write_source("forged.yaml", yaml(6666, "stolen"));
    Process& f =
        start_daemon_argv({SHMCONFD_BIN, "--name", ns_, "--prefix", forged_prefix_, "--socket",
                           sock, "--plaintext-secrets", "allow", "--source", path("forged.yaml")});
    std::swap(socket_, sock);
    const auto ready = wait_ready(f);
    std::swap(socket_, sock);
    ASSERT_TRUE(ready);
    ASSERT_TRUE(stop_daemon(f));
    const std::string ctl = read_text("/dev/shm" + control_object_name(forged_prefix_, ns_));
    const std::string seg = read_text("/dev/shm" + segment_object_name(forged_prefix_, ns_, 1));
    unlink_shm_objects(forged_prefix_);
    const auto lines = as_nobody_child({}, [&](int out) {
      for (const auto& [name, bytes] : {std::pair{control_object_name(prefix_, ns_), ctl},
                                        std::pair{segment_object_name(prefix_, ns_, 1), seg}}) {
        const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0644);
        if (fd < 0 || !write_all(fd, bytes)) report(out, "create " + name);
      }
    });
    ASSERT_TRUE(lines.empty()) << lines.front();
    objects_ = shm_objects(prefix_);
    for (const auto& o : objects_) before_.push_back(identity(o));
  }
  void TearDown() override {
    if (!forged_prefix_.empty()) unlink_shm_objects(forged_prefix_);
    PrivilegeTest::TearDown();
  }
  std::string forged_prefix_;
  std::vector<std::string> objects_;
  std::vector<Identity> before_;
};

TEST_F(SquatTest, ForgedNamespace_DaemonRaisesAlarmAndTouchesNothing) {
  forge();
  Process& d = start_daemon(daemon_flags());
  auto st = d.wait(deadline());
  ASSERT_TRUE(st) << "the daemon did not exit";
  EXPECT_FALSE(d.exited_ok()) << describe_status(*st);
  const std::string log = read_text(d.log);
  EXPECT_TRUE(contains(log, "owner uid 65534")) << log;
  EXPECT_TRUE(contains(log, "squatting")) << log;
  EXPECT_EQ(shm_objects(prefix_), objects_);
  for (std::size_t i = 0; i < objects_.size(); ++i)
    EXPECT_TRUE(identity(objects_[i]) == before_[i]);
}

TEST_F(SquatTest, ForgedNamespace_OwnerCheckingClientsRefuseIt) {
  forge();
  // What a reader trusts: without an owner to check, the forgery is
  // consistent (every object nobody's) and is read. That is why readers
  // that matter set expected_owner.
  auto trusting = Client::try_open(ns_, client_options());
  ASSERT_TRUE(trusting);
  EXPECT_EQ(trusting->get_int("database.port").value_or(-1), 6666);

  ClientOptions o = client_options();
  o.expected_owner = 0;  // the daemon's user
  auto checked = Client::try_open(ns_, o);
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error(), Errc::kPermission);

  // The same through the C ABI.
  shmconf_open_options co = SHMCONF_OPEN_OPTIONS_INIT;
  co.prefix = prefix_.c_str();
  co.check_owner = 1;
  co.expected_owner = 0;
  shmconf_client* c = nullptr;
  EXPECT_EQ(shmconf_open_with(ns_.c_str(), &co, &c), SHMCONF_E_PERMISSION);
  EXPECT_EQ(c, nullptr);
  co.expected_owner = kNobody;  // the check compares with the uid given
  ASSERT_EQ(shmconf_open_with(ns_.c_str(), &co, &c), 0);
  EXPECT_EQ(shmconf_version(c), 1u);
  shmconf_close(c);
}

TEST_F(PrivilegeTest, SymlinkAtControlBlockName_DaemonAndClientsRefuse) {
  // A genuine root-owned control block elsewhere, and nobody's symbolic link
  // at this namespace's name pointing to it.
  const std::string other = prefix_ + "o";
  const std::string target = "/dev/shm" + control_object_name(other, ns_);
  ::close(::open(target.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
  const std::string link = "/dev/shm" + control_object_name(prefix_, ns_);
  const auto lines = as_nobody_child({}, [&](int out) {
    report(out, "symlink: " + outcome(::symlink(target.c_str(), link.c_str())));
  });
  ASSERT_EQ(lines, std::vector<std::string>{"symlink: succeeded"});

  auto refused = Client::try_open(ns_, client_options());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), Errc::kPermission);
  shmconf_client* c = nullptr;
  EXPECT_EQ(shmconf_open_prefix(ns_.c_str(), prefix_.c_str(), &c), SHMCONF_E_PERMISSION);

  Process& d = start_daemon(daemon_flags());
  auto st = d.wait(deadline());
  ASSERT_TRUE(st) << "the daemon did not exit";
  EXPECT_FALSE(d.exited_ok());
  EXPECT_TRUE(contains(read_text(d.log), "symbolic link")) << read_text(d.log);
  struct stat lst {};
  ASSERT_EQ(::lstat(link.c_str(), &lst), 0);
  EXPECT_TRUE(S_ISLNK(lst.st_mode));
  EXPECT_EQ(read_text(target), "");  // the target was not written through the link
  unlink_shm_objects(other);
}

TEST_F(PrivilegeTest, ModeAndGroupExcludeReader_RefusedOutsideTheGroup) {
  run_daemon(daemon_flags({"--mode", "0640", "--group", std::to_string(kReaders)}));
  auto opens = [&](const std::vector<gid_t>& groups) {
    return as_nobody_child(groups, [&](int out) {
      auto c = Client::try_open(ns_, client_options());
      report(out, c ? "port " + std::to_string(c->get_int("database.port").value_or(-1))
                    : std::string("c++ ") + to_string(c.error()));
      shmconf_client* cc = nullptr;
      report(out, "c " + std::to_string(shmconf_open_prefix(ns_.c_str(), prefix_.c_str(), &cc)));
      shmconf_close(cc);
    });
  };
  const auto outsider = opens({});
  ASSERT_EQ(outsider.size(), 2u);
  EXPECT_EQ(outsider[0], std::string("c++ ") + to_string(Errc::kPermission));
  EXPECT_EQ(outsider[1], "c " + std::to_string(SHMCONF_E_PERMISSION));
  const CtlResult get = ctl_via(as_nobody(), {"get", "database.password", "--show-secrets"});
  EXPECT_NE(get.code, 0) << get;
  EXPECT_FALSE(contains(get.out + get.err, "hunter2")) << get;

  const auto member = opens({kReaders});
  ASSERT_EQ(member.size(), 2u);
  EXPECT_EQ(member[0], "port 5432");
  EXPECT_EQ(member[1], "c 0");
}

TEST_F(PrivilegeTest, ControlSocket_UnauthorisedPeerCannotMutateOrSeeSecrets) {
  // Objects readable only by kReaders; no admin group, so the socket's
  // group is the daemon's (root).
  run_daemon(daemon_flags({"--mode", "0640", "--group", std::to_string(kReaders)}));
  auto client = open_client();
  write_source("config.yaml", yaml(5432, "swordfish"));
  ASSERT_TRUE(await_version(client, 2));

  // Outside the socket's group: cannot even connect.
  const CtlResult stranger = ctl_via(as_nobody(), {"status"});
  EXPECT_EQ(stranger.code, 3) << stranger;

  // In the socket's group (root's, gid 0) but not an admin: reads allowed,
  // mutations refused and audited, secrets redacted.
  const auto peer = as_nobody("0");
  const CtlResult status = ctl_via(peer, {"--json", "--show-secrets", "status"});
  EXPECT_EQ(status.code, 0) << status;
  for (const std::vector<std::string>& cmd : {std::vector<std::string>{"reload", "--force"},
                                              {"rollback"},
                                              {"set", "database.port", "1"},
                                              {"unset", "database.port"}}) {
    const CtlResult r = ctl_via(peer, cmd);
    EXPECT_EQ(r.code, 1) << cmd[0] << ": " << r;
    EXPECT_TRUE(contains(r.err, "needs root, the daemon's user or the admin group")) << r;
  }
  EXPECT_TRUE(wait_for_audit("\"uid\":65534", 4));
  EXPECT_EQ(client.version(), 2u);
  const CtlResult diff = ctl_via(peer, {"--show-secrets", "diff", "1", "2"});
  EXPECT_EQ(diff.code, 0) << diff;
  EXPECT_TRUE(contains(diff.out, "<redacted>")) << diff;
  EXPECT_FALSE(contains(diff.out + diff.err, "hunter2") || contains(diff.out, "swordfish")) << diff;
  const CtlResult get = ctl_via(peer, {"get", "database.password", "--show-secrets"});
  EXPECT_NE(get.code, 0) << get;  // the objects are kReaders' only
  EXPECT_FALSE(contains(get.out, "swordfish")) << get;

  // Positive control: root sees the secret.
  const CtlResult root_diff = ctl({"--show-secrets", "diff", "1", "2"});
  EXPECT_TRUE(contains(root_diff.out, "swordfish")) << root_diff;
}

TEST_F(PrivilegeTest, ControlSocket_AdminGroupMemberMayMutate) {
  // With an admin group the socket belongs to it: only its members connect.
  run_daemon(daemon_flags({"--admin-group", std::to_string(kAdmins)}));
  auto client = open_client();
  write_source("config.yaml", yaml(5433, "hunter2"));
  ASSERT_TRUE(await_version(client, 2));
  EXPECT_EQ(ctl_via(as_nobody("0"), {"status"}).code, 3);
  const CtlResult admin = ctl_via(as_nobody(std::to_string(kAdmins)), {"rollback"});
  EXPECT_EQ(admin.code, 0) << admin;
  EXPECT_EQ(client.version(), 1u);
}

}  // namespace
}  // namespace shmconf::mptest
