"""Unknown commands and the exact error line redis-server 7.0.15 answers each with (recorded)."""

UNKNOWN_COMMANDS = [
    ([b"NOPE"], b"-ERR unknown command 'NOPE', with args beginning with: \r\n"),
    ([b"nope", b"a", b"bb"], b"-ERR unknown command 'nope', with args beginning with: 'a' 'bb' \r\n"),
    # The argument list stops once it reaches 128 bytes, its last argument cut to fit.
    ([b"NOPE"] + [b"x" * 50] * 5,
     b"-ERR unknown command 'NOPE', with args beginning with: '" + b"x" * 50 + b"' '" + b"x" * 50
     + b"' '" + b"x" * 22 + b"' \r\n"),
    ([b"NO\r\nPE", b"a\nb"], b"-ERR unknown command 'NO  PE', with args beginning with: 'a b' \r\n"),
    ([b"N" * 200], b"-ERR unknown command '" + b"N" * 128 + b"', with args beginning with: \r\n"),
]
