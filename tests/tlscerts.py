"""Certificates for TLS tests, made with openssl (a CA, a server and a client certificate for
127.0.0.1), and the check that a TLS port serves nothing to a client without a certificate."""

from __future__ import annotations

import socket
import ssl
import subprocess

EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def make_certs(d) -> dict:
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    run("req", "-x509", *EC, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=xcache-test-ca")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        run("req", *EC, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.crt", "-days", "2", "-extfile", "san.ext")
    return {k: str(d / f"{k.replace('_', '.')}") for k in ("ca_crt", "server_crt", "server_key",
                                                           "client_crt", "client_key")}


def assert_refused_without_certificate(port: int, ca_crt: str) -> None:
    """TLS without a client certificate: the handshake (or the first read) fails, nothing served."""
    ctx = ssl.create_default_context(cafile=ca_crt)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        try:
            with ctx.wrap_socket(s, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"PING\r\n")
                assert tls.recv(100) == b""
        except (ssl.SSLError, ConnectionError):
            pass
