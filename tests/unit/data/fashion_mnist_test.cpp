// The gzipped IDX reader: tiny files written at runtime for the happy path and one case per
// way a file can be wrong, then (when Debian's dataset-fashion-mnist is installed) the real
// 60k/10k sets.
#include "edgefed/data/fashion_mnist.hpp"

#include <zlib.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "edgefed_test_support.hpp"

namespace edgefed::data {
namespace {

using Bytes = std::vector<std::uint8_t>;

void put_be32(Bytes& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

Bytes idx_images(std::uint32_t count, std::uint32_t rows, std::uint32_t cols, const Bytes& pixels,
                 std::uint32_t magic = kIdxImagesMagic) {
  Bytes out;
  put_be32(out, magic);
  put_be32(out, count);
  put_be32(out, rows);
  put_be32(out, cols);
  out.insert(out.end(), pixels.begin(), pixels.end());
  return out;
}

Bytes idx_labels(std::uint32_t count, const Bytes& labels, std::uint32_t magic = kIdxLabelsMagic) {
  Bytes out;
  put_be32(out, magic);
  put_be32(out, count);
  out.insert(out.end(), labels.begin(), labels.end());
  return out;
}

void write_gz(const std::string& path, const Bytes& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  if (!bytes.empty()) {
    REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) ==
            static_cast<int>(bytes.size()));
  }
  REQUIRE(gzclose(f) == Z_OK);
}

void write_raw(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

Bytes read_raw(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Three 2×3 images with pixel bytes 0, 10, …, 170 and labels 7, 0, 9.
struct TinyPair {
  edgefed::testing::TempDir dir;
  std::string images = dir.file("images.gz");
  std::string labels = dir.file("labels.gz");
  Bytes pixels;
  TinyPair() {
    for (int i = 0; i < 18; ++i) pixels.push_back(static_cast<std::uint8_t>(10 * i));
    write_gz(images, idx_images(3, 2, 3, pixels));
    write_gz(labels, idx_labels(3, {7, 0, 9}));
  }
};

template <typename T>
std::string code_of(const Result<T>& r) {
  return r ? "ok" : std::string(to_string(r.error().code));
}

TEST_CASE("a valid idx pair loads with pixels scaled to the unit interval") {
  TinyPair t;
  const Result<Dataset> d = load_idx_pair(t.images, t.labels);
  REQUIRE(d.ok());
  CHECK(d->size() == 3);
  CHECK(d->channels == 1);
  CHECK(d->rows == 2);
  CHECK(d->cols == 3);
  CHECK(d->well_formed());
  CHECK(d->labels == Bytes{7, 0, 9});
  for (std::size_t i = 0; i < 18; ++i)
    CHECK(d->pixels[i] == static_cast<float>(t.pixels[i]) / 255.0f);
}

TEST_CASE("max items loads only a prefix of the file") {
  TinyPair t;
  const Result<Dataset> d = load_idx_pair(t.images, t.labels, 2);
  REQUIRE(d.ok());
  CHECK(d->size() == 2);
  CHECK(d->pixels.size() == 12);
  CHECK(d->labels == Bytes{7, 0});
}

TEST_CASE("pixel data shorter than the declared count is truncated") {
  TinyPair t;
  write_gz(t.images, idx_images(3, 2, 3, Bytes(t.pixels.begin(), t.pixels.end() - 1)));
  const Result<Dataset> d = load_idx_pair(t.images, t.labels);
  CHECK(code_of(d) == "truncated");
}

TEST_CASE("a huge declared count in a short file is truncated, not allocated") {
  TinyPair t;
  write_gz(t.images, idx_images(300000, 28, 28, Bytes(784, 1)));
  write_gz(t.labels, idx_labels(300000, Bytes(300000, 1)));
  const Result<Dataset> d = load_idx_pair(t.images, t.labels);
  CHECK(code_of(d) == "truncated");
}

TEST_CASE("label data shorter than the declared count is truncated") {
  TinyPair t;
  write_gz(t.labels, idx_labels(3, {7, 0}));
  CHECK(code_of(load_idx_pair(t.images, t.labels)) == "truncated");
}

TEST_CASE("a header cut short is truncated") {
  TinyPair t;
  write_gz(t.images, Bytes{0, 0, 8, 3, 0, 0});
  CHECK(code_of(load_idx_pair(t.images, t.labels)) == "truncated");
}

TEST_CASE("a gzip stream cut short is truncated") {
  TinyPair t;
  Bytes gz = read_raw(t.images);
  gz.resize(gz.size() - 12);  // drop the trailer and the end of the deflate stream
  write_raw(t.images, gz);
  CHECK(code_of(load_idx_pair(t.images, t.labels)) == "truncated");
}

TEST_CASE("a wrong image magic is a bad encoding") {
  TinyPair t;
  write_gz(t.images, idx_images(3, 2, 3, t.pixels, 0x00000801));
  const Result<Dataset> d = load_idx_pair(t.images, t.labels);
  REQUIRE(code_of(d) == "bad_encoding");
  CHECK(d.error().detail.find("magic") != std::string::npos);
}

TEST_CASE("a wrong label magic is a bad encoding") {
  TinyPair t;
  write_gz(t.labels, idx_labels(3, {7, 0, 9}, 0x00000803));
  CHECK(code_of(load_idx_pair(t.images, t.labels)) == "bad_encoding");
}

TEST_CASE("image and label counts that differ are a bad value") {
  TinyPair t;
  write_gz(t.labels, idx_labels(2, {7, 0}));
  CHECK(code_of(load_idx_pair(t.images, t.labels)) == "bad_value");
}

TEST_CASE("a label of ten or more is a bad value naming the sample") {
  TinyPair t;
  write_gz(t.labels, idx_labels(3, {7, 10, 9}));
  const Result<Dataset> d = load_idx_pair(t.images, t.labels);
  REQUIRE(code_of(d) == "bad_value");
  CHECK(d.error().detail.find("sample 1") != std::string::npos);
}

TEST_CASE("a dimension of zero is a bad length") {
  TinyPair t;
  write_gz(t.images, idx_images(3, 0, 3, {}));
  CHECK(code_of(load_idx_pair(t.images, t.labels)) == "bad_length");
}

TEST_CASE("images larger than the limit are too large") {
  TinyPair t;
  write_gz(t.images, idx_images(3, 2048, 2048, {}));
  CHECK(code_of(load_idx_pair(t.images, t.labels)) == "too_large");
}

TEST_CASE("a declared total over the pixel limit is too large before any allocation") {
  TinyPair t;
  write_gz(t.images, idx_images(1000000, 28, 28, {}));
  write_gz(t.labels, idx_labels(1000000, {}));
  CHECK(code_of(load_idx_pair(t.images, t.labels)) == "too_large");
  // The same header within the limit thanks to max_items fails only on the missing data.
  CHECK(code_of(load_idx_pair(t.images, t.labels, 10)) == "truncated");
}

TEST_CASE("bytes after the declared data are a bad length") {
  TinyPair t;
  Bytes extra = t.pixels;
  extra.push_back(1);
  write_gz(t.images, idx_images(3, 2, 3, extra));
  CHECK(code_of(load_idx_pair(t.images, t.labels)) == "bad_length");
  CHECK(load_idx_pair(t.images, t.labels, 2).ok());  // a prefix never looks at the end
}

TEST_CASE("a file that is not gzip is a bad encoding") {
  TinyPair t;
  write_raw(t.images, idx_images(3, 2, 3, t.pixels));  // valid IDX, but not compressed
  CHECK(code_of(load_idx_pair(t.images, t.labels)) == "bad_encoding");
  write_raw(t.labels, Bytes{'h', 'e', 'l', 'l', 'o'});
  CHECK(code_of(load_idx_pair(t.images, t.labels)) == "bad_encoding");
}

TEST_CASE("an empty file is a bad encoding") {
  TinyPair t;
  write_raw(t.labels, {});
  CHECK(code_of(load_idx_pair(t.images, t.labels)) == "bad_encoding");
}

TEST_CASE("corrupt compressed data is a bad encoding") {
  TinyPair t;
  Bytes big;
  for (int i = 0; i < 3 * 28 * 28; ++i)
    big.push_back(static_cast<std::uint8_t>((i * 37) ^ (i >> 3)));
  write_gz(t.images, idx_images(3, 28, 28, big));
  Bytes gz = read_raw(t.images);
  for (std::size_t k = 20; k < gz.size() - 8; k += 7) gz[k] ^= 0x5A;
  write_raw(t.images, gz);
  CHECK(code_of(load_idx_pair(t.images, t.labels)) == "bad_encoding");
}

TEST_CASE("a missing file is an io error with an install hint") {
  TinyPair t;
  const Result<Dataset> d = load_idx_pair(t.dir.file("nope.gz"), t.labels);
  REQUIRE(code_of(d) == "io_error");
  CHECK(d.error().detail.find("dataset-fashion-mnist") != std::string::npos);
  CHECK(d.error().detail.find("--data_dir") != std::string::npos);
  CHECK(code_of(load_fashion_mnist(t.dir.path())) == "io_error");
}

TEST_CASE("the installed fashion mnist has 60k and 10k balanced samples") {
  if (!std::filesystem::exists(kDefaultFashionMnistDir)) {
    WARN("skipped: " << kDefaultFashionMnistDir << " not installed");
    return;
  }
  const Result<Dataset> train = load_fashion_mnist(kDefaultFashionMnistDir, Split::train);
  REQUIRE(train.ok());
  CHECK(train->size() == kFashionMnistTrainSize);
  CHECK(train->rows == 28);
  CHECK(train->cols == 28);
  CHECK(train->well_formed());
  CHECK(label_counts(*train, kFashionMnistClasses) == std::vector<std::size_t>(10, 6000));
  const auto [lo, hi] = std::minmax_element(train->pixels.begin(), train->pixels.end());
  CHECK(*lo == 0.0f);
  CHECK(*hi == 1.0f);

  const Result<Dataset> test = load_fashion_mnist(kDefaultFashionMnistDir, Split::test);
  REQUIRE(test.ok());
  CHECK(test->size() == kFashionMnistTestSize);
  CHECK(label_counts(*test, kFashionMnistClasses) == std::vector<std::size_t>(10, 1000));

  const Result<Dataset> head = load_fashion_mnist(kDefaultFashionMnistDir, Split::test, 100);
  REQUIRE(head.ok());
  CHECK(head->size() == 100);
  CHECK(std::equal(head->pixels.begin(), head->pixels.end(), test->pixels.begin()));
}

}  // namespace
}  // namespace edgefed::data
