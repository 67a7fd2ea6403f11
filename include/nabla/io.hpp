// nabla/io.hpp — files: safetensors, checkpoints of a model and its optimizer, atomic writes.
//
// Tensors are saved in the safetensors format (8-byte little-endian header length, a JSON header
// naming each tensor's dtype, shape and byte range, then the raw little-endian data), so PyTorch
// (`safetensors.torch.load_file`) and NumPy users can read nabla's weights. Every write goes to a
// temporary file in the same directory, is flushed to disk, and is renamed over the target: an
// interrupted save leaves the previous file intact. Every length and offset in a file is checked
// against the file's size before anything is read.
//
// PyTorch checkpoints (`torch.save`, the zip archive of PyTorch 1.6 and later) are read by
// load_torch, with a pickle reader that executes nothing: see there.
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

/// The contents of a safetensors file (or of a torch.save file: load_torch).
struct TensorFile {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;  // the header's "__metadata__" (load_torch: the non-tensor values)
  std::string source;                           // the file it was read from, for errors

  /// The metadata field `key`; an IoError naming the file and the field when it is absent.
  const std::string& meta(const std::string& key) const;
  /// The metadata field `key` read as a decimal integer in [lo, hi] (all of it: "12abc" is not 12);
  /// otherwise an IoError naming the file, the field and (a bounded prefix of) the value.
  std::int64_t meta_int(const std::string& key, std::int64_t lo, std::int64_t hi) const;

  /// The tensors, so that a file can be passed where a state is expected:
  /// `net.load_state_dict(io::load_torch("net.pt"))`.
  operator const std::map<std::string, Tensor>&() const { return tensors; }
};

/// How save_safetensors writes floating tensors: as they are (F32, F64), or rounded to nearest even
/// as F16 (IEEE binary16; beyond ±65504 infinity) or BF16 (bfloat16) — half the bytes of float32,
/// for weights to publish. float64 goes through float32 on the way, as PyTorch's `.to()` does. The
/// reader widens F16 and BF16 to float32 exactly (nabla has no 16-bit dtype);
/// `Module::load_state_dict` then converts them to the module's dtype.
enum class FloatFormat : std::uint8_t { keep, f16, bf16 };

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename, fsync of the directory). The
/// temporary is named ".<name>.tmp.XXXXXX" beside the target (the name shortened to fit the file
/// system's limit) and locked while it is written; temporaries of earlier saves to the same place
/// that were killed (unlocked ones) are removed first.
void write_file_atomic(const std::string& path, std::span<const std::byte> bytes);

/// The safetensors encoding of tensors (F32, F64, I64, BOOL; floats as `floats` says) and string
/// metadata, tensors in name order, the header padded with spaces to a multiple of 8 bytes so that
/// the data is 8-byte aligned.
std::string encode_safetensors(const std::map<std::string, Tensor>& tensors,
                               const std::map<std::string, std::string>& metadata = {},
                               FloatFormat floats = FloatFormat::keep);
/// Parses a safetensors file's bytes; `source` names it in errors. An IoError for anything
/// malformed: a short file, a header length past the end, bad JSON, an unknown dtype, a shape
/// whose size disagrees with its byte range, ranges outside the data, overlapping or with holes.
/// F16 tensors are widened to float32 (exactly), and BF16 ones too unless `keep_bf16`: then they are
/// bf16 tensors, bit for bit (a bf16 tensor is written as BF16 whatever `floats` says).
/// Limits: a header of at most 100 MiB nested at most 16 deep, a tensor of at most 2^40 elements.
TensorFile decode_safetensors(std::span<const std::byte> bytes, const std::string& source, bool keep_bf16 = false);

void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {}, FloatFormat floats = FloatFormat::keep);
/// Reads a regular file of at most 64 GiB (a FIFO or directory is an IoError, never a wait).
TensorFile load_safetensors(const std::string& path, bool keep_bf16 = false);

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

/// Reads a PyTorch checkpoint: what `torch.save(state_dict, path)` writes — the zip archive of
/// PyTorch 1.6 and later (`<dir>/data.pkl` and one record `<dir>/data/<key>` per storage, any
/// directory name), or the legacy format before it (`_use_new_zipfile_serialization=False`:
/// pickles and raw storages in a row). The state dict — dicts and OrderedDicts nested in any way,
/// lists and tuples — becomes names: nested keys joined with '.' ("model.fc1.weight"), list
/// elements by index ("optimizer.param_groups.0.lr"). Tensors go to `tensors`, in the stored dtype
/// where nabla has it (float32, float64, int64, bool); float16 and bfloat16 are widened to float32
/// exactly, the smaller integers to int64. Non-contiguous tensors are gathered through their
/// strides; tensors that share a storage get a copy each (one tensor saved under two names is one
/// handle). Every other value (numbers, strings, bytes, None, booleans, dtypes, torch.Size,
/// torch.device) goes to `metadata` as text, as Python prints it ("3", "0.001", "True", "cuda:1").
///
/// Safe by construction: data.pkl is read by a pickle machine that calls nothing. Only the opcodes
/// a state dict needs run, and only these globals may be named: collections.OrderedDict,
/// torch._utils._rebuild_tensor_v2 (and _rebuild_tensor, _rebuild_parameter,
/// _rebuild_parameter_with_state), the storage types (torch.FloatStorage, DoubleStorage,
/// HalfStorage, BFloat16Storage, LongStorage, IntStorage, ShortStorage, CharStorage, ByteStorage,
/// BoolStorage), torch.Size, torch.device, the dtypes (torch.float32, …) and _codecs.encode (how
/// protocol 2 writes bytes); REDUCE and BUILD act only on those, as data. Anything else —
/// `os.system`, a model's class (`torch.save(model)`), numpy scalars, complex or quantized
/// storages, an unknown opcode — is an IoError naming it, its byte in data.pkl and the file.
/// Limits: the file 64 GiB (read whole); data.pkl 1 GiB and 4M objects, nested 64 levels; a tensor
/// 2^40 elements and 8 dimensions, every offset and stride inside its storage; all tensors together
/// at most 4 times the file plus 64 MiB, and all names and strings 16 times the file plus 1 MiB
/// (views of one storage, zero strides and shared references cannot claim more memory than that).
/// TorchScript archives (torch.jit.save) and big-endian files are refused.
/// keep_bf16: bfloat16 storages become bf16 tensors bit for bit (else float32, exactly widened).
TensorFile load_torch(const std::string& path, bool keep_bf16 = false);
/// The same for a file already in memory (`source` names it in errors).
TensorFile decode_torch(std::span<const std::byte> bytes, const std::string& source, bool keep_bf16 = false);

}  // namespace nabla::io
