// src/io/transforms.cpp — transforms of image batches [N, C, H, W] and the background Loader
// (nabla/data.hpp).
#include <algorithm>
#include <cstring>
#include <cmath>
#include <random>
#include <utility>

#include <fmt/format.h>

#include "nabla/data.hpp"
#include "nabla/toolkit.hpp"

namespace nabla::data {

namespace {
void check_images(std::string_view op, const Tensor& x) {
  if (x.dim() != 4 || !is_floating(x.dtype())) {
    throw ShapeError(fmt::format("{}: expected float images [N, C, H, W], got {} {}", op, x.dtype(), x.shape()));
  }
}

// Calls f(T* out, const T* in) with x's element type, on a fresh tensor of x's shape (zeros).
template <class F>
Tensor per_dtype(const Tensor& x, F f) {
  Tensor out = zeros(x.shape(), x.dtype());
  if (x.dtype() == f32) f(out.mutable_data<float>(), x.data<float>());
  else f(out.mutable_data<double>(), x.data<double>());
  return out;
}
}  // namespace

Tensor normalize(const Tensor& images, std::span<const double> mean, std::span<const double> std) {
  check_images("normalize", images);
  const std::int64_t n = images.shape()[0], c = images.shape()[1], plane = images.shape()[2] * images.shape()[3];
  auto ok = [c](std::size_t k) { return k == 1 || std::int64_t(k) == c; };
  if (!ok(mean.size()) || !ok(std.size())) {
    throw ValueError(fmt::format("normalize: {} means and {} deviations for {} channels; expected 1 or {} of each", mean.size(),
                                 std.size(), c, c));
  }
  for (double s : std) {
    if (!(s > 0) || !std::isfinite(s)) throw ValueError(fmt::format("normalize: deviation {} is not positive and finite", s));
  }
  for (double m : mean) {
    if (!std::isfinite(m)) throw ValueError(fmt::format("normalize: mean {} is not finite", m));
  }
  return per_dtype(images, [&](auto* out, const auto* in) {
    for (std::int64_t i = 0; i < n * c; ++i) {
      const std::size_t ch = static_cast<std::size_t>(i % c);
      const double m = mean[mean.size() == 1 ? 0 : ch], inv = 1 / std[std.size() == 1 ? 0 : ch];
      for (std::int64_t p = 0; p < plane; ++p) out[i * plane + p] = static_cast<std::remove_reference_t<decltype(*out)>>((in[i * plane + p] - m) * inv);
    }
  });
}

Tensor random_crop(const Tensor& images, std::int64_t padding, Generator& gen) {
  check_images("random_crop", images);
  check_int_arg("random_crop", "padding", padding, 0, kMaxNumel);  // 2·padding below cannot wrap
  const std::int64_t n = images.shape()[0], c = images.shape()[1], h = images.shape()[2], w = images.shape()[3];
  std::uniform_int_distribution<std::int64_t> offset(0, 2 * padding);
  return per_dtype(images, [&](auto* out, const auto* in) {
    for (std::int64_t k = 0; k < n; ++k) {
      // The crop's top-left corner in the padded image; output (r, s) reads input (r + dy, s + dx).
      const std::int64_t dy = offset(gen.engine()) - padding, dx = offset(gen.engine()) - padding;
      for (std::int64_t ch = 0; ch < c; ++ch) {
        const auto* src = in + (k * c + ch) * h * w;
        auto* dst = out + (k * c + ch) * h * w;
        for (std::int64_t r = std::max<std::int64_t>(0, -dy); r < std::min(h, h - dy); ++r) {
          const std::int64_t s0 = std::max<std::int64_t>(0, -dx), s1 = std::min(w, w - dx);
          if (s1 > s0) std::memcpy(dst + r * w + s0, src + (r + dy) * w + s0 + dx, std::size_t(s1 - s0) * sizeof(*src));
        }
      }
    }
  });
}

Tensor random_horizontal_flip(const Tensor& images, Generator& gen, double p) {
  check_images("random_horizontal_flip", images);
  if (!(p >= 0 && p <= 1)) throw ValueError(fmt::format("random_horizontal_flip: p must be in [0, 1], got {}", p));
  const std::int64_t n = images.shape()[0], c = images.shape()[1], h = images.shape()[2], w = images.shape()[3];
  std::bernoulli_distribution flip(p);
  return per_dtype(images, [&](auto* out, const auto* in) {
    for (std::int64_t k = 0; k < n; ++k) {
      const bool f = flip(gen.engine());
      for (std::int64_t row = (k * c) * h; row < (k + 1) * c * h; ++row) {
        for (std::int64_t s = 0; s < w; ++s) out[row * w + s] = in[row * w + (f ? w - 1 - s : s)];
      }
    }
  });
}

// ---- Loader -------------------------------------------------------------------------------------------

Loader::Loader(const Dataset& data, std::int64_t batch_size, LoaderOptions opts)
    : batches_(data, batch_size, opts.batches), opts_(std::move(opts)), gen_(opts_.transform_seed) {
  if (opts_.prefetch < 1) throw ValueError(fmt::format("Loader: prefetch must be ≥ 1, got {}", opts_.prefetch));
  if (opts_.background) worker_ = std::thread([this] { run(); });
}

Loader::~Loader() {
  {
    std::lock_guard lock(m_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

Batch Loader::make(std::int64_t index) {
  auto it = batches_.begin();
  for (std::int64_t i = 0; i < index; ++i) ++it;  // an index bump: batches are gathered only when dereferenced
  Batch b = *it;
  return opts_.transform ? opts_.transform(std::move(b), gen_) : b;
}

void Loader::run() {
  try {
    for (std::int64_t i = 0; i < batches_.size(); ++i) {
      {
        std::unique_lock lock(m_);
        cv_.wait(lock, [this] { return stop_ || std::int64_t(ready_.size()) < opts_.prefetch; });
        if (stop_) return;
      }
      Batch b = make(i);
      {
        std::lock_guard lock(m_);
        ready_.push_back(std::move(b));
      }
      cv_.notify_all();
    }
  } catch (...) {
    std::lock_guard lock(m_);
    error_ = std::current_exception();
  }
  {
    std::lock_guard lock(m_);
    done_ = true;
  }
  cv_.notify_all();
}

std::optional<Batch> Loader::next() {
  if (!opts_.background) {
    if (next_ >= batches_.size()) return std::nullopt;
    return make(next_++);
  }
  std::unique_lock lock(m_);
  cv_.wait(lock, [this] { return !ready_.empty() || done_; });
  if (!ready_.empty()) {
    Batch b = std::move(ready_.front());
    ready_.pop_front();
    lock.unlock();
    cv_.notify_all();
    return b;
  }
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  return std::nullopt;
}

}  // namespace nabla::data
