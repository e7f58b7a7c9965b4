"""TLS on the storage node (tls_port, Python's ssl), with certificates the test makes (openssl):
redis-cli --tls and redis-py ssl=True work; a client without a certificate (tls_auth_clients =
yes, Redis's default) or speaking plain TCP to the TLS port gets nothing; the plain port stays."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys

import pytest
import redis

from tests.procs import Proc, free_port
from tests.tlscerts import assert_refused_without_certificate, make_certs

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl missing")

@pytest.fixture
def tls_node(tmp_path):
    certs = make_certs(tmp_path)
    port, tls_port = free_port(), free_port()
    args = [sys.executable, "-m", "xcache.cli", "server", "--port", str(port), "--dir", str(tmp_path / "node"),
            "--set", "metrics_port=0", "--set", f"tls_port={tls_port}",
            "--set", f"tls_cert_file={certs['server_crt']}", "--set", f"tls_key_file={certs['server_key']}",
            "--set", f"tls_ca_cert_file={certs['ca_crt']}"]
    proc = Proc(args, port, stderr_path=str(tmp_path / "node.log")).wait_ready()
    proc.tls_port = tls_port
    yield proc, certs
    proc.stop()


def test_redis_cli_and_redis_py_over_tls(tls_node):
    proc, certs = tls_node
    cli = ["redis-cli", "--tls", "--cacert", certs["ca_crt"], "--cert", certs["client_crt"],
           "--key", certs["client_key"], "-p", str(proc.tls_port)]
    assert subprocess.run([*cli, "set", "k", "v"], capture_output=True, text=True, timeout=20).stdout.strip() == "OK"
    assert subprocess.run([*cli, "get", "k"], capture_output=True, text=True, timeout=20).stdout.strip() == "v"
    r = redis.Redis(port=proc.tls_port, ssl=True, ssl_ca_certs=certs["ca_crt"], ssl_certfile=certs["client_crt"],
                    ssl_keyfile=certs["client_key"], protocol=2)
    assert r.get("k") == b"v"
    assert r.incr("n") == 1
    pipe = r.pipeline()
    for i in range(100):
        pipe.set(f"p{i}", i)
    assert all(pipe.execute())
    r.close()
    plain = redis.Redis(port=proc.port, protocol=2)
    assert plain.get("p99") == b"99"  # the plain port serves the same data
    plain.close()


def test_tls_port_refuses_clients_without_certificate_or_tls(tls_node):
    proc, certs = tls_node
    # TLS without a client certificate: the handshake (or the first read) fails, nothing served
    assert_refused_without_certificate(proc.tls_port, certs["ca_crt"])
    # plain RESP on the TLS port: closed without a reply
    with socket.create_connection(("127.0.0.1", proc.tls_port), timeout=10) as s:
        s.sendall(b"PING\r\n")
        try:
            assert s.recv(100) == b""
        except ConnectionError:
            pass
    # the node still serves TLS clients with a certificate
    r = redis.Redis(port=proc.tls_port, ssl=True, ssl_ca_certs=certs["ca_crt"], ssl_certfile=certs["client_crt"],
                    ssl_keyfile=certs["client_key"], protocol=2)
    assert r.ping()
    r.close()


def start_node(tmp_path, *settings: str) -> Proc:
    port = free_port()
    args = [sys.executable, "-m", "xcache.cli", "server", "--port", str(port), "--dir", str(tmp_path / f"n{port}"),
            "--set", "metrics_port=0"]
    for s in settings:
        args += ["--set", s]
    return Proc(args, port, stderr_path=str(tmp_path / f"n{port}.log")).wait_ready()


def test_replica_links_to_master_over_tls(tls_node, tmp_path):
    from tests.procs import wait_until

    master, certs = tls_node
    replica = start_node(tmp_path, "tls_replication=true", f"tls_cert_file={certs['client_crt']}",
                         f"tls_key_file={certs['client_key']}", f"tls_ca_cert_file={certs['ca_crt']}",
                         f"replicaof=127.0.0.1 {master.tls_port}")
    try:
        m = redis.Redis(port=master.port, protocol=2)
        r = redis.Redis(port=replica.port, protocol=2)
        m.set("over", "tls")
        wait_until(lambda: r.get("over") == b"tls", what="the write replicated over TLS")
        wait_until(lambda: r.info("replication")["master_link_status"] == "up", what="link up")
        m.set("after", "sync")  # the stream, not only the snapshot, flows over TLS
        wait_until(lambda: r.get("after") == b"sync", what="a streamed write")
        m.close()
        r.close()
    finally:
        replica.stop()
