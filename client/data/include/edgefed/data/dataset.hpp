// An in-memory labelled image set: the unit every data function in edgefed::data passes
// around. Torch-free on purpose; the ML layer wraps `pixels` in a tensor without copying
// (torch::from_blob over N×C×H×W floats).
//
// Layout: image i, channel c, row y, column x is pixels[((i * C + c) * H + y) * W + x]
// (N×C×H×W, row-major, like torch and Fashion-MNIST's own order). Pixel values are in
// [0, 1]. Labels are class ids; the number of classes is the caller's knowledge
// (kFashionMnistClasses for Fashion-MNIST).
//
// A Dataset is a plain value: copy it, move it, edit it. Functions that index into one
// require `well_formed()`; violating that, or passing an index >= size(), is a programming
// bug and aborts with a message (it is never the result of outside input: the loaders only
// return well-formed sets).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace edgefed::data {

struct Dataset {
  std::size_t channels = 1;
  std::size_t rows = 28;
  std::size_t cols = 28;
  std::vector<float> pixels;         // N×C×H×W, values in [0, 1]
  std::vector<std::uint8_t> labels;  // N class ids

  // Number of samples, N (= labels.size()).
  std::size_t size() const noexcept { return labels.size(); }
  bool empty() const noexcept { return labels.empty(); }
  // Floats per sample, C×H×W.
  std::size_t image_size() const noexcept { return channels * rows * cols; }
  // pixels.size() == size() × image_size() and every dimension >= 1.
  bool well_formed() const noexcept;

  // The C×H×W floats of sample i. Precondition: i < size(), well_formed().
  std::span<const float> image(std::size_t i) const;
  std::span<float> mutable_image(std::size_t i);

  // A new Dataset holding samples indices[0], indices[1], … in that order (repeats allowed),
  // with the same shape. Precondition: every index < size(), well_formed().
  Dataset subset(std::span<const std::size_t> indices) const;
};

// counts[k] = number of labels equal to k, for k < num_classes. Labels >= num_classes are
// not counted (so the counts sum to less than the input size).
std::vector<std::size_t> label_counts(std::span<const std::uint8_t> labels,
                                      std::size_t num_classes);
std::vector<std::size_t> label_counts(const Dataset& dataset, std::size_t num_classes);

}  // namespace edgefed::data
