"""sigil_cc_test: one gtest binary, as sigil_add_test in tests/CMakeLists.txt.

Like sigil_add_test, it links gMock and the status matchers of tests/testing
into every test.

Bazel runs a test in its runfiles tree, at this repository's root: the
sources, the built binaries (server/sigild, client/agent/sigil-agent) and
the external test vectors (tests/vectors) are found from there, through
the same compile definitions CMake sets to absolute paths. A test reads
only what its `data` lists.
"""

def sigil_cc_test(name, srcs, deps = [], **kwargs):
    native.cc_test(
        name = name,
        srcs = srcs,
        deps = deps + [
            "//tests/testing:status_matchers",
            "@system//:gmock",
            "@system//:gtest_main",
        ],
        local_defines = [
            'SIGIL_VECTORS_DIR=\\"tests/vectors\\"',
            'SIGIL_BINARY_DIR=\\".\\"',
            'SIGIL_SOURCE_DIR=\\".\\"',
        ],
        **kwargs
    )
