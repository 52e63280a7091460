// bench/reload_inputs.cpp — the reload benchmarks' generated inputs
// (reload_common.hpp): nested service configs rendered as JSON, YAML and
// TOML at about 1 KB, 100 KB, 1 MB and 10 MB.
#include <toml++/toml.h>

#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>

#include "reload_common.hpp"

namespace shmconf::bench::reload {

// --- generated configs ---------------------------------------------------------------

namespace {

sd::Value obj() { return sd::Value::object(); }
sd::Value str(std::string s) { return sd::Value::string(std::move(s)); }
sd::Value num(std::int64_t i) { return sd::Value::integer(i); }

sd::Value service(std::size_t i, int variant) {
  const std::string id = std::to_string(i);
  sd::Value s = obj();
  s.fields["enabled"] = sd::Value::boolean(i % 5 != 0);
  s.fields["image"] =
      str("registry.example.com/platform/service-" + id + ":1." + std::to_string(i % 20) + ".3");
  s.fields["replicas"] = num(static_cast<std::int64_t>(1 + i % 7 + (i == 0 ? variant : 0)));
  s.fields["port"] = num(static_cast<std::int64_t>(8000 + i % 1000));
  s.fields["timeout_ms"] = sd::Value::real(250.5 + static_cast<double>(i % 10));
  sd::Value retry = obj();
  retry.fields["attempts"] = num(3);
  retry.fields["backoff_ms"] = num(50);
  retry.fields["jitter"] = sd::Value::real(0.25);
  s.fields["retry"] = std::move(retry);
  sd::Value limits = obj();
  limits.fields["cpu"] = sd::Value::real(0.5 * static_cast<double>(1 + i % 8));
  limits.fields["memory_mb"] = num(static_cast<std::int64_t>(256 * (1 + i % 4)));
  s.fields["limits"] = std::move(limits);
  sd::Value env = obj();
  env.fields["LOG_LEVEL"] = str(i % 3 == 0 ? "debug" : "info");
  env.fields["REGION"] = str("eu-west-" + std::to_string(1 + i % 3));
  env.fields["FEATURE_FLAGS"] = str("alpha,beta,gamma");
  env.fields["UPSTREAM_URL"] = str("https://upstream-" + id + ".internal.example.com:443/api");
  s.fields["env"] = std::move(env);
  sd::Value endpoints = sd::Value::array();
  for (int j = 0; j < 3; ++j) {
    sd::Value e = obj();
    e.fields["path"] = str("/v" + std::to_string(1 + j) + "/resource-" + id);
    e.fields["method"] = str(j == 1 ? "POST" : "GET");
    e.fields["timeout_ms"] = num(100 * (j + 1));
    e.fields["auth"] = sd::Value::boolean(j != 0);
    endpoints.items.push_back(std::move(e));
  }
  s.fields["endpoints"] = std::move(endpoints);
  sd::Value tags = sd::Value::array();
  tags.items.push_back(str("tier-" + std::to_string(i % 3)));
  tags.items.push_back(str("team-" + std::to_string(i % 17)));
  tags.items.push_back(str(i % 2 ? "critical" : "batch"));
  s.fields["tags"] = std::move(tags);
  s.fields["owner"] = str("team-" + std::to_string(i % 17) + "@example.com");
  return s;
}

}  // namespace

sd::Value config(std::size_t services, int variant) {
  sd::Value root = obj();
  root.fields["generation"] = num(variant);
  sd::Value global = obj();
  global.fields["cluster"] = str("prod-eu-west-1");
  global.fields["log_format"] = str("json");
  global.fields["max_connections"] = num(10000);
  global.fields["tls"] = sd::Value::boolean(true);
  sd::Value db = obj();
  db.fields["host"] = str("db.internal.example.com");
  db.fields["port"] = num(5432);
  db.fields["pool_size"] = num(32);
  global.fields["database"] = std::move(db);
  root.fields["global"] = std::move(global);
  sd::Value features = obj();
  for (int f = 0; f < 8; ++f)
    features.fields["flag_" + std::to_string(f)] = sd::Value::boolean(f % 2);
  root.fields["features"] = std::move(features);
  sd::Value svcs = obj();
  char name[32];
  for (std::size_t i = 0; i < services; ++i) {
    std::snprintf(name, sizeof name, "service-%06zu", i);
    svcs.fields[name] = service(i, variant);
  }
  root.fields["services"] = std::move(svcs);
  return root;
}

namespace {

// YAML block style. Strings are plain when unambiguous, else double-quoted
// (JSON escapes are valid YAML double-quoted escapes).
bool plain_ok(const std::string& s) {
  if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
  static const char* kWords[] = {"true", "false", "null", "yes", "no", "on", "off", "y", "n"};
  std::string lower;
  for (char c : s) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* w : kWords) {
    if (lower == w) return false;
  }
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
        c == '/' || c == '@') {
      continue;
    }
    if (c == ':' && i + 1 < s.size() && s[i + 1] != ' ') continue;
    return false;
  }
  return true;
}

void yaml_scalar(const sd::Value& v, std::string& out) {
  switch (v.type) {
    case shmconf::format::Type::kString:
      if (plain_ok(v.s)) {
        out += v.s;
      } else {
        sd::append_json_string(out, v.s);
      }
      break;
    case shmconf::format::Type::kArray:
      out += "[]";
      break;
    case shmconf::format::Type::kObject:
      out += "{}";
      break;
    default:
      out += sd::to_json(v);
  }
}

bool nested(const sd::Value& v) {
  return (v.type == shmconf::format::Type::kObject && !v.fields.empty()) ||
         (v.type == shmconf::format::Type::kArray && !v.items.empty());
}

// Writes container `v` at `indent`; the first line's indentation is
// already written when `inline_first` (after "- ").
void yaml_block(const sd::Value& v, int indent, bool inline_first, std::string& out) {
  bool first = true;
  auto pad = [&] {
    if (!(first && inline_first)) out.append(static_cast<std::size_t>(indent), ' ');
    first = false;
  };
  auto child = [&](const sd::Value& c, bool in_seq) {
    if (!nested(c)) {
      out += ' ';
      yaml_scalar(c, out);
      out += '\n';
    } else if (in_seq) {
      out += ' ';
      yaml_block(c, indent + 2, true, out);
    } else {
      out += '\n';
      yaml_block(c, indent + 2, false, out);
    }
  };
  if (v.type == shmconf::format::Type::kObject) {
    for (const auto& [k, c] : v.fields) {
      pad();
      out += k;
      out += ':';
      child(c, false);
    }
  } else {
    for (const sd::Value& c : v.items) {
      pad();
      out += '-';
      child(c, true);
    }
  }
}

// TOML through toml++'s own writer (the generated configs hold no nulls,
// which TOML cannot spell).
void to_toml(const sd::Value& v, toml::array& out);
void to_toml(const sd::Value& v, toml::table& out) {
  for (const auto& [k, c] : v.fields) {
    switch (c.type) {
      case shmconf::format::Type::kObject: {
        toml::table t;
        to_toml(c, t);
        out.insert(k, std::move(t));
        break;
      }
      case shmconf::format::Type::kArray: {
        toml::array a;
        to_toml(c, a);
        out.insert(k, std::move(a));
        break;
      }
      case shmconf::format::Type::kBool:
        out.insert(k, c.b);
        break;
      case shmconf::format::Type::kInt:
        out.insert(k, c.i);
        break;
      case shmconf::format::Type::kDouble:
        out.insert(k, c.d);
        break;
      default:
        out.insert(k, c.s);
    }
  }
}
void to_toml(const sd::Value& v, toml::array& out) {
  for (const sd::Value& c : v.items) {
    if (c.type == shmconf::format::Type::kObject) {
      toml::table t;
      to_toml(c, t);
      out.push_back(std::move(t));
    } else if (c.type == shmconf::format::Type::kString) {
      out.push_back(c.s);
    } else if (c.type == shmconf::format::Type::kInt) {
      out.push_back(c.i);
    }
  }
}

}  // namespace

std::string render(const sd::Value& v, sd::Format f) {
  if (f == sd::Format::kJson) return sd::to_json(v, true) + "\n";
  if (f == sd::Format::kToml) {
    toml::table t;
    to_toml(v, t);
    std::ostringstream ss;
    ss << t << "\n";
    return ss.str();
  }
  std::string out;
  yaml_block(v, 0, false, out);
  return out;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
}

const char* fmt_name(sd::Format f) {
  return f == sd::Format::kJson ? "json" : f == sd::Format::kYaml ? "yaml" : "toml";
}

Input& input(sd::Format f, std::int64_t kb) {
  static std::mutex mu;
  static std::map<std::pair<int, std::int64_t>, Input> inputs;
  std::lock_guard lock(mu);
  Input& in = inputs[{static_cast<int>(f), kb}];
  if (in.bytes != 0) return in;
  // Size one service in this format, then pick the count for the target.
  const std::size_t base = render(config(0, 0), f).size();
  const std::size_t per = render(config(1, 0), f).size() - base;
  const std::size_t target = static_cast<std::size_t>(kb) * 1000;
  const std::size_t n = target > base ? std::max<std::size_t>(1, (target - base) / per) : 0;
  in.ext = fmt_name(f);
  for (int variant = 0; variant < 2; ++variant) {
    const std::string text = render(config(n, variant), f);
    in.file[variant] =
        g_tmp / ("input-" + std::to_string(kb) + "kb-" + std::to_string(variant) + "." + in.ext);
    write_file(in.file[variant], text);
    if (variant == 0) in.bytes = text.size();
  }
  return in;
}

}  // namespace shmconf::bench::reload
