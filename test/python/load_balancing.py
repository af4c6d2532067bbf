#!/usr/bin/env python3
"""Python dividere's load-balancing pattern, written here from its protocol (issue 16).

Messaging level (messaging.LoadBalancingPattern), every frame an envelope:
  - Broker: a ROUTER frontend for clients and a ROUTER backend for servers, both bound. A
    request [clientId, env] goes to the first server of the queue as [serverId, clientId, env]
    (any frames: Python's broker puts the server's id in front of what it received),
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
  load_balancing.py broker [bytes]           bind both ROUTERs on ephemeral ports; prints their endpoints,
                        then {"joined": id} for each server it sees first
  load_balancing.py server BACKEND [bytes] [drop-odd] [threads N]
                        serve, answering each request with the request itself (a testMsg01 at the
                        messaging level, the same bytes at the byte level); with drop-odd it ignores
                        its 1st, 3rd, 5th... request; prints {"served": n} per answer. With threads,
                        N servers (each its own socket and identity) in one process
  load_balancing.py client FRONTEND COUNT [bytes] [lazy-pirate RETRIES TIMEOUT_MS] [threads N] [req]
                        send COUNT requests one after the other, printing each reply; with threads,
                        N clients at once, then {"done": N}. With req (byte level), a REQ socket
                        opened anew for each retry, as Python's connection.LoadBalancingPattern.Client:
                        its requests carry REQ's empty delimiter frame
The generated modules MsgLib_pb2 and TestMsg_pb2 must be on PYTHONPATH.
"""
import json
import sys
import threading
import time
import uuid

import zmq

import MsgLib_pb2
import TestMsg_pb2
from peer import decode, encode, show

HEARTBEAT_RATE_S = 3.0
SERVER_HEARTBEAT_S = 1.5 * HEARTBEAT_RATE_S
DROP_AFTER_S = 3 * HEARTBEAT_RATE_S
REGISTER = b"\x01"
HEARTBEAT = b"\x02"
PRINTING = threading.Lock()


def emit(**fields):
    with PRINTING:
        print(json.dumps(fields), flush=True)


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
    known = set()
    dead = False
    poller = zmq.Poller()
    poller.register(frontend, zmq.POLLIN)
    poller.register(backend, zmq.POLLIN)
    while True:
        events = dict(poller.poll(HEARTBEAT_RATE_S * 1000))
        if backend in events:
            frames = backend.recv_multipart()
            server, rest = frames[0], frames[1:]
            if server not in known:
                known.add(server)
                emit(joined=server.decode(errors="replace"))
            queue.pop(server, None)
            queue[server] = time.monotonic()
            if len(rest) > 1 and not dead:
                frontend.send_multipart(rest)
        if frontend in events:
            frames = frontend.recv_multipart()  # [clientId, request], or [clientId, b"", request] from a REQ
            if dead:
                continue
            if not queue:
                dead = True
                emit(died="KeyError: no server queued for a request")
                continue
            server = next(iter(queue))
            del queue[server]
            backend.send_multipart([server] + frames)
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
            route, request = frames[:-1], frames[-1]  # a REQ client's requests carry an empty frame
            requests += 1
            if drop_odd and requests % 2 == 1:
                emit(ignored=requests)
                continue
            reply = request if raw else encode(decode(request))
            sock.send_multipart(route + [reply])
            served += 1
            emit(served=served, server=identity)
        if not raw and time.monotonic() - last_sent > SERVER_HEARTBEAT_S:
            sock.send(beat)
            last_sent = time.monotonic()


def client(ctx, frontend, count, raw, retries, timeout_ms, req):
    def connect():
        sock = ctx.socket(zmq.REQ if req else zmq.DEALER)
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
                return False
            attempts += 1
            if req:
                sock.close()
                sock = connect()
            sock.send(request)
        reply = sock.recv()
        shown = {"bytes": reply.decode(errors="replace")} if raw else show(decode(reply))
        emit(reply=shown, sent=text, echoed=reply == request, tries=attempts)
    return True


def threads(count, target, args):
    """Runs count copies of target at once; True when every one returned True."""
    results = []
    started = [threading.Thread(target=lambda: results.append(target(*args)), daemon=True) for _ in range(count)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    return len(results) == count and all(results)


def main(argv):
    ctx = zmq.Context()
    mode, args = argv[1], argv[2:]
    raw = "bytes" in args
    count = int(args[args.index("threads") + 1]) if "threads" in args else 1
    if mode == "broker":
        broker(ctx, raw)
    elif mode == "server":
        threads(count, server, (ctx, args[0], raw, "drop-odd" in args))
    elif mode == "client":
        retries, timeout_ms = 0, 10000
        if "lazy-pirate" in args:
            at = args.index("lazy-pirate")
            retries, timeout_ms = int(args[at + 1]), int(args[at + 2])
        if not threads(count, client, (ctx, args[0], int(args[1]), raw, retries, timeout_ms, "req" in args)):
            sys.exit(2)
        emit(done=count)
    else:
        emit(error="unknown mode %s" % mode)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv)
