// nabla/error.hpp — the one exception family nabla throws.
//
// Every error derives from nabla::Error, and its message names the op (or file), what it got and
// what it expected, e.g.
//   matmul: inner dimensions differ: a is [64, 784], b is [30, 785]; need a.shape[1] == b.shape[0]
// Catch nabla::Error to handle all of them, or a kind below to handle one.
#pragma once

#include <stdexcept>
#include <string>

namespace nabla {

/// Base of every exception nabla throws.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Shapes that do not fit the op (inner dimensions, broadcasting, ranks).
class ShapeError : public Error {
 public:
  using Error::Error;
};

/// A value outside what the op accepts: a dtype, an axis, a label, a NaN, a bad option.
class ValueError : public Error {
 public:
  using Error::Error;
};

/// A file that cannot be read or written, or whose contents are malformed.
class IoError : public Error {
 public:
  using Error::Error;
};

/// A NaN or infinity where anomaly mode (nabla/inspect.hpp) found one: names the op, forward or
/// backward, its input shapes and the module it was created in.
class NumericError : public Error {
 public:
  using Error::Error;
};

/// Misuse of the autodiff graph: a freed graph, a stale saved tensor, a wrong gradient count.
class GraphError : public Error {
 public:
  using Error::Error;
};

/// A fault of data-parallel training (nabla/dist.hpp): ranks that disagree (another model, other
/// data), a collective that does not complete in time (a rank lost or stalled), an MPI error.
class DistError : public Error {
 public:
  using Error::Error;
};

}  // namespace nabla
