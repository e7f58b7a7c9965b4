"""TLS server contexts from Redis's settings (`tls-cert-file`, `tls-key-file`, `tls-ca-cert-file`,
`tls-auth-clients`), with Python's ssl module; shared by the components that listen."""

from __future__ import annotations

import ssl


def server_context(cert_file: str, key_file: str, ca_file: str = "", auth_clients: str = "yes") -> ssl.SSLContext:
    """auth_clients: "yes" (a client certificate signed by ca_file is required, Redis's
    default), "optional" (verified if sent) or "no"."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_file, key_file)
    if ca_file:
        ctx.load_verify_locations(ca_file)
    if auth_clients == "yes":
        if not ca_file:
            raise ValueError("tls_auth_clients = yes needs tls_ca_cert_file")
        ctx.verify_mode = ssl.CERT_REQUIRED
    elif auth_clients == "optional" and ca_file:
        ctx.verify_mode = ssl.CERT_OPTIONAL
    else:
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def client_context(ca_file: str, cert_file: str = "", key_file: str = "") -> ssl.SSLContext:
    """For outgoing links (replica to master, proxy to node): the peer's certificate must chain to
    ca_file (its host name is not checked, as Redis does not); cert_file/key_file, if given, are
    presented to peers that require client certificates."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False
    if ca_file:
        ctx.load_verify_locations(ca_file)
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.verify_mode = ssl.CERT_NONE
    if cert_file:
        ctx.load_cert_chain(cert_file, key_file or None)
    return ctx
