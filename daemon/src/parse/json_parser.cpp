// daemon/src/parse/json_parser.cpp — JSON via simdjson On-Demand.
//
// On-Demand rather than DOM because only it exposes where each token sits in
// the input, which Origin and every error need. Our walk recurses once per
// container level, and Checker::enter_container() refuses a level before we
// descend, so hostile nesting fails at max_depth whatever simdjson allows.
#include <simdjson.h>

#include <cmath>

#include "parse/parse_internal.hpp"

namespace shmconf::daemon::detail {
namespace {

namespace od = simdjson::ondemand;

static_assert(kJsonPadding >= simdjson::SIMDJSON_PADDING);

std::string_view trim_right(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

const char* type_name(od::json_type t) {
  switch (t) {
    case od::json_type::array:
      return "an array";
    case od::json_type::object:
      return "an object";
    case od::json_type::number:
      return "a number";
    case od::json_type::string:
      return "a string";
    case od::json_type::boolean:
      return "a boolean";
    case od::json_type::null:
      return "null";
  }
  return "a value";
}

class JsonConverter {
 public:
  JsonConverter(std::string_view text, Checker& check) : text_(text), lines_(text), check_(check) {}

  Value run(od::parser& parser, std::size_t capacity) {
    // simdjson 3.0 does not skip a byte-order mark; positions stay relative
    // to the whole text.
    std::size_t skip = 0;
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") skip = 3;
    od::document doc;
    const simdjson::error_code err =
        parser.iterate(text_.data() + skip, text_.size() - skip, capacity - skip).get(doc);
    if (err == simdjson::EMPTY)
      check_.fail_no_path({}, "empty document; the root must be a mapping");
    if (err == simdjson::UTF8_ERROR) {
      check_.fail_no_path(lines_.locate(first_invalid_utf8(text_)), "invalid UTF-8");
    }
    if (err) check_.fail_no_path({}, std::string("invalid JSON: ") + simdjson::error_message(err));
    doc_ = &doc;

    std::string_view root_token;
    if (const auto e = doc.raw_json_token().get(root_token)) fail_json(e, text_.data() + skip);
    const Pos pos = pos_of(root_token.data());
    od::json_type type;
    if (const auto e = doc.type().get(type)) fail_json(e, root_token.data());
    if (type != od::json_type::object) {
      check_.fail(pos, std::string("the root must be a mapping, got ") + type_name(type));
    }
    od::object object;
    if (const auto e = doc.get_object().get(object)) fail_json(e, root_token.data());
    Value root = Value::object(check_.origin(pos));
    check_.count(pos);
    check_.enter_container(pos);
    convert_object(object, root);
    check_.leave_container();

    // simdjson 3.0 stops after the root value without looking further.
    const char* rest = nullptr;
    if (!doc.current_location().get(rest)) {
      check_.fail_no_path(pos_of(rest), "unexpected content after the root object");
    }
    return root;
  }

 private:
  Pos pos_of(const char* p) const {
    return lines_.locate(static_cast<std::size_t>(p - text_.data()));
  }

  // simdjson errors carry no position; the iterator's current one is the
  // best we have, else the token we were converting.
  [[noreturn]] void fail_json(simdjson::error_code err, const char* fallback) const {
    const char* at = nullptr;
    if (doc_ == nullptr || doc_->current_location().get(at) || at < text_.data() ||
        at >= text_.data() + text_.size()) {
      at = fallback;
    }
    check_.fail(at != nullptr ? pos_of(at) : Pos{},
                std::string("invalid JSON: ") + simdjson::error_message(err));
  }

  void convert_object(od::object& object, Value& out) {
    Members& members = members_.at(check_.depth());
    for (auto result : object) {
      od::field field;
      if (const auto e = std::move(result).get(field)) fail_json(e, nullptr);
      const char* quote_at = field.key().raw() - 1;
      std::string_view key;
      if (const auto e = field.unescaped_key().get(key)) fail_json(e, quote_at);
      // A key's position only goes into an error: it is located only for
      // one (the values' positions are the origins every node keeps).
      // simdjson validated the input's UTF-8 and refuses lone surrogates.
      if (!check_.key_acceptable(key)) check_.validate_key(key, pos_of(quote_at), true);
      Value& slot =
          members.add(key, static_cast<std::size_t>(quote_at - text_.data()), lines_, check_);
      // The key stays in simdjson's string buffer for the whole parse.
      if (!check_.try_push_key(key)) check_.push_key(key, pos_of(quote_at));
      convert_value(field.value(), slot);
      check_.pop();
    }
    members.finish(out, check_);
  }

  void convert_array(od::array& array, Value& out) {
    std::vector<Value>& items = members_.items_at(check_.depth());
    std::size_t i = 0;
    for (auto result : array) {
      od::value item;
      if (const auto e = std::move(result).get(item)) fail_json(e, nullptr);
      if (!check_.try_push_index(i)) check_.push_index(i, pos_of(item.raw_json_token().data()));
      convert_value(item, items.emplace_back());
      check_.pop();
      ++i;
    }
    MemberStack::take_items(items, out);
  }

  void convert_value(od::value value, Value& out) {
    const std::string_view token = value.raw_json_token();
    const Pos pos = pos_of(token.data());
    out.origin = check_.origin(pos);
    check_.count(pos);
    od::json_type type;
    if (const auto e = value.type().get(type)) fail_json(e, token.data());
    switch (type) {
      case od::json_type::object: {
        check_.enter_container(pos);
        od::object object;
        if (const auto e = value.get_object().get(object)) fail_json(e, token.data());
        out.type = Type::kObject;
        convert_object(object, out);
        check_.leave_container();
        return;
      }
      case od::json_type::array: {
        check_.enter_container(pos);
        od::array array;
        if (const auto e = value.get_array().get(array)) fail_json(e, token.data());
        out.type = Type::kArray;
        convert_array(array, out);
        check_.leave_container();
        return;
      }
      case od::json_type::number:
        convert_number(value, token, pos, out);
        return;
      case od::json_type::string: {
        std::string_view s;
        if (const auto e = value.get_string().get(s)) fail_json(e, token.data());
        out.type = Type::kString;
        out.s.assign(s);
        return;
      }
      case od::json_type::boolean: {
        bool b = false;
        if (const auto e = value.get_bool().get(b)) fail_json(e, token.data());
        out.type = Type::kBool;
        out.b = b;
        return;
      }
      case od::json_type::null: {
        bool is_null = false;
        if (const auto e = value.is_null().get(is_null)) fail_json(e, token.data());
        if (!is_null) check_.fail(pos, "invalid JSON: bad literal " + quote(trim_right(token)));
        out.type = Type::kNull;
        return;
      }
    }
  }

  void convert_number(od::value& value, std::string_view token, Pos pos, Value& out) {
    const std::string_view text = trim_right(token);
    od::number_type kind;
    if (const auto e = value.get_number_type().get(kind)) fail_json(e, token.data());
    if (kind == od::number_type::floating_point_number) {
      double d = 0;
      const auto e = value.get_double().get(d);
      // simdjson reports a finite-looking literal that overflows (1e400) as
      // NUMBER_ERROR; either way it is not a double we can keep.
      if (e || !std::isfinite(d)) {
        check_.fail(pos, "number " + std::string(text) + " is not a finite double");
      }
      out.type = Type::kDouble;
      out.d = d;
      return;
    }
    // Integers never fall back to double: a silently rounded id or limit is
    // worse than a refused file.
    simdjson::error_code e;
    std::int64_t i = 0;
    if (kind == od::number_type::signed_integer) {
      e = value.get_int64().get(i);
    } else {
      std::uint64_t u = 0;
      e = value.get_uint64().get(u);
      if (!e) e = simdjson::NUMBER_OUT_OF_RANGE;  // >= 2^63
    }
    if (e == simdjson::NUMBER_ERROR) fail_json(e, token.data());
    if (e) check_.fail(pos, "integer " + std::string(text) + " does not fit in int64");
    out.type = Type::kInt;
    out.i = i;
  }

  std::string_view text_;
  LineIndex lines_;
  Checker& check_;
  od::document* doc_ = nullptr;
  MemberStack members_;
};

}  // namespace

// The parser's buffers (about 6x the input) are kept per thread for inputs
// up to this size: allocating them afresh costs a first-touch page fault
// per 4 KiB, a third of the whole conversion on these VMs. Larger inputs
// get a parser of their own, so a rare huge file pins no memory.
constexpr std::size_t kReusedParserLimit = 16u << 20;

Value parse_json(std::string_view text, std::size_t capacity, Checker& check) {
  thread_local od::parser reused;
  od::parser fresh;
  od::parser& parser = text.size() <= kReusedParserLimit ? reused : fresh;
  if (capacity >= text.size() + kJsonPadding) {
    return JsonConverter(text, check).run(parser, capacity);
  }
  const simdjson::padded_string padded(text);
  const std::string_view view(padded.data(), padded.size());
  return JsonConverter(view, check).run(parser, view.size() + simdjson::SIMDJSON_PADDING);
}

}  // namespace shmconf::daemon::detail
