// shmconfctl's daemon verbs: status, metrics, reload, rollback, history,
// diff, set, unset. Each sends one request over the control socket
// (docs/PROTOCOL.md) and prints the reply.
#include <iostream>
#include <string>

#include "ctl/common.hpp"

namespace shmconf::daemon::ctl {
namespace {

void print_status(const nlohmann::json& reply) {
  std::cout << "namespace:    " << reply.value("namespace", "") << "\n"
            << "live version: " << reply.value("live_version", 0) << " (generation "
            << reply.value("generation", 0) << ")\n"
            << "content hash: " << reply.value("content_hash", "-") << "\n"
            << "keys:         " << reply.value("keys", 0) << ", " << reply.value("segment_bytes", 0)
            << " bytes\n"
            << "retained:     " << reply.value("retained", 0) << " versions"
            << (reply.value("rolled_back", false) ? " (rolled back)" : "") << "\n";
  if (reply.contains("last_reload") && reply["last_reload"].is_object()) {
    const auto& lr = reply["last_reload"];
    std::cout << "last reload:  " << (lr.value("ok", false) ? "ok" : "REJECTED") << ", "
              << lr.value("trigger", "") << ", " << lr.value("message", "") << "\n";
    if (!lr.value("ok", false)) std::cout << "  error: " << lr.value("error", "") << "\n";
  }
  if (reply.contains("readers")) {
    std::cout << "readers:      " << reply.value("readers", 0) << " (shmconfctl readers)\n";
  }
  for (const auto& s : reply.value("sources", nlohmann::json::array())) {
    std::cout << "source:       " << s.get<std::string>() << "\n";
  }
  for (const auto& e : reply.value("etcd", nlohmann::json::array())) {
    std::cout << "etcd watch:   " << e.value("source", "") << " "
              << (e.value("connected", false) ? "connected to " + e.value("endpoint", "")
                                              : "DISCONNECTED (" + e.value("error", "") + ")")
              << ", revision " << e.value("revision", 0) << "\n";
  }
  if (reply.contains("healthy")) {
    const std::string health = reply.value("health", std::string());
    std::cout << "health:       "
              << (!reply.value("healthy", false)   ? "UNHEALTHY: " + health
                  : reply.value("degraded", false) ? health
                                                   : std::string("ok"))
              << "\n";
  }
}

// One JSON document: the status of each namespace of the file.
int status_of_every_namespace(const Args& a) {
  auto all = nlohmann::json::array();
  bool ok = true;
  for (const Args& n : each_namespace(a)) {
    all.push_back(call_or_exit(n, {{"cmd", "status"}, {"show_secrets", a.show_secrets}}));
    ok = ok && all.back().value("ok", false);
  }
  std::cout << all.dump(2) << "\n";
  return ok ? 0 : kExitFail;
}

}  // namespace

int cmd_status(const Args& a) {
  if (a.json && !a.config.empty()) return status_of_every_namespace(a);
  return for_each_namespace(a, [&](const Args& n) {
    auto reply = call_or_exit(n, {{"cmd", "status"}, {"show_secrets", a.show_secrets}});
    if (a.json) {
      std::cout << reply.dump(2) << "\n";
    } else {
      print_status(reply);
    }
    return reply.value("ok", false) ? 0 : kExitFail;
  });
}

int cmd_metrics(const Args& a) {
  auto reply = call_or_exit(a, {{"cmd", "metrics"}});
  if (!reply.value("ok", false) || !reply.contains("text")) return finish(a, reply);
  std::cout << reply["text"].get<std::string>();
  return 0;
}

int cmd_reload(const Args& a) {
  return for_each_namespace(a, [&](const Args& n) {
    nlohmann::json req = {{"cmd", "reload"}};
    if (a.force) req["force"] = true;
    return finish(n, call_or_exit(n, req));
  });
}

int cmd_rollback(const Args& a) {
  nlohmann::json req = {{"cmd", "rollback"}};
  if (a.to) {
    req["to"] = *a.to;
  } else {
    req["steps"] = a.steps;
  }
  return finish(a, call_or_exit(a, req));
}

int cmd_history(const Args& a) {
  auto reply = call_or_exit(a, {{"cmd", "history"}});
  if (a.json || !reply.value("ok", false)) return finish(a, reply);
  for (const auto& v : reply["versions"]) {
    const auto& s = v["summary"];
    std::cout << (v.value("live", false) ? "* " : "  ") << "v" << v.value("version", 0) << "  "
              << iso_time(v.value("time_ns", std::uint64_t{0})) << "  " << v.value("trigger", "")
              << "  " << v.value("content_hash", "") << "  +" << s.value("added", 0) << " -"
              << s.value("removed", 0) << " ~" << s.value("changed", 0);
    for (const auto& k : s.value("keys", nlohmann::json::array())) {
      std::cout << " " << k.get<std::string>();
    }
    std::cout << "\n";
  }
  return 0;
}

int cmd_diff(const Args& a) {
  auto reply = call_or_exit(a, {{"cmd", "diff"},
                                {"from", a.from_version},
                                {"to", a.to_version},
                                {"show_secrets", a.show_secrets}});
  if (a.json || !reply.value("ok", false)) return finish(a, reply);
  for (const auto& ch : reply["changes"]) {
    const std::string kind = ch.value("change", "");
    std::cout << (kind == "added" ? "+ " : kind == "removed" ? "- " : "~ ") << ch.value("key", "");
    if (ch.contains("old")) std::cout << "  " << ch["old"].dump();
    if (ch.contains("old") && ch.contains("new")) std::cout << " ->";
    if (ch.contains("new")) std::cout << "  " << ch["new"].dump();
    std::cout << "\n";
  }
  return 0;
}

int cmd_set(const Args& a) {
  nlohmann::json v;
  try {
    v = nlohmann::json::parse(a.value);
  } catch (const nlohmann::json::exception&) {
    v = a.value;  // not JSON: a plain string
  }
  return finish(a, call_or_exit(a, {{"cmd", "set"}, {"key", a.key}, {"value", v}}));
}

int cmd_unset(const Args& a) {
  return finish(a, call_or_exit(a, {{"cmd", "unset"}, {"key", a.key}}));
}

}  // namespace shmconf::daemon::ctl
