// src/kernels/movement.cpp — strided gathers and scatters: every movement op (permute, slice,
// flip, expand, pad, select) and the axis-indexed ones (index_select, gather, scatter_add) are
// one of these loops over a view of a contiguous tensor.
#include <algorithm>
#include <cstring>

#include "nabla/kernels.hpp"
#include "nabla/toolkit.hpp"

namespace nabla::kernels {

Strided contiguous_layout(const Shape& s) {
  // Ops lay out a shape before they allocate it (pad, flip's inputs made by views): the same check
  // as an allocation, naming the op being applied, so that no stride below wraps.
  checked_bytes(OpScope::current("contiguous_layout"), s, Dtype::f32);
  Strided v;
  v.shape = s;
  std::int64_t stride = 1;
  for (int d = s.rank() - 1; d >= 0; --d) {
    v.strides[d] = stride;
    stride *= s[d];
  }
  return v;
}

namespace {
/// Calls row(base_offset, inner_stride, inner_n, out_offset) for each innermost row of the view.
template <class Row>
void for_each_view_row(const Strided& v, Row row) {
  const int r = v.shape.rank();
  if (r == 0) {
    row(v.offset, 0, 1, 0);
    return;
  }
  const std::int64_t inner = v.shape[r - 1];
  if (inner == 0) return;
  const std::int64_t rows = v.shape.numel() / inner;
  std::int64_t idx[Shape::kMaxRank]{};
  std::int64_t off = v.offset;
  for (std::int64_t k = 0; k < rows; ++k) {
    row(off, v.strides[r - 1], inner, k * inner);
    for (int d = r - 2; d >= 0; --d) {
      ++idx[d];
      off += v.strides[d];
      if (idx[d] < v.shape[d]) break;
      off -= v.strides[d] * v.shape[d];
      idx[d] = 0;
    }
  }
}
}  // namespace

namespace {
/// The view axis (not the last) along which the source is contiguous, if the last axis is not:
/// permutes and transposes, where a row-by-row gather would read one element per cache line.
int transposed_axis(const Strided& v) {
  const int r = v.shape.rank();
  if (r < 2 || v.strides[r - 1] == 1 || v.shape[r - 1] < 8) return -1;
  for (int d = r - 2; d >= 0; --d) {
    if (v.strides[d] == 1 && v.shape[d] >= 8) return d;
  }
  return -1;
}

/// gather_strided for a view whose last axis L is strided and whose axis K is contiguous in the
/// source: over every index of the other axes, the [n_K, n_L] block is moved in 16 × 16 tiles, so
/// the reads and the writes of a tile stay within 16 cache lines each.
template <class T>
void gather_transposed(const T* px, T* py, const Strided& v, int k_axis) {
  const int r = v.shape.rank(), l_axis = r - 1;
  const Strided out = contiguous_layout(v.shape);
  const std::int64_t nk = v.shape[k_axis], nl = v.shape[l_axis], sl = v.strides[l_axis], ok = out.strides[k_axis];
  // The other axes, walked as a multi-index.
  std::int64_t idx[Shape::kMaxRank]{};
  const std::int64_t outer = v.shape.numel() / (nk * nl);
  for (std::int64_t b = 0; b < outer; ++b) {
    std::int64_t src = v.offset, dst = 0;
    for (int d = 0; d < r; ++d) {
      if (d == k_axis || d == l_axis) continue;
      src += idx[d] * v.strides[d];
      dst += idx[d] * out.strides[d];
    }
    constexpr std::int64_t kTile = 16;
    for (std::int64_t k0 = 0; k0 < nk; k0 += kTile) {
      for (std::int64_t l0 = 0; l0 < nl; l0 += kTile) {
        const std::int64_t k1 = std::min(nk, k0 + kTile), l1 = std::min(nl, l0 + kTile);
        // Writes run along L (contiguous); reads step sl apart, on 16 lines of different cache
        // sets (writing along K instead, 2^k floats apart, put every line of a tile in one set).
        for (std::int64_t k = k0; k < k1; ++k) {
          const T* in = px + src + k;
          T* o = py + dst + k * ok;
          for (std::int64_t l = l0; l < l1; ++l) o[l] = in[l * sl];
        }
      }
    }
    for (int d = r - 1; d >= 0; --d) {  // the next index of the other axes
      if (d == k_axis || d == l_axis) continue;
      if (++idx[d] < v.shape[d]) break;
      idx[d] = 0;
    }
  }
}
}  // namespace

Tensor gather_strided(const Tensor& x, const Strided& v) {
  Tensor y = empty(v.shape, x.dtype());
  if (const int k = transposed_axis(v); k >= 0 && v.shape.numel() > 0) {
    dispatch_all(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      gather_transposed(x.data<T>(), y.mutable_data<T>(), v, k);
    });
    return y;
  }
  dispatch_all(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.mutable_data<T>();
    for_each_view_row(v, [&](std::int64_t off, std::int64_t s, std::int64_t n, std::int64_t o) {
      const T* src = px + off;
      T* dst = py + o;
      if (s == 1) std::memcpy(dst, src, sizeof(T) * std::size_t(n));
      else for (std::int64_t i = 0; i < n; ++i) dst[i] = src[i * s];
    });
  });
  return y;
}

void scatter_strided(const Tensor& src, Tensor& dst, const Strided& v, bool add) {
  dispatch_all(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* ps = src.data<T>();
    T* pd = dst.mutable_data<T>();
    for_each_view_row(v, [&](std::int64_t off, std::int64_t s, std::int64_t n, std::int64_t o) {
      T* d = pd + off;
      const T* in = ps + o;
      if constexpr (std::is_same_v<T, bool>) {
        for (std::int64_t i = 0; i < n; ++i) d[i * s] = add ? (d[i * s] || in[i]) : in[i];
      } else if (add) {
        for (std::int64_t i = 0; i < n; ++i) d[i * s] += in[i];
      } else if (s == 1) {
        std::memcpy(d, in, sizeof(T) * std::size_t(n));
      } else {
        for (std::int64_t i = 0; i < n; ++i) d[i * s] = in[i];
      }
    });
  });
}

Tensor index_select_axis(const Tensor& x, int axis, const Tensor& idx) {
  const AxisSplit sp = split_at(x.shape(), axis);
  Shape out = x.shape();
  out[axis] = idx.numel();
  Tensor y = empty(out, x.dtype());
  const std::int64_t* pi = idx.data<std::int64_t>();
  const std::int64_t m = idx.numel();
  dispatch_all(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.mutable_data<T>();
    for (std::int64_t o = 0; o < sp.outer; ++o) {
      for (std::int64_t k = 0; k < m; ++k) {
        std::memcpy(py + (o * m + k) * sp.inner, px + (o * sp.n + pi[k]) * sp.inner, sizeof(T) * std::size_t(sp.inner));
      }
    }
  });
  return y;
}

void index_add_axis(Tensor& dst, int axis, const Tensor& idx, const Tensor& src) {
  const AxisSplit sp = split_at(dst.shape(), axis);
  const std::int64_t* pi = idx.data<std::int64_t>();
  const std::int64_t m = idx.numel();
  dispatch_float(dst.dtype(), "index_add", [&](auto tag) {
    using T = decltype(tag);
    const T* ps = src.data<T>();
    T* pd = dst.mutable_data<T>();
    for (std::int64_t o = 0; o < sp.outer; ++o) {
      for (std::int64_t k = 0; k < m; ++k) {
        T* d = pd + (o * sp.n + pi[k]) * sp.inner;
        const T* s = ps + (o * m + k) * sp.inner;
        for (std::int64_t i = 0; i < sp.inner; ++i) d[i] += s[i];
      }
    }
  });
}

namespace {
/// Calls f(flat index in idx's layout, flat index of x's element it names) for gather/scatter_add:
/// idx's multi-index with its `axis` coordinate replaced by the index's value, laid out in `base`.
template <class F>
void for_each_indexed(const Shape& base, int axis, const Tensor& idx, F f) {
  const Shape& is = idx.shape();
  const int r = is.rank();
  const std::int64_t* pi = idx.data<std::int64_t>();
  const Strided lb = contiguous_layout(base);
  std::int64_t m[Shape::kMaxRank]{};
  const std::int64_t n = is.numel();
  for (std::int64_t k = 0; k < n; ++k) {
    std::int64_t off = 0;
    for (int d = 0; d < r; ++d) off += (d == axis ? pi[k] : m[d]) * lb.strides[d];
    f(k, off);
    for (int d = r - 1; d >= 0; --d) {
      if (++m[d] < is[d]) break;
      m[d] = 0;
    }
  }
}
}  // namespace

namespace {
/// Whether idx matches x's shape on every axis but `axis` (the common case: one loop nest).
bool same_off_axis(const Shape& x, const Shape& idx, int axis) {
  if (x.rank() != idx.rank()) return false;
  for (int d = 0; d < x.rank(); ++d) {
    if (d != axis && x[d] != idx[d]) return false;
  }
  return true;
}
}  // namespace

Tensor gather_axis(const Tensor& x, int axis, const Tensor& idx) {
  Tensor y = empty(idx.shape(), x.dtype());
  dispatch_all(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.mutable_data<T>();
    if (same_off_axis(x.shape(), idx.shape(), axis)) {
      const AxisSplit sx = split_at(x.shape(), axis), si = split_at(idx.shape(), axis);
      const std::int64_t* pi = idx.data<std::int64_t>();
      for (std::int64_t o = 0; o < si.outer; ++o) {
        for (std::int64_t k = 0; k < si.n; ++k) {
          const std::int64_t row = (o * si.n + k) * si.inner;
          for (std::int64_t i = 0; i < si.inner; ++i) py[row + i] = px[(o * sx.n + pi[row + i]) * sx.inner + i];
        }
      }
      return;
    }
    for_each_indexed(x.shape(), axis, idx, [&](std::int64_t k, std::int64_t off) { py[k] = px[off]; });
  });
  return y;
}

void scatter_add_axis(Tensor& dst, int axis, const Tensor& idx, const Tensor& src) {
  // src may be larger than idx along any axis (torch.scatter_add_): element k of idx reads src at
  // the same multi-index.
  const Strided ls = contiguous_layout(src.shape());
  const Shape& is = idx.shape();
  dispatch_float(dst.dtype(), "scatter_add", [&](auto tag) {
    using T = decltype(tag);
    const T* ps = src.data<T>();
    T* pd = dst.mutable_data<T>();
    if (same_off_axis(dst.shape(), is, axis) && src.shape() == is) {
      const AxisSplit sd = split_at(dst.shape(), axis), si = split_at(is, axis);
      const std::int64_t* pi = idx.data<std::int64_t>();
      for (std::int64_t o = 0; o < si.outer; ++o) {
        for (std::int64_t k = 0; k < si.n; ++k) {
          const std::int64_t row = (o * si.n + k) * si.inner;
          for (std::int64_t i = 0; i < si.inner; ++i) pd[(o * sd.n + pi[row + i]) * sd.inner + i] += ps[row + i];
        }
      }
      return;
    }
    std::int64_t m[Shape::kMaxRank]{};
    for_each_indexed(dst.shape(), axis, idx, [&](std::int64_t, std::int64_t off) {
      std::int64_t so = 0;
      for (int d = 0; d < is.rank(); ++d) so += m[d] * ls.strides[d];
      pd[off] += ps[so];
      for (int d = is.rank() - 1; d >= 0; --d) {
        if (++m[d] < is[d]) break;
        m[d] = 0;
      }
    });
  });
}

}  // namespace nabla::kernels
