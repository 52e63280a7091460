// bench/reload_shapes.cpp — JSON inputs of other shapes than the services
// config, for BM_ReloadShape (reload_common.hpp): real files are written by
// hand or by other tools, so their keys are not in sorted order, one object
// may hold most of the keys, and strings may be long and escaped.
//
//   shape 1  the services config with every object's keys in a scrambled
//            (hash) order, as a file edited by hand has them
//   shape 2  one flat object of ~250k routes per 10 MB (hex keys, in no
//            order), the largest single object the parser has to sort
//   shape 3  an array of documents with long strings (a 1.2 KB body with
//            newlines and quotes, a PEM-like block): few keys, many bytes
//   shape 4  the services config (keys sorted, as shape 0) validated against
//            a JSON Schema of it (kSchema: types, required keys, ranges,
//            enums, a pattern and a $ref per service), the validate stage
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "reload_common.hpp"

namespace shmconf::bench::reload {
namespace {

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 14695981039346656037ull;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

// Pretty JSON (two-space indent, as to_json(v, true)) with each object's
// members in the order of a hash of their keys: deterministic, unsorted.
void scrambled_json(const sd::Value& v, int indent, std::string& out) {
  const auto pad = [&](int n) { out.append(static_cast<std::size_t>(n) * 2, ' '); };
  if (v.type == shmconf::format::Type::kObject && !v.fields.empty()) {
    std::vector<const std::pair<std::string, sd::Value>*> order;
    for (const auto& m : v.fields) order.push_back(&m);
    std::sort(order.begin(), order.end(),
              [](auto* a, auto* b) { return fnv1a(a->first) < fnv1a(b->first); });
    out += "{\n";
    for (std::size_t i = 0; i < order.size(); ++i) {
      pad(indent + 1);
      sd::append_json_string(out, order[i]->first);
      out += ": ";
      scrambled_json(order[i]->second, indent + 1, out);
      out += i + 1 < order.size() ? ",\n" : "\n";
    }
    pad(indent);
    out += '}';
  } else if (v.type == shmconf::format::Type::kArray && !v.items.empty()) {
    out += "[\n";
    for (std::size_t i = 0; i < v.items.size(); ++i) {
      pad(indent + 1);
      scrambled_json(v.items[i], indent + 1, out);
      out += i + 1 < v.items.size() ? ",\n" : "\n";
    }
    pad(indent);
    out += ']';
  } else {
    out += sd::to_json(v);
  }
}

sd::Value routes(std::size_t n, int variant) {
  sd::Value root = sd::Value::object();
  root.fields["generation"] = sd::Value::integer(variant);
  // Built as a sequence and sorted once: inserting 250k keys in hash order
  // into the flat map one by one would be quadratic.
  decltype(sd::Value::fields)::sequence_type members;
  char key[24];
  for (std::size_t i = 0; i < n; ++i) {
    std::snprintf(key, sizeof key, "%016llx",
                  static_cast<unsigned long long>(fnv1a(std::to_string(i))));
    members.emplace_back(key, sd::Value::string("10." + std::to_string(i / 65536 % 256) + "." +
                                                std::to_string(i / 256 % 256) + "." +
                                                std::to_string(i % 256) + ":8443"));
  }
  std::sort(members.begin(), members.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  members.erase(std::unique(members.begin(), members.end(),
                            [](const auto& a, const auto& b) { return a.first == b.first; }),
                members.end());
  sd::Value table = sd::Value::object();
  table.fields.adopt_sequence(boost::container::ordered_unique_range, std::move(members));
  root.fields["routes"] = std::move(table);
  return root;
}

std::string body_text(std::size_t i) {
  std::string s;
  while (s.size() < 1200) {
    s += "Paragraph " + std::to_string(s.size() / 100) + " of document " + std::to_string(i) +
         ": the \"service\" reads its settings at start-up and on every change.\n";
  }
  return s;
}

std::string pem_text(std::size_t i) {
  static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string s = "-----BEGIN CERTIFICATE-----\n";
  std::uint64_t x = fnv1a(std::to_string(i));
  for (int line = 0; line < 14; ++line) {
    for (int c = 0; c < 64; ++c) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      s += kB64[x >> 58];
    }
    s += '\n';
  }
  return s + "-----END CERTIFICATE-----\n";
}

sd::Value documents(std::size_t n, int variant) {
  sd::Value root = sd::Value::object();
  root.fields["generation"] = sd::Value::integer(variant);
  sd::Value docs = sd::Value::array();
  for (std::size_t i = 0; i < n; ++i) {
    sd::Value d = sd::Value::object();
    d.fields["id"] = sd::Value::integer(static_cast<std::int64_t>(i));
    d.fields["title"] = sd::Value::string("Runbook " + std::to_string(i));
    d.fields["body"] = sd::Value::string(body_text(i));
    d.fields["certificate"] = sd::Value::string(pem_text(i));
    docs.items.push_back(std::move(d));
  }
  root.fields["documents"] = std::move(docs);
  return root;
}

constexpr char kSchema[] = R"({
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "required": ["generation", "global", "features", "services"],
  "properties": {
    "generation": {"type": "integer", "minimum": 0},
    "global": {
      "type": "object",
      "required": ["cluster", "database"],
      "properties": {
        "cluster": {"type": "string", "minLength": 1},
        "log_format": {"enum": ["json", "text"]},
        "max_connections": {"type": "integer", "minimum": 1},
        "tls": {"type": "boolean"},
        "database": {
          "type": "object",
          "required": ["host", "port"],
          "properties": {
            "host": {"type": "string"},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            "pool_size": {"type": "integer", "minimum": 1}
          }
        }
      }
    },
    "features": {"type": "object", "additionalProperties": {"type": "boolean"}},
    "services": {"type": "object", "additionalProperties": {"$ref": "#/definitions/service"}}
  },
  "definitions": {
    "service": {
      "type": "object",
      "required": ["image", "replicas", "port"],
      "additionalProperties": false,
      "properties": {
        "enabled": {"type": "boolean"},
        "image": {"type": "string", "minLength": 1},
        "replicas": {"type": "integer", "minimum": 0, "maximum": 100},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "timeout_ms": {"type": "number", "exclusiveMinimum": 0},
        "retry": {
          "type": "object",
          "properties": {
            "attempts": {"type": "integer", "minimum": 0},
            "backoff_ms": {"type": "integer", "minimum": 0},
            "jitter": {"type": "number", "minimum": 0, "maximum": 1}
          }
        },
        "limits": {
          "type": "object",
          "properties": {
            "cpu": {"type": "number", "exclusiveMinimum": 0},
            "memory_mb": {"type": "integer", "minimum": 16}
          }
        },
        "env": {"type": "object", "additionalProperties": {"type": "string"}},
        "endpoints": {
          "type": "array",
          "items": {
            "type": "object",
            "required": ["path", "method"],
            "properties": {
              "path": {"type": "string", "pattern": "^/"},
              "method": {"enum": ["GET", "POST", "PUT", "DELETE"]},
              "timeout_ms": {"type": "integer", "minimum": 1},
              "auth": {"type": "boolean"}
            }
          }
        },
        "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true},
        "owner": {"type": "string"}
      }
    }
  }
}
)";

std::string shaped_text(int shape, std::size_t n, int variant) {
  if (shape == 4) return render(config(n, variant), sd::Format::kJson);
  const sd::Value v = shape == 1   ? config(n, variant)
                      : shape == 2 ? routes(n, variant)
                                   : documents(n, variant);
  std::string out;
  scrambled_json(v, 0, out);
  return out + "\n";
}

}  // namespace

const char* shape_name(int shape) {
  switch (shape) {
    case 1:
      return "services, keys unsorted";
    case 2:
      return "one flat object, keys unsorted";
    case 3:
      return "long escaped strings";
    case 4:
      return "services, with a JSON Schema";
  }
  return "services";
}

Input& shaped_input(int shape, std::int64_t kb) {
  static std::mutex mu;
  static std::map<std::pair<int, std::int64_t>, Input> inputs;
  std::lock_guard lock(mu);
  Input& in = inputs[{shape, kb}];
  if (in.bytes != 0) return in;
  const std::size_t base = shaped_text(shape, 0, 0).size();
  const std::size_t per = shaped_text(shape, 100, 0).size() - base;  // per 100 units
  const std::size_t target = static_cast<std::size_t>(kb) * 1000;
  const std::size_t n =
      target > base
          ? std::max<std::size_t>(1, (target - base) * 100 / std::max<std::size_t>(per, 1))
          : 1;
  in.ext = "json";
  for (int variant = 0; variant < 2; ++variant) {
    const std::string text = shaped_text(shape, n, variant);
    in.file[variant] = g_tmp / ("shape" + std::to_string(shape) + "-" + std::to_string(kb) + "kb-" +
                                std::to_string(variant) + ".json");
    write_file(in.file[variant], text);
    if (variant == 0) in.bytes = text.size();
  }
  if (shape == 4) {
    in.schema = g_tmp / ("shape4-" + std::to_string(kb) + "kb.schema.json");
    write_file(in.schema, kSchema);
  }
  return in;
}

}  // namespace shmconf::bench::reload
