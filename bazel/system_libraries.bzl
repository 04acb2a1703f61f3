"""@system: the Debian 12 libraries Sigil links, one cc_library each.

The libraries are the ones the CMake build finds with find_package; their
headers are in /usr/include already, so each target only carries what
pkg-config says to define and link. The flags are read when the repository
is fetched, so they follow the installed packages instead of a copy here.
"""

# Target name: (pkg-config modules, linker flags to put before theirs).
_LIBRARIES = {
    "absl_cleanup": (["absl_cleanup"], []),
    "absl_flags": (["absl_flags"], []),
    "absl_flags_parse": (["absl_flags_parse"], []),
    "absl_flags_usage": (["absl_flags_usage"], []),
    "absl_flat_hash_map": (["absl_flat_hash_map"], []),
    "absl_flat_hash_set": (["absl_flat_hash_set"], []),
    "absl_hash": (["absl_hash"], []),
    "absl_span": (["absl_span"], []),
    "absl_status": (["absl_status"], []),
    "absl_statusor": (["absl_statusor"], []),
    "absl_str_format": (["absl_str_format"], []),
    "absl_strings": (["absl_strings"], []),
    "absl_synchronization": (["absl_synchronization"], []),
    "absl_time": (["absl_time"], []),
    "benchmark": (["benchmark"], []),
    "cpp_httplib": (["cpp-httplib"], []),
    "crypto": (["libcrypto"], []),
    "gmock": (["gmock"], []),
    "grpc++": (["grpc++"], []),
    # Debian ships no pkg-config file for the reflection library.
    "grpc++_reflection": (["grpc++"], ["-lgrpc++_reflection"]),
    "gtest": (["gtest"], []),
    "gtest_main": (["gtest_main"], []),
    # Not through pkg-config: libmicrohttpd.pc carries GnuTLS's p11-kit
    # include path, which microhttpd.h does not need.
    "microhttpd": ([], ["-lmicrohttpd"]),
    "protobuf": (["protobuf"], []),
    "rocksdb": (["rocksdb"], []),
}

def _pkg_config(rctx, pkg_config, flag, modules):
    if not modules:
        return []
    result = rctx.execute([pkg_config, flag] + modules)
    if result.return_code != 0:
        fail("pkg-config %s failed (run scripts/install-deps.sh): %s" %
             (" ".join(modules), result.stderr))
    return [flag for flag in result.stdout.strip().split(" ") if flag]

def _system_libraries_impl(rctx):
    pkg_config = rctx.which("pkg-config")
    if pkg_config == None:
        fail("pkg-config is missing: run scripts/install-deps.sh")
    build = ['package(default_visibility = ["//visibility:public"])\n']
    for name, (modules, extra_linkopts) in sorted(_LIBRARIES.items()):
        defines = []
        for flag in _pkg_config(rctx, pkg_config, "--cflags", modules):
            if not flag.startswith("-D"):
                # Include paths outside /usr/include would need copying
                # into the repository; none of Debian's packages has one.
                fail("pkg-config %s: unexpected flag %s" % (modules, flag))
            defines.append(flag[2:])
        linkopts = extra_linkopts + _pkg_config(rctx, pkg_config, "--libs", modules)
        build.append("cc_library(\n    name = %r,\n    defines = %r,\n    linkopts = %r,\n)\n" %
                     (name, defines, linkopts))
    rctx.file("BUILD.bazel", "\n".join(build))

system_libraries = repository_rule(
    implementation = _system_libraries_impl,
    environ = ["PKG_CONFIG_PATH"],
    local = True,
)
