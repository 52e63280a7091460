// shmconfctl's reader-registry verbs: readers (the daemon's view, over the
// socket) and wait-converged (the registry read directly, read-only, until
// every live reader serves a version; what a rollout script waits on).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include "ctl/common.hpp"
#include "publish/registry.hpp"

namespace shmconf::daemon::ctl {
namespace {

using Clock = std::chrono::steady_clock;

// The owner of the namespace's control block: the daemon's user, which the
// registry must have too. Exits 3 when the namespace does not exist.
uid_t control_owner_or_exit(const std::string& prefix, const std::string& ns) {
  const std::string name = control_object_name(prefix, ns);
  const int fd = ::shm_open(name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
  struct stat st {};
  const bool ok = fd >= 0 && ::fstat(fd, &st) == 0;
  if (fd >= 0) ::close(fd);
  if (!ok) {
    std::cerr << "shmconfctl: namespace '" << ns << "': " << to_string(Errc::kNoNamespace) << "\n";
    std::exit(kExitUnreachable);
  }
  return st.st_uid;
}

bool converged(const ReaderEntry& r, std::uint64_t version, bool exact) {
  return exact ? r.version == version : r.version >= version;
}

std::string describe(const ReaderEntry& r) {
  std::string s = "pid " + std::to_string(r.pid) + " (" + (r.exe.empty() ? "?" : r.exe) + ") ";
  if (r.version == 0)
    return s + "has read nothing since it attached at " + iso_time(r.attach_time_ns);
  return s + "serves version " + std::to_string(r.version) + " since " + iso_time(r.since_ns);
}

nlohmann::json entry_json(const ReaderEntry& r) {
  return {{"pid", r.pid},         {"uid", r.uid},           {"exe", r.exe},
          {"version", r.version}, {"since_ns", r.since_ns}, {"attach_time_ns", r.attach_time_ns}};
}

int print_readers(const Args& a, const nlohmann::json& reply) {
  if (a.json || !reply.value("ok", false)) return finish(a, reply);
  const auto& list = reply["readers"];
  std::cout << "namespace " << reply.value("namespace", "") << ": live version "
            << reply.value("live_version", 0) << ", " << list.size() << " reader"
            << (list.size() == 1 ? "" : "s") << " (" << reply.value("slots", 0) << " slots)\n";
  if (list.empty()) return 0;
  std::printf("%-8s %-16s %-8s %-21s %s\n", "PID", "EXE", "VERSION", "SINCE", "ATTACHED");
  for (const auto& r : list) {
    const std::uint64_t v = r.value("version", std::uint64_t{0});
    std::printf("%-8u %-16s %-8s %-21s %s\n", r.value("pid", 0u),
                r.value("exe", std::string()).c_str(), v == 0 ? "-" : std::to_string(v).c_str(),
                v == 0 ? "-" : iso_time(r.value("since_ns", std::uint64_t{0})).c_str(),
                iso_time(r.value("attach_time_ns", std::uint64_t{0})).c_str());
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace

int cmd_readers(const Args& a) {
  return for_each_namespace(a, [&](const Args& n) {
    return print_readers(n, call_or_exit(n, {{"cmd", "readers"}}));
  });
}

int cmd_wait_converged(const Args& a) {
  const std::string ns = ns_or_exit(a);
  const std::string prefix = resolve_prefix(a.prefix);
  const uid_t owner = control_owner_or_exit(prefix, ns);
  const auto until = Clock::now() + std::chrono::milliseconds(a.timeout_ms < 0 ? 0 : a.timeout_ms);
  for (;;) {
    const RegistryView v = read_registry(prefix, ns, owner);
    if (!v.error.empty() && (!v.damaged || Clock::now() >= until)) {
      std::cerr << "shmconfctl: no reader registry: " << v.error << "\n";
      return kExitUnreachable;
    }
    if (!v.error.empty()) {
      // Damaged (a registrant scribbled on it): the daemon's next sweep
      // resets it, and readers register again at their next version.
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    std::vector<const ReaderEntry*> lagging;
    for (const ReaderEntry& r : v.readers) {
      if (!converged(r, a.converge_version, a.exact)) lagging.push_back(&r);
    }
    const bool done = lagging.empty();
    if (done || Clock::now() >= until) {
      if (a.json) {
        nlohmann::json j = {{"converged", done},
                            {"version", a.converge_version},
                            {"exact", a.exact},
                            {"readers", v.readers.size()},
                            {"laggards", nlohmann::json::array()}};
        for (const ReaderEntry* r : lagging) j["laggards"].push_back(entry_json(*r));
        std::cout << j.dump(2) << "\n";
      } else if (done) {
        std::cout << "converged: " << v.readers.size() << " reader"
                  << (v.readers.size() == 1 ? "" : "s") << " serve version "
                  << (a.exact ? "" : ">= ") << a.converge_version << "\n";
      } else {
        std::cerr << "shmconfctl: not converged on version " << (a.exact ? "" : ">= ")
                  << a.converge_version << " after " << a.timeout_ms / 1000.0
                  << " s: " << lagging.size() << " of " << v.readers.size() << " readers lag\n";
        for (const ReaderEntry* r : lagging) std::cerr << "  " << describe(*r) << "\n";
      }
      return done ? 0 : kExitFail;
    }
    // A command-line wait: readers record a new version when they next
    // read, which nothing signals, so the registry is read again shortly.
    const auto left = until - Clock::now();
    std::this_thread::sleep_for(std::min<Clock::duration>(left, std::chrono::milliseconds(50)));
  }
}

}  // namespace shmconf::daemon::ctl
