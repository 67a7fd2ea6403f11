// src/data/datasets.cpp — map-style datasets (TensorDataset, MNIST, MapDataset) and the example
// transforms of nabla/data_loader.hpp.
#include "nabla/data_loader.hpp"
#include "nabla/ops.hpp"

#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "../io/file.hpp"

namespace nabla::data {

namespace {
std::string describe(const Tensor& t) {
  return t.defined() ? fmt::format("{} {}", dtype_name(t.dtype()), to_string(t.shape())) : std::string("undefined");
}

// The tensors' common shape and dtype, or a ShapeError naming the first that differs.
void check_alike(const std::vector<Example>& examples, bool target) {
  const char* what = target ? "target" : "data";
  auto pick = [&](const Example& e) -> const Tensor& { return target ? e.target : e.data; };
  const Tensor& first = pick(examples[0]);
  for (std::size_t k = 1; k < examples.size(); ++k) {
    const Tensor& t = pick(examples[k]);
    const bool same = t.defined() == first.defined() &&
                      (!t.defined() || (t.dtype() == first.dtype() && t.shape() == first.shape()));
    if (!same) {
      throw ShapeError(fmt::format("Stack: example {}'s {} is {}, example 0's is {}; every example of a batch needs one shape "
                                   "and dtype",
                                   k, what, describe(t), describe(first)));
    }
  }
}
}  // namespace

namespace transforms {

Example Stack::operator()(const std::vector<Example>& examples) const {
  if (examples.empty()) throw ValueError("Stack: no examples to stack");
  check_alike(examples, false);
  check_alike(examples, true);
  std::vector<Tensor> data, target;
  data.reserve(examples.size());
  for (const Example& e : examples) {
    data.push_back(e.data);
    if (e.target.defined()) target.push_back(e.target);
  }
  Example out;
  out.data = stack(data, 0);
  if (!target.empty()) out.target = stack(target, 0);
  return out;
}

Normalize::Normalize(std::vector<double> mean, std::vector<double> stddev) : mean_(std::move(mean)), stddev_(std::move(stddev)) {
  if (mean_.empty() || stddev_.empty()) throw ValueError("Normalize: mean and stddev need at least one value each");
  for (double m : mean_) {
    if (!std::isfinite(m)) throw ValueError(fmt::format("Normalize: mean {} is not finite", m));
  }
  for (double s : stddev_) {
    if (!std::isfinite(s) || !(s > 0)) throw ValueError(fmt::format("Normalize: stddev {} must be finite and > 0", s));
  }
}

Example Normalize::operator()(Example example) const {
  const Tensor& x = example.data;
  if (!x.defined() || !is_floating(x.dtype())) {
    throw ValueError(fmt::format("Normalize: data is {}; expected a float tensor [C, ...]", describe(x)));
  }
  const auto channels = static_cast<std::int64_t>(std::max(mean_.size(), stddev_.size()));
  auto as_tensor = [&](const std::vector<double>& v) {
    if (v.size() == 1) return full({}, v[0], x.dtype());
    if (x.dim() < 1 || x.shape()[0] != static_cast<std::int64_t>(v.size())) {
      throw ShapeError(fmt::format("Normalize: {} values per channel for data {}; expected data [{}, ...]", v.size(),
                                   describe(x), v.size()));
    }
    std::vector<std::int64_t> dims(static_cast<std::size_t>(x.dim()), 1);
    dims[0] = channels;
    return from_vector(std::span<const double>(v), Shape(dims), x.dtype());
  };
  example.data = (x - as_tensor(mean_)) / as_tensor(stddev_);
  return example;
}

}  // namespace transforms

namespace datasets {

MapDataset::MapDataset(std::shared_ptr<DatasetBase> dataset, ExampleTransform transform, Collation collate)
    : dataset_(std::move(dataset)), transform_(std::move(transform)), collate_(std::move(collate)) {
  if (dataset_ == nullptr) throw ValueError("MapDataset: no dataset");
  if (bool(transform_) == bool(collate_)) throw ValueError("MapDataset: give exactly one of a transform and a collation");
}

Example MapDataset::get(std::int64_t index) {
  Example e = dataset_->get(index);
  return transform_ ? transform_(std::move(e)) : e;
}

Example MapDataset::collate(std::vector<Example> examples) const {
  return collate_ ? collate_(std::move(examples)) : dataset_->collate(std::move(examples));
}

TensorDataset::TensorDataset(Tensor data, Tensor target) : data_(std::move(data)), target_(std::move(target)) {
  if (!data_.defined() || data_.dim() < 1 ||
      (target_.defined() && (target_.dim() < 1 || target_.shape()[0] != data_.shape()[0]))) {
    throw ShapeError(fmt::format("TensorDataset: data {} and target {}; expected tensors [n, ...] of one length n",
                                 describe(data_), describe(target_)));
  }
}

Example TensorDataset::get(std::int64_t index) {
  if (index < 0 || index >= size()) {
    throw ValueError(fmt::format("TensorDataset: index {} is out of range for {} examples", index, size()));
  }
  return {select(data_, 0, index), target_.defined() ? select(target_, 0, index) : Tensor{}};
}

namespace {
std::string plain_or_gz(const std::string& root, const std::string& name) {
  const std::filesystem::path plain = std::filesystem::path(root) / name;
  if (io::detail::exists(plain.string())) return plain.string();
  if (io::detail::exists(plain.string() + ".gz")) return plain.string() + ".gz";
  throw IoError(fmt::format("\"{}\": no such file (nor {}.gz)", plain.string(), name));
}
}  // namespace

MNIST::MNIST(const std::string& root, Mode mode) : train_(mode == Mode::kTrain) {
  if (!io::detail::is_directory(root)) throw IoError(fmt::format("MNIST: \"{}\": no such directory", root));
  const std::string prefix = train_ ? "train" : "t10k";
  data::Dataset d = load_idx_pair(plain_or_gz(root, prefix + "-images-idx3-ubyte"), plain_or_gz(root, prefix + "-labels-idx1-ubyte"));
  const std::int64_t n = d.size(), pixels = d.x().shape()[1];
  const auto side = static_cast<std::int64_t>(std::llround(std::sqrt(double(pixels))));
  if (side * side != pixels) {
    throw IoError(fmt::format("MNIST: \"{}\": images of {} pixels are not square", root, pixels));
  }
  images_ = d.x().reshape({n, 1, side, side});
  targets_ = d.y();
}

Example MNIST::get(std::int64_t index) {
  if (index < 0 || index >= size()) {
    throw ValueError(fmt::format("MNIST: index {} is out of range for {} examples", index, size()));
  }
  return {select(images_, 0, index), select(targets_, 0, index)};
}

}  // namespace datasets

}  // namespace nabla::data
