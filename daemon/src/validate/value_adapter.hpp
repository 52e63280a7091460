// daemon/src/validate/value_adapter.hpp — a valijson adapter over the
// daemon's Value tree, so a schema validates the candidate in place.
//
// It replaced serialising the tree to canonical JSON and parsing that into
// nlohmann::json for every reload: at 10 MB that round trip alone took about
// 100 ms, before valijson started. The semantics are the canonical JSON's
// (docs/VALIDATION.md): an integer is a JSON integer, a double a JSON
// number that is not one (2.0 is no "integer"), and a non-finite double,
// which no parser produces, reads as null, as to_json() writes it.
//
// Modelled on valijson's own adapters (adapters/nlohmann_json_adapter.hpp):
// BasicAdapter supplies the semantics from the accessors in ValueAccess.
// Private to validate/. Thread-safety: the tree must not change while an
// adapter over it is in use.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <valijson/exceptions.hpp>
#include <valijson/internal/adapter.hpp>
#include <valijson/internal/basic_adapter.hpp>
#include <valijson/internal/frozen_value.hpp>

#include "tree/value.hpp"

namespace shmconf::daemon::schema_adapter {

class ValueAdapter;
using Fields = decltype(Value::fields);
using ObjectMember = std::pair<std::string, ValueAdapter>;

inline const Value& empty_of(Type t) {
  static const Value array = Value::array();
  static const Value object = Value::object();
  return t == Type::kArray ? array : object;
}

// Array elements, dereferenced as adapters.
class ArrayIterator {
 public:
  using iterator_category = std::bidirectional_iterator_tag;
  using value_type = ValueAdapter;
  using difference_type = ValueAdapter;
  using pointer = ValueAdapter*;
  using reference = ValueAdapter&;

  explicit ArrayIterator(const Value* at) : at_(at) {}
  ValueAdapter operator*() const;
  valijson::adapters::DerefProxy<ValueAdapter> operator->() const;
  bool operator==(const ArrayIterator& o) const { return at_ == o.at_; }
  bool operator!=(const ArrayIterator& o) const { return at_ != o.at_; }
  const ArrayIterator& operator++() {
    ++at_;
    return *this;
  }
  ArrayIterator operator++(int) {
    ArrayIterator pre = *this;
    ++at_;
    return pre;
  }
  const ArrayIterator& operator--() {
    --at_;
    return *this;
  }
  void advance(std::ptrdiff_t n) { at_ += n; }

 private:
  const Value* at_;
};

// Object members, dereferenced as (name, adapter) pairs.
class ObjectIterator {
 public:
  using iterator_category = std::bidirectional_iterator_tag;
  using value_type = ObjectMember;
  using difference_type = ObjectMember;
  using pointer = ObjectMember*;
  using reference = ObjectMember&;

  explicit ObjectIterator(Fields::const_iterator at) : at_(at) {}
  ObjectMember operator*() const;
  valijson::adapters::DerefProxy<ObjectMember> operator->() const;
  bool operator==(const ObjectIterator& o) const { return at_ == o.at_; }
  bool operator!=(const ObjectIterator& o) const { return at_ != o.at_; }
  const ObjectIterator& operator++() {
    ++at_;
    return *this;
  }
  ObjectIterator operator++(int) {
    ObjectIterator pre = *this;
    ++at_;
    return pre;
  }
  const ObjectIterator& operator--() {
    --at_;
    return *this;
  }

 private:
  Fields::const_iterator at_;
};

class Array {
 public:
  using const_iterator = ArrayIterator;
  using iterator = ArrayIterator;
  Array() : v_(empty_of(Type::kArray)) {}
  explicit Array(const Value& v) : v_(v) {
    if (v.type != Type::kArray) valijson::throwRuntimeError("Value is not an array.");
  }
  ArrayIterator begin() const { return ArrayIterator(v_.items.data()); }
  ArrayIterator end() const { return ArrayIterator(v_.items.data() + v_.items.size()); }
  std::size_t size() const { return v_.items.size(); }

 private:
  const Value& v_;
};

class Object {
 public:
  using const_iterator = ObjectIterator;
  using iterator = ObjectIterator;
  Object() : v_(empty_of(Type::kObject)) {}
  explicit Object(const Value& v) : v_(v) {
    if (v.type != Type::kObject) valijson::throwRuntimeError("Value is not an object.");
  }
  ObjectIterator begin() const { return ObjectIterator(v_.fields.begin()); }
  ObjectIterator end() const { return ObjectIterator(v_.fields.end()); }
  ObjectIterator find(const std::string& name) const {
    return ObjectIterator(v_.fields.find(name));
  }
  std::size_t size() const { return v_.fields.size(); }

 private:
  const Value& v_;
};

// A schema's enum/const values are frozen copies; a Value copies itself.
class FrozenValue : public valijson::adapters::FrozenValue {
 public:
  explicit FrozenValue(Value v) : v_(std::move(v)) {}
  valijson::adapters::FrozenValue* clone() const override { return new FrozenValue(v_); }
  bool equalTo(const valijson::adapters::Adapter& other, bool strict) const override;

 private:
  Value v_;
};

// The accessors BasicAdapter builds its semantics on.
class ValueAccess {
 public:
  ValueAccess() : v_(empty_of(Type::kObject)) {}
  explicit ValueAccess(const Value& v) : v_(v) {}

  valijson::adapters::FrozenValue* freeze() const { return new FrozenValue(v_); }
  opt::optional<Array> getArrayOptional() const {
    if (v_.type == Type::kArray) return opt::make_optional(Array(v_));
    return {};
  }
  bool getArraySize(std::size_t& out) const {
    if (v_.type != Type::kArray) return false;
    out = v_.items.size();
    return true;
  }
  bool getBool(bool& out) const {
    if (v_.type != Type::kBool) return false;
    out = v_.b;
    return true;
  }
  bool getDouble(double& out) const {
    if (!isDouble()) return false;
    out = v_.d;
    return true;
  }
  bool getInteger(std::int64_t& out) const {
    if (v_.type != Type::kInt) return false;
    out = v_.i;
    return true;
  }
  opt::optional<Object> getObjectOptional() const {
    if (v_.type == Type::kObject) return opt::make_optional(Object(v_));
    return {};
  }
  bool getObjectSize(std::size_t& out) const {
    if (v_.type != Type::kObject) return false;
    out = v_.fields.size();
    return true;
  }
  bool getString(std::string& out) const {
    if (v_.type != Type::kString) return false;
    out = v_.s;
    return true;
  }
  static bool hasStrictTypes() { return true; }
  bool isArray() const { return v_.type == Type::kArray; }
  bool isBool() const { return v_.type == Type::kBool; }
  bool isDouble() const { return v_.type == Type::kDouble && std::isfinite(v_.d); }
  bool isInteger() const { return v_.type == Type::kInt; }
  bool isNull() const {
    return v_.type == Type::kNull || (v_.type == Type::kDouble && !std::isfinite(v_.d));
  }
  bool isNumber() const { return isInteger() || isDouble(); }
  bool isObject() const { return v_.type == Type::kObject; }
  bool isString() const { return v_.type == Type::kString; }

 private:
  const Value& v_;
};

class ValueAdapter : public valijson::adapters::BasicAdapter<ValueAdapter, Array, ObjectMember,
                                                             Object, ValueAccess> {
 public:
  ValueAdapter() : BasicAdapter() {}
  explicit ValueAdapter(const Value& v) : BasicAdapter(ValueAccess{v}) {}
};

inline ValueAdapter ArrayIterator::operator*() const { return ValueAdapter(*at_); }
inline valijson::adapters::DerefProxy<ValueAdapter> ArrayIterator::operator->() const {
  return valijson::adapters::DerefProxy<ValueAdapter>(**this);
}
inline ObjectMember ObjectIterator::operator*() const {
  return ObjectMember(at_->first, ValueAdapter(at_->second));
}
inline valijson::adapters::DerefProxy<ObjectMember> ObjectIterator::operator->() const {
  return valijson::adapters::DerefProxy<ObjectMember>(**this);
}
inline bool FrozenValue::equalTo(const valijson::adapters::Adapter& other, bool strict) const {
  return ValueAdapter(v_).equalTo(other, strict);
}

}  // namespace shmconf::daemon::schema_adapter

namespace valijson::adapters {
template <>
struct AdapterTraits<shmconf::daemon::schema_adapter::ValueAdapter> {
  using DocumentType = shmconf::daemon::Value;
  static std::string adapterName() { return "ShmconfValueAdapter"; }
};
}  // namespace valijson::adapters
