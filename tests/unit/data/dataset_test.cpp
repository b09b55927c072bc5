// Dataset: layout, views, subsets and label histograms.
#include "edgefed/data/dataset.hpp"

#include <catch2/catch.hpp>
#include <utility>
#include <vector>

namespace edgefed::data {
namespace {

Dataset counting_dataset() {  // 3 samples of 2×1×2; pixel value = its flat index / 100
  Dataset d;
  d.channels = 2;
  d.rows = 1;
  d.cols = 2;
  for (int i = 0; i < 12; ++i) d.pixels.push_back(static_cast<float>(i) / 100.0f);
  d.labels = {4, 0, 4};
  return d;
}

TEST_CASE("a dataset reports its size and image size") {
  const Dataset d = counting_dataset();
  CHECK(d.size() == 3);
  CHECK(d.image_size() == 4);
  CHECK(d.well_formed());
  CHECK(Dataset{}.empty());
}

TEST_CASE("a dataset whose pixel count disagrees with its labels is not well formed") {
  Dataset d = counting_dataset();
  d.pixels.pop_back();
  CHECK_FALSE(d.well_formed());
  Dataset zero = counting_dataset();
  zero.rows = 0;
  CHECK_FALSE(zero.well_formed());
}

TEST_CASE("image views cover one sample in N C H W order") {
  Dataset d = counting_dataset();
  const auto img = std::as_const(d).image(1);
  REQUIRE(img.size() == 4);
  CHECK(img[0] == 4.0f / 100.0f);
  CHECK(img[3] == 7.0f / 100.0f);
  d.mutable_image(2)[0] = 0.5f;
  CHECK(d.pixels[8] == 0.5f);
}

TEST_CASE("a subset copies the chosen samples in the given order with repeats") {
  const Dataset d = counting_dataset();
  const std::vector<std::size_t> pick = {2, 0, 2};
  const Dataset s = d.subset(pick);
  CHECK(s.channels == 2);
  CHECK(s.rows == 1);
  CHECK(s.cols == 2);
  CHECK(s.labels == std::vector<std::uint8_t>{4, 4, 4});
  CHECK(s.image(0)[0] == d.image(2)[0]);
  CHECK(s.image(1)[3] == d.image(0)[3]);
  CHECK(s.image(2)[1] == d.image(2)[1]);
  CHECK(d.subset({}).empty());
}

TEST_CASE("label counts histogram the classes below the given count") {
  const Dataset d = counting_dataset();
  CHECK(label_counts(d, 5) == std::vector<std::size_t>{1, 0, 0, 0, 2});
  CHECK(label_counts(d, 2) == std::vector<std::size_t>{1, 0});
}

}  // namespace
}  // namespace edgefed::data
