// daemon/src/parse/parse.hpp — configuration files (JSON, YAML, TOML) into
// Value trees, and the merge of several trees into one.
//
// Every parser enforces the same rules, so a tree that parsed is publishable
// whatever its format: the root is a mapping; keys are unique, non-empty,
// valid UTF-8 and free of '.', '[' and ']' (they would make key paths
// ambiguous); integers fit int64 and doubles are finite; strings are valid
// UTF-8; depth, path length, value count and input size are bounded by
// Limits, so a hostile file fails fast with a ConfigError instead of
// exhausting the stack or memory. Every error names file:line:col and the
// key path ("servers[2].host") as exactly as the underlying library allows.
//
// Thread-safety: the functions keep no shared state; parse concurrently at
// will. Cost: linear in the input; YAML is bounded by yaml-cpp's own speed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tree/value.hpp"

namespace shmconf::daemon {

struct Limits {
  std::size_t max_file_size = 256u << 20;  // bytes
  // Nesting levels of containers, the root mapping being level 1. Values
  // above format::kMaxDepth are clamped to it: a segment cannot hold more.
  std::uint32_t max_depth = 64;
  std::size_t max_nodes = 20'000'000;  // values after YAML alias expansion
  // Values YAML aliases may add by expansion. max_nodes alone would let an
  // alias bomb build 20M values (about 4 GB) before failing; real files
  // reuse a few blocks, so this fails a bomb after a few hundred MB at most.
  std::size_t max_alias_nodes = 1'000'000;
  std::uint32_t max_key_length = 1024;                    // one mapping key, bytes
  std::uint32_t max_path_length = format::kMaxKeyLength;  // full dotted path, bytes
};

enum class Format { kJson, kYaml, kToml };

// The format for a file name by its extension (.json, .yaml, .yml, .toml,
// in any case), or nullopt.
std::optional<Format> format_for_path(std::string_view path);

// Parses one document. `display_name` is what errors call the input;
// `source` goes into every Value's Origin. Throws ConfigError.
Value parse_text(std::string_view text, Format format, const std::string& display_name,
                 std::uint32_t source, const Limits& limits = {});

// Reads `path` (at most limits.max_file_size bytes) and parses it by its
// extension. Throws ConfigError for an unknown extension, an unreadable or
// oversized file, and everything parse_text refuses.
// What one pass over a file's bytes (memchr speed) proves about the tree
// parsed from it, so the stages after the parser can skip a walk of the
// tree: each flag is false only when that is certain.
struct TextFacts {
  // Some string may hold a '$' (so a ${...} reference): the bytes hold a
  // '$', or an escape that could spell one (JSON and TOML "\u", TOML
  // "\U"; in YAML any backslash or tag, conservatively).
  bool may_have_dollar = true;
  // Some value may be null: JSON with "null" somewhere, YAML always (a
  // null can be implicit); never TOML, which has no null.
  bool may_have_null = true;
};
TextFacts scan_text(std::string_view text, Format format);

Value parse_file(const std::string& path, std::uint32_t source, const Limits& limits = {},
                 TextFacts* facts = nullptr);

// Deep-merges `overlay` into `base` with JSON Merge Patch semantics
// (RFC 7386): when both are objects they merge key by key, recursively; a
// null in the overlay deletes that key from base (and is never inserted);
// anything else (arrays and scalars included) replaces base's value whole.
// Nulls inside objects the overlay adds are dropped too, so a null always
// means "absent" whatever base held; nulls inside arrays are kept.
// `overlay_may_have_null` = false (TextFacts) skips looking for nulls to
// drop when the overlay replaces base whole.
void merge_into(Value& base, Value overlay, bool overlay_may_have_null = true);

// Key paths as the snapshot index spells them: join_path("a", "b") is "a.b",
// join_path("", "b") is "b"; index_path("servers", 2) is "servers[2]".
std::string join_path(std::string_view parent, std::string_view key);
std::string index_path(std::string_view parent, std::size_t i);

}  // namespace shmconf::daemon
