// Status propagation macros. Debian's abseil (20220623) predates absl's own status macros.
//
//   CIVICPULSE_RETURN_IF_ERROR(DoThing());
//   CIVICPULSE_ASSIGN_OR_RETURN(auto value, ComputeValue());
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define CIVICPULSE_RETURN_IF_ERROR(expr)          \
  do {                                            \
    ::absl::Status civicpulse_status_ = (expr);   \
    if (!civicpulse_status_.ok()) return civicpulse_status_; \
  } while (0)

#define CIVICPULSE_STATUS_CONCAT_INNER(a, b) a##b
#define CIVICPULSE_STATUS_CONCAT(a, b) CIVICPULSE_STATUS_CONCAT_INNER(a, b)

#define CIVICPULSE_ASSIGN_OR_RETURN(lhs, rexpr) \
  CIVICPULSE_ASSIGN_OR_RETURN_IMPL(             \
      CIVICPULSE_STATUS_CONCAT(civicpulse_statusor_, __LINE__), lhs, rexpr)

#define CIVICPULSE_ASSIGN_OR_RETURN_IMPL(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                      \
  if (!statusor.ok()) return statusor.status();                 \
  lhs = std::move(statusor).value()
