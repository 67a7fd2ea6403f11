// src/kernels/pool_fast.cpp — the 2×2 / stride-2 max-pool of float planes with the loops of the level
// cpu_info() chose (level/pool.cpp), plane by plane over the threads; at generic level its entry
// points decline and pool.cpp's loops run.
#include "pool_fast.hpp"

#include "im2col.hpp"
#include "level/level.hpp"
#include "../parallel.hpp"

namespace nabla::kernels {

namespace {
bool applies(Dtype dt, const Window2d& win, std::int64_t h, std::int64_t w) {
  return dt == Dtype::f32 && win.kh == 2 && win.kw == 2 && win.stride == 2 && win.padding == 0 &&
         h * w < (std::int64_t(1) << 30) && level_kernels() != nullptr;
}
}  // namespace

bool max_pool_2x2_fast(const Tensor& x, const Window2d& win, Tensor& y, Tensor& argmax) {
  const Dims d = dims_of(x.shape(), win);
  if (!applies(x.dtype(), win, d.h, d.w)) return false;
  const auto pool = level_kernels()->max_pool_2x2;
  const float* px = x.data<float>();
  float* py = y.mutable_data<float>();
  std::int64_t* pa = argmax.mutable_data<std::int64_t>();
  detail::parallel_for(d.n * d.c, 32, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t nc = b; nc < e; ++nc) pool(px + nc * d.h * d.w, py + nc * d.oh * d.ow, pa + nc * d.oh * d.ow, d.h, d.w);
  });
  return true;
}

Tensor max_pool_2x2_fast_backward(const Tensor& gy, const Tensor& argmax, const Shape& x_shape, const Window2d& win) {
  if (!applies(gy.dtype(), win, x_shape[2], x_shape[3])) return Tensor{};
  const auto back = level_kernels()->max_pool_2x2_backward;
  const Dims d = dims_of(x_shape, win);
  Tensor gx = empty(x_shape, Dtype::f32);
  const float* pg = gy.data<float>();
  const std::int64_t* pa = argmax.data<std::int64_t>();
  float* px = gx.mutable_data<float>();
  detail::parallel_for(d.n * d.c, 32, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t nc = b; nc < e; ++nc) back(pg + nc * d.oh * d.ow, pa + nc * d.oh * d.ow, px + nc * d.h * d.w, d.h, d.w);
  });
  return gx;
}

}  // namespace nabla::kernels
