// shmconfctl — the operator's tool.
//
// get, version, dump, explain and wait read shared memory through libshmconf
// and work with no daemon running; render and validate run the parse/merge
// pipeline offline (validate runs the daemon's whole check pipeline);
// schema-doc documents a JSON Schema; status, reload, rollback, history,
// diff, set and unset talk to shmconfd over its control socket.
//
// Sensitive values (docs/VALIDATION.md) print as "<redacted>" unless
// --show-secrets; the daemon honours that flag only for authorised peers.
//
// Exit codes: 0 success; 1 failure (missing key, invalid config, rejected
// reload or rollback); 2 usage error; 3 namespace or daemon unreachable.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "config/daemon_config.hpp"
#include "control/client.hpp"
#include "parse/parse.hpp"
#include "publish/render.hpp"
#include "shmconf/client.hpp"
#include "core/offline.hpp"
#include "validate/validate.hpp"

namespace sd = shmconf::daemon;

namespace {

constexpr int kExitFail = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;

struct Common {
  std::string config;  // daemon configuration file: act on each of its namespaces
  std::string name;
  std::string socket;
  std::string prefix;
  bool json = false;
  bool show_secrets = false;
};

std::string ns_or_die(const Common& c) {
  if (!c.name.empty()) return c.name;
  if (const char* n = std::getenv("SHMCONF_NAMESPACE"); n && *n) return n;
  std::cerr << "shmconfctl: --name is required (or set SHMCONF_NAMESPACE)\n";
  std::exit(kExitUsage);
}

std::string socket_path(const Common& c) {
  if (!c.socket.empty()) return c.socket;
  if (const char* s = std::getenv("SHMCONF_SOCKET"); s && *s) return s;
  return "/run/shmconf/" + ns_or_die(c) + ".sock";
}

shmconf::Client open_client(const Common& c) {
  shmconf::ClientOptions o;
  o.prefix = c.prefix;
  auto r = shmconf::Client::try_open(ns_or_die(c), o);
  if (!r) {
    std::cerr << "shmconfctl: namespace '" << ns_or_die(c) << "': " << shmconf::to_string(r.error())
              << "\n";
    std::exit(kExitUnreachable);
  }
  return std::move(r).value();
}

shmconf::Snapshot live_snapshot(const shmconf::Client& client) {
  auto snap = client.snapshot();
  if (snap.empty()) {
    std::cerr << "shmconfctl: nothing published yet";
    if (auto e = client.last_error(); !e.empty()) std::cerr << " (" << e << ")";
    std::cerr << "\n";
    std::exit(kExitFail);
  }
  return snap;
}

nlohmann::json call(const Common& c, const nlohmann::json& req) {
  try {
    return sd::control_call(socket_path(c), req, std::chrono::minutes(5));
  } catch (const std::exception& e) {
    std::cerr << "shmconfctl: " << e.what() << "\n";
    std::exit(kExitUnreachable);
  }
}

std::string iso_time(std::uint64_t ns) {
  const std::time_t t = static_cast<std::time_t>(ns / 1000000000u);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Prints a control reply: JSON with --json, else a human line. Returns the
// exit code.
int finish(const Common& c, const nlohmann::json& reply) {
  const bool ok = reply.value("ok", false);
  if (c.json) {
    std::cout << reply.dump(2) << "\n";
  } else if (!ok) {
    std::cerr << "shmconfctl: " << reply.value("error", std::string("failed"));
    const std::string msg = reply.value("message", std::string());
    if (!msg.empty()) std::cerr << " (" << msg << ")";
    std::cerr << "\n";
  } else if (reply.contains("message")) {
    std::cout << reply["message"].get<std::string>() << "\n";
    if (reply.contains("changes")) {
      for (const auto& ch : reply["changes"]) {
        std::cout << "  " << ch.value("change", "") << " " << ch.value("key", "") << "\n";
      }
    }
  }
  return ok ? 0 : kExitFail;
}

// The daemon configuration file's namespaces (only --name's when given),
// each as the Common of a single-namespace command: its name, its socket in
// the file's socket_dir, the file's prefix. Without --config: just `c`.
std::vector<Common> each_namespace(const Common& c, sd::DaemonConfig* config = nullptr) {
  if (c.config.empty()) return {c};
  sd::DaemonConfig d;
  try {
    d = sd::load_daemon_config(c.config);
  } catch (const sd::ConfigError& e) {
    std::cerr << e.what() << "\n";
    std::exit(kExitFail);
  }
  std::string dir = d.socket_dir;
  if (dir.empty()) {
    const char* r = std::getenv("RUNTIME_DIRECTORY");
    dir = r && *r ? r : "/run/shmconf";
  }
  std::vector<Common> out;
  for (const auto& ns : d.namespaces) {
    if (!c.name.empty() && ns.options.name != c.name) continue;
    Common one = c;
    one.name = ns.options.name;
    if (c.socket.empty()) one.socket = dir + "/" + one.name + ".sock";
    if (c.prefix.empty()) one.prefix = d.prefix;
    out.push_back(std::move(one));
  }
  if (out.empty()) {
    std::cerr << "shmconfctl: " << c.config << " declares no namespace '" << c.name << "'\n";
    std::exit(kExitUsage);
  }
  if (config) *config = std::move(d);
  return out;
}

// Runs `one` for each namespace of --config (or once), with a heading per
// namespace when there are several; the exit code is the worst one.
template <class F>
int for_each_namespace(const Common& c, F one) {
  const std::vector<Common> all = each_namespace(c);
  int rc = 0;
  for (const Common& n : all) {
    if (all.size() > 1 && !c.json) std::cout << "[" << n.name << "]\n";
    rc = std::max(rc, one(n));
  }
  return rc;
}

sd::Value load_files(const std::vector<std::string>& files) {
  sd::Value merged = sd::Value::object();
  for (std::size_t i = 0; i < files.size(); ++i) {
    sd::merge_into(merged, sd::parse_file(files[i], static_cast<std::uint32_t>(i)));
  }
  return merged;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"shmconfctl: inspect and operate shmconf namespaces"};
  app.require_subcommand(1);
  // Global options are accepted after the subcommand too ("reload --name app").
  app.fallthrough();
  Common c;
  app.add_option("--config", c.config,
                 "Daemon configuration file (shmconfd.yaml): status, reload and validate act on "
                 "each of its namespaces, or on --name's");
  app.add_option("--name,-n", c.name, "Namespace (default $SHMCONF_NAMESPACE)");
  app.add_option("--socket", c.socket,
                 "Control socket (default $SHMCONF_SOCKET or /run/shmconf/NAME.sock)");
  app.add_option("--prefix", c.prefix, "Shared-memory prefix (default $SHMCONF_PREFIX or shmconf)");
  app.add_flag("--json", c.json, "Machine-readable output");
  app.add_flag("--show-secrets", c.show_secrets,
               "Print sensitive values instead of <redacted> (socket commands: authorised users "
               "only)");

  std::string key;
  auto* get = app.add_subcommand("get", "Print one value (strings raw, others as JSON)");
  get->add_option("key", key, "Full key path, e.g. database.pool.max_size")->required();

  app.add_subcommand("version", "Print the live version (0 when nothing is published)");
  auto* dump = app.add_subcommand("dump", "Print the live snapshot as JSON");
  bool with_origin = false;
  auto* explain = app.add_subcommand("explain", "Show a value and which source set it");
  explain->add_option("key", key)->required();
  (void)with_origin;

  std::uint64_t known = 0;
  int timeout_ms = -1;
  auto* wait = app.add_subcommand("wait", "Block until the live version differs from --known");
  wait->add_option("--known", known, "Version to wait past (default: the live one)");
  wait->add_option("--timeout-ms", timeout_ms, "Give up after this long (exit 1)");

  std::vector<std::string> files;
  auto* render = app.add_subcommand("render", "Parse and merge files, print JSON; publish nothing");
  render->add_option("files", files)->required()->check(CLI::ExistingFile);
  auto* validate = app.add_subcommand(
      "validate",
      "Run the daemon's load and check pipeline on FILEs (later wins), publish nothing; exit 0 "
      "valid, 1 invalid, 2 usage");
  validate->add_option("files", files, "Config files or conf.d directories (or --config)");
  std::string schema_path, environment, out_format = "text", secrets_policy = "error";
  validate->add_option("--schema", schema_path, "JSON Schema (draft 7) to validate against");
  validate->add_option("--env", environment,
                       "Environment for overlay directories (as the daemon's --env)");
  validate->add_option("--format", out_format, "Output: text (errors on stderr) or json")
      ->check(CLI::IsMember({"text", "json"}));
  validate
      ->add_option("--plaintext-secrets", secrets_policy,
                   "A sensitive key holding a literal: error, warn or allow")
      ->check(CLI::IsMember({"error", "warn", "allow"}));
  auto* schema_doc =
      app.add_subcommand("schema-doc", "Print a Markdown table of a JSON Schema's keys");
  schema_doc->add_option("schema", schema_path, "JSON Schema file")->required();

  auto* status = app.add_subcommand("status", "Daemon status: live version, last reload, sources");
  status->add_flag("--json", c.json,
                   "The daemon's status reply as JSON (\"healthy\" is the verdict)");
  auto* metrics = app.add_subcommand(
      "metrics", "Print the daemon's Prometheus metrics (what --metrics-listen serves)");
  bool force = false;
  auto* reload = app.add_subcommand("reload", "Reload now; exit 1 if the new config is rejected");
  reload->add_flag("--force", force,
                   "Skip the guards (min_keys, max_changed_percent, allow_empty) for this reload; "
                   "authorised users only, audited");
  unsigned steps = 0;
  std::uint64_t to = 0;
  auto* rollback = app.add_subcommand("rollback", "Make an earlier retained version live");
  auto* steps_opt =
      rollback->add_option("--steps", steps, "Go back N retained versions (default 1)");
  auto* to_opt = rollback->add_option("--to", to, "Go to this retained version");
  steps_opt->excludes(to_opt);
  app.add_subcommand("history", "Retained versions and recent events");
  std::uint64_t v1 = 0, v2 = 0;
  auto* diff = app.add_subcommand("diff", "Keys added, removed and changed between two versions");
  diff->add_option("from", v1)->required();
  diff->add_option("to", v2)->required();
  std::string value;
  auto* set = app.add_subcommand("set", "Set a runtime override (value as JSON, else a string)");
  set->add_option("key", key)->required();
  set->add_option("value", value)->required();
  auto* unset = app.add_subcommand("unset", "Remove a runtime override");
  unset->add_option("key", key)->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }

  if (get->parsed()) {
    auto client = open_client(c);
    auto snap = live_snapshot(client);
    auto v = snap.get(key);
    if (!v) {
      std::cerr << "shmconfctl: " << key << ": " << shmconf::to_string(v.error()) << " (version "
                << snap.version() << ")\n";
      return kExitFail;
    }
    if (v->type() == shmconf::Type::kString && !c.json) {
      std::cout << (v->sensitive() && !c.show_secrets ? std::string_view(sd::kRedactedValue)
                                                      : *v->as_string())
                << "\n";
    } else {
      // get("") is the root, which has no index slot.
      const auto* slot = key.empty() ? nullptr : snap.view()->find(key);
      const auto& n = slot ? snap.view()->node(slot->node) : snap.view()->root();
      std::cout << sd::node_to_json(*snap.view(), n, {c.show_secrets}).dump() << "\n";
    }
    return 0;
  }
  if (app.got_subcommand("version")) {
    auto client = open_client(c);
    std::cout << client.version() << "\n";
    return 0;
  }
  if (dump->parsed()) {
    auto client = open_client(c);
    auto snap = live_snapshot(client);
    std::cout << sd::node_to_json(*snap.view(), snap.view()->root(), {c.show_secrets}).dump(2)
              << "\n";
    return 0;
  }
  if (explain->parsed()) {
    auto client = open_client(c);
    auto snap = live_snapshot(client);
    const auto* slot = snap.view()->find(key);
    if (slot == nullptr) {
      std::cerr << "shmconfctl: " << key << ": key not found (version " << snap.version() << ")\n";
      return kExitFail;
    }
    const auto& n = snap.view()->node(slot->node);
    nlohmann::ordered_json j;
    j["key"] = key;
    j["value"] = sd::node_to_json(*snap.view(), n, {c.show_secrets});
    j["version"] = snap.version();
    j["origin"] = sd::node_origin(*snap.view(), n);
    // What it overrode: the daemon reads the layers (as the sources are now).
    // Without a daemon the live value and its origin are still shown.
    nlohmann::json layers;
    try {
      const auto reply = sd::control_call(
          socket_path(c), {{"cmd", "explain"}, {"key", key}, {"show_secrets", c.show_secrets}},
          std::chrono::seconds(30));
      if (reply.value("ok", false)) layers = reply.value("layers", nlohmann::json::array());
    } catch (const std::exception&) {
      // No daemon: nothing more to say.
    }
    if (!layers.is_null()) j["layers"] = layers;
    if (c.json) {
      std::cout << j.dump(2) << "\n";
    } else {
      std::cout << key << " = " << j["value"].dump() << "\n";
      if (!j["origin"].is_null()) {
        std::cout << "  set by " << j["origin"]["source"].get<std::string>();
        if (n.line) std::cout << ":" << n.line << ":" << n.column;
        std::cout << "\n";
      }
      std::cout << "  version " << snap.version() << "\n";
      if (layers.is_array() && !layers.empty()) {
        std::cout << "  layers in the sources now, lowest priority first:\n";
        for (std::size_t i = 0; i < layers.size(); ++i) {
          const auto& l = layers[i];
          std::string where = l.value("source", std::string("?"));
          if (l.contains("line")) {
            where += ":" + std::to_string(l.value("line", 0)) + ":" +
                     std::to_string(l.value("column", 0));
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
    return 0;
  }
  if (wait->parsed()) {
    auto client = open_client(c);
    if (wait->count("--known") == 0) known = client.version();
    auto r = client.wait_for_change(known, std::chrono::milliseconds(timeout_ms));
    if (!r) {
      std::cerr << "shmconfctl: " << shmconf::to_string(r.error()) << "\n";
      return kExitFail;
    }
    std::cout << *r << "\n";
    return 0;
  }
  if (validate->parsed() && !c.config.empty()) {
    // Each namespace of the daemon configuration, exactly as shmconfd would
    // load it; --env and --schema, when given, replace the file's.
    if (!files.empty()) {
      std::cerr << "shmconfctl: validate takes FILE... or --config, not both\n";
      return kExitUsage;
    }
    sd::DaemonConfig config;
    const std::vector<Common> all = each_namespace(c, &config);
    bool valid = true;
    nlohmann::json reports = nlohmann::json::array();
    for (const auto& ns : config.namespaces) {
      if (!c.name.empty() && ns.options.name != c.name) continue;
      sd::ServiceOptions o = ns.options;
      if (!environment.empty()) o.environment = environment;
      if (!schema_path.empty()) o.schema = schema_path;
      const sd::ValidationReport report = sd::validate_offline(o);
      valid = valid && report.valid;
      if (c.json || out_format == "json") {
        nlohmann::json j = report.to_json();
        j["namespace"] = o.name;
        reports.push_back(std::move(j));
      } else {
        for (const auto& e : report.errors) std::cerr << o.name << ": " << e.text() << "\n";
        for (const auto& w : report.warnings) {
          std::cerr << o.name << ": warning: " << w.text() << "\n";
        }
        std::cout << o.name << ": " << (report.valid ? "valid" : "INVALID") << "\n";
      }
    }
    if (c.json || out_format == "json") {
      std::cout << nlohmann::json{{"valid", valid}, {"namespaces", reports}}.dump() << "\n";
    }
    return valid ? 0 : kExitFail;
  }
  if (validate->parsed()) {
    if (files.empty()) {
      std::cerr << "shmconfctl: validate needs FILE... or --config FILE\n";
      return kExitUsage;
    }
    sd::ServiceOptions o;
    o.name = "validate";
    for (const std::string& f : files) {
      std::error_code ec;
      const std::string abs = std::filesystem::absolute(f, ec).string();
      sd::SourceSpec spec = sd::file_source(ec ? f : abs);
      if (std::filesystem::is_directory(spec.path, ec)) {
        // With --env E, a directory holding E.yaml (.yml, .json, .toml) is
        // an environment overlay directory; any other is a conf.d.
        spec.kind = sd::SourceSpec::Kind::kDirectory;
        for (const char* ext : {".yaml", ".yml", ".json", ".toml"}) {
          if (!environment.empty() &&
              std::filesystem::is_regular_file(spec.path + "/" + environment + ext, ec)) {
            spec.kind = sd::SourceSpec::Kind::kEnvironments;
          }
        }
      }
      o.sources.push_back(std::move(spec));
    }
    o.schema = schema_path;
    o.environment = environment;
    o.plaintext_secrets = secrets_policy == "allow"  ? sd::SecretPolicy::kAllow
                          : secrets_policy == "warn" ? sd::SecretPolicy::kWarn
                                                     : sd::SecretPolicy::kError;
    o.guards.allow_empty = true;  // an empty file is valid offline; guards are the daemon's
    const sd::ValidationReport report = sd::validate_offline(o);
    if (c.json || out_format == "json") {
      std::cout << report.to_json().dump() << "\n";
    } else {
      for (const auto& e : report.errors) std::cerr << e.text() << "\n";
      for (const auto& w : report.warnings) std::cerr << "warning: " << w.text() << "\n";
    }
    return report.valid ? 0 : kExitFail;
  }
  if (schema_doc->parsed()) {
    try {
      std::cout << sd::schema_markdown(*sd::Schema::load(schema_path));
      return 0;
    } catch (const std::exception& e) {
      std::cerr << e.what() << "\n";
      return kExitFail;
    }
  }
  if (render->parsed()) {
    try {
      sd::Value merged = load_files(files);
      const nlohmann::json out = c.show_secrets ? nlohmann::json::parse(sd::to_json(merged))
                                                : sd::SensitiveKeys().redact(merged);
      std::cout << out.dump(2) << "\n";
      return 0;
    } catch (const sd::ConfigError& e) {
      std::cerr << e.what() << "\n";
      return kExitFail;
    }
  }
  if (app.got_subcommand("status") && c.json && !c.config.empty()) {
    // One JSON document: the status of each namespace of the file.
    auto all = nlohmann::json::array();
    bool ok = true;
    for (const Common& n : each_namespace(c)) {
      all.push_back(call(n, {{"cmd", "status"}, {"show_secrets", c.show_secrets}}));
      ok = ok && all.back().value("ok", false);
    }
    std::cout << all.dump(2) << "\n";
    return ok ? 0 : kExitFail;
  }
  if (app.got_subcommand("status")) {
    return for_each_namespace(c, [&](const Common& n) {
      auto reply = call(n, {{"cmd", "status"}, {"show_secrets", c.show_secrets}});
      if (c.json) {
        std::cout << reply.dump(2) << "\n";
      } else {
        std::cout << "namespace:    " << reply.value("namespace", "") << "\n"
                  << "live version: " << reply.value("live_version", 0) << " (generation "
                  << reply.value("generation", 0) << ")\n"
                  << "content hash: " << reply.value("content_hash", "-") << "\n"
                  << "keys:         " << reply.value("keys", 0) << ", "
                  << reply.value("segment_bytes", 0) << " bytes\n"
                  << "retained:     " << reply.value("retained", 0) << " versions"
                  << (reply.value("rolled_back", false) ? " (rolled back)" : "") << "\n";
        if (reply.contains("last_reload") && reply["last_reload"].is_object()) {
          const auto& lr = reply["last_reload"];
          std::cout << "last reload:  " << (lr.value("ok", false) ? "ok" : "REJECTED") << ", "
                    << lr.value("trigger", "") << ", " << lr.value("message", "") << "\n";
          if (!lr.value("ok", false)) std::cout << "  error: " << lr.value("error", "") << "\n";
        }
        for (const auto& s : reply.value("sources", nlohmann::json::array())) {
          std::cout << "source:       " << s.get<std::string>() << "\n";
        }
        if (reply.contains("healthy")) {
          std::cout << "health:       "
                    << (reply.value("healthy", false)
                            ? std::string("ok")
                            : "UNHEALTHY: " + reply.value("health", std::string()))
                    << "\n";
        }
      }
      return reply.value("ok", false) ? 0 : kExitFail;
    });
  }
  if (metrics->parsed()) {
    auto reply = call(c, {{"cmd", "metrics"}});
    if (!reply.value("ok", false) || !reply.contains("text")) return finish(c, reply);
    std::cout << reply["text"].get<std::string>();
    return 0;
  }
  if (reload->parsed()) {
    return for_each_namespace(c, [&](const Common& n) {
      nlohmann::json req = {{"cmd", "reload"}};
      if (force) req["force"] = true;
      return finish(n, call(n, req));
    });
  }
  if (rollback->parsed()) {
    nlohmann::json req = {{"cmd", "rollback"}};
    if (*to_opt)
      req["to"] = to;
    else
      req["steps"] = *steps_opt ? steps : 1u;
    return finish(c, call(c, req));
  }
  if (app.got_subcommand("history")) {
    auto reply = call(c, {{"cmd", "history"}});
    if (c.json || !reply.value("ok", false)) return finish(c, reply);
    for (const auto& v : reply["versions"]) {
      const auto& s = v["summary"];
      std::cout << (v.value("live", false) ? "* " : "  ") << "v" << v.value("version", 0) << "  "
                << iso_time(v.value("time_ns", std::uint64_t{0})) << "  " << v.value("trigger", "")
                << "  " << v.value("content_hash", "") << "  +" << s.value("added", 0) << " -"
                << s.value("removed", 0) << " ~" << s.value("changed", 0);
      for (const auto& k : s.value("keys", nlohmann::json::array()))
        std::cout << " " << k.get<std::string>();
      std::cout << "\n";
    }
    return 0;
  }
  if (diff->parsed()) {
    auto reply =
        call(c, {{"cmd", "diff"}, {"from", v1}, {"to", v2}, {"show_secrets", c.show_secrets}});
    if (c.json || !reply.value("ok", false)) return finish(c, reply);
    for (const auto& ch : reply["changes"]) {
      const std::string kind = ch.value("change", "");
      std::cout << (kind == "added"     ? "+ "
                    : kind == "removed" ? "- "
                                        : "~ ")
                << ch.value("key", "");
      if (ch.contains("old")) std::cout << "  " << ch["old"].dump();
      if (ch.contains("old") && ch.contains("new")) std::cout << " ->";
      if (ch.contains("new")) std::cout << "  " << ch["new"].dump();
      std::cout << "\n";
    }
    return 0;
  }
  if (set->parsed()) {
    nlohmann::json v;
    try {
      v = nlohmann::json::parse(value);
    } catch (const nlohmann::json::exception&) {
      v = value;  // not JSON: a plain string
    }
    return finish(c, call(c, {{"cmd", "set"}, {"key", key}, {"value", v}}));
  }
  if (unset->parsed()) return finish(c, call(c, {{"cmd", "unset"}, {"key", key}}));
  return kExitUsage;
}
