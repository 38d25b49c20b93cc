"""The Xet side of the loopback hub: a CAS that answers hf_xet's reconstruction query and serves xorbs.

What hf_xet (the Rust client huggingface_hub uses for Xet-backed files) asks, as xet-core's own local
CAS server answers it (xet_client/src/cas_client/simulation/local_server/, cas_types/mod.rs):

- `GET {cas}/v2/reconstructions/{file_hash}`: this stand-in answers 404, and the client falls back to
  `GET {cas}/v1/reconstructions/{file_hash}` (api_changes/update_260316_v2_reconstruction_multirange.md:
  "On 404 or 501 it falls back to V1"). The V1 answer is `QueryReconstructionResponse`:
  `{"offset_into_first_range", "terms": [{"hash", "unpacked_length", "range"}], "fetch_info": {hash:
  [{"range", "url", "url_range"}]}}`; chunk ranges end-exclusive, `url_range` end-inclusive (HttpRange).
- `GET <url>` with `Range: bytes=a-b`: the bytes of a xorb, a run of chunks, each an 8-byte header
  (version 0, compressed length in 3 bytes little-endian, compression scheme 0 = none, uncompressed
  length in 3 bytes little-endian; xet_core_structures/src/xorb_object/xorb_chunk_format.rs) and its data.

Each file is one xorb of 64 KiB chunks (TARGET_CHUNK_SIZE), uncompressed (real xorbs hold at most
64 MiB and are mostly LZ4-compressed; a file spans many). The hashes are stand-ins
(derived from the sha256, 64 hex as HexMerkleHash wants), not Xet's merkle hashes; hf_xet checks
neither on download, and arcforge-download checks the sha256 of what it gets.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

CHUNK_BYTES = 64 * 1024
HEADER_BYTES = 8


def xet_file_hash(sha256: str) -> str:
    """The stand-in Xet hash of a file (what `X-Xet-Hash` and the tree's `xetHash` carry)."""
    return hashlib.sha256(("xet:" + sha256).encode()).hexdigest()


def xorb_hash(sha256: str) -> str:
    return hashlib.sha256(("xorb:" + sha256).encode()).hexdigest()


@dataclass(frozen=True)
class XorbLayout:
    """Where each chunk of a file sits in its xorb."""

    size: int  # the file's bytes

    @property
    def chunks(self) -> int:
        return max(1, -(-self.size // CHUNK_BYTES))

    @property
    def xorb_bytes(self) -> int:
        return self.size + HEADER_BYTES * self.chunks

    def chunk_header(self, index: int) -> bytes:
        length = min(CHUNK_BYTES, self.size - index * CHUNK_BYTES)
        three = length.to_bytes(4, "little")[:3]
        return bytes([0]) + three + bytes([0]) + three

    def pieces(self, first: int, last: int) -> Iterator[tuple[bytes | None, int, int]]:
        """The xorb's bytes [first, last] as (header bytes, or None with a file offset and length)."""
        stride = CHUNK_BYTES + HEADER_BYTES
        position = first
        while position <= last:
            index, within = divmod(position, stride)
            if within < HEADER_BYTES:
                header = self.chunk_header(index)[within : min(HEADER_BYTES, within + last - position + 1)]
                yield header, 0, 0
                position += len(header)
                continue
            data_at = index * CHUNK_BYTES + within - HEADER_BYTES
            chunk_end = min((index + 1) * CHUNK_BYTES, self.size)
            n = min(chunk_end - data_at, last - position + 1)
            yield None, data_at, n
            position += n


def reconstruction(
    sha256: str, size: int, xorb_url: str, first: int = 0, last: int | None = None
) -> dict[str, Any]:
    """The V1 reconstruction of the file bytes [first, last] (inclusive; the client sends them as a
    Range header): one term over the chunks that hold them, `offset_into_first_range` into the first."""
    layout = XorbLayout(size)
    last = size - 1 if last is None else min(last, size - 1)
    first_chunk, last_chunk = first // CHUNK_BYTES, max(first, last) // CHUNK_BYTES
    key = xorb_hash(sha256)
    chunk_range = {"start": first_chunk, "end": last_chunk + 1}
    stride = CHUNK_BYTES + HEADER_BYTES
    url_range = {"start": first_chunk * stride, "end": min((last_chunk + 1) * stride, layout.xorb_bytes) - 1}
    unpacked = min((last_chunk + 1) * CHUNK_BYTES, size) - first_chunk * CHUNK_BYTES
    return {
        "offset_into_first_range": first - first_chunk * CHUNK_BYTES,
        "terms": [{"hash": key, "unpacked_length": unpacked, "range": chunk_range}],
        "fetch_info": {key: [{"range": chunk_range, "url": xorb_url, "url_range": url_range}]},
    }


def xorb_range(source: BinaryIO, size: int, first: int, last: int, block: int = 64 * 1024) -> Iterator[bytes]:
    """The xorb bytes [first, last] (inclusive) of a file read from `source`, in blocks."""
    for header, offset, length in XorbLayout(size).pieces(first, last):
        if header is not None:
            yield header
            continue
        source.seek(offset)
        left = length
        while left > 0:
            data = source.read(min(block, left))
            if not data:
                return
            yield data
            left -= len(data)
