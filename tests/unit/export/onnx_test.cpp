// placeholder: replaced by the onnx exporter's tests
#include <catch2/catch.hpp>
