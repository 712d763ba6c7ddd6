"""Frame headers of versions 1 and 2, and the rejected cases."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posestream import DecodeError, decode_frame, decode_frame_headers

V2 = [("schema_version", b"2"), ("camera_id", b"cam-01"), ("run", b"99"), ("seq", b"42"),
      ("capture_ts_us", b"1764000000000000"), ("width", b"320"), ("height", b"240"), ("content_type", b"image/jpeg")]  # fmt: skip


def headers(**change: object) -> list:
    out = [(k, change.pop(k)) if k in change else (k, v) for k, v in V2]
    out = [(k, v) for k, v in out if v is not None]
    return out + list(change.items())


def reason(h: list) -> str:
    with pytest.raises(DecodeError) as e:
        decode_frame_headers(h)
    return e.value.reason


def test_v2_and_v1() -> None:
    m = decode_frame_headers(headers())
    assert m.join_key == ("cam-01", 99, 42) and (m.width, m.height) == (320, 240)
    v1 = decode_frame_headers(headers(schema_version=b"1", run=None))
    assert v1.run == 0 and v1.schema_version == 1
    # The last repeat wins; unknown headers are ignored; str values are accepted too.
    assert decode_frame_headers(headers() + [("seq", "43"), ("traceparent", b"x")]).seq == 43


def test_rejections() -> None:
    assert reason(headers(run=None)) == "missing_header"
    assert reason(headers(run=b"0")) == "invalid_header"
    assert reason(headers(seq=b"+1")) == "invalid_header"
    assert reason(headers(seq=b"\xff")) == "invalid_header"
    assert reason(headers(width=b"9000")) == "size_out_of_range"
    assert reason(headers(schema_version=b"3")) == "unsupported_version"
    assert reason(headers(camera_id=b"a/b")) == "camera_id_bad_char"
    assert reason(headers(content_type=b"image/png")) == "invalid_header"
    assert reason([("seq",)]) == "invalid_header"
    with pytest.raises(DecodeError) as e:
        decode_frame(b"PNG", headers())
    assert e.value.reason == "not_jpeg"
    assert decode_frame(b"\xff\xd8\xff\xe0rest", headers()).jpeg.startswith(b"\xff\xd8")


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([k for k, _ in V2] + ["x"]), st.one_of(st.none(), st.binary(max_size=24), st.text(max_size=24)))))
def test_random_headers_raise_only_decode_error(pairs: list) -> None:
    try:
        decode_frame(b"\xff\xd8\xff", headers() + pairs)
    except DecodeError:
        pass
