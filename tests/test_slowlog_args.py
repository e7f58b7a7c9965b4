from xcache.observability.slowlog import shown_args


def test_slowlog_keeps_32_arguments_of_128_bytes_as_redis():
    assert shown_args([b"a"] * 32) == [b"a"] * 32
    assert shown_args([b"a"] * 40) == [b"a"] * 31 + [b"... (9 more arguments)"]
    assert shown_args([b"x" * 130]) == [b"x" * 128 + b"... (2 more bytes)"]
