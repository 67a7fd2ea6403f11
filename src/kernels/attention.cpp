// src/kernels/attention.cpp — fused scaled dot-product attention, forward and backward, as in
// FlashAttention-2 (Dao, 2023), on the CPU.
//
// Forward, per batch entry b and block of kBr query rows (one task each, over nabla's pool): the rows'
// output accumulates over blocks of kBc keys with an online softmax — a running row maximum m and sum
// l; for each key block, s = q kᵀ · scale (+ mask), m' = max(m, max_j s_j), the old accumulator and l
// are rescaled by e^{m − m'}, p = e^{s − m'}, l += Σ p, acc += p v. At the end o = acc / l and the
// row's log-sum-exp lse = m + log l is kept for backward. Only a [kBr, kBc] block of scores exists at
// a time: memory O(kBr · (kBc + Ev)) per task, never [L, S]. A row that no key may attend to (every
// score −inf: a fully masked row) gets o = 0 and lse = +inf, which makes every p of the row 0 in
// backward, so its gradients are 0 too — what PyTorch 2.x gives on every backend.
//
// Backward recomputes the scores block by block from lse: p = e^{s − lse}, then with D = Σ_c dO ∘ O
// per row: dV += pᵀ dO, dP = dO vᵀ, dS = p ∘ (dP − D), dQ += dS k · scale, dK += dSᵀ q · scale. With
// at least as many batch entries as threads, one task per entry: key blocks the outer loop, so dK and
// dV of a block add up in a small buffer, and dQ is written by that task only. With fewer (one long
// sequence), two passes that need no atomics: one task per key block for its dK and dV, then one per
// query block for its dQ, which recomputes p and dS (about 1.4 times the work, all threads busy). Both
// ways add every sum in the same order, so the thread count changes no bit.
//
// The block products go through blas_gemm (OpenBLAS on the calling thread inside a task); e^x of float32
// runs vectorized at the CPU's level (exp_floats), float64 through std::exp. Sums are in the input's
// type, as the composed path's.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../parallel.hpp"
#include "gemm.hpp"
#include "nabla/kernels.hpp"
#include "vexp.hpp"

namespace nabla::kernels {

namespace {

constexpr std::int64_t kBr = 64;   // query rows per block
constexpr std::int64_t kBc = 128;  // keys per block

// Element offsets of each batch entry of the broadcast batch shape into a tensor whose leading axes
// (all but its last `tail`) broadcast to it; for the mask also its row and column strides.
struct Offsets {
  std::vector<std::int64_t> at;
  std::int64_t row = 0, col = 0;
};

Offsets batch_offsets(const Shape& shape, const Shape& batch, std::int64_t rows, std::int64_t cols) {
  // The tensor seen at rank batch.rank() + 2, its last two axes broadcast to [rows, cols].
  Shape full = batch;
  full.push_back(rows);
  full.push_back(cols);
  const BroadcastStrides s = broadcast_strides(shape, full);
  const int r = batch.rank();
  Offsets o;
  o.row = s.s[r];
  o.col = s.s[r + 1];
  const std::int64_t entries = batch.numel();
  o.at.resize(static_cast<std::size_t>(entries));
  std::int64_t idx[Shape::kMaxRank]{};
  std::int64_t off = 0;
  for (std::int64_t e = 0; e < entries; ++e) {
    o.at[static_cast<std::size_t>(e)] = off;
    for (int d = r - 1; d >= 0; --d) {
      ++idx[d];
      off += s.s[d];
      if (idx[d] < batch[d]) break;
      off -= s.s[d] * batch[d];
      idx[d] = 0;
    }
  }
  return o;
}

template <class T>
void exp_row(T* x, std::int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    exp_floats(x, x, n);
  } else {
    for (std::int64_t c = 0; c < n; ++c) x[c] = std::exp(x[c]);
  }
}

// Everything a block needs to know about the problem.
template <class T>
struct Problem {
  std::int64_t L, S, E, Ev;
  T scale;
  bool causal;
  const T* q;
  const T* k;
  const T* v;
  Offsets oq, ok, ov, om;
  const bool* mask_b = nullptr;  // a bool mask: false drops the key
  const T* mask_f = nullptr;     // a float mask: added to the scores

  // s[r, c] (row i0 + r, key j0 + c, nr × nc, row stride ld) scaled and masked in place.
  void mask_scores(std::int64_t b, std::int64_t i0, std::int64_t nr, std::int64_t j0, std::int64_t nc, T* s,
                   std::int64_t ld) const {
    constexpr T kNegInf = -std::numeric_limits<T>::infinity();
    for (std::int64_t r = 0; r < nr; ++r) {
      T* row = s + r * ld;
      const std::int64_t i = i0 + r;
      for (std::int64_t c = 0; c < nc; ++c) row[c] *= scale;
      if (mask_b != nullptr) {
        const bool* m = mask_b + om.at[std::size_t(b)] + i * om.row + j0 * om.col;
        for (std::int64_t c = 0; c < nc; ++c) row[c] = m[c * om.col] ? row[c] : kNegInf;
      } else if (mask_f != nullptr) {
        const T* m = mask_f + om.at[std::size_t(b)] + i * om.row + j0 * om.col;
        for (std::int64_t c = 0; c < nc; ++c) row[c] += m[c * om.col];
      }
      if (causal) {  // key j takes part in row i when j ≤ i (top-left aligned, as PyTorch)
        for (std::int64_t c = std::max<std::int64_t>(0, i - j0 + 1); c < nc; ++c) row[c] = kNegInf;
      }
    }
  }
  // The keys row block [i0, i0 + nr) can see: all, or up to its last row when causal.
  std::int64_t key_end(std::int64_t i0, std::int64_t nr) const { return causal ? std::min(S, i0 + nr) : S; }
};

template <class T>
void forward_block(const Problem<T>& P, std::int64_t b, std::int64_t i0, T* out, T* lse, std::vector<T>& work) {
  constexpr T kInf = std::numeric_limits<T>::infinity();
  const std::int64_t nr = std::min(kBr, P.L - i0), E = P.E, Ev = P.Ev;
  work.resize(static_cast<std::size_t>(kBr * kBc + 2 * kBr * Ev + 2 * kBr));
  T* s = work.data();
  T* acc = s + kBr * kBc;
  T* pv = acc + kBr * Ev;
  T* m = pv + kBr * Ev;
  T* l = m + kBr;
  std::fill(acc, acc + nr * Ev, T(0));
  std::fill(m, m + nr, -kInf);
  std::fill(l, l + nr, T(0));
  const T* q = P.q + P.oq.at[std::size_t(b)] + i0 * E;
  const T* k = P.k + P.ok.at[std::size_t(b)];
  const T* v = P.v + P.ov.at[std::size_t(b)];
  const std::int64_t end = P.key_end(i0, nr);
  for (std::int64_t j0 = 0; j0 < end; j0 += kBc) {
    const std::int64_t nc = std::min(kBc, end - j0);
    blas_gemm<T>(false, true, nr, nc, E, q, E, k + j0 * E, E, s, kBc);
    P.mask_scores(b, i0, nr, j0, nc, s, kBc);
    for (std::int64_t r = 0; r < nr; ++r) {
      T* row = s + r * kBc;
      T mx = -kInf;
      for (std::int64_t c = 0; c < nc; ++c) mx = std::max(mx, row[c]);
      const T m_new = std::max(m[r], mx);
      if (m_new == -kInf) {  // nothing to attend to yet: p = 0
        std::fill(row, row + nc, T(0));
        continue;
      }
      for (std::int64_t c = 0; c < nc; ++c) row[c] -= m_new;
      exp_row(row, nc);
      T sum = 0;
      for (std::int64_t c = 0; c < nc; ++c) sum += row[c];
      const T alpha = std::exp(m[r] - m_new);  // 0 while m is −inf
      if (alpha != T(1)) {
        T* a = acc + r * Ev;
        for (std::int64_t c = 0; c < Ev; ++c) a[c] *= alpha;
      }
      l[r] = l[r] * alpha + sum;
      m[r] = m_new;
    }
    blas_gemm<T>(false, false, nr, Ev, nc, s, kBc, v + j0 * Ev, Ev, pv, Ev);
    for (std::int64_t x = 0; x < nr * Ev; ++x) acc[x] += pv[x];
  }
  for (std::int64_t r = 0; r < nr; ++r) {
    T* o = out + r * Ev;
    const T* a = acc + r * Ev;
    if (l[r] > T(0)) {
      const T inv = T(1) / l[r];
      for (std::int64_t c = 0; c < Ev; ++c) o[c] = a[c] * inv;
      lse[r] = m[r] + std::log(l[r]);
    } else {
      std::fill(o, o + Ev, T(0));
      lse[r] = kInf;
    }
  }
}

// Backward of one batch entry's gradients, pointers at the entry; D [L] holds Σ_c dO ∘ O per row.
template <class T>
struct Grad {
  const T* lse;
  const T* gout;
  const T* D;
  T* gq;
};

// The rows of D of batch entry b.
template <class T>
void row_dots(std::int64_t L, std::int64_t Ev, const T* out, const T* gout, T* D) {
  for (std::int64_t i = 0; i < L; ++i) {
    T d = 0;
    for (std::int64_t c = 0; c < Ev; ++c) d += gout[i * Ev + c] * out[i * Ev + c];
    D[i] = d;
  }
}

// Scratch of one task: p and dS blocks, the product buffer, dK and dV of one key block.
template <class T>
struct Scratch {
  std::vector<T> buf;
  T *p, *dp, *tmp, *dk, *dv;
  void size(std::int64_t E, std::int64_t Ev) {
    buf.resize(static_cast<std::size_t>(2 * kBr * kBc + std::max(kBr, kBc) * std::max(E, Ev) + kBc * (E + Ev)));
    p = buf.data();
    dp = p + kBr * kBc;
    tmp = dp + kBr * kBc;
    dk = tmp + std::max(kBr, kBc) * std::max(E, Ev);
    dv = dk + kBc * E;
  }
};

// Whether query block i0 sees key block j0 (causal: the key block starts at or before the query block's end).
template <class T>
bool sees(const Problem<T>& P, std::int64_t i0, std::int64_t j0) {
  return !P.causal || j0 / kBr * kBr <= i0;
}

// One (query block, key block) pair of batch entry b: p = e^{s − lse}, then with `kv` dV += pᵀ dO and
// dK += dSᵀ q (into w.dk, w.dv), with `dq` dQ += dS k (into g.gq), where dS = p ∘ (dO vᵀ − D) · scale.
template <class T>
void block_grads(const Problem<T>& P, std::int64_t b, std::int64_t i0, std::int64_t j0, const Grad<T>& g, Scratch<T>& w,
                 bool kv, bool dq) {
  const std::int64_t E = P.E, Ev = P.Ev;
  const std::int64_t nr = std::min(kBr, P.L - i0), nc = std::min(kBc, P.S - j0);
  const T* q = P.q + P.oq.at[std::size_t(b)] + i0 * E;
  const T* k = P.k + P.ok.at[std::size_t(b)] + j0 * E;
  const T* v = P.v + P.ov.at[std::size_t(b)] + j0 * Ev;
  const T* go = g.gout + i0 * Ev;
  T* p = w.p;
  T* dp = w.dp;
  T* tmp = w.tmp;
  blas_gemm<T>(false, true, nr, nc, E, q, E, k, E, p, kBc);
  P.mask_scores(b, i0, nr, j0, nc, p, kBc);
  for (std::int64_t r = 0; r < nr; ++r) {  // p = e^{s − lse}: 0 where masked and in rows with no key
    T* row = p + r * kBc;
    const T ls = g.lse[i0 + r];
    for (std::int64_t c = 0; c < nc; ++c) row[c] -= ls;
    exp_row(row, nc);
  }
  if (kv) {
    blas_gemm<T>(true, false, nc, Ev, nr, p, kBc, go, Ev, tmp, Ev);  // dV += pᵀ dO
    for (std::int64_t x = 0; x < nc * Ev; ++x) w.dv[x] += tmp[x];
  }
  blas_gemm<T>(false, true, nr, nc, Ev, go, Ev, v, Ev, dp, kBc);  // dP = dO vᵀ
  for (std::int64_t r = 0; r < nr; ++r) {                          // dS = p ∘ (dP − D) · scale
    T* d = dp + r * kBc;
    const T* pr = p + r * kBc;
    const T Di = g.D[i0 + r];
    for (std::int64_t c = 0; c < nc; ++c) d[c] = pr[c] * (d[c] - Di) * P.scale;
  }
  if (dq) {
    blas_gemm<T>(false, false, nr, E, nc, dp, kBc, k, E, tmp, E);  // dQ += dS k
    T* gq = g.gq + i0 * E;
    for (std::int64_t x = 0; x < nr * E; ++x) gq[x] += tmp[x];
  }
  if (kv) {
    blas_gemm<T>(true, false, nc, E, nr, dp, kBc, q, E, tmp, E);  // dK += dSᵀ q
    for (std::int64_t x = 0; x < nc * E; ++x) w.dk[x] += tmp[x];
  }
}

// dK and dV of key block j0 of batch entry b, over the query blocks in order (and dQ too with `dq`).
template <class T>
void key_block(const Problem<T>& P, std::int64_t b, std::int64_t j0, const Grad<T>& g, Scratch<T>& w, bool dq, T* gk,
               T* gv) {
  const std::int64_t nc = std::min(kBc, P.S - j0);
  std::fill(w.dk, w.dk + nc * P.E, T(0));
  std::fill(w.dv, w.dv + nc * P.Ev, T(0));
  for (std::int64_t i0 = 0; i0 < P.L; i0 += kBr) {
    if (sees(P, i0, j0)) block_grads(P, b, i0, j0, g, w, true, dq);
  }
  std::copy(w.dk, w.dk + nc * P.E, gk + j0 * P.E);
  std::copy(w.dv, w.dv + nc * P.Ev, gv + j0 * P.Ev);
}

template <class T>
Problem<T> problem(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, const AttentionArgs& a) {
  Problem<T> P;
  const int rq = q.dim(), rv = v.dim();
  P.L = q.shape()[rq - 2];
  P.E = q.shape()[rq - 1];
  P.S = k.shape()[k.dim() - 2];
  P.Ev = v.shape()[rv - 1];
  P.scale = T(a.scale);
  P.causal = a.causal;
  P.q = q.data<T>();
  P.k = k.data<T>();
  P.v = v.data<T>();
  P.oq = batch_offsets(q.shape(), a.batch, P.L, P.E);
  P.ok = batch_offsets(k.shape(), a.batch, P.S, P.E);
  P.ov = batch_offsets(v.shape(), a.batch, P.S, P.Ev);
  if (mask.defined()) {
    P.om = batch_offsets(mask.shape(), a.batch, P.L, P.S);
    if (mask.dtype() == b8) {
      P.mask_b = mask.data<bool>();
    } else {
      P.mask_f = mask.data<T>();
    }
  }
  return P;
}

Shape with_tail(Shape s, std::int64_t a, std::int64_t b) {
  s.push_back(a);
  s.push_back(b);
  return s;
}

void check_args(std::string_view kernel, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                const AttentionArgs& a) {
  check_floating(kernel, q);
  check_same_dtype(kernel, q, k);
  check_same_dtype(kernel, q, v);
  if (q.dim() < 2 || k.dim() < 2 || v.dim() < 2) {
    throw ShapeError(fmt::format("{}: expected q, k, v of 2 or more dimensions, got {}, {} and {}", kernel, q.shape(),
                                 k.shape(), v.shape()));
  }
  const std::int64_t E = q.shape()[q.dim() - 1], S = k.shape()[k.dim() - 2];
  if (k.shape()[k.dim() - 1] != E || v.shape()[v.dim() - 2] != S) {
    throw ShapeError(fmt::format("{}: q {}, k {} and v {} do not fit [..., L, E], [..., S, E], [..., S, Ev]", kernel,
                                 q.shape(), k.shape(), v.shape()));
  }
  const Shape full = with_tail(a.batch, q.shape()[q.dim() - 2], S);
  for (const Tensor* t : {&q, &k, &v, &mask}) {
    if (!t->defined()) continue;
    Shape lead = t->shape(), want = a.batch;
    if (t == &mask) {
      if (broadcast_shape(mask.shape(), full, kernel) != full) {
        throw ShapeError(fmt::format("{}: mask {} does not broadcast to {}", kernel, mask.shape(), full));
      }
      if (mask.dtype() != b8) check_same_dtype(kernel, q, mask);
      continue;
    }
    Shape l;
    for (int d = 0; d + 2 < lead.rank(); ++d) l.push_back(lead[d]);
    if (broadcast_shape(l, want, kernel) != want) {
      throw ShapeError(fmt::format("{}: leading axes of {} do not broadcast to the batch {}", kernel, lead, want));
    }
  }
}

}  // namespace

Tensor attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, const AttentionArgs& a,
                         Tensor& lse) {
  check_args("kernels::attention_forward", q, k, v, mask, a);
  const std::int64_t L = q.shape()[q.dim() - 2], Ev = v.shape()[v.dim() - 1];
  Tensor out = empty(with_tail(a.batch, L, Ev), q.dtype());
  Shape lse_shape = a.batch;
  lse_shape.push_back(L);
  lse = empty(lse_shape, q.dtype());
  const std::int64_t entries = a.batch.numel(), blocks = (L + kBr - 1) / kBr;
  if (entries * blocks == 0) return out;
  dispatch_float(q.dtype(), "attention", [&](auto tag) {
    using T = decltype(tag);
    const Problem<T> P = problem<T>(q, k, v, mask, a);
    T* po = out.mutable_data<T>();
    T* pl = lse.mutable_data<T>();
    detail::parallel_for(entries * blocks, 1, [&](std::int64_t t0, std::int64_t t1) {
      std::vector<T> work;
      for (std::int64_t t = t0; t < t1; ++t) {
        const std::int64_t b = t / blocks, i0 = t % blocks * kBr;
        forward_block(P, b, i0, po + (b * L + i0) * Ev, pl + b * L + i0, work);
      }
    });
  });
  return out;
}

void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, const AttentionArgs& a,
                        const Tensor& out, const Tensor& lse, const Tensor& gout, Tensor& gq, Tensor& gk, Tensor& gv) {
  check_args("kernels::attention_backward", q, k, v, mask, a);
  const std::int64_t L = q.shape()[q.dim() - 2], E = q.shape()[q.dim() - 1];
  const std::int64_t S = k.shape()[k.dim() - 2], Ev = v.shape()[v.dim() - 1];
  const Shape out_shape = with_tail(a.batch, L, Ev);
  if (out.shape() != out_shape || gout.shape() != out_shape || lse.numel() != a.batch.numel() * L) {
    throw ShapeError(fmt::format("kernels::attention_backward: out {}, gout {}, lse {}; expected {}, {}, [..., {}]",
                                 out.shape(), gout.shape(), lse.shape(), out_shape, out_shape, L));
  }
  check_same_dtype("kernels::attention_backward", q, gout);
  gq = empty(with_tail(a.batch, L, E), q.dtype());
  gk = empty(with_tail(a.batch, S, E), q.dtype());
  gv = empty(with_tail(a.batch, S, Ev), q.dtype());
  const std::int64_t entries = a.batch.numel();
  if (entries == 0) return;
  dispatch_float(q.dtype(), "attention", [&](auto tag) {
    using T = decltype(tag);
    const Problem<T> P = problem<T>(q, k, v, mask, a);
    const T* po = out.data<T>();
    const T* pl = lse.data<T>();
    const T* pg = gout.data<T>();
    T* pq = gq.mutable_data<T>();
    T* pk = gk.mutable_data<T>();
    T* pv = gv.mutable_data<T>();
    std::vector<T> D(static_cast<std::size_t>(entries * L));
    detail::parallel_for(entries, 1, [&](std::int64_t b0, std::int64_t b1) {
      for (std::int64_t b = b0; b < b1; ++b) row_dots(L, Ev, po + b * L * Ev, pg + b * L * Ev, D.data() + b * L);
    });
    std::fill(pq, pq + entries * L * E, T(0));
    auto grad_of = [&](std::int64_t b) { return Grad<T>{pl + b * L, pg + b * L * Ev, D.data() + b * L, pq + b * L * E}; };
    const std::int64_t key_blocks = (S + kBc - 1) / kBc, row_blocks = (L + kBr - 1) / kBr;
    if (entries >= detail::thread_count()) {  // one task per batch entry: key blocks outer, dQ added in place
      detail::parallel_for(entries, 1, [&](std::int64_t b0, std::int64_t b1) {
        Scratch<T> w;
        w.size(E, Ev);
        for (std::int64_t b = b0; b < b1; ++b) {
          for (std::int64_t j = 0; j < key_blocks; ++j) {
            key_block(P, b, j * kBc, grad_of(b), w, true, pk + b * S * E, pv + b * S * Ev);
          }
        }
      });
    } else {  // fewer entries than threads: dK, dV per key block, then dQ per query block (p recomputed)
      detail::parallel_for(entries * key_blocks, 1, [&](std::int64_t t0, std::int64_t t1) {
        Scratch<T> w;
        w.size(E, Ev);
        for (std::int64_t t = t0; t < t1; ++t) {
          const std::int64_t b = t / key_blocks;
          key_block(P, b, t % key_blocks * kBc, grad_of(b), w, false, pk + b * S * E, pv + b * S * Ev);
        }
      });
      detail::parallel_for(entries * row_blocks, 1, [&](std::int64_t t0, std::int64_t t1) {
        Scratch<T> w;
        w.size(E, Ev);
        for (std::int64_t t = t0; t < t1; ++t) {
          const std::int64_t b = t / row_blocks, i0 = t % row_blocks * kBr;
          for (std::int64_t j0 = 0; j0 < S; j0 += kBc) {  // the key blocks in the order the other way takes them
            if (sees(P, i0, j0)) block_grads(P, b, i0, j0, grad_of(b), w, false, true);
          }
        }
      });
    }
  });
}

}  // namespace nabla::kernels
