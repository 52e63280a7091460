// shmconfctl's reading verbs: get, version, dump, explain, wait. They read
// shared memory through libshmconf and work with no daemon running.
#include <chrono>
#include <iostream>
#include <string>

#include "control/client.hpp"
#include "ctl/common.hpp"
#include "publish/render.hpp"

namespace shmconf::daemon::ctl {
namespace {

// The layers the daemon reads in the sources now (null without a daemon).
nlohmann::json explain_layers(const Args& a) {
  try {
    const auto reply = control_call(
        socket_path(a), {{"cmd", "explain"}, {"key", a.key}, {"show_secrets", a.show_secrets}},
        std::chrono::seconds(30));
    if (reply.value("ok", false)) return reply.value("layers", nlohmann::json::array());
  } catch (const std::exception&) {
    // No daemon: nothing more to say.
  }
  return nullptr;
}

void print_explanation(const nlohmann::ordered_json& j, std::uint64_t version,
                       const nlohmann::json& layers) {
  std::cout << j["key"].get<std::string>() << " = " << j["value"].dump() << "\n";
  if (!j["origin"].is_null()) {
    std::cout << "  set by " << j["origin"]["source"].get<std::string>();
    const auto& o = j["origin"];
    if (o.value("line", 0u) != 0) std::cout << ":" << o["line"] << ":" << o["column"];
    std::cout << "\n";
  }
  std::cout << "  version " << version << "\n";
  if (layers.is_array() && !layers.empty()) {
    std::cout << "  layers in the sources now, lowest priority first:\n";
    for (std::size_t i = 0; i < layers.size(); ++i) {
      const auto& l = layers[i];
      std::string where = l.value("source", std::string("?"));
      if (l.contains("line")) {
        where +=
            ":" + std::to_string(l.value("line", 0)) + ":" + std::to_string(l.value("column", 0));
      }
      const std::string what =
          l.value("deleted", false) ? std::string("(deleted: null)") : l["value"].dump();
      std::cout << "    " << where << "  " << what
                << (i + 1 == layers.size() ? "  <- wins" : "  (overridden)") << "\n";
    }
  } else if (layers.is_null()) {
    std::cout << "  (daemon not reachable: the layers it overrode are not shown)\n";
  }
}

}  // namespace

int cmd_get(const Args& a) {
  auto client = open_client_or_exit(a);
  auto snap = live_snapshot_or_exit(client);
  auto v = snap.get(a.key);
  if (!v) {
    std::cerr << "shmconfctl: " << a.key << ": " << shmconf::to_string(v.error()) << " (version "
              << snap.version() << ")\n";
    return kExitFail;
  }
  if (v->type() == shmconf::Type::kString && !a.json) {
    std::cout << (v->sensitive() && !a.show_secrets ? std::string_view(kRedactedValue)
                                                    : *v->as_string())
              << "\n";
  } else {
    // get("") is the root, which has no index slot.
    const shmconf::format::Node* found = a.key.empty() ? nullptr : snap.view()->find(a.key);
    const auto& n = found ? *found : snap.view()->root();
    std::cout << node_to_json(*snap.view(), n, {a.show_secrets}).dump() << "\n";
  }
  return 0;
}

int cmd_version(const Args& a) {
  auto client = open_client_or_exit(a);
  std::cout << client.version() << "\n";
  return 0;
}

int cmd_dump(const Args& a) {
  auto client = open_client_or_exit(a);
  auto snap = live_snapshot_or_exit(client);
  std::cout << node_to_json(*snap.view(), snap.view()->root(), {a.show_secrets}).dump(2) << "\n";
  return 0;
}

int cmd_explain(const Args& a) {
  auto client = open_client_or_exit(a);
  auto snap = live_snapshot_or_exit(client);
  const shmconf::format::Node* found = snap.view()->find(a.key);
  if (found == nullptr) {
    std::cerr << "shmconfctl: " << a.key << ": key not found (version " << snap.version() << ")\n";
    return kExitFail;
  }
  const auto& n = *found;
  nlohmann::ordered_json j;
  j["key"] = a.key;
  j["value"] = node_to_json(*snap.view(), n, {a.show_secrets});
  j["version"] = snap.version();
  j["origin"] = node_origin(*snap.view(), n);
  // What it overrode: the daemon reads the layers (as the sources are now).
  // Without a daemon the live value and its origin are still shown.
  const nlohmann::json layers = explain_layers(a);
  if (!layers.is_null()) j["layers"] = layers;
  if (a.json) {
    std::cout << j.dump(2) << "\n";
  } else {
    print_explanation(j, snap.version(), layers);
  }
  return 0;
}

int cmd_wait(const Args& a) {
  auto client = open_client_or_exit(a);
  const std::uint64_t known = a.known_given ? a.known : client.version();
  auto r = client.wait_for_change(known, std::chrono::milliseconds(a.timeout_ms));
  if (!r) {
    std::cerr << "shmconfctl: " << shmconf::to_string(r.error()) << "\n";
    return kExitFail;
  }
  std::cout << *r << "\n";
  return 0;
}

}  // namespace shmconf::daemon::ctl
