//===- Status.h - Error values for the runtime ------------------*- C++ -*-===//
//
// The runtime links no LLVM, so it reports failures with these small types:
// a message that names what is wrong, never an exit or an exception.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_RUNTIME_STATUS_H
#define XFC_RUNTIME_STATUS_H

#include <optional>
#include <string>
#include <utility>

namespace xfc {

/// Success, or a message saying what failed.
class [[nodiscard]] Status {
public:
  static Status ok() { return Status(); }
  static Status error(std::string message) {
    Status status;
    status.message = std::move(message);
    status.failed = true;
    return status;
  }
  bool isOk() const { return !failed; }
  explicit operator bool() const { return !failed; }
  const std::string &getMessage() const { return message; }

private:
  std::string message;
  bool failed = false;
};

/// A value, or the Status saying why there is none.
template <typename T> class [[nodiscard]] StatusOr {
public:
  StatusOr(T value) : value(std::move(value)) {}
  StatusOr(Status status) : status(std::move(status)) {}
  bool isOk() const { return value.has_value(); }
  explicit operator bool() const { return isOk(); }
  const Status &getStatus() const { return status; }
  T &operator*() { return *value; }
  const T &operator*() const { return *value; }
  T *operator->() { return &*value; }
  const T *operator->() const { return &*value; }

private:
  std::optional<T> value;
  Status status;
};

} // namespace xfc

#endif // XFC_RUNTIME_STATUS_H
