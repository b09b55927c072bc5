/* edgefed device SDK — C ABI for firmware integration.
 *
 *   edgefed_client* c = edgefed_client_create(config_json, &source, err, sizeof err);
 *   if (!c) { puts(err); return 1; }
 *   edgefed_client_run(c, 5);          // take part in 5 rounds (0: until edgefed_client_stop)
 *   edgefed_client_destroy(c);
 *
 * The data source is read once, at create: `count` samples of channels × rows × cols pixels
 * in [0, 1] (row-major) and a class label each. The SDK copies them; nothing is read after
 * create returns. Everything else (TLS, model verification, training, secure aggregation,
 * persistence) is as in edgefed/client.hpp.
 *
 * Thread-safety: edgefed_client_stop and edgefed_client_model_version may be called from any
 * thread while edgefed_client_run runs; the others from one thread. No function throws.
 */
#ifndef EDGEFED_CLIENT_C_H
#define EDGEFED_CLIENT_C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct edgefed_client edgefed_client;

typedef struct edgefed_data_source {
  uint32_t channels, rows, cols;
  size_t count;
  /* Writes sample `index` (< count): channels*rows*cols floats into `pixels`, its label into
   * `*label`. Returns 0 on success; anything else aborts create with an error. */
  int (*read_sample)(void* user, size_t index, float* pixels, uint8_t* label);
  void* user;
} edgefed_data_source;

/* Status codes. */
#define EDGEFED_OK 0
#define EDGEFED_ERROR_INVALID_ARGUMENT 1
#define EDGEFED_ERROR_FAILED 2

/* Creates a client from a JSON config (edgefed::ClientConfig::from_json keys) and the data
 * source. On failure returns NULL and writes a NUL-terminated message into err (if given). */
edgefed_client* edgefed_client_create(const char* config_json, const edgefed_data_source* source, char* err,
                                      size_t err_len);

/* Takes part in `rounds` rounds (0: until edgefed_client_stop). EDGEFED_OK when done or
 * stopped; otherwise a code and the message in err (if given). */
int edgefed_client_run(edgefed_client* client, uint32_t rounds, char* err, size_t err_len);

/* Makes a running edgefed_client_run return soon. */
void edgefed_client_stop(edgefed_client* client);

/* The version of the global model the device holds (0: none yet). */
uint64_t edgefed_client_model_version(const edgefed_client* client);

void edgefed_client_destroy(edgefed_client* client);

#ifdef __cplusplus
}
#endif

#endif /* EDGEFED_CLIENT_C_H */
