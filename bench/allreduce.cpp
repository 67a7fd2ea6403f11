// bench/allreduce.cpp — allreduce bandwidth by message size through nabla::dist (MPI_Iallreduce of
// float32, in place), as the gradient averaging of data-parallel training uses it. Run under mpirun;
// rank 0 prints one JSON line per size: the median time of `reps` allreduces and the algorithm
// bandwidth (bytes / time).
//   mpirun -np 2 bench_allreduce [max_mb]        (default 64: 1 KB … 64 MB, ×4 apart)
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <vector>

#include <fmt/format.h>
#include <nabla/nabla.hpp>

using namespace nabla;

int main(int argc, char** argv) {
  try {
    dist::init();
    const double max_mb = argc > 1 ? std::atof(argv[1]) : 64;
    for (std::int64_t bytes = 1024; double(bytes) <= max_mb * 1024 * 1024; bytes *= 4) {
      Tensor t = ones({bytes / 4}, f32);
      const int reps = int(std::clamp<std::int64_t>((64ll << 20) / bytes, 5, 2000));
      std::vector<double> us;
      for (int i = 0; i < reps + 3; ++i) {
        dist::barrier();
        const auto t0 = std::chrono::steady_clock::now();
        dist::all_reduce(t);
        const double u = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
        if (i >= 3) us.push_back(u);
      }
      std::sort(us.begin(), us.end());
      const double med = us[us.size() / 2];
      if (dist::is_main()) {
        fmt::print(R"({{"impl": "allreduce", "ranks": {}, "bytes": {}, "reps": {}, "median_us": {:.2f}, "min_us": {:.2f}, "gb_per_s": {:.3f}}})" "\n",
                   dist::world_size(), bytes, reps, med, us.front(), double(bytes) / med / 1e3);
      }
    }
    dist::finalize();
    return 0;
  } catch (const Error& e) {
    fmt::print(stderr, "bench_allreduce (rank {}): {}\n", dist::rank(), e.what());
    return 1;
  }
}
