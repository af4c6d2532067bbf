#!/usr/bin/env python3
"""Python dividere's load-balancing pattern, written here from its protocol (issue 16).

Messaging level (messaging.LoadBalancingPattern), every frame an envelope:
  - Broker: a ROUTER frontend for clients and a ROUTER backend for servers, both bound. A
    request [clientId, env] goes to the first server of the queue as [serverId, clientId, env],
    and that server leaves the queue. Anything from a server, [serverId, *rest], puts it (back) in
    the queue, good for 3 s, and rest goes to the frontend. After each poll (at most 3 s) servers
    not heard from for 9 s are dropped and those not heard from for 3 s get
    [serverId, env(Heartbeat{id: serverId})]. A request with no server queued ends the broker's
    thread (Python's KeyError): this peer prints {"died": ...} and forwards nothing more.
  - Server: a DEALER with a uuid4 identity, connected to the backend. It sends env(Heartbeat{id})
    on start, on each Heartbeat it receives, and whenever 4.5 s pass without sending one; a
    request [clientId, env] is answered [clientId, reply env].
  - Client: a plain DEALER (one frame out, one frame back), or the Lazy Pirate client that sends
    its last request again after each retryTimeOutMs without a reply, up to maxRetries times.
Byte level (connection.LoadBalancingPattern): the same shapes with raw frames; a server registers
with the single byte 01 and echoes 02 heartbeats; requests and replies are opaque bytes.

Usage (one JSON object per stdout line; the first says where it is):
  load_balancing.py broker [bytes]           bind both ROUTERs on ephemeral ports; prints their endpoints
  load_balancing.py server BACKEND [bytes] [drop-odd]
                        serve, answering each request with the request itself (a testMsg01 at the
                        messaging level, the same bytes at the byte level); with drop-odd it ignores
                        its 1st, 3rd, 5th... request; prints {"served": n} per answer
  load_balancing.py client FRONTEND COUNT [bytes] [lazy-pirate RETRIES TIMEOUT_MS]
                        send COUNT requests one after the other, printing each reply
The generated modules MsgLib_pb2 and TestMsg_pb2 must be on PYTHONPATH.
"""
import sys
import time
import uuid

import zmq

import MsgLib_pb2
import TestMsg_pb2
from peer import decode, emit, encode, show

HEARTBEAT_RATE_S = 3.0
SERVER_HEARTBEAT_S = 1.5 * HEARTBEAT_RATE_S
DROP_AFTER_S = 3 * HEARTBEAT_RATE_S
REGISTER = b"\x01"
HEARTBEAT = b"\x02"


def is_heartbeat(frame, raw):
    if raw:
        return frame == HEARTBEAT
    return isinstance(decode(frame), MsgLib_pb2.Heartbeat)


def broker(ctx, raw):
    frontend = ctx.socket(zmq.ROUTER)
    backend = ctx.socket(zmq.ROUTER)
    front_port = frontend.bind_to_random_port("tcp://127.0.0.1")
    back_port = backend.bind_to_random_port("tcp://127.0.0.1")
    emit(frontend="tcp://127.0.0.1:%d" % front_port, backend="tcp://127.0.0.1:%d" % back_port)
    queue = {}  # serverId -> last heard from, in the order servers became free
    dead = False
    poller = zmq.Poller()
    poller.register(frontend, zmq.POLLIN)
    poller.register(backend, zmq.POLLIN)
    while True:
        events = dict(poller.poll(HEARTBEAT_RATE_S * 1000))
        if backend in events:
            frames = backend.recv_multipart()
            server, rest = frames[0], frames[1:]
            queue.pop(server, None)
            queue[server] = time.monotonic()
            if len(rest) > 1 and not dead:
                frontend.send_multipart(rest)
        if frontend in events:
            client, request = frontend.recv_multipart()[:2]
            if dead:
                continue
            if not queue:
                dead = True
                emit(died="KeyError: no server queued for a request")
                continue
            server = next(iter(queue))
            del queue[server]
            backend.send_multipart([server, client, request])
            emit(dispatched=server.decode(errors="replace"))
        now = time.monotonic()
        for server, heard in list(queue.items()):
            if now - heard > DROP_AFTER_S:
                del queue[server]
                emit(dropped=server.decode(errors="replace"))
            elif now - heard > HEARTBEAT_RATE_S:
                beat = HEARTBEAT if raw else encode(MsgLib_pb2.Heartbeat(id=server.decode(errors="replace")))
                backend.send_multipart([server, beat])


def server(ctx, backend, raw, drop_odd):
    identity = str(uuid.uuid4())
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.IDENTITY, identity.encode())
    sock.connect(backend)
    hello = REGISTER if raw else encode(MsgLib_pb2.Heartbeat(id=identity))
    beat = HEARTBEAT if raw else hello
    sock.send(hello)
    last_sent = time.monotonic()
    emit(id=identity)
    requests = served = 0
    while True:
        if sock.poll(100):
            frames = sock.recv_multipart()
            if len(frames) == 1 and is_heartbeat(frames[0], raw):
                sock.send(beat)
                last_sent = time.monotonic()
                continue
            client, request = frames[0], frames[1]
            requests += 1
            if drop_odd and requests % 2 == 1:
                emit(ignored=requests)
                continue
            reply = request if raw else encode(decode(request))
            sock.send_multipart([client, reply])
            served += 1
            emit(served=served)
        if not raw and time.monotonic() - last_sent > SERVER_HEARTBEAT_S:
            sock.send(beat)
            last_sent = time.monotonic()


def client(ctx, frontend, count, raw, retries, timeout_ms):
    def connect():
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(frontend)
        return sock

    sock = connect()
    for i in range(count):
        text = "request %d from %s" % (i, uuid.uuid4())
        request = text.encode() if raw else encode(TestMsg_pb2.testMsg01(field1=text, field2=i))
        sock.send(request)
        attempts = 1
        while not sock.poll(timeout_ms):
            if attempts > retries:
                emit(error="no reply to request %d after %d tries" % (i, attempts))
                sys.exit(2)
            attempts += 1
            sock.send(request)
        reply = sock.recv()
        shown = {"bytes": reply.decode(errors="replace")} if raw else show(decode(reply))
        emit(reply=shown, sent=text, echoed=reply == request, tries=attempts)


def main(argv):
    ctx = zmq.Context()
    mode, args = argv[1], argv[2:]
    raw = "bytes" in args
    if mode == "broker":
        broker(ctx, raw)
    elif mode == "server":
        server(ctx, args[0], raw, "drop-odd" in args)
    elif mode == "client":
        retries, timeout_ms = 0, 10000
        if "lazy-pirate" in args:
            at = args.index("lazy-pirate")
            retries, timeout_ms = int(args[at + 1]), int(args[at + 2])
        client(ctx, args[0], int(args[1]), raw, retries, timeout_ms)
    else:
        emit(error="unknown mode %s" % mode)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv)
