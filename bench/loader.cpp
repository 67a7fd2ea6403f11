// bench/loader.cpp — what the background Loader gains: epochs of network3's training step at batch
// 64 on one compute thread, each batch random-cropped (padding 2) and flipped, the batches made on
// the caller's thread (foreground) or on the loader's (background), alternating, REPS each.
// Prints the median epoch time of each and the gain, as one JSON line.
//
//   bench_loader [reps 5] [batches per epoch 100]
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <vector>

#include <fmt/format.h>
#include <nabla/nabla.hpp>

using namespace nabla;

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 5;
  const std::int64_t batches = argc > 2 ? std::atoll(argv[2]) : 100, batch = 64;
  set_num_threads(1);
  Generator gen(0);
  std::vector<std::int64_t> lv(std::size_t(batches * batch));
  for (std::size_t i = 0; i < lv.size(); ++i) lv[i] = std::int64_t(i % 10);
  const data::Dataset train(uniform({batches * batch, 1, 28, 28}, 0, 1, f32, gen),
                            from_vector(std::span<const std::int64_t>(lv), {batches * batch}));
  nn::Sequential net{nn::Conv2d(1, 20, 5, {}, gen), nn::MaxPool2d(2), nn::ReLU(), nn::Conv2d(20, 40, 5, {}, gen),
                     nn::MaxPool2d(2), nn::ReLU(), nn::Flatten(), nn::Linear(640, 100, {}, gen), nn::ReLU(),
                     nn::Linear(100, 10, {}, gen)};
  optim::SGD opt(net.parameters(), {.lr = 0.03});
  const data::Transform augment = [](data::Batch b, Generator& g) {
    return data::Batch{data::random_horizontal_flip(data::random_crop(b.x, 2, g), g), b.y};
  };
  auto epoch = [&](bool background, int seed) {
    const auto t0 = std::chrono::steady_clock::now();
    data::Loader loader(train, batch, {.batches = {.shuffle = true, .seed = std::uint64_t(seed)}, .transform = augment,
                                       .transform_seed = std::uint64_t(seed), .background = background});
    while (auto b = loader.next()) {
      opt.zero_grad();
      softmax_cross_entropy(net(b->x), b->y).backward();
      opt.step();
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  epoch(false, 0);  // warm-up
  std::vector<double> fg, bg;
  for (int r = 0; r < reps; ++r) {
    if (r % 2 == 0) {
      fg.push_back(epoch(false, r + 1));
      bg.push_back(epoch(true, r + 1));
    } else {
      bg.push_back(epoch(true, r + 1));
      fg.push_back(epoch(false, r + 1));
    }
  }
  std::sort(fg.begin(), fg.end());
  std::sort(bg.begin(), bg.end());
  const double f = fg[fg.size() / 2], b = bg[bg.size() / 2];
  fmt::print(R"({{"impl": "nabla-loader", "batches": {}, "batch": {}, "reps": {}, "foreground_s": {:.4f}, "foreground_min_s": {:.4f}, )"
             R"("foreground_max_s": {:.4f}, "background_s": {:.4f}, "background_min_s": {:.4f}, "background_max_s": {:.4f}, )"
             R"("gain": {:.3f}}})"
             "\n",
             batches, batch, reps, f, fg.front(), fg.back(), b, bg.front(), bg.back(), f / b);
  return 0;
}
