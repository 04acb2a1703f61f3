"""Repository rules that let Bazel 4.2.3 (Debian's bazel-bootstrap) build
Sigil offline against the Debian packages, fetching nothing.

Bazel's own WORKSPACE suffix would download rules_cc, rules_java and
remote_coverage_tools; WORKSPACE defines all three here first, from what
Debian installs, so those downloads never happen.
"""

_RULES_CC_PATCHED_FILES = [
    "cc/private/rules_impl/cc_flags_supplier.bzl",
    "cc/private/rules_impl/compiler_flag.bzl",
]

def _debian_rules_cc_impl(rctx):
    # Debian's rules_cc is newer than its Bazel: two rules ask for
    # use_cpp_toolchain(), which Bazel 4.2.3's @bazel_tools lacks. The
    # toolchain type it stands for is the same, so a copy that names the
    # type directly behaves identically.
    source = rctx.path(rctx.attr.path)
    if not source.exists:
        fail("%s is missing: run scripts/install-deps.sh" % source)
    result = rctx.execute(["cp", "-R", "%s/." % source, "."])
    if result.return_code != 0:
        fail("copying %s failed: %s" % (source, result.stderr))
    for name in _RULES_CC_PATCHED_FILES:
        text = rctx.read(name)
        text = text.replace(', "use_cpp_toolchain")', ")")
        text = text.replace(
            "use_cpp_toolchain()",
            '["@bazel_tools//tools/cpp:toolchain_type"]',
        )
        if "use_cpp_toolchain" in text:
            fail("%s/%s changed: update bazel/repositories.bzl" % (source, name))
        rctx.file(name, text, executable = False)

debian_rules_cc = repository_rule(
    implementation = _debian_rules_cc_impl,
    attrs = {"path": attr.string(mandatory = True)},
    local = True,
)

def _no_coverage_tools_impl(rctx):
    # Every test rule names the coverage merger and report generator as
    # implicit inputs, though only `bazel coverage` runs them. These
    # stand-ins say so and fail if run.
    rctx.file(
        "fail.sh",
        "#!/bin/sh\necho 'bazel coverage does not work offline' >&2\nexit 1\n",
        executable = True,
    )
    rctx.file("BUILD.bazel", """\
package(default_visibility = ["//visibility:public"])

sh_binary(name = "coverage_report_generator", srcs = ["fail.sh"])

sh_binary(name = "lcov_merger", srcs = ["fail.sh"])
""")

no_coverage_tools = repository_rule(implementation = _no_coverage_tools_impl)
