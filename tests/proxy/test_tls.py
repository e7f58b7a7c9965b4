"""TLS from clients to the proxy (`tls = true`): redis-cli --tls and redis-py ssl=True through the
admission gate to real redis-server groups, with certificates the test makes (openssl); a client
without a certificate gets nothing."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import redis

from tests.procs import free_port
from tests.tlscerts import assert_refused_without_certificate, make_certs

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl missing")


def test_clients_over_tls(backends, start_proxy, tmp_path):
    certs = make_certs(tmp_path)
    a, b = backends
    p = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", tls="true",
                    tls_cert_file=certs["server_crt"], tls_key_file=certs["server_key"],
                    tls_ca_cert_file=certs["ca_crt"])
    cli = ["redis-cli", "--tls", "--cacert", certs["ca_crt"], "--cert", certs["client_crt"],
           "--key", certs["client_key"], "-p", str(p.port)]
    assert subprocess.run([*cli, "set", "k", "v"], capture_output=True, text=True, timeout=20).stdout.strip() == "OK"
    r = redis.Redis(port=p.port, ssl=True, ssl_ca_certs=certs["ca_crt"], ssl_certfile=certs["client_crt"],
                    ssl_keyfile=certs["client_key"], protocol=2)
    assert r.get("k") == b"v"
    assert r.mset({f"m{i}": i for i in range(50)}) and r.mget([f"m{i}" for i in range(50)])[49] == b"49"
    r.close()
    assert_refused_without_certificate(p.port, certs["ca_crt"])


def test_proxy_to_nodes_over_tls(start_proxy, tmp_path):
    from tests.store.test_tls import start_node

    certs = make_certs(tmp_path)
    tls_port = free_port()
    node = start_node(tmp_path, f"tls_port={tls_port}", f"tls_cert_file={certs['server_crt']}",
                      f"tls_key_file={certs['server_key']}", f"tls_ca_cert_file={certs['ca_crt']}")
    try:
        p = start_proxy(f"1=127.0.0.1:{tls_port}", backend_tls="true", backend_tls_ca_cert_file=certs["ca_crt"],
                        backend_tls_cert_file=certs["client_crt"], backend_tls_key_file=certs["client_key"])
        c = p.client()
        assert c.set("k", "via-tls") and c.get("k") == b"via-tls"
        # the session's own connections (blocking commands, WATCH) go over TLS too
        c.rpush("q", "x")
        assert list(c.blpop("q", timeout=5)) == [b"q", b"x"]
        with c.pipeline() as pipe:
            pipe.watch("k")
            pipe.multi()
            pipe.set("k", "watched")
            assert pipe.execute() == [True]
        c.close()
        direct = redis.Redis(port=node.port, protocol=2)
        assert direct.get("k") == b"watched"
        direct.close()
    finally:
        node.stop()
