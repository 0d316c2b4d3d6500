import socket
import ssl

import pytest


def test_it_serves_a_trusted_certificate(tls_endpoint: dict[str, int], ca_file: str) -> None:
    context = ssl.create_default_context(cafile=ca_file)
    with (
        socket.create_connection(("127.0.0.1", tls_endpoint["good"]), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert tls.recv(1024).startswith(b"HTTP/1.1 200")


def test_it_serves_an_expired_certificate(tls_endpoint: dict[str, int], ca_file: str) -> None:
    context = ssl.create_default_context(cafile=ca_file)
    with (
        socket.create_connection(("127.0.0.1", tls_endpoint["expired"]), timeout=5) as raw,
        pytest.raises(ssl.SSLCertVerificationError) as caught,
    ):
        context.wrap_socket(raw, server_hostname="localhost")
    assert caught.value.verify_code == 10
