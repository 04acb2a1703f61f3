#!/usr/bin/python3
"""Exits 0 when a gRPC server's grpc.health.v1.Health/Check says SERVING.

Kubernetes' native grpc probes dial the pod IP in plaintext only, but sigild
serves mTLS and sigil-agent a unix socket, so their pods exec this instead.
It needs only Debian's python3-grpcio: the empty HealthCheckRequest and the
one-field HealthCheckResponse are encoded by hand rather than generated.

  grpc_health_probe.py ADDRESS [--ca=PEM [--cert=PEM --key=PEM]]
                       [--server_name=NAME] [--service=NAME] [--timeout=S]

ADDRESS is host:port or unix:PATH. With --ca the call uses TLS, and with
--cert/--key presents a client certificate (sigild requires one from every
caller; health is open to any caller that completes the handshake).
Exit status: 0 SERVING, 1 anything else (printed on standard error).
"""

import argparse
import sys

import grpc

# grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING
_SERVING = 1


def _encode_request(service):
    """HealthCheckRequest{service}: field 1, length-delimited."""
    data = service.encode("utf-8")
    if len(data) > 127:
        raise ValueError("--service longer than 127 bytes")
    return (b"\x0a" + bytes([len(data)]) + data) if data else b""


def _decode_status(response):
    """HealthCheckResponse.status (field 1, a varint enum below 128)."""
    if not response:
        return 0  # UNKNOWN: proto3 omits a zero field
    if len(response) >= 2 and response[0] == 0x08 and response[1] < 0x80:
        return response[1]
    raise ValueError("unexpected HealthCheckResponse bytes %r" % response)


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address")
    parser.add_argument("--ca", help="PEM CA the server's certificate chains to")
    parser.add_argument("--cert", help="PEM client certificate (mTLS)")
    parser.add_argument("--key", help="PEM key of --cert")
    parser.add_argument("--server_name",
                        help="name to check the server's certificate for")
    parser.add_argument("--service", default="",
                        help="health service name; the overall one by default")
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args()
    if bool(args.cert) != bool(args.key):
        parser.error("--cert and --key go together")
    if args.cert and not args.ca:
        parser.error("--cert needs --ca")

    options = []
    if args.server_name:
        options.append(("grpc.ssl_target_name_override", args.server_name))
    if args.ca:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=_read(args.ca),
            private_key=_read(args.key) if args.key else None,
            certificate_chain=_read(args.cert) if args.cert else None)
        channel = grpc.secure_channel(args.address, credentials, options)
    else:
        channel = grpc.insecure_channel(args.address, options)
    check = channel.unary_unary("/grpc.health.v1.Health/Check")
    try:
        status = _decode_status(
            check(_encode_request(args.service), timeout=args.timeout))
    except grpc.RpcError as error:
        print("health check of %s failed: %s %s" %
              (args.address, error.code().name, error.details()),
              file=sys.stderr)
        return 1
    except ValueError as error:
        print("health check of %s: %s" % (args.address, error), file=sys.stderr)
        return 1
    finally:
        channel.close()
    if status != _SERVING:
        print("%s is not serving (status %d)" % (args.address, status),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
