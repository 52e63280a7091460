// tests/fuzz/schema_fuzz.cpp — JSON Schema loading (validate/validate.hpp):
// a schema file is parsed, then used as a reload uses it: a fixed
// configuration is validated against it, its sensitive keys are collected
// and redacted, and `shmconfctl schema-doc` renders it. A broken schema is
// a ValidationFailure, never a crash.
#include <string>
#include <string_view>

#include "fuzz.hpp"
#include "parse/parse.hpp"
#include "validate/validate.hpp"

namespace shmconf::fuzz {

namespace {

const daemon::Value& sample_config() {
  static const daemon::Value root = daemon::parse_text(R"({
    "service": {"name": "checkout", "port": 8080, "ratio": 0.25, "enabled": true},
    "database": {"host": "db.example.com", "port": 5432, "password": "${DB_PASSWORD}",
                 "pool": {"min": 1, "max": 32}},
    "servers": [{"host": "a.example.com", "weight": 1}, {"host": "b", "token": "t0k"}],
    "tags": ["blue", "green", ""], "limits": null, "empty": {}
  })",
                                                       daemon::Format::kJson, "sample.json", 0);
  return root;
}

}  // namespace

int schema(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::shared_ptr<const daemon::Schema> schema;
  try {
    schema = daemon::Schema::parse(text, "fuzz.schema.json");
  } catch (const daemon::ValidationFailure& e) {
    SHMCONF_FUZZ_CHECK(!e.issues().empty());
    return 0;
  }
  const daemon::SourceList sources{"file:sample.json"};
  for (const daemon::ValidationIssue& issue : schema->validate(sample_config(), sources)) {
    SHMCONF_FUZZ_CHECK(!issue.text().empty());
  }
  (void)schema->marks_sensitive("servers[].token");
  const daemon::SensitiveKeys keys(schema);
  (void)keys.collect(sample_config());
  (void)keys.redact(sample_config()).dump();
  try {
    (void)daemon::schema_markdown(*schema);
  } catch (const daemon::ValidationFailure&) {
  }
  return 0;
}

}  // namespace shmconf::fuzz

SHMCONF_FUZZ_ENTRY(shmconf::fuzz::schema)
