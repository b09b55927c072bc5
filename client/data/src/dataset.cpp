#include "edgefed/data/dataset.hpp"

#include <algorithm>

#include "misuse.hpp"

namespace edgefed::data {

bool Dataset::well_formed() const noexcept {
  if (channels == 0 || rows == 0 || cols == 0) return false;
  const std::size_t per = image_size();
  if (per / channels / rows != cols) return false;  // C×H×W overflowed
  if (labels.size() != 0 && per > pixels.max_size() / labels.size()) return false;
  return pixels.size() == labels.size() * per;
}

std::span<const float> Dataset::image(std::size_t i) const {
  detail::require(i < size(), "Dataset::image: index out of range");
  detail::require(pixels.size() >= (i + 1) * image_size(), "Dataset::image: not well formed");
  return {pixels.data() + i * image_size(), image_size()};
}

std::span<float> Dataset::mutable_image(std::size_t i) {
  detail::require(i < size(), "Dataset::mutable_image: index out of range");
  detail::require(pixels.size() >= (i + 1) * image_size(),
                  "Dataset::mutable_image: not well formed");
  return {pixels.data() + i * image_size(), image_size()};
}

Dataset Dataset::subset(std::span<const std::size_t> indices) const {
  detail::require(well_formed(), "Dataset::subset: not well formed");
  Dataset out;
  out.channels = channels;
  out.rows = rows;
  out.cols = cols;
  const std::size_t per = image_size();
  out.pixels.resize(indices.size() * per);
  out.labels.resize(indices.size());
  for (std::size_t k = 0; k < indices.size(); ++k) {
    const std::size_t i = indices[k];
    detail::require(i < size(), "Dataset::subset: index out of range");
    std::copy_n(pixels.data() + i * per, per, out.pixels.data() + k * per);
    out.labels[k] = labels[i];
  }
  return out;
}

std::vector<std::size_t> label_counts(std::span<const std::uint8_t> labels,
                                      std::size_t num_classes) {
  std::vector<std::size_t> counts(num_classes, 0);
  for (std::uint8_t label : labels) {
    if (label < num_classes) ++counts[label];
  }
  return counts;
}

std::vector<std::size_t> label_counts(const Dataset& dataset, std::size_t num_classes) {
  return label_counts(dataset.labels, num_classes);
}

}  // namespace edgefed::data
