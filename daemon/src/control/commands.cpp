#include "control/commands.hpp"

#include <cstdint>
#include <optional>
#include <string_view>

#include "control/protocol.hpp"
#include "control/replies.hpp"
#include "parse/parse.hpp"

namespace shmconf::daemon {
namespace {

using json = nlohmann::json;

// One request, as every handler sees it.
struct Call {
  CommandHost& host;
  NamespaceService& service;
  const json& req;
  const Peer& peer;
  std::string who;    // "uid U pid P", for triggers and history
  bool show_secrets;  // asked for, and the peer may see them
};

json failure(std::string_view code, const std::string& error) {
  return {{"ok", false}, {"code", code}, {"error", error}};
}

json cmd_status(Call& c) {
  c.service.sweep_readers();
  json j = status_json(c.service, c.show_secrets);
  const RegistryView readers = c.service.readers();
  if (readers.error.empty()) j["readers"] = readers.readers.size();
  j["ok"] = c.service.has_live();
  if (!c.service.has_live()) j["error"] = "no snapshot is live";
  c.host.add_daemon_status(j);
  return j;
}

json cmd_version(Call& c) { return {{"ok", true}, {"version", c.service.live_version()}}; }

json cmd_metrics(Call& c) { return {{"ok", true}, {"text", c.host.metrics_text()}}; }

// The reader registry after a sweep: who serves which version.
json cmd_readers(Call& c) {
  c.service.sweep_readers();
  const RegistryView v = c.service.readers();
  if (!v.error.empty()) return failure("unavailable", "no reader registry: " + v.error);
  json list = json::array();
  for (const ReaderEntry& r : v.readers) {
    list.push_back({{"pid", r.pid},
                    {"uid", r.uid},
                    {"exe", r.exe},
                    {"version", r.version},
                    {"generation", r.generation},
                    {"attach_time_ns", r.attach_time_ns},
                    {"since_ns", r.since_ns},
                    {"slot", r.slot}});
  }
  return {{"ok", true},
          {"namespace", c.service.options().name},
          {"live_version", c.service.live_version()},
          {"slots", v.slots},
          {"readers", std::move(list)}};
}

json cmd_explain(Call& c) {
  // The layers as the sources hold them now (they may differ from the live
  // version: see "drift" in status).
  try {
    json j = explain_json(c.service.explain(c.req.at("key").get<std::string>()), c.show_secrets);
    j["ok"] = true;
    return j;
  } catch (const ConfigError& e) {
    return {{"ok", false}, {"code", "source"}, {"error", e.what()}};
  }
}

json cmd_history(Call& c) {
  json j = history_json(c.service);
  j["ok"] = true;
  return j;
}

json cmd_diff(Call& c) {
  json j = diff_json(c.service, c.req.at("from").get<std::uint64_t>(),
                     c.req.at("to").get<std::uint64_t>(), c.show_secrets);
  j["ok"] = true;
  return j;
}

json cmd_reload(Call& c) {
  return outcome_json(c.host.reload("control", c.peer, c.req.value("force", false)));
}

json cmd_rollback(Call& c) {
  std::optional<unsigned> steps;
  std::optional<std::uint64_t> to;
  if (c.req.contains("to")) {
    to = c.req["to"].get<std::uint64_t>();
  } else if (c.req.contains("steps")) {
    const auto n = c.req["steps"].get<std::int64_t>();
    if (n < 1 || n > 100000) return failure(kCodeBadRequest, "steps must be at least 1");
    steps = static_cast<unsigned>(n);
  } else {
    steps = 1;
  }
  const ReloadOutcome out = c.service.rollback(steps, to, c.who);
  c.host.finished(out, "rollback", c.peer);
  return outcome_json(out);
}

json cmd_set(Call& c) {
  const std::string key = c.req.at("key").get<std::string>();
  // The value goes through the daemon's own parser, so it obeys the limits
  // and rules of every source.
  const Value v = parse_text("{\"v\":" + c.req.at("value").dump() + "}", Format::kJson, "override",
                             format::kNoSource, c.service.options().limits)
                      .fields.at("v");
  const ReloadOutcome out = c.service.set_override(key, v, c.who);
  c.host.finished(out, "set " + key, c.peer);
  return outcome_json(out);
}

json cmd_unset(Call& c) {
  const std::string key = c.req.at("key").get<std::string>();
  const ReloadOutcome out = c.service.unset_override(key, c.who);
  c.host.finished(out, "unset " + key, c.peer);
  return outcome_json(out);
}

struct Command {
  std::string_view name;
  json (*run)(Call&);
};

// Mutating ones are those protocol.hpp is_mutating_command() lists.
constexpr Command kCommands[] = {
    {"status", cmd_status},   {"version", cmd_version},   {"metrics", cmd_metrics},
    {"explain", cmd_explain}, {"history", cmd_history},   {"diff", cmd_diff},
    {"reload", cmd_reload},   {"rollback", cmd_rollback}, {"set", cmd_set},
    {"unset", cmd_unset},     {"readers", cmd_readers},
};

json refuse(CommandHost& host, const std::string& cmd, const Peer& peer) {
  host.refused(cmd, peer);
  return failure(kCodeUnauthorized, "'" + cmd +
                                        "' needs root, the daemon's user or the admin group (uid " +
                                        std::to_string(peer.uid) + " is none of these)");
}

}  // namespace

json run_command(CommandHost& host, const json& request, const Peer& peer) {
  try {
    const std::string cmd = request.at("cmd").get<std::string>();
    const bool authorized = is_authorized(peer, host.policy());
    if (is_mutating_command(cmd) && !authorized) return refuse(host, cmd, peer);
    // Secrets in replies only for peers who could change them anyway.
    const bool show_secrets = request.value("show_secrets", false) && authorized;
    for (const Command& command : kCommands) {
      if (command.name != cmd) continue;
      Call call{host,
                host.service(),
                request,
                peer,
                "uid " + std::to_string(peer.uid) + " pid " + std::to_string(peer.pid),
                show_secrets};
      return command.run(call);
    }
    return failure(kCodeUnknownCommand, "unknown command '" + cmd + "'");
  } catch (const json::exception& e) {
    // A missing or mistyped request field.
    return failure(kCodeBadRequest, e.what());
  }
}

}  // namespace shmconf::daemon
