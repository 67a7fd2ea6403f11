// src/dist/ddp.cpp — data parallelism on top of src/dist/comm.cpp: consistency checks across the
// ranks, rank 0's state broadcast, reduced evaluations, and DistributedDataParallel's bucketed
// gradient averaging, started from post-accumulate hooks while backward runs (nabla/dist.hpp).
#include <chrono>
#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "dist_detail.hpp"
#include "nabla/dist.hpp"

namespace nabla::dist {

std::uint64_t hash_bytes(const void* data, std::size_t n, std::uint64_t seed) {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint64_t h = seed;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

void check_same(std::string_view what, std::uint64_t value, std::string_view rank0_detail) {
  const std::vector<std::uint64_t> all = all_gather(value);
  std::vector<int> differ;
  for (std::size_t r = 1; r < all.size(); ++r) {
    if (all[r] != all[0]) differ.push_back(static_cast<int>(r));
  }
  if (differ.empty()) return;
  throw DistError(fmt::format("dist: {} differs between the ranks: rank{} {} {} from rank 0's{}; every rank must be started "
                              "with the same program, options and data", what, differ.size() > 1 ? "s" : "",
                              fmt::join(differ, ", "), differ.size() > 1 ? "differ" : "differs",
                              rank0_detail.empty() ? "" : fmt::format(" ({})", rank0_detail)));
}

void check_same_model(const nn::Module& model) {
  std::uint64_t h = hash_bytes("model", 5);
  auto add = [&](const std::string& name, const Tensor& t) {
    h = hash_bytes(name.data(), name.size() + 1, h);
    const Dtype d = t.dtype();
    h = hash_bytes(&d, sizeof d, h);
    for (int a = 0; a < t.dim(); ++a) {
      const std::int64_t e = t.shape()[a];
      h = hash_bytes(&e, sizeof e, h);
    }
  };
  for (const nn::Param& p : model.parameters()) add(p.name, p.tensor);
  for (const nn::Buffer& b : model.buffers()) add(b.name, b.tensor);
  check_same("the model (its parameters' and buffers' names, shapes and dtypes)", h,
             fmt::format("{}, {} parameters", model.describe(), model.parameter_count()));
}

void broadcast_state(nn::Module& model, int root) {
  for (nn::Param& p : model.parameters()) broadcast(p.tensor, root);
  for (nn::Buffer& b : model.buffers()) broadcast(b.tensor, root);
}

train::Evaluation all_reduce(const train::Evaluation& local) {
  const std::vector<double> s =
      all_reduce(std::vector<double>{local.cost * double(local.examples), double(local.correct), double(local.examples)});
  train::Evaluation e;
  e.examples = static_cast<std::int64_t>(s[2]);
  e.correct = static_cast<std::int64_t>(s[1]);
  e.cost = e.examples > 0 ? s[0] / s[2] : 0;
  e.accuracy = e.examples > 0 ? s[1] / s[2] : 0;
  return e;
}

std::pair<std::int64_t, std::int64_t> shard_range(std::int64_t n) {
  const std::int64_t w = world_size(), r = rank();
  return {r * n / w, (r + 1) * n / w};
}

// ---- DistributedDataParallel ---------------------------------------------------------------------

struct DistributedDataParallel::Impl {
  struct Bucket {
    Dtype dtype = Dtype::f32;
    std::vector<std::size_t> params = {};   // indices into Impl::params
    std::vector<std::int64_t> offsets = {};  // each one's first element in `buffer`
    Tensor buffer = {};
    std::int64_t pending = 0;  // gradients of this backward still to come
    void* request = nullptr;
  };
  std::vector<nn::Param> params;
  std::vector<std::size_t> bucket_of;
  std::vector<bool> arrived;
  std::vector<Bucket> buckets;
  std::vector<std::pair<Tensor, std::size_t>> hooks;  // (parameter, hook id)
  std::size_t next_start = 0;  // buckets start in index order on every rank
  double timeout = 0;
  std::int64_t started_in_backward = 0;

  void copy_in(Bucket& b) {
    auto* base = static_cast<std::byte*>(detail::bytes_of(b.buffer));
    const std::size_t es = dtype_size(b.dtype);
    for (std::size_t k = 0; k < b.params.size(); ++k) {
      const Tensor& p = params[b.params[k]].tensor;
      std::byte* dst = base + std::size_t(b.offsets[k]) * es;
      const Tensor g = p.grad();
      if (g.defined()) {
        std::memcpy(dst, b.dtype == Dtype::f32 ? static_cast<const void*>(g.data<float>()) : static_cast<const void*>(g.data<double>()),
                    std::size_t(p.numel()) * es);
      } else {
        std::memset(dst, 0, std::size_t(p.numel()) * es);  // no gradient this pass: zeros
      }
    }
  }
  void start(std::size_t k) {
    Bucket& b = buckets[k];
    copy_in(b);
    b.request = detail::start_all_reduce(detail::bytes_of(b.buffer), b.buffer.numel(), b.dtype, "DistributedDataParallel");
  }
  // Starts every complete bucket that is next in order; lets MPI progress the ones in flight.
  void arrive(std::size_t i) {
    if (arrived[i]) {
      throw DistError(fmt::format("DistributedDataParallel: parameter \"{}\" got a second gradient before synchronize(); call "
                                  "synchronize() after every backward", params[i].name));
    }
    arrived[i] = true;
    --buckets[bucket_of[i]].pending;
    while (next_start < buckets.size() && buckets[next_start].pending == 0) {
      start(next_start++);
      ++started_in_backward;
    }
    for (std::size_t k = 0; k < next_start; ++k) {
      if (buckets[k].request != nullptr) {
        detail::test(buckets[k].request, "DistributedDataParallel");
        break;
      }
    }
  }
};

DistributedDataParallel::DistributedDataParallel(nn::Module& model, DataParallelOptions opts) {
  if (!is_initialized()) throw DistError("DistributedDataParallel: call dist::init() first");
  if (!(opts.bucket_mb > 0)) throw ValueError(fmt::format("DistributedDataParallel: bucket_mb must be positive, got {}", opts.bucket_mb));
  impl_ = std::make_unique<Impl>();
  Impl& m = *impl_;
  m.params = model.parameters();
  m.timeout = opts.timeout_seconds;
  if (world_size() == 1) return;
  m.bucket_of.assign(m.params.size(), 0);
  m.arrived.assign(m.params.size(), false);
  // Last parameter first: backward reaches the output layers first.
  const double cap = opts.bucket_mb * 1024 * 1024;
  for (std::size_t j = m.params.size(); j-- > 0;) {
    const Tensor& p = m.params[j].tensor;
    if (p.dtype() != Dtype::f32 && p.dtype() != Dtype::f64) {
      throw ValueError(fmt::format("DistributedDataParallel: parameter \"{}\" is {}; only f32 and f64 are averaged", m.params[j].name,
                                   p.dtype()));
    }
    const double bytes = double(p.numel() * std::int64_t(dtype_size(p.dtype())));
    bool open = !m.buckets.empty() && m.buckets.back().dtype == p.dtype();
    if (open) {
      const Impl::Bucket& b = m.buckets.back();
      const double have = double((b.offsets.back() + m.params[b.params.back()].tensor.numel()) * std::int64_t(dtype_size(b.dtype)));
      open = have + bytes <= cap;
    }
    if (!open) m.buckets.push_back({.dtype = p.dtype()});
    Impl::Bucket& b = m.buckets.back();
    b.offsets.push_back(b.params.empty() ? 0 : b.offsets.back() + m.params[b.params.back()].tensor.numel());
    b.params.push_back(j);
    m.bucket_of[j] = m.buckets.size() - 1;
  }
  for (Impl::Bucket& b : m.buckets) {
    b.buffer = zeros({b.offsets.back() + m.params[b.params.back()].tensor.numel()}, b.dtype);
    b.pending = static_cast<std::int64_t>(b.params.size());
  }
  for (std::size_t j = 0; j < m.params.size(); ++j) {
    Impl* raw = impl_.get();
    const std::size_t id = m.params[j].tensor.register_post_accumulate_grad_hook([raw, j](const Tensor&) { raw->arrive(j); });
    m.hooks.emplace_back(m.params[j].tensor, id);
  }
  stats_.buckets = static_cast<std::int64_t>(m.buckets.size());
}

DistributedDataParallel::~DistributedDataParallel() {
  if (!impl_) return;
  for (auto& [t, id] : impl_->hooks) t.remove_hook(id);
  // synchronize() completes every bucket; one still in flight means a backward or a wait failed and
  // the job is ending: it is not waited for again (a lost rank would make that a second timeout).
  for (Impl::Bucket& b : impl_->buckets) {
    if (b.request == nullptr) continue;
    try {
      if (detail::test(b.request, "DistributedDataParallel")) detail::free_request(b.request);
    } catch (const Error&) {
    }
  }
}

void DistributedDataParallel::synchronize() {
  ++stats_.steps;
  if (world_size() == 1) return;
  Impl& m = *impl_;
  const auto t0 = std::chrono::steady_clock::now();
  while (m.next_start < m.buckets.size()) m.start(m.next_start++);
  const double inv = 1.0 / world_size();
  for (std::size_t k = 0; k < m.buckets.size(); ++k) {
    Impl::Bucket& b = m.buckets[k];
    detail::wait(b.request, fmt::format("DistributedDataParallel: bucket {} of {} ({} values)", k, m.buckets.size(), b.buffer.numel()),
                 m.timeout);
    detail::free_request(b.request);
    b.request = nullptr;
    for (std::size_t i = 0; i < b.params.size(); ++i) {
      const Tensor& p = m.params[b.params[i]].tensor;
      Tensor g = p.grad();
      if (!g.defined()) {
        g = zeros(p.shape(), p.dtype());
        p.set_grad(g);
      }
      const std::int64_t n = p.numel(), off = b.offsets[i];
      if (b.dtype == Dtype::f32) {
        const float* src = b.buffer.data<float>() + off;
        float* dst = g.mutable_data<float>();
        for (std::int64_t e = 0; e < n; ++e) dst[e] = static_cast<float>(src[e] * inv);
      } else {
        const double* src = b.buffer.data<double>() + off;
        double* dst = g.mutable_data<double>();
        for (std::int64_t e = 0; e < n; ++e) dst[e] = src[e] * inv;
      }
    }
    b.pending = static_cast<std::int64_t>(b.params.size());
  }
  std::fill(m.arrived.begin(), m.arrived.end(), false);
  m.next_start = 0;
  stats_.started_in_backward += m.started_in_backward;
  m.started_in_backward = 0;
  stats_.wait_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace nabla::dist
