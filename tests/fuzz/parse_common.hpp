// tests/fuzz/parse_common.hpp — one configuration file through the daemon's
// write path up to the segment: parse, ${...} substitution, merge, then the
// snapshot builder and the client's reader on what it built.
//
// Input: two documents of one format separated by the first NUL byte (none:
// the second is empty and skipped). Each is parsed and substituted as a
// source layer; the second is merged into the first. What must hold:
//   - parse, substitute and build fail only with ConfigError;
//   - the canonical JSON of a tree that parsed parses back (as JSON) to an
//     equal tree: every format's rules are the same;
//   - SegmentView::open() accepts what SnapshotBuilder wrote (the daemon's
//     self-check before publish), and every key of it is found.
#pragma once

#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz.hpp"
#include "parse/parse.hpp"
#include "publish/builder.hpp"
#include "segment_walk.hpp"
#include "sources/substitute.hpp"

namespace shmconf::fuzz {

// Small enough that one input stays fast, large enough for real files.
inline daemon::Limits fuzz_limits() {
  daemon::Limits limits;
  limits.max_file_size = 1u << 20;
  limits.max_nodes = 100'000;
  limits.max_alias_nodes = 10'000;
  return limits;
}

// A fixed environment, so an input expands the same way on every machine.
inline daemon::SubstitutionContext fuzz_substitution() {
  daemon::SubstitutionContext ctx;
  ctx.getenv = [](const std::string& name) -> std::optional<std::string> {
    if (name == "HOST") return "db.example.com";
    if (name == "EMPTY") return "";
    if (name == "REF") return "${HOST}";  // expansion is one pass: stays literal
    return std::nullopt;
  };
  ctx.credentials_dir = "/nonexistent-shmconf-fuzz-credentials";
  ctx.max_file_size = 4096;
  return ctx;
}

// One layer: parsed and substituted, or nullopt when refused.
inline std::optional<daemon::Value> fuzz_layer(std::string_view text, daemon::Format format,
                                               std::uint32_t source) {
  const std::string name = source == 0 ? "base" : "overlay";
  try {
    daemon::Value v = daemon::parse_text(text, format, name, source, fuzz_limits());
    // Same rules for every format: the canonical JSON parses back equal.
    const std::string json = daemon::to_json(v);
    SHMCONF_FUZZ_CHECK(daemon::parse_text(json, daemon::Format::kJson, "canonical", 0) == v);
    daemon::substitute_tree(v, name, fuzz_substitution());
    return v;
  } catch (const daemon::ConfigError& e) {
    SHMCONF_FUZZ_CHECK(e.what()[0] != '\0');
    return std::nullopt;
  }
}

// Builds the snapshot of `root` and reads it back as a client would.
inline void fuzz_build(const daemon::Value& root) {
  const daemon::SourceList sources{"file:base", "file:overlay"};
  daemon::BuildInput in;
  in.root = &root;
  in.sources = &sources;
  in.version = 1;
  in.content_hash = daemon::content_hash(root);
  in.trigger = "fuzz";
  std::optional<daemon::SnapshotBuilder> builder;
  try {
    builder.emplace(in);
  } catch (const daemon::ConfigError&) {
    return;  // a path or name too long for the format
  }
  std::vector<std::uint64_t> mem((builder->size() + 7) / 8);
  builder->write({reinterpret_cast<std::byte*>(mem.data()), builder->size()});
  SegmentView view;
  SegmentError why;
  const Errc rc = SegmentView::open(mem.data(), builder->size(), 0, &view, &why);
  if (rc != Errc::kOk) std::fprintf(stderr, "built segment refused: %s\n", why.message);
  SHMCONF_FUZZ_CHECK(rc == Errc::kOk);
  walk_segment(view, true, [] {});
}

inline int fuzz_parse(daemon::Format format, const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = text.find('\0');
  std::optional<daemon::Value> base = fuzz_layer(text.substr(0, nul), format, 0);
  if (!base) return 0;
  if (nul != std::string_view::npos) {
    std::optional<daemon::Value> overlay = fuzz_layer(text.substr(nul + 1), format, 1);
    if (overlay) daemon::merge_into(*base, std::move(*overlay));
  }
  fuzz_build(*base);
  return 0;
}

}  // namespace shmconf::fuzz
