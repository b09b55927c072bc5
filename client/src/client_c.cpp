#include "edgefed/client_c.h"

#include "edgefed/client.hpp"

#include <cstring>
#include <exception>

struct edgefed_client {
  std::unique_ptr<edgefed::Client> client;
};

namespace {

void write_error(char* err, size_t err_len, const std::string& message) {
  if (err == nullptr || err_len == 0) return;
  const size_t n = std::min(err_len - 1, message.size());
  std::memcpy(err, message.data(), n);
  err[n] = '\0';
}

}  // namespace

extern "C" edgefed_client* edgefed_client_create(const char* config_json, const edgefed_data_source* source,
                                                 char* err, size_t err_len) {
  try {
    if (config_json == nullptr || source == nullptr || source->read_sample == nullptr) {
      write_error(err, err_len, "config_json, source and source->read_sample are required");
      return nullptr;
    }
    const nlohmann::json json = nlohmann::json::parse(config_json, nullptr, false);
    if (json.is_discarded()) {
      write_error(err, err_len, "config_json is not valid JSON");
      return nullptr;
    }
    auto config = edgefed::ClientConfig::from_json(json);
    if (!config) {
      write_error(err, err_len, config.error().message());
      return nullptr;
    }
    if (source->channels == 0 || source->rows == 0 || source->cols == 0 || source->count == 0) {
      write_error(err, err_len, "data source: channels, rows, cols and count must be positive");
      return nullptr;
    }
    edgefed::data::Dataset data;
    data.channels = source->channels;
    data.rows = source->rows;
    data.cols = source->cols;
    data.pixels.resize(source->count * data.image_size());
    data.labels.resize(source->count);
    for (size_t i = 0; i < source->count; ++i) {
      if (source->read_sample(source->user, i, data.pixels.data() + i * data.image_size(), &data.labels[i]) != 0) {
        write_error(err, err_len, "data source: read_sample failed for sample " + std::to_string(i));
        return nullptr;
      }
    }
    auto client = edgefed::Client::create(std::move(*config), std::move(data));
    if (!client) {
      write_error(err, err_len, client.error().message());
      return nullptr;
    }
    return new edgefed_client{std::move(*client)};
  } catch (const std::exception& e) {
    write_error(err, err_len, e.what());
    return nullptr;
  }
}

extern "C" int edgefed_client_run(edgefed_client* client, uint32_t rounds, char* err, size_t err_len) {
  if (client == nullptr) return EDGEFED_ERROR_INVALID_ARGUMENT;
  try {
    for (uint32_t done = 0; rounds == 0 || done < rounds; ++done) {
      auto r = client->client->run_round();
      if (!r) {
        if (r.error().detail == "stopped") return EDGEFED_OK;
        write_error(err, err_len, r.error().message());
        return EDGEFED_ERROR_FAILED;
      }
    }
    return EDGEFED_OK;
  } catch (const std::exception& e) {
    write_error(err, err_len, e.what());
    return EDGEFED_ERROR_FAILED;
  }
}

extern "C" void edgefed_client_stop(edgefed_client* client) {
  if (client != nullptr) client->client->stop();
}

extern "C" uint64_t edgefed_client_model_version(const edgefed_client* client) {
  return client == nullptr ? 0 : client->client->stats().model_version;
}

extern "C" void edgefed_client_destroy(edgefed_client* client) { delete client; }
