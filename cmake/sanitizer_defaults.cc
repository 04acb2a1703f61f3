// Linked into every target of a -DSIGIL_SANITIZE=ON build, so that each
// test and each binary a test starts reads the same LeakSanitizer
// defaults, however it is launched.

// c-ares, under gRPC's DNS resolver, keeps a few bytes per channel that it
// never frees; it is a system library this build does not instrument.
extern "C" const char* __lsan_default_suppressions() {
  return "leak:libcares.so\n";
}
