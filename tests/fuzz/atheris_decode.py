"""Coverage-guided fuzzing of the decoder with atheris (libFuzzer), for ``make fuzz``.

Every input must come out of ``decode_request`` as a Request or a ProtocolError, and the answer
the hub would send for it (the §5 error, or a failure echoing the request) must encode.  Any
other exception is a crash and libFuzzer stops with the input that caused it.

Run: ``.venv/bin/python tests/fuzz/atheris_decode.py -runs=200000 -max_len=4096``
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from ctibridge import protocol as p


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    frame: str | bytes = fdp.ConsumeUnicodeNoSurrogates(len(data)) if data[:1] == b"t" else data
    try:
        request = p.decode_request(frame)
    except p.ProtocolError as err:
        p.encode(p.protocol_error_event(err))
        return
    p.encode(p.error_event(request.topic, "HOLD_CALL_FAILED", "x", "y", request.raw, None))


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
