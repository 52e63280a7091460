// shmconfctl flag NAME SUBJECT: the answer a client gives for a feature flag
// (docs/FLAGS.md) and why, read from shared memory through libshmconf's own
// evaluate_flag, so it is the answer every reader gives.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "ctl/common.hpp"
#include "shmconf/flags.hpp"

namespace shmconf::daemon::ctl {
namespace {

std::string why(const FlagDecision& d, const std::string& subject) {
  const nlohmann::json quoted = subject;
  char pct[32];
  std::snprintf(pct, sizeof pct, "%u.%02u%%", d.threshold / 100, d.threshold % 100);
  switch (d.reason) {
    case FlagReason::kDisabled:
      return "enabled is false: off for every subject";
    case FlagReason::kDenied:
      return quoted.dump() + " is in deny";
    case FlagReason::kAllowed:
      return quoted.dump() + " is in allow";
    case FlagReason::kPercent:
      return "bucket " + std::to_string(d.bucket) + (d.on ? " < " : " >= ") + "threshold " +
             std::to_string(d.threshold) + " (percent " + pct + ")";
  }
  return "";
}

}  // namespace

int cmd_flag(const Args& a) {
  auto client = open_client_or_exit(a);
  auto snap = live_snapshot_or_exit(client);
  const std::string& subject = a.value;
  auto d = snap.flag_decision(a.key, subject);
  if (!d) {
    std::cerr << "shmconfctl: flags." << a.key << ": "
              << (d.error() == Errc::kWrongType ? "not a flag {enabled, percent, allow, deny}"
                                                : shmconf::to_string(d.error()))
              << " (version " << snap.version() << ")\n";
    return kExitFail;
  }
  if (a.json) {
    nlohmann::ordered_json j;
    j["flag"] = a.key;
    j["subject"] = subject;
    j["on"] = d->on;
    j["reason"] = to_string(d->reason);
    j["bucket"] = d->bucket;
    j["threshold"] = d->threshold;
    j["version"] = snap.version();
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::cout << a.key << " for " << nlohmann::json(subject).dump() << ": " << (d->on ? "on" : "off")
            << "\n"
            << "  " << to_string(d->reason) << ": " << why(*d, subject) << "\n"
            << "  bucket " << d->bucket << " of " << kFlagBuckets << ", version " << snap.version()
            << "\n";
  return 0;
}

}  // namespace shmconf::daemon::ctl
