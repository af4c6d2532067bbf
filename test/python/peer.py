#!/usr/bin/env python3
"""A Python dividere peer, written here from the wire spec (test/interop, ../shared/interop/README.md).

Every message travels as one ZeroMQ frame holding a msgEnvelope: msgName = the message's full
name, msg = google.protobuf.Any packing it. Python dividere itself encodes exactly so; its
decoder needs a newer python protobuf than Debian 12 ships, so this peer decodes by the spec.

Usage (one JSON object per stdout line; the first line says where it is):
  peer.py pub COUNT     bind an XPUB on an ephemeral port, wait for COUNT subscriptions, publish a script
  peer.py sub ENDPOINT COUNT TYPE...   subscribe to TYPEs (by envelope prefix), print COUNT messages
  peer.py rep COUNT     bind a REP, answer COUNT testMsg01 requests with field1 reversed, field2 + 1
  peer.py req ENDPOINT WORD...         send one testMsg01 request per WORD, print each reply; with
                        PEER_CURVE_CERT (own .key_secret) and PEER_CURVE_SERVER (server's .key), over CURVE
  peer.py certificates FOLDER NAME     write a CURVE key pair with pyzmq's zmq.auth.create_certificates
  peer.py registry-client ENDPOINT STEP...
                        a Python dividere registry client: each STEP is register:NAME:HOST:PORT,
                        unregister:NAME:HOST:PORT or lookup:NAME; prints each answer
  peer.py registry-server COUNT
                        a registry speaking Python dividere's protocol (REP + PUB on ephemeral
                        ports): publishes RediscoverReq once a subscriber is there, answers COUNT
                        requests, printing each
  peer.py service REGISTRY PUBLISH NAME
                        behaves as a Python dividere Service: binds a REP, registers NAME at the
                        registry's request endpoint, subscribes to everything on its publish
                        endpoint and registers again on each RediscoverReq, printing
                        {"registered": n}; the first message it cannot decode ends its
                        re-registration as it ends Python's thread ({"died": ...}), and the
                        process lives on until killed

The generated modules MsgLib_pb2 and TestMsg_pb2 must be on PYTHONPATH.
"""
import json
import os
import signal
import sys

import zmq
import zmq.auth
from google.protobuf import json_format

import MsgLib_pb2
import TestMsg_pb2

TYPES = {}
for module in (MsgLib_pb2, TestMsg_pb2):
    for name, descriptor in module.DESCRIPTOR.message_types_by_name.items():
        TYPES[descriptor.full_name] = getattr(module, name)

TIMEOUT_MS = 10000


def encode(msg):
    envelope = MsgLib_pb2.msgEnvelope()
    envelope.msgName = msg.DESCRIPTOR.full_name
    envelope.msg.Pack(msg)
    return envelope.SerializeToString()


def decode(frame):
    envelope = MsgLib_pb2.msgEnvelope()
    envelope.ParseFromString(frame)
    msg = TYPES[envelope.msgName]()
    if not envelope.msg.Unpack(msg):
        raise ValueError("type_url %s does not match msgName %s" % (envelope.msg.type_url, envelope.msgName))
    return msg


def varint(value):
    out = b""
    while value >= 0x80:
        out += bytes([(value & 0x7F) | 0x80])
        value >>= 7
    return out + bytes([value])


def topic(name):
    """The envelope's own prefix: 0A varint(len(name)) name (not Python dividere's constant 0A 08)."""
    encoded = name.encode()
    return b"\x0a" + varint(len(encoded)) + encoded


def emit(**fields):
    print(json.dumps(fields), flush=True)


def show(msg):
    return {"type": msg.DESCRIPTOR.full_name, "json": json_format.MessageToDict(msg)}


def receive(sock):
    if not sock.poll(TIMEOUT_MS):
        emit(error="nothing received within %d ms" % TIMEOUT_MS)
        sys.exit(2)
    return sock.recv()


def publish(ctx, subscriptions):
    sock = ctx.socket(zmq.XPUB)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    emit(endpoint="tcp://127.0.0.1:%d" % port)
    for _ in range(subscriptions):
        receive(sock)  # a subscription: once all are in, the subscriber listens to every topic
    for i in range(3):
        sock.send(encode(TestMsg_pb2.testMsg01(field1="from python %d" % i, field2=i)))
        sock.send(encode(TestMsg_pb2.testDtMsg14(field1="not subscribed %d" % i)))
    sock.send(encode(MsgLib_pb2.Heartbeat(id="python-peer")))
    sock.send(encode(TestMsg_pb2.testNestedMsg02()))
    sock.send(encode(TestMsg_pb2.testDtMsg04(field1=-1099511627778)))
    emit(done=True)
    sock.close(linger=1000)


def subscribe(ctx, endpoint, count, names):
    sock = ctx.socket(zmq.SUB)
    sock.connect(endpoint)
    for name in names:
        sock.setsockopt(zmq.SUBSCRIBE, topic(name))
    emit(subscribed=names)
    for _ in range(count):
        emit(**show(decode(receive(sock))))
    sock.close(linger=0)


def respond(ctx, count):
    sock = ctx.socket(zmq.REP)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    emit(endpoint="tcp://127.0.0.1:%d" % port)
    for _ in range(count):
        request = decode(receive(sock))
        emit(**show(request))
        sock.send(encode(TestMsg_pb2.testMsg01(field1=request.field1[::-1], field2=request.field2 + 1)))
    sock.close(linger=1000)


def request(ctx, endpoint, words):
    sock = ctx.socket(zmq.REQ)
    curve_client(sock)
    sock.connect(endpoint)
    for i, word in enumerate(words):
        sock.send(encode(TestMsg_pb2.testMsg01(field1=word, field2=i)))
        emit(**show(decode(receive(sock))))
    sock.close(linger=0)


def curve_client(sock):
    """CURVE from certificate files, as pyzmq's zmq.auth reads them: PEER_CURVE_CERT (own secret), PEER_CURVE_SERVER (server public)."""
    if "PEER_CURVE_CERT" not in os.environ:
        return
    public, secret = zmq.auth.load_certificate(os.environ["PEER_CURVE_CERT"])
    server_public, _ = zmq.auth.load_certificate(os.environ["PEER_CURVE_SERVER"])
    sock.curve_publickey = public
    sock.curve_secretkey = secret
    sock.curve_serverkey = server_public


def certificates(folder, name):
    public_file, secret_file = zmq.auth.create_certificates(folder, name)
    emit(public=public_file, secret=secret_file, publicKey=zmq.auth.load_certificate(public_file)[0].decode())


def registry_client(ctx, endpoint, steps):
    sock = ctx.socket(zmq.REQ)
    sock.connect(endpoint)
    for step in steps:
        kind, name, *address = step.split(":")
        if kind == "lookup":
            sock.send(encode(MsgLib_pb2.ServiceLookupReq(serviceName=name)))
        else:
            message = MsgLib_pb2.RegisterService if kind == "register" else MsgLib_pb2.UnregisterService
            sock.send(encode(message(serviceName=name, server=address[0], port=int(address[1]))))
        emit(step=step, **show(decode(receive(sock))))
    sock.close(linger=0)


def strict_decode(frame):
    """As Python dividere's decoder: the type by msgName, and an unknown one raises (it kills the caller's thread)."""
    envelope = MsgLib_pb2.msgEnvelope()
    envelope.ParseFromString(frame)
    if envelope.msgName not in TYPES:
        raise KeyError("Couldn't find message %s" % envelope.msgName)
    return decode(frame)


def register_once(ctx, registry, name, port):
    """One RegisterService on a REQ of its own, so that a registry lost mid-request leaves no stuck socket; True once acknowledged."""
    sock = ctx.socket(zmq.REQ)
    sock.connect(registry)
    try:
        sock.send(encode(MsgLib_pb2.RegisterService(serviceName=name, server="127.0.0.1", port=port)))
        return bool(sock.poll(TIMEOUT_MS)) and decode(sock.recv()).ok
    finally:
        sock.close(linger=0)


def service(ctx, registry, publish, name):
    replies = ctx.socket(zmq.REP)
    port = replies.bind_to_random_port("tcp://127.0.0.1")
    emit(endpoint="tcp://127.0.0.1:%d" % port)
    registrations = 0

    def register(why):
        nonlocal registrations
        if not register_once(ctx, registry, name, port):
            emit(unanswered=why)
            return
        registrations += 1
        emit(registered=registrations, why=why)

    register("start")
    rediscovery = ctx.socket(zmq.SUB)
    rediscovery.connect(publish)
    rediscovery.setsockopt(zmq.SUBSCRIBE, b"")
    try:
        while True:
            msg = strict_decode(rediscovery.recv())
            if msg.DESCRIPTOR.full_name == "RediscoverReq":
                register("RediscoverReq")
    except Exception as error:  # what ends Python dividere's re-registration thread
        emit(died="%s: %s" % (type(error).__name__, error))
    rediscovery.close(linger=0)
    # The service itself lives on (Python's main thread does), registered nowhere after the next restart.
    signal.pause()


def registry_server(ctx, count):
    requests = ctx.socket(zmq.REP)
    port = requests.bind_to_random_port("tcp://127.0.0.1")
    publisher = ctx.socket(zmq.XPUB)
    publish_port = publisher.bind_to_random_port("tcp://127.0.0.1")
    emit(endpoint="tcp://127.0.0.1:%d" % port, publish="tcp://127.0.0.1:%d" % publish_port)
    services = {}
    poller = zmq.Poller()
    poller.register(requests, zmq.POLLIN)
    poller.register(publisher, zmq.POLLIN)
    answered = 0
    while answered < count:
        ready = dict(poller.poll(TIMEOUT_MS))
        if not ready:
            emit(error="no request within %d ms" % TIMEOUT_MS)
            sys.exit(2)
        if publisher in ready and publisher.recv()[:1] == b"\x01":
            publisher.send(encode(MsgLib_pb2.RediscoverReq()))
        if requests in ready:
            request = decode(requests.recv())
            emit(**show(request))
            name = request.DESCRIPTOR.full_name
            if name == "RegisterService":
                services[request.serviceName] = (request.server, request.port)
                reply = MsgLib_pb2.ack(ok=True)
            elif name == "UnregisterService":
                services.pop(request.serviceName, None)
                reply = MsgLib_pb2.ack(ok=True)
            else:
                server, port = services.get(request.serviceName, ("unavailable", 0))
                reply = MsgLib_pb2.ServiceLookupRep(serviceName=request.serviceName, server=server, port=port)
            requests.send(encode(reply))
            answered += 1
    requests.close(linger=1000)
    publisher.close(linger=0)


def main(argv):
    ctx = zmq.Context()
    mode = argv[1]
    if mode == "pub":
        publish(ctx, int(argv[2]))
    elif mode == "sub":
        subscribe(ctx, argv[2], int(argv[3]), argv[4:])
    elif mode == "rep":
        respond(ctx, int(argv[2]))
    elif mode == "req":
        request(ctx, argv[2], argv[3:])
    elif mode == "certificates":
        certificates(argv[2], argv[3])
    elif mode == "registry-client":
        registry_client(ctx, argv[2], argv[3:])
    elif mode == "registry-server":
        registry_server(ctx, int(argv[2]))
    elif mode == "service":
        service(ctx, argv[2], argv[3], argv[4])
    else:
        raise SystemExit("unknown mode %s" % mode)
    ctx.term()


if __name__ == "__main__":
    main(sys.argv)
