#include "edgefed/data/fashion_mnist.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <system_error>

namespace edgefed::data {
namespace {

constexpr unsigned kGzBufferBytes = 1u << 18;  // zlib's input and output buffers
constexpr std::size_t kChunkBytes = 1u << 18;  // bytes decompressed per gzread call
constexpr const char* kInstallHint = "install Debian's dataset-fashion-mnist or pass --data_dir";

struct GzCloser {
  void operator()(gzFile_s* file) const noexcept { gzclose(file); }
};
using GzHandle = std::unique_ptr<gzFile_s, GzCloser>;

// An open gzip file and its name for error details.
struct GzReader {
  GzHandle handle;
  std::string name;
};

Error gz_failure(const GzReader& in, const char* during) {
  int errnum = Z_OK;
  const char* message = gzerror(in.handle.get(), &errnum);
  const std::string detail = in.name + ": " + during + ": " + (message ? message : "");
  switch (errnum) {
    case Z_BUF_ERROR: return fail(ErrorCode::truncated, detail);  // stream cut short
    case Z_ERRNO:
      return fail(ErrorCode::io_error, in.name + ": " + during + ": " + std::strerror(errno));
    case Z_MEM_ERROR: return fail(ErrorCode::io_error, detail);
    default: return fail(ErrorCode::bad_encoding, detail);  // Z_DATA_ERROR: corrupt gzip
  }
}

Result<GzReader> open_gz(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return fail(ErrorCode::io_error, path.string() + ": no such file; " + kInstallHint);
  }
  errno = 0;
  gzFile_s* raw = gzopen(path.c_str(), "rb");
  if (raw == nullptr) {
    return fail(ErrorCode::io_error,
                path.string() + ": cannot open: " + std::strerror(errno) + "; " + kInstallHint);
  }
  GzReader in{GzHandle(raw), path.string()};
  gzbuffer(in.handle.get(), kGzBufferBytes);
  return in;
}

// Reads up to out.size() bytes; returns how many arrived (fewer only at end of stream).
Result<std::size_t> read_some(GzReader& in, std::span<std::uint8_t> out, const char* what) {
  std::size_t got = 0;
  while (got < out.size()) {
    const std::size_t want = std::min(out.size() - got, kChunkBytes);
    const int n = gzread(in.handle.get(), out.data() + got, static_cast<unsigned>(want));
    if (n < 0) return gz_failure(in, what);
    if (n == 0) {
      int errnum = Z_OK;
      gzerror(in.handle.get(), &errnum);
      if (errnum != Z_OK) return gz_failure(in, what);
      break;
    }
    got += static_cast<std::size_t>(n);
  }
  return got;
}

std::uint32_t be32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

// Reads the first `header.size()` bytes, rejecting non-gzip files and a wrong magic.
Status read_header(GzReader& in, std::span<std::uint8_t> header, std::uint32_t magic) {
  EDGEFED_ASSIGN_OR_RETURN(const std::size_t got, read_some(in, header, "header"));
  if (gzdirect(in.handle.get()) != 0) {
    return fail(ErrorCode::bad_encoding, in.name + ": not a gzip file");
  }
  if (got < header.size()) {
    return fail(ErrorCode::truncated,
                in.name + ": header: file ends after " + std::to_string(got) + " bytes");
  }
  const std::uint32_t found = be32(header.data());
  if (found != magic) {
    return fail(ErrorCode::bad_encoding,
                in.name + ": magic " + hex32(found) + ", expected " + hex32(magic));
  }
  return {};
}

// After the declared data: any further byte is an error. Reading on also makes zlib check
// the gzip trailer (CRC-32 and length).
Status expect_end(GzReader& in) {
  std::array<std::uint8_t, 1> extra{};
  EDGEFED_ASSIGN_OR_RETURN(const std::size_t got, read_some(in, extra, "trailer"));
  if (got != 0) {
    return fail(ErrorCode::bad_length, in.name + ": bytes after the declared data");
  }
  return {};
}

// byte / 255 for every byte value, computed once with a true division.
const std::array<float, 256>& byte_to_unit() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (std::size_t b = 0; b < t.size(); ++b) t[b] = static_cast<float>(b) / 255.0f;
    return t;
  }();
  return table;
}

// Streams `total` pixel bytes into `pixels` (appending floats), chunk by chunk.
Status read_pixels(GzReader& in, std::uint64_t total, std::vector<float>& pixels) {
  const auto& lut = byte_to_unit();
  std::vector<std::uint8_t> chunk(
      static_cast<std::size_t>(std::min<std::uint64_t>(total, kChunkBytes)));
  std::uint64_t done = 0;
  while (done < total) {
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(total - done, chunk.size()));
    EDGEFED_ASSIGN_OR_RETURN(const std::size_t got,
                             read_some(in, std::span(chunk.data(), want), "pixels"));
    const std::size_t old = pixels.size();
    pixels.resize(old + got);
    for (std::size_t k = 0; k < got; ++k) pixels[old + k] = lut[chunk[k]];
    done += got;
    if (got < want) {
      return fail(ErrorCode::truncated, in.name + ": pixels: file ends after " +
                                            std::to_string(done) + " of " + std::to_string(total) +
                                            " bytes");
    }
  }
  return {};
}

Status read_labels(GzReader& in, std::uint64_t count, std::size_t num_classes,
                   std::vector<std::uint8_t>& labels) {
  std::uint64_t done = 0;
  while (done < count) {
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(count - done, kChunkBytes));
    const std::size_t old = labels.size();
    labels.resize(old + want);
    EDGEFED_ASSIGN_OR_RETURN(const std::size_t got,
                             read_some(in, std::span(labels.data() + old, want), "labels"));
    labels.resize(old + got);
    done += got;
    if (got < want) {
      return fail(ErrorCode::truncated, in.name + ": labels: file ends after " +
                                            std::to_string(done) + " of " + std::to_string(count) +
                                            " labels");
    }
  }
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] >= num_classes) {
      return fail(ErrorCode::bad_value, in.name + ": label " + std::to_string(labels[i]) +
                                            " of sample " + std::to_string(i) + " is not below " +
                                            std::to_string(num_classes));
    }
  }
  return {};
}

}  // namespace

Result<Dataset> load_idx_pair(const std::filesystem::path& images_path,
                              const std::filesystem::path& labels_path, std::size_t max_items,
                              std::size_t num_classes) {
  EDGEFED_ASSIGN_OR_RETURN(GzReader labels_in, open_gz(labels_path));
  std::array<std::uint8_t, 8> label_header{};
  EDGEFED_TRY(read_header(labels_in, label_header, kIdxLabelsMagic));
  EDGEFED_ASSIGN_OR_RETURN(GzReader images_in, open_gz(images_path));
  std::array<std::uint8_t, 16> image_header{};
  EDGEFED_TRY(read_header(images_in, image_header, kIdxImagesMagic));

  const std::uint64_t label_count = be32(label_header.data() + 4);
  const std::uint64_t count = be32(image_header.data() + 4);
  const std::uint64_t rows = be32(image_header.data() + 8);
  const std::uint64_t cols = be32(image_header.data() + 12);
  if (count == 0 || rows == 0 || cols == 0) {
    return fail(ErrorCode::bad_length,
                images_in.name + ": a dimension is 0 (count " + std::to_string(count) + ", rows " +
                    std::to_string(rows) + ", cols " + std::to_string(cols) + ")");
  }
  if (rows * cols > kMaxIdxImagePixels) {
    return fail(ErrorCode::too_large, images_in.name + ": images of " + std::to_string(rows) +
                                          " x " + std::to_string(cols) + " pixels");
  }
  if (label_count != count) {
    return fail(ErrorCode::bad_value, images_in.name + " holds " + std::to_string(count) +
                                          " images but " + labels_in.name + " holds " +
                                          std::to_string(label_count) + " labels");
  }
  const std::uint64_t items = std::min<std::uint64_t>(count, max_items);
  if (items * rows * cols > kMaxIdxPixelBytes) {
    return fail(ErrorCode::too_large, images_in.name + ": " + std::to_string(items) +
                                          " images of " + std::to_string(rows * cols) +
                                          " pixels exceed the limit");
  }

  Dataset out;
  out.channels = 1;
  out.rows = static_cast<std::size_t>(rows);
  out.cols = static_cast<std::size_t>(cols);
  EDGEFED_TRY(read_labels(labels_in, items, num_classes, out.labels));
  out.pixels.reserve(static_cast<std::size_t>(
      std::min<std::uint64_t>(items * rows * cols, std::uint64_t{kReservePixels})));
  EDGEFED_TRY(read_pixels(images_in, items * rows * cols, out.pixels));
  if (items == count) {
    EDGEFED_TRY(expect_end(labels_in));
    EDGEFED_TRY(expect_end(images_in));
  }
  return out;
}

Result<Dataset> load_fashion_mnist(const std::filesystem::path& dir, Split split,
                                   std::size_t max_items) {
  const char* prefix = split == Split::train ? "train" : "t10k";
  return load_idx_pair(dir / (std::string(prefix) + "-images-idx3-ubyte.gz"),
                       dir / (std::string(prefix) + "-labels-idx1-ubyte.gz"), max_items,
                       kFashionMnistClasses);
}

}  // namespace edgefed::data
