"""cc_grpc_library: C++ messages and gRPC stubs from .proto files, generated
by Debian's protoc and grpc_cpp_plugin, as the CMake build does.

Bazel 4.2.3 cannot build protobuf or gRPC from source offline, so the
generator is the system one, matching the system libraries it links.
"""

_PROTOC = "/usr/bin/protoc"
_GRPC_PLUGIN = "/usr/bin/grpc_cpp_plugin"

def _generated(protos, extensions):
    return [p[:-len(".proto")] + ext for p in protos for ext in extensions]

def cc_grpc_library(
        name,
        protos,
        proto_dir = None,
        headers_only = [],
        deps = [],
        **kwargs):
    """A cc_library of the messages and stubs of `protos`.

    Generated files keep the protos' paths relative to their import
    directory, so `sigil/v1/identity.proto` gives "sigil/v1/identity.pb.h".

    Args:
      name: the cc_library's name.
      protos: .proto paths relative to the import directory.
      proto_dir: the import directory, outside the repository (a Debian
        package's); None for this package's own directory, whose protos are
        then inputs Bazel tracks.
      headers_only: protos whose code another library already defines:
        only their headers are generated into this one.
      deps: what the generated code links besides protobuf and gRPC.
      **kwargs: passed to the cc_library (visibility, ...).
    """
    if proto_dir == None:
        srcs = protos
        import_dir = native.package_name() or "."
    else:
        srcs = []
        import_dir = proto_dir
    headers = _generated(protos, [".pb.h", ".grpc.pb.h"])
    sources = _generated(protos, [".pb.cc", ".grpc.pb.cc"])
    native.genrule(
        name = name + "_codegen",
        srcs = srcs,
        outs = headers + sources,
        cmd = " ".join([
            _PROTOC,
            "-I" + import_dir,
            "--cpp_out=$(RULEDIR)",
            "--grpc_out=$(RULEDIR)",
            "--plugin=protoc-gen-grpc=" + _GRPC_PLUGIN,
        ] + ["%s/%s" % (import_dir, p) for p in protos]),
        message = "Generating C++ and gRPC code for %s" % name,
    )
    native.cc_library(
        name = name,
        srcs = _generated(
            [p for p in protos if p not in headers_only],
            [".pb.cc", ".grpc.pb.cc"],
        ),
        hdrs = headers,
        includes = ["."],
        deps = deps + ["@system//:grpc++", "@system//:protobuf"],
        **kwargs
    )
