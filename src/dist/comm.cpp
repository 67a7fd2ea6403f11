// src/dist/comm.cpp — nabla::dist's process group: MPI's world communicator, or a world of one
// process where MPI is absent or was not launched (nabla/dist.hpp). Every collective is started
// non-blocking and waited for with a deadline, so a stalled rank becomes a DistError, not a hang.
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "dist_detail.hpp"
#include "nabla/dist.hpp"

#if NABLA_HAVE_MPI
#include <mpi.h>
#endif

namespace nabla::dist {

namespace {
struct World {
  bool initialized = false;  // init() ran
  bool mpi = false;          // and initialized MPI
  int rank = 0, size = 1;
  double timeout = 120;
};
World& world() {
  static World w;
  return w;
}

void need_init(std::string_view what) {
  if (!world().initialized) throw DistError(fmt::format("dist::{}: call dist::init() first", what));
}
}  // namespace

bool available() { return NABLA_HAVE_MPI != 0; }

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"}) {
    if (std::getenv(v) != nullptr) return true;
  }
  return false;
}

bool is_initialized() { return world().initialized; }
int rank() { return world().rank; }
int world_size() { return world().size; }
double detail::timeout() { return world().timeout; }

namespace {
/// init()'s timeout, or NABLA_DIST_TIMEOUT's seconds when set.
double timeout_from(const InitOptions& opts) {
  const char* env = std::getenv("NABLA_DIST_TIMEOUT");
  if (env == nullptr) return opts.timeout_seconds;
  char* end = nullptr;
  const double v = std::strtod(env, &end);
  if (end == env || *end != '\0' || !(v > 0)) {
    throw ValueError(fmt::format("dist::init: NABLA_DIST_TIMEOUT is \"{}\"; expected a number of seconds above 0", env));
  }
  return v;
}
}  // namespace

#if NABLA_HAVE_MPI
namespace {
void check(int rc, std::string_view what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw DistError(fmt::format("dist::{}: MPI error on rank {}: {}", what, world().rank, std::string_view(text, std::size_t(len))));
}
MPI_Datatype mpi_type(Dtype d, std::string_view what) {
  switch (d) {
    case Dtype::f32: return MPI_FLOAT;
    case Dtype::f64: return MPI_DOUBLE;
    case Dtype::i64: return MPI_INT64_T;
    default: throw ValueError(fmt::format("dist::{}: dtype {} is not reduced; use f32, f64 or i64", what, d));
  }
}
MPI_Op mpi_op(ReduceOp op) { return op == ReduceOp::sum ? MPI_SUM : op == ReduceOp::max ? MPI_MAX : MPI_MIN; }
}  // namespace

void detail::wait(void* request, std::string_view what, double timeout_seconds) {
  auto* req = static_cast<MPI_Request*>(request);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds > 0 ? timeout_seconds : world().timeout);
  for (std::int64_t spins = 0;; ++spins) {
    int done = 0;
    check(MPI_Test(req, &done, MPI_STATUS_IGNORE), what);
    if (done) return;
    if ((spins & 1023) == 1023) {
      if (std::chrono::steady_clock::now() > deadline) {
        throw DistError(fmt::format("dist::{}: not completed after {:g} s on rank {} of {}: another rank is lost or stalled "
                                    "(mpirun names a rank that died)", what, timeout_seconds > 0 ? timeout_seconds : world().timeout,
                                    world().rank, world().size));
      }
      std::this_thread::yield();
    }
  }
}

bool detail::test(void* request, std::string_view what) {
  int done = 0;
  check(MPI_Test(static_cast<MPI_Request*>(request), &done, MPI_STATUS_IGNORE), what);
  return done != 0;
}

void* detail::start_all_reduce(void* data, std::int64_t count, Dtype dtype, std::string_view what) {
  auto* req = new MPI_Request;
  const int rc = MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(count), mpi_type(dtype, what), MPI_SUM, MPI_COMM_WORLD, req);
  if (rc != MPI_SUCCESS) {
    delete req;
    check(rc, what);
  }
  return req;
}
void detail::free_request(void* request) { delete static_cast<MPI_Request*>(request); }

void init(InitOptions opts) {
  World& w = world();
  if (w.initialized) return;
  w.timeout = timeout_from(opts);
  if (launched_by_mpi()) {
    int already = 0;
    MPI_Initialized(&already);
    if (!already) {
      int provided = 0;
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "init");
      if (provided < MPI_THREAD_FUNNELED) throw DistError("dist::init: MPI does not provide MPI_THREAD_FUNNELED");
      w.mpi = true;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    check(MPI_Comm_rank(MPI_COMM_WORLD, &w.rank), "init");
    check(MPI_Comm_size(MPI_COMM_WORLD, &w.size), "init");
  }
  w.initialized = true;
}

void finalize() {
  World& w = world();
  if (w.mpi) {
    int done = 0;
    MPI_Finalized(&done);
    if (!done) MPI_Finalize();
  }
  w = World{};
}

std::string describe() {
  if (world().size == 1 && !world().mpi) return available() ? "1 process (not launched by mpirun)" : "1 process (built without MPI)";
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(version, &len);
  std::string v(version, std::size_t(len));
  v = v.substr(0, v.find_first_of(",\n"));
  return fmt::format("rank {} of {} ({})", world().rank, world().size, v);
}

void all_reduce(Tensor& t, ReduceOp op) {
  need_init("all_reduce");
  if (world().size == 1) return;
  MPI_Request req;
  check(MPI_Iallreduce(MPI_IN_PLACE, detail::bytes_of(t), static_cast<int>(t.numel()), mpi_type(t.dtype(), "all_reduce"),
                       mpi_op(op), MPI_COMM_WORLD, &req), "all_reduce");
  detail::wait(&req, "all_reduce", 0);
}

std::vector<double> all_reduce(std::vector<double> values, ReduceOp op) {
  need_init("all_reduce");
  if (world().size == 1 || values.empty()) return values;
  MPI_Request req;
  check(MPI_Iallreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_DOUBLE, mpi_op(op), MPI_COMM_WORLD, &req),
        "all_reduce");
  detail::wait(&req, "all_reduce", 0);
  return values;
}

void broadcast(Tensor& t, int root) {
  need_init("broadcast");
  if (world().size == 1) return;
  MPI_Request req;
  check(MPI_Ibcast(detail::bytes_of(t), static_cast<int>(t.numel() * dtype_size(t.dtype())), MPI_BYTE, root,
                   MPI_COMM_WORLD, &req), "broadcast");
  detail::wait(&req, "broadcast", 0);
}

void broadcast(std::string& bytes, int root) {
  need_init("broadcast");
  if (world().size == 1) return;
  std::int64_t n = static_cast<std::int64_t>(bytes.size());
  MPI_Request req;
  check(MPI_Ibcast(&n, 1, MPI_INT64_T, root, MPI_COMM_WORLD, &req), "broadcast");
  detail::wait(&req, "broadcast", 0);
  bytes.resize(static_cast<std::size_t>(n));
  check(MPI_Ibcast(bytes.data(), static_cast<int>(n), MPI_BYTE, root, MPI_COMM_WORLD, &req), "broadcast");
  detail::wait(&req, "broadcast", 0);
}

std::vector<std::uint64_t> all_gather(std::uint64_t value) {
  need_init("all_gather");
  std::vector<std::uint64_t> all(static_cast<std::size_t>(world().size), value);
  if (world().size == 1) return all;
  MPI_Request req;
  check(MPI_Iallgather(&value, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD, &req), "all_gather");
  detail::wait(&req, "all_gather", 0);
  return all;
}

void barrier() {
  need_init("barrier");
  if (world().size == 1) return;
  MPI_Request req;
  check(MPI_Ibarrier(MPI_COMM_WORLD, &req), "barrier");
  detail::wait(&req, "barrier", 0);
}

#else  // built without MPI: a world of one process

void detail::wait(void*, std::string_view, double) {}
bool detail::test(void*, std::string_view) { return true; }
void* detail::start_all_reduce(void*, std::int64_t, Dtype, std::string_view) { return nullptr; }
void detail::free_request(void*) {}

void init(InitOptions opts) {
  const char* size = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (size == nullptr) size = std::getenv("PMI_SIZE");
  if (size != nullptr && std::atoi(size) > 1) {
    throw DistError("dist::init: launched by mpirun with several ranks, but this nabla was built without MPI (NABLA_MPI=OFF "
                    "or no MPI found); install libopenmpi-dev and rebuild");
  }
  world().timeout = timeout_from(opts);
  world().initialized = true;
}
void finalize() { world() = World{}; }
std::string describe() { return "1 process (built without MPI)"; }
void all_reduce(Tensor&, ReduceOp) { need_init("all_reduce"); }
std::vector<double> all_reduce(std::vector<double> values, ReduceOp) {
  need_init("all_reduce");
  return values;
}
void broadcast(Tensor&, int) { need_init("broadcast"); }
void broadcast(std::string&, int) { need_init("broadcast"); }
std::vector<std::uint64_t> all_gather(std::uint64_t value) {
  need_init("all_gather");
  return {value};
}
void barrier() { need_init("barrier"); }

#endif

}  // namespace nabla::dist
