/* A firmware-style device on the C ABI (edgefed/client_c.h).
 *
 *   edgefed_c_device CONFIG_JSON_FILE FIRST_SAMPLE COUNT ROUNDS
 *
 * The "sensor buffer" here is a slice of the Fashion-MNIST training images read with zlib;
 * on a real device read_sample would copy from the camera pipeline instead. Prints
 * "c device OK model_version=N" when all rounds ended. */
#include "edgefed/client_c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define DATA_DIR "/usr/share/datasets/fashion-mnist/"
#define SIDE 28

typedef struct {
  unsigned char* images; /* count × 28 × 28 bytes */
  unsigned char* labels; /* count bytes */
} sensor_buffer;

static int read_gz(const char* path, long skip, unsigned char* out, size_t bytes) {
  gzFile f = gzopen(path, "rb");
  if (!f) return -1;
  int ok = gzseek(f, skip, SEEK_SET) == skip && gzread(f, out, (unsigned)bytes) == (int)bytes;
  gzclose(f);
  return ok ? 0 : -1;
}

static int read_sample(void* user, size_t index, float* pixels, uint8_t* label) {
  const sensor_buffer* b = (const sensor_buffer*)user;
  for (size_t i = 0; i < SIDE * SIDE; ++i) pixels[i] = b->images[index * SIDE * SIDE + i] / 255.0f;
  *label = b->labels[index];
  return 0;
}

static char* read_file(const char* path) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char* s = malloc((size_t)n + 1);
  if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
    free(s);
    s = NULL;
  }
  if (s) s[n] = '\0';
  fclose(f);
  return s;
}

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s CONFIG_JSON_FILE FIRST_SAMPLE COUNT ROUNDS\n", argv[0]);
    return 2;
  }
  const long first = atol(argv[2]);
  const size_t count = (size_t)atol(argv[3]);
  const uint32_t rounds = (uint32_t)atol(argv[4]);
  char* config = read_file(argv[1]);
  sensor_buffer buffer = {malloc(count * SIDE * SIDE), malloc(count)};
  if (!config || !buffer.images || !buffer.labels ||
      read_gz(DATA_DIR "train-images-idx3-ubyte.gz", 16 + first * SIDE * SIDE, buffer.images, count * SIDE * SIDE) ||
      read_gz(DATA_DIR "train-labels-idx1-ubyte.gz", 8 + first, buffer.labels, count)) {
    fprintf(stderr, "cannot read the config or the data\n");
    return 1;
  }
  edgefed_data_source source = {1, SIDE, SIDE, count, read_sample, &buffer};
  char err[512];
  edgefed_client* client = edgefed_client_create(config, &source, err, sizeof err);
  if (!client) {
    fprintf(stderr, "create: %s\n", err);
    return 1;
  }
  const int rc = edgefed_client_run(client, rounds, err, sizeof err);
  if (rc != EDGEFED_OK) fprintf(stderr, "run: %s\n", err);
  else printf("c device OK model_version=%llu\n", (unsigned long long)edgefed_client_model_version(client));
  edgefed_client_destroy(client);
  free(config);
  free(buffer.images);
  free(buffer.labels);
  return rc == EDGEFED_OK ? 0 : 1;
}
