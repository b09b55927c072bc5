// placeholder: replaced by the tflite exporter's tests
#include <catch2/catch.hpp>
