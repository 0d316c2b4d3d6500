"""The http probe's pure parts: URL targets, request bytes, bounded body decoders."""

from __future__ import annotations

import gzip
import zlib

import brotli
import pytest

from upstate.probes._decoders import DecodeError, decoder_for
from upstate.probes._http1 import encode_request, parse_target


def test_it_parses_an_ipv6_literal_with_its_port() -> None:
    target = parse_target("https://[::1]:8443/health?full=1#frag")

    assert target.tls
    assert target.host == "::1"
    assert target.port == 8443
    assert target.authority == "[::1]:8443"
    assert target.path == "/health?full=1"
    assert target.ip_literal


def test_it_defaults_the_port_and_path() -> None:
    target = parse_target("http://Example.COM")

    assert (target.host, target.port, target.authority, target.path) == (
        "example.com",
        80,
        "example.com",
        "/",
    )
    assert not target.ip_literal


def test_it_encodes_an_international_name_and_path() -> None:
    target = parse_target("https://bücher.example/straße")

    assert target.host == "xn--bcher-kva.example"
    assert target.authority == "xn--bcher-kva.example"
    assert target.path == "/stra%C3%9Fe"


@pytest.mark.parametrize("url", ["ftp://example.com/", "http:///nohost", "example.com"])
def test_it_refuses_what_is_not_an_http_url(url: str) -> None:
    with pytest.raises(ValueError, match="URL"):
        parse_target(url)


def test_it_writes_a_request_with_length_and_close() -> None:
    request = encode_request(
        "POST",
        parse_target("http://127.0.0.1:8080/in"),
        (("X-A", "1"), ("Connection", "keep-alive"), ("Content-Length", "99")),
        b"abc",
        "Upstate/test",
    )

    head, _, body = request.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /in HTTP/1.1"
    assert "Host: 127.0.0.1:8080" in lines
    assert "User-Agent: Upstate/test" in lines
    assert "X-A: 1" in lines
    assert "Connection: close" in lines
    assert "Connection: keep-alive" not in lines
    assert "Content-Length: 3" in lines
    assert "Content-Length: 99" not in lines
    assert body == b"abc"


def test_it_escapes_spaces_in_a_path() -> None:
    assert parse_target("http://h/a b?q=c d").path == "/a%20b?q=c%20d"


def test_it_refuses_a_method_that_is_no_token() -> None:
    with pytest.raises(ValueError, match="method"):
        encode_request("GET / HTTP/1.0\r\n", parse_target("http://h/"), (), None, "ua")


def test_it_refuses_a_header_that_would_split_the_request() -> None:
    with pytest.raises(ValueError, match="line break"):
        encode_request(
            "GET", parse_target("http://h/"), (("X-A", "1\r\nEvil: 1"),), None, "Upstate/test"
        )


PLAIN = b"0123456789abcdef" * 4096  # 64 KiB


@pytest.mark.parametrize(
    ("encoding", "data"), [("gzip", gzip.compress(PLAIN)), ("deflate", zlib.compress(PLAIN))]
)
def test_it_never_inflates_more_than_room_plus_one(encoding: str, data: bytes) -> None:
    decoder = decoder_for(encoding)
    assert decoder is not None

    out = decoder.feed(data, 1000)

    assert len(out) == 1001  # one more than fits: the caller knows to truncate
    assert PLAIN.startswith(out)


def test_it_bounds_a_brotli_bomb() -> None:
    bomb = brotli.compress(bytes(64 * 1024 * 1024), quality=1)
    decoder = decoder_for("br")
    assert decoder is not None

    out = decoder.feed(bomb, 1024 * 1024)

    # brotli stops growing its output in blocks, so it may overshoot by a block, no more
    assert 1024 * 1024 < len(out) <= 4 * 1024 * 1024


def test_it_decodes_raw_deflate_too() -> None:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    data = compressor.compress(PLAIN) + compressor.flush()
    decoder = decoder_for("deflate")
    assert decoder is not None

    assert decoder.feed(data, len(PLAIN)) + decoder.flush(0) == PLAIN


def test_it_keeps_bytes_of_an_unknown_encoding() -> None:
    assert decoder_for("zstd") is None
    assert decoder_for("identity") is None


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_it_rejects_data_that_does_not_decode(encoding: str) -> None:
    decoder = decoder_for(encoding)
    assert decoder is not None

    with pytest.raises(DecodeError):
        decoder.feed(b"\xff" * 64, 1000)
