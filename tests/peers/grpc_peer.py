"""A real gRPC peer for the end-to-end tests: grpcio's standard health service (grpc.health.v1.Health).

serve PORT               serve Health on 127.0.0.1:PORT (h2c), the overall service "" SERVING; prints READY.
check TARGET [TOKEN]     Health/Check through TARGET (host:port, plaintext), with `authorization: Bearer TOKEN`
                         metadata when given; prints {"code": "OK"|<status code name>, "status": ..., "details": ...}.
watch TARGET [TOKEN]     Health/Watch (server streaming): prints {"code": ..., "first": <status of the first message>,
                         "ended_before_first": <whether the stream ended before it>} after the first message.
"""
import json
import sys
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc


def serve(port):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    servicer = health.HealthServicer()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print("READY", flush=True)
    server.wait_for_termination()


def metadata(argv):
    return [("authorization", f"Bearer {argv[0]}")] if argv else []


def name(status):
    return health_pb2.HealthCheckResponse.ServingStatus.Name(status)


def check(target, argv):
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            r = stub.Check(health_pb2.HealthCheckRequest(service=""), metadata=metadata(argv), timeout=10)
            print(json.dumps({"code": "OK", "status": name(r.status)}))
        except grpc.RpcError as e:
            print(json.dumps({"code": e.code().name, "details": e.details()}))


def watch(target, argv):
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        stream = stub.Watch(health_pb2.HealthCheckRequest(service=""), metadata=metadata(argv), timeout=10)
        try:
            first = next(stream)
            # The server keeps the stream open (it sends again only on a change): it has not ended.
            ended = stream.done()
            stream.cancel()
            print(json.dumps({"code": "OK", "first": name(first.status), "ended_before_first": ended}))
        except StopIteration:
            print(json.dumps({"code": "OK", "first": None, "ended_before_first": True}))
        except grpc.RpcError as e:
            print(json.dumps({"code": e.code().name, "details": e.details()}))


if __name__ == "__main__":
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "serve":
        serve(int(rest[0]))
    elif command == "check":
        check(rest[0], rest[1:])
    else:
        watch(rest[0], rest[1:])
