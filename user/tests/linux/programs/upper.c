// upper: a static musl C program for the Linux personality tests. Reads all of stdin, writes it
// upper-cased to stdout, then a line with the byte count, a note on stderr; exits 0 (or with the
// code given by an input that starts with "exit=").
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
  static char buffer[65536];
  size_t used = 0;
  for (;;) {
    ssize_t got = read(0, buffer + used, sizeof buffer - used);
    if (got <= 0) break;
    used += (size_t)got;
  }
  if (used >= 5 && memcmp(buffer, "exit=", 5) == 0) {
    fprintf(stderr, "upper: exiting with %d\n", atoi(buffer + 5));
    return atoi(buffer + 5);
  }
  char* copy = malloc(used + 1);
  if (copy == NULL) return 2;
  for (size_t i = 0; i < used; ++i) copy[i] = (char)toupper((unsigned char)buffer[i]);
  fwrite(copy, 1, used, stdout);
  printf("\n%zu bytes, argv[0]=%s, argc=%d, HOME=%s\n", used, argv[0], argc, getenv("HOME"));
  fprintf(stderr, "upper: done\n");
  free(copy);
  return 0;
}
