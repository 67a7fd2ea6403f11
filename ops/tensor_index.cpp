// ops/tensor_index.cpp — libtorch's basic indexing: Tensor::operator[](i) and Tensor::index({...}) with
// torch::indexing's Slice, None and Ellipsis, one int64 or bool tensor index.
//
// Composed of differentiable ops, one per index, applied left to right at a moving axis:
//   integer i      select(y, axis, i)                       (the axis goes)
//   Slice(a, b, s) slice(y, axis, a, b, s)                   (Python's rules, s ≥ 1)
//   None           unsqueeze(y, axis)
//   Ellipsis       as many whole axes as the other indices leave unnamed
//   int64 tensor   index_select(y, axis, idx flattened), the axis reshaped to idx's shape
//   bool tensor    the axes it covers flattened into one, index_select of its true positions
// so gradients are those ops' own (scatter-adds for tensor indices; repeated indices add up) and
// differentiable again. Integers are applied as select before a tensor index, as PyTorch does, so a
// tensor index's axes stay where it stands (PyTorch's, not NumPy's, rule for ints mixed with arrays).
#include <cstdint>
#include <limits>
#include <vector>

#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla {

indexing::TensorIndex::TensorIndex(const char* s) : kind_(Kind::ellipsis) {
  if (s == nullptr || std::string_view(s) != "...") {
    throw ValueError(fmt::format("index: a string index must be \"...\" (Ellipsis), got \"{}\"", s ? s : "(null)"));
  }
}

Tensor Tensor::operator[](std::int64_t index) const {
  check_defined("operator[]");
  if (dim() == 0) throw ShapeError("operator[]: cannot index a 0-d tensor (use item())");
  const std::int64_t n = shape()[0];
  if (index < -n || index >= n) {
    throw ValueError(fmt::format("operator[]: index {} is out of range for axis 0 of size {} (tensor {})", index, n, shape()));
  }
  return select(*this, 0, index);
}

Tensor Tensor::index(std::initializer_list<indexing::TensorIndex> indices) const {
  return index(std::vector<indexing::TensorIndex>(indices));
}

Tensor Tensor::index(const std::vector<indexing::TensorIndex>& indices) const {
  using indexing::TensorIndex;
  using Kind = TensorIndex::Kind;
  constexpr std::string_view op = "index";
  check_defined("index");
  const Tensor& x = *this;
  // How many of x's axes the indices name, and the checks that need no data.
  int named = 0, ellipses = 0, tensors = 0;
  for (const TensorIndex& ix : indices) {
    switch (ix.kind()) {
      case Kind::integer:
      case Kind::slice:
        ++named;
        break;
      case Kind::none:
        break;
      case Kind::ellipsis:
        ++ellipses;
        break;
      case Kind::tensor: {
        const Tensor& t = ix.tensor();
        if (!t.defined()) throw ValueError("index: a tensor index is undefined");
        if (t.dtype() == b8) {
          if (t.dim() == 0) throw ValueError("index: a 0-d bool tensor index is not supported (use where or masked_fill)");
          named += t.dim();
        } else if (t.dtype() == i64) {
          ++named;
        } else {
          throw ValueError(fmt::format("index: tensor indices must be int64 or bool, got {} {}", t.dtype(), t.shape()));
        }
        ++tensors;
        break;
      }
    }
  }
  if (ellipses > 1) throw ValueError("index: an index can only have a single ellipsis (\"...\")");
  if (tensors > 1) {
    throw ValueError(fmt::format("index: {} tensor indices; nabla takes one (several broadcast together, as NumPy's "
                                 "advanced indexing, are not supported: use gather or index_select)", tensors));
  }
  if (named > x.dim()) {
    throw ShapeError(fmt::format("index: too many indices for a tensor of dimension {} ({}; {} axes named)", x.dim(),
                                 x.shape(), named));
  }
  const OpScope scope(op);
  Tensor y = x;
  int axis = 0;  // the axis of y the next index applies to
  int src = 0;   // the axis of x it names, for messages
  for (const TensorIndex& ix : indices) {
    switch (ix.kind()) {
      case Kind::integer: {
        const std::int64_t n = y.shape()[axis], i = ix.integer();
        if (i < -n || i >= n) {
          throw ValueError(fmt::format("index: index {} is out of range for axis {} of size {} (tensor {})", i, src, n, x.shape()));
        }
        y = select(y, axis, i);
        ++src;
        break;
      }
      case Kind::slice: {
        const indexing::Slice& s = ix.slice();
        const std::int64_t step = s.step.value_or(1);
        if (step <= 0) throw ValueError(fmt::format("index: slice step must be greater than zero, got {} (axis {})", step, src));
        y = slice(y, axis, s.start.value_or(0), s.stop.value_or(std::numeric_limits<std::int64_t>::max()), step);
        ++axis, ++src;
        break;
      }
      case Kind::none:
        y = unsqueeze(y, axis);
        ++axis;
        break;
      case Kind::ellipsis: {
        const int whole = x.dim() - named;
        axis += whole, src += whole;
        break;
      }
      case Kind::tensor: {
        const Tensor& t = ix.tensor();
        Shape before, after;
        for (int d = 0; d < axis; ++d) before.push_back(y.shape()[d]);
        std::vector<std::int64_t> picks;
        Shape index_shape;
        int covered = 1;
        if (t.dtype() == b8) {
          covered = t.dim();
          bool fits = true;
          for (int d = 0; d < covered; ++d) fits = fits && t.shape()[d] == y.shape()[axis + d];
          if (!fits) {
            throw ShapeError(fmt::format("index: the bool mask {} does not match the shape of the indexed tensor {} at axis {}",
                                         t.shape(), x.shape(), src));
          }
          const bool* m = t.data<bool>();
          for (std::int64_t k = 0; k < t.numel(); ++k) {
            if (m[k]) picks.push_back(k);
          }
          index_shape = Shape{static_cast<std::int64_t>(picks.size())};
        } else {
          const std::int64_t n = y.shape()[axis];
          const std::int64_t* p = t.data<std::int64_t>();
          picks.assign(p, p + t.numel());
          for (std::int64_t& i : picks) {
            if (i < -n || i >= n) {
              throw ValueError(fmt::format("index: index {} is out of range for axis {} of size {} (tensor {})", i, src, n, x.shape()));
            }
            if (i < 0) i += n;
          }
          index_shape = t.shape();
        }
        for (int d = axis + covered; d < y.dim(); ++d) after.push_back(y.shape()[d]);
        Shape flat = before;
        std::int64_t flat_n = 1;
        for (int d = 0; d < covered; ++d) flat_n *= y.shape()[axis + d];
        flat.push_back(flat_n);
        for (std::int64_t e : after) flat.push_back(e);
        Shape out = before;
        for (std::int64_t e : index_shape) {
          if (out.rank() == Shape::kMaxRank) {
            throw ShapeError(fmt::format("index: the result would have more than {} axes", Shape::kMaxRank));
          }
          out.push_back(e);
        }
        for (std::int64_t e : after) {
          if (out.rank() == Shape::kMaxRank) {
            throw ShapeError(fmt::format("index: the result would have more than {} axes", Shape::kMaxRank));
          }
          out.push_back(e);
        }
        const Tensor idx = from_vector(std::span<const std::int64_t>(picks), Shape{static_cast<std::int64_t>(picks.size())});
        y = index_select(y.reshape(flat), axis, idx).reshape(out);
        axis += index_shape.rank();
        src += covered;
        break;
      }
    }
  }
  return y;
}

}  // namespace nabla
