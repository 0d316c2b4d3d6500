"""Bounded decoders for Content-Encoding: a gzip bomb costs at most `room` bytes of output.

Each decoder turns compressed input into at most `room + 1` bytes per call, so the caller
can tell "fits" from "more than fits" (then it truncates and stops reading) without ever
inflating more than it keeps.
"""

from __future__ import annotations

import zlib
from typing import Protocol

import brotli


class DecodeError(Exception):
    """The body is not valid data for its Content-Encoding."""


class Decoder(Protocol):
    def feed(self, data: bytes, room: int) -> bytes:
        """Decoded bytes for `data`; never more than room + 1 of them."""
        ...

    def flush(self, room: int) -> bytes: ...


class ZlibDecoder:
    """gzip (wbits 47 accepts gzip or zlib headers) and deflate (zlib, or raw as some send)."""

    __slots__ = ("_first", "_inner", "_raw_fallback")

    def __init__(self, wbits: int, raw_fallback: bool = False) -> None:
        self._inner = zlib.decompressobj(wbits)
        self._raw_fallback = raw_fallback
        self._first = True

    def feed(self, data: bytes, room: int) -> bytes:
        try:
            out = self._inner.decompress(data, room + 1)
        except zlib.error as exc:
            if not (self._first and self._raw_fallback):
                raise DecodeError(str(exc)) from exc
            # "deflate" is zlib-wrapped by the RFC, but some servers send raw deflate.
            self._inner = zlib.decompressobj(-zlib.MAX_WBITS)
            self._raw_fallback = False
            return self.feed(data, room)
        self._first = False
        return out

    def flush(self, room: int) -> bytes:
        try:
            return self._inner.flush(room + 1)
        except zlib.error as exc:
            raise DecodeError(str(exc)) from exc


class BrotliDecoder:
    __slots__ = ("_inner",)

    def __init__(self) -> None:
        self._inner = brotli.Decompressor()

    def feed(self, data: bytes, room: int) -> bytes:
        try:
            out: bytes = self._inner.process(data, output_buffer_limit=room + 1)
        except brotli.error as exc:
            raise DecodeError(str(exc)) from exc
        return out

    def flush(self, room: int) -> bytes:
        return b""


def decoder_for(content_encoding: str) -> Decoder | None:
    """A decoder for one of the encodings the probe advertises; None means keep the bytes."""
    encoding = content_encoding.strip().lower()
    if encoding in ("gzip", "x-gzip"):
        return ZlibDecoder(32 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return ZlibDecoder(zlib.MAX_WBITS, raw_fallback=True)
    if encoding == "br":
        return BrotliDecoder()
    return None
