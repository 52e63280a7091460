/* The installed C ABI: opens NAMESPACE under PREFIX, prints its live version. */
#include <shmconf/shmconf.h>
#include <stdio.h>

int main(int argc, char** argv) {
  shmconf_client* c = NULL;
  if (argc != 3) return 2;
  int rc = shmconf_open_prefix(argv[1], argv[2], &c);
  if (rc != 0) {
    fprintf(stderr, "consumer_c: %s\n", shmconf_strerror(rc));
    return 1;
  }
  printf("%llu\n", (unsigned long long)shmconf_version(c));
  shmconf_close(c);
  return 0;
}
