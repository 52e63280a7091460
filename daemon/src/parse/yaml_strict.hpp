// daemon/src/parse/yaml_strict.hpp — YAML errors that yaml-cpp lets through.
//
// yaml-cpp accepts some malformed YAML and hands back a value the author did
// not write: an unterminated quoted string runs to the end of the file, an
// unknown escape is kept, a continuation line outdented below its key is
// folded in, "key" on a line without ':' becomes a key with no value (which
// layering then deletes). The parser looks at the source bytes of each
// quoted or block scalar yaml-cpp reports and refuses these with a position.
// The checks only run when the bytes at yaml-cpp's mark are the scalar's
// opening character, so an input yaml-cpp transcoded (UTF-16, a BOM) is
// never misread. docs/SOURCES.md lists what is still yaml-cpp's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shmconf::daemon::detail {

struct YamlStrictError {
  std::size_t offset;  // byte offset in the file of the offending character
  std::string message;
};

// The scalar that starts at `offset` (yaml-cpp's mark), when it is quoted:
// it must be closed, use only YAML's escapes (double quotes), be followed by
// white space, a line break, ':', ',', ']', '}' or the end, and every line
// after its first that holds more than white space must start with at least
// `min_indent` spaces (0: not checked, as in flow collections).
std::optional<YamlStrictError> check_quoted_scalar(std::string_view text, std::size_t offset,
                                                   std::size_t min_indent);

// The block scalar header ("|", ">-", "|2+") at `offset`, when there is one:
// after its indicators comes white space, a line break or the end; a '#'
// right after them is not a comment. Without an indentation indicator, no
// leading empty line may hold more spaces than the first line of content
// (a line indented past `parent_column`).
std::optional<YamlStrictError> check_block_header(std::string_view text, std::size_t offset,
                                                  std::size_t parent_column);

// The node properties ("&anchor", "!tag") that start at `offset`, when there
// are any: one that begins a line (not the first one when `first_on_key_line`)
// is indented by at least `min_indent` spaces.
std::optional<YamlStrictError> check_properties(std::string_view text, std::size_t offset,
                                                std::size_t min_indent, bool first_on_key_line);

// The 1-based line and column of `offset`, counted from a known position.
void advance_position(std::string_view text, std::size_t from, std::size_t to, std::uint32_t& line,
                      std::uint32_t& column);

}  // namespace shmconf::daemon::detail
