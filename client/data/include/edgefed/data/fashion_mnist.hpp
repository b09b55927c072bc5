// Fashion-MNIST (Xiao, Rasul & Vollgraf 2017; Zalando SE, MIT licence) from gzipped IDX files,
// as Debian's `dataset-fashion-mnist` installs them:
//
//   /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz   60,000 × 28 × 28
//   /usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz   60,000
//   /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz    10,000 × 28 × 28
//   /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz    10,000
//
// IDX format (big-endian): images = magic 0x00000803 (unsigned byte, 3 dims), count, rows,
// cols, then count × rows × cols bytes; labels = magic 0x00000801, count, then count bytes.
// Pixels become floats byte / 255 (exactly the float nearest to it), labels stay bytes.
// Both files must be gzip; zlib reads them in 256 KiB chunks.
//
// The files are outside input, so every header field is checked before it is used:
//
//   missing / unreadable file         io_error (the detail says how to install the data)
//   not gzip, corrupt gzip stream     bad_encoding
//   wrong magic                       bad_encoding
//   a dimension of 0                  bad_length
//   rows × cols > kMaxIdxImagePixels  too_large
//   loaded items × rows × cols > kMaxIdxPixelBytes
//                                     too_large (checked before anything is allocated)
//   image and label counts differ     bad_value
//   a label >= num_classes            bad_value (the detail names the sample index)
//   stream ends before the declared count × rows × cols bytes
//                                     truncated
//   bytes after the declared data     bad_length (only checked when loading every item)
//
// Allocation never trusts the header beyond what it bounds: pixel storage is reserved for at
// most kReservePixels floats up front and otherwise grows with bytes actually decompressed, so
// a short file with a huge declared count fails with `truncated` after using memory in
// proportion to its real content.
//
// With max_items < count, only the first max_items samples are read and checked; the rest
// of the file is not decompressed (so truncation past that point goes unnoticed).
//
// Thread-safety: the functions share no state; load different files concurrently if you like.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>

#include "edgefed/common/result.hpp"
#include "edgefed/data/dataset.hpp"

namespace edgefed::data {

inline constexpr const char* kDefaultFashionMnistDir = "/usr/share/datasets/fashion-mnist";
inline constexpr std::size_t kFashionMnistClasses = 10;
inline constexpr std::size_t kFashionMnistTrainSize = 60'000;
inline constexpr std::size_t kFashionMnistTestSize = 10'000;

inline constexpr std::uint32_t kIdxImagesMagic = 0x00000803;
inline constexpr std::uint32_t kIdxLabelsMagic = 0x00000801;
// Largest accepted image, in pixels (rows × cols): 1024 × 1024.
inline constexpr std::uint64_t kMaxIdxImagePixels = 1u << 20;
// Largest accepted amount of pixel data to load, in bytes (items × rows × cols): 256 MiB,
// i.e. 1 GiB of floats. Fashion-MNIST's training set is 47 MB.
inline constexpr std::uint64_t kMaxIdxPixelBytes = 1u << 28;
// Pixel storage reserved before reading, in floats: at most 70,000 × 28 × 28 (all of
// Fashion-MNIST, 219 MB); beyond that the vector grows with the data actually read.
inline constexpr std::size_t kReservePixels = 70'000 * 28 * 28;

enum class Split { train, test };

// Loads `split` from `dir` ("train-…" or "t10k-…" file pair), at most `max_items` samples,
// in file order. Errors: see the table above; details name the file.
[[nodiscard]] Result<Dataset> load_fashion_mnist(
    const std::filesystem::path& dir = kDefaultFashionMnistDir, Split split = Split::train,
    std::size_t max_items = SIZE_MAX);

// Loads any gzipped IDX image/label pair of unsigned bytes with one channel. Labels must be
// < num_classes. Errors: see the table above.
[[nodiscard]] Result<Dataset> load_idx_pair(const std::filesystem::path& images_path,
                                            const std::filesystem::path& labels_path,
                                            std::size_t max_items = SIZE_MAX,
                                            std::size_t num_classes = kFashionMnistClasses);

}  // namespace edgefed::data
