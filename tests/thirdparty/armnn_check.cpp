// armnn_check: runs an exported .tflite in Arm NN 20.08 (Debian's TfLite parser, CpuRef backend)
// on the images edgefed_reference wrote, and writes Arm NN's outputs for compare.py.
//
//   armnn_check MODEL.tflite REFERENCE_DIR N OUT
//
// The model's input type picks the images: float32 reads REFERENCE_DIR/images.f32, int8
// (QAsymmS8) REFERENCE_DIR/images.i8. OUT receives N outputs, float32 or int8 as the model's
// output type, back to back. stdout: one JSON line with the binding types and quantization
// Arm NN read from the file and the time per inference.
//
// Deliberately its own executable with no edgefed code: the Arm NN parser exports weak tflite::
// symbols that clash with other TFLite schema code in the same binary, and some unsupported
// models make it abort (assert) instead of throwing. Exit codes: 0 done, 1 the model was
// refused (parse, optimize or load error; stderr says which step), 2 bad usage or files.
#include <armnn/ArmNN.hpp>
#include <armnnTfLiteParser/ITfLiteParser.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::vector<char> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError("cannot read " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The element size of a type this check feeds or reads; anything else is refused.
std::size_t element_bytes(armnn::DataType t, const char* what) {
  if (t == armnn::DataType::Float32) return 4;
  if (t == armnn::DataType::QAsymmS8) return 1;
  throw std::runtime_error(std::string(what) + " type " + armnn::GetDataTypeName(t) +
                           " (only Float32 and QAsymmS8 are checked)");
}

std::string binding_json(const char* key, const armnn::TensorInfo& info) {
  std::ostringstream s;
  s.precision(9);  // float scales round-trip
  s << '"' << key << "_type\":\"" << armnn::GetDataTypeName(info.GetDataType()) << '"';
  if (info.GetDataType() != armnn::DataType::Float32)
    s << ",\"" << key << "_scale\":" << info.GetQuantizationScale() << ",\"" << key
      << "_zero_point\":" << info.GetQuantizationOffset();
  return s.str();
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int run(const std::string& model, const std::string& ref_dir, std::size_t n, const std::string& out_path) {
  if (!std::ifstream(model)) throw UsageError("cannot read " + model);
  const auto t_load = std::chrono::steady_clock::now();
  auto parser = armnnTfLiteParser::ITfLiteParser::Create();
  armnn::INetworkPtr net = parser->CreateNetworkFromBinaryFile(model.c_str());
  if (parser->GetSubgraphCount() != 1) throw std::runtime_error("expected one subgraph");
  const auto in_names = parser->GetSubgraphInputTensorNames(0), out_names = parser->GetSubgraphOutputTensorNames(0);
  if (in_names.size() != 1 || out_names.size() != 1) throw std::runtime_error("expected one input and one output");
  const armnn::BindingPointInfo in = parser->GetNetworkInputBindingInfo(0, in_names[0]);
  const armnn::BindingPointInfo out = parser->GetNetworkOutputBindingInfo(0, out_names[0]);

  armnn::IRuntimePtr runtime = armnn::IRuntime::Create(armnn::IRuntime::CreationOptions());
  std::vector<std::string> messages;
  armnn::IOptimizedNetworkPtr opt = armnn::Optimize(*net, {armnn::Compute::CpuRef}, runtime->GetDeviceSpec(),
                                                    armnn::OptimizerOptions(), messages);
  if (!opt) {
    std::string why;
    for (const std::string& m : messages) why += "; " + m;
    throw std::runtime_error("optimize for CpuRef failed" + why);
  }
  armnn::NetworkId id = 0;
  std::string error;
  if (runtime->LoadNetwork(id, std::move(opt), error, armnn::INetworkProperties()) != armnn::Status::Success)
    throw std::runtime_error("LoadNetwork: " + error);
  const double load_seconds = seconds_since(t_load);

  const std::size_t in_bytes = in.second.GetNumElements() * element_bytes(in.second.GetDataType(), "input");
  const std::size_t out_bytes = out.second.GetNumElements() * element_bytes(out.second.GetDataType(), "output");
  const bool int8_in = in.second.GetDataType() == armnn::DataType::QAsymmS8;
  const std::vector<char> images = read_file(ref_dir + (int8_in ? "/images.i8" : "/images.f32"));
  if (images.size() < n * in_bytes) throw UsageError("fewer than N images in " + ref_dir);

  std::vector<char> outputs(n * out_bytes);
  const auto t_run = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < n; ++i) {
    const armnn::InputTensors inputs{{in.first, armnn::ConstTensor(in.second, images.data() + i * in_bytes)}};
    const armnn::OutputTensors results{{out.first, armnn::Tensor(out.second, outputs.data() + i * out_bytes)}};
    if (runtime->EnqueueWorkload(id, inputs, results) != armnn::Status::Success)
      throw std::runtime_error("EnqueueWorkload failed on image " + std::to_string(i));
  }
  const double run_seconds = seconds_since(t_run);

  std::ofstream o(out_path, std::ios::binary);
  o.write(outputs.data(), static_cast<std::streamsize>(outputs.size()));
  if (!o) throw UsageError("cannot write " + out_path);
  std::printf("{\"runtime\":\"armnn-cpuref\",\"n\":%zu,%s,%s,\"load_seconds\":%.4f,\"seconds_per_inference\":%.6g}\n", n,
              binding_json("input", in.second).c_str(), binding_json("output", out.second).c_str(), load_seconds,
              n ? run_seconds / static_cast<double>(n) : 0.0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: armnn_check MODEL.tflite REFERENCE_DIR N OUT\n");
    return 2;
  }
  char* end = nullptr;
  const unsigned long long n = std::strtoull(argv[3], &end, 10);
  if (*end != '\0' || n == 0) {
    std::fprintf(stderr, "armnn_check: N must be a positive integer, got '%s'\n", argv[3]);
    return 2;
  }
  try {
    return run(argv[1], argv[2], static_cast<std::size_t>(n), argv[4]);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "armnn_check: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {  // armnn::Exception (parse, workload validation) included
    std::fprintf(stderr, "armnn_check: Arm NN refused %s: %s\n", argv[1], e.what());
    return 1;
  }
}
