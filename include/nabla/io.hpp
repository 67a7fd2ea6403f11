// nabla/io.hpp — files: safetensors, checkpoints of a model and its optimizer, atomic writes.
//
// Tensors are saved in the safetensors format (8-byte little-endian header length, a JSON header
// naming each tensor's dtype, shape and byte range, then the raw little-endian data), so PyTorch
// (`safetensors.torch.load_file`) and NumPy users can read nabla's weights. Every write goes to a
// temporary file in the same directory, is flushed to disk, and is renamed over the target: an
// interrupted save leaves the previous file intact. Every length and offset in a file is checked
// against the file's size before anything is read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>

#include "nabla/nn.hpp"
#include "nabla/optim.hpp"
#include "nabla/tensor.hpp"

namespace nabla::io {

/// The contents of a safetensors file.
struct TensorFile {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;  // the header's "__metadata__"
  std::string source;                           // the file it was read from, for errors

  /// The metadata field `key`; an IoError naming the file and the field when it is absent.
  const std::string& meta(const std::string& key) const;
  /// The metadata field `key` read as a decimal integer in [lo, hi] (all of it: "12abc" is not 12);
  /// otherwise an IoError naming the file, the field and (a bounded prefix of) the value.
  std::int64_t meta_int(const std::string& key, std::int64_t lo, std::int64_t hi) const;
};

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename, fsync of the directory). The
/// temporary is named ".<name>.tmp.XXXXXX" beside the target (the name shortened to fit the file
/// system's limit) and locked while it is written; temporaries of earlier saves to the same place
/// that were killed (unlocked ones) are removed first.
void write_file_atomic(const std::string& path, std::span<const std::byte> bytes);

/// The safetensors encoding of tensors (F32, F64, I64) and string metadata, tensors in name order,
/// the header padded with spaces to a multiple of 8 bytes so that the data is 8-byte aligned.
std::string encode_safetensors(const std::map<std::string, Tensor>& tensors,
                               const std::map<std::string, std::string>& metadata = {});
/// Parses a safetensors file's bytes; `source` names it in errors. An IoError for anything
/// malformed: a short file, a header length past the end, bad JSON, an unknown dtype, a shape
/// whose size disagrees with its byte range, ranges outside the data, overlapping or with holes.
/// Limits: a header of at most 100 MiB nested at most 16 deep, a tensor of at most 2^40 elements.
TensorFile decode_safetensors(std::span<const std::byte> bytes, const std::string& source);

void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});
/// Reads a regular file of at most 64 GiB (a FIFO or directory is an IoError, never a wait).
TensorFile load_safetensors(const std::string& path);

/// Saves a model's parameters ("model.<name>"), the optimizer's state ("optim.<name>", if given,
/// and its kind as metadata "nabla.optimizer"), any `extra` tensors ("extra.<name>") and metadata,
/// atomically.
void save_checkpoint(const std::string& path, const nn::Module& model, const optim::Optimizer* optimizer,
                     const std::map<std::string, std::string>& metadata = {},
                     const std::map<std::string, Tensor>& extra = {});
/// Loads a checkpoint into the model (and optimizer, if given). Every name, dtype and shape must
/// match the model and optimizer — and the optimizer's kind the one that saved the state — otherwise
/// an IoError naming the file and the first fault, and neither is changed. Returns the whole file (for its metadata and extra tensors).
TensorFile load_checkpoint(const std::string& path, nn::Module& model, optim::Optimizer* optimizer);
/// The same for a file already read (`path` names it in errors).
void load_checkpoint(const TensorFile& file, const std::string& path, nn::Module& model, optim::Optimizer* optimizer);

}  // namespace nabla::io
