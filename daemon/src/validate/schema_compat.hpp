// daemon/src/validate/schema_compat.hpp — a draft 7 schema as valijson reads it.
//
// Two places where valijson 1.0 departs from draft 7 are worked around by
// rewriting a copy of the schema before valijson parses it (the schema as
// written is kept for schema-doc and "x-sensitive"):
//   - "format" is applied to every value, not only to strings: "format":
//     "date" fails on an object and throws on a number. It becomes
//     {"if": {"type": "string"}, "then": {"format": ...}} under "allOf".
//   - counts written as decimals ("maxProperties": 2.0) are refused; an
//     integral number becomes an integer.
// docs/VALIDATION.md lists what valijson still does not do.
#pragma once

#include <nlohmann/json_fwd.hpp>

namespace shmconf::daemon {

// Rewrites every subschema of `schema` (draft 7 keywords) in place.
void adapt_schema_for_valijson(nlohmann::json& schema);

}  // namespace shmconf::daemon
