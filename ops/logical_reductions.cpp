// ops/logical_reductions.cpp — all and any (torch.all, torch.any): whether every / some element is
// nonzero, over the whole tensor or along one axis; a bool result, no gradient (as PyTorch).
#include <fmt/format.h>

#include <optional>
#include <vector>

#include "nabla/error.hpp"
#include "nabla/ops.hpp"
#include "nabla/ops_logical.hpp"

namespace nabla {

namespace {

Tensor reduce_bool(const char* name, const Tensor& x, std::optional<int> dim, bool keepdim, bool want_all) {
  if (!x.defined()) throw ValueError(fmt::format("{}: the tensor is undefined", name));
  const std::vector<double> v = x.to_vector<double>();
  const Shape& s = x.shape();
  if (!dim) {
    bool r = want_all;
    for (double e : v) {
      if ((e != 0) != want_all) {
        r = !want_all;
        break;
      }
    }
    return ne(full({}, r ? 1.0 : 0.0, f64), 0.0);
  }
  const int rank = s.rank();
  int d = *dim;
  if (d < -std::max(rank, 1) || d >= std::max(rank, 1)) {
    throw ValueError(fmt::format("{}: dim {} out of range for a tensor of shape {}", name, *dim, s));
  }
  if (rank == 0) return reduce_bool(name, x, std::nullopt, keepdim, want_all);
  if (d < 0) d += rank;
  std::int64_t outer = 1, inner = 1;
  for (int a = 0; a < d; ++a) outer *= s[a];
  for (int a = d + 1; a < rank; ++a) inner *= s[a];
  const std::int64_t n = s[d];
  std::vector<double> out(std::size_t(outer * inner), want_all ? 1.0 : 0.0);
  for (std::int64_t o = 0; o < outer; ++o) {
    for (std::int64_t k = 0; k < n; ++k) {
      for (std::int64_t i = 0; i < inner; ++i) {
        const bool nz = v[std::size_t((o * n + k) * inner + i)] != 0;
        double& r = out[std::size_t(o * inner + i)];
        if (want_all && !nz) r = 0;
        if (!want_all && nz) r = 1;
      }
    }
  }
  Shape os;
  for (int a = 0; a < rank; ++a) {
    if (a != d) os.push_back(s[a]);
    else if (keepdim) os.push_back(1);
  }
  return ne(from_vector(std::span<const double>(out), os, f64), 0.0);
}

}  // namespace

Tensor all(const Tensor& x) { return reduce_bool("all", x, std::nullopt, false, true); }
Tensor all(const Tensor& x, int dim, bool keepdim) { return reduce_bool("all", x, dim, keepdim, true); }
Tensor any(const Tensor& x) { return reduce_bool("any", x, std::nullopt, false, false); }
Tensor any(const Tensor& x, int dim, bool keepdim) { return reduce_bool("any", x, dim, keepdim, false); }

}  // namespace nabla
